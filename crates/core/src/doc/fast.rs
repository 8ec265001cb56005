//! A strict JSON reader for [`Doc`]: string ends are found eight bytes at a time, strings borrowed from the
//! input, objects and arrays are built directly. It gives up (`None`) on anything it does not
//! handle itself (surrogate escapes, negative or fractional numbers, deep nesting, any error),
//! and the caller then asks `serde_json`, so every input reads exactly as `serde_json` reads it.

use std::borrow::Cow;

use serde_json::Number;

use super::Doc;
use crate::sources::stream::string_stop;

/// Deeper than this, leave it to serde_json (which stops at 128).
const MAX_DEPTH: usize = 100;

/// Reads `input` (all of it, surrounding whitespace allowed), or `None`.
pub(super) fn read(input: &[u8]) -> Option<Doc<'_>> {
    let text = std::str::from_utf8(input).ok()?;
    let mut r = Reader {
        s: text,
        b: input,
        i: 0,
    };
    let mut doc = Doc::Null;
    r.value(&mut doc, 0)?;
    r.ws();
    (r.i == input.len()).then_some(doc)
}

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Reads one value into `slot` (in place: values are not passed back up through
    /// return slots, which costs more than the parsing itself here).
    fn value(&mut self, slot: &mut Doc<'a>, depth: usize) -> Option<()> {
        self.ws();
        *slot = match *self.b.get(self.i)? {
            b'"' => Doc::Str(self.string()?),
            b'{' => return self.object(slot, depth + 1),
            b'[' => return self.array(slot, depth + 1),
            b't' => self.literal("true", Doc::Bool(true))?,
            b'f' => self.literal("false", Doc::Bool(false))?,
            b'n' => self.literal("null", Doc::Null)?,
            b'0'..=b'9' => self.number()?,
            _ => return None,
        };
        Some(())
    }

    fn literal(&mut self, word: &str, doc: Doc<'a>) -> Option<Doc<'a>> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Some(doc)
        } else {
            None
        }
    }

    /// A non-negative integer that fits in a `u64`; anything else is left to serde_json.
    fn number(&mut self) -> Option<Doc<'a>> {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.b.get(self.i) {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        let leading_zero = digits > 1 && self.b[start] == b'0';
        let more = matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E' | b'0'..=b'9'));
        (!leading_zero && !more).then(|| Doc::Number(Number::from(n)))
    }

    /// A string, at its opening quote. Inlined: returning the borrowed slice through memory
    /// from a call costs more here than finding it.
    #[inline(always)]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i + 1;
        let end = start + string_stop(&self.b[start..], true)?;
        if self.b[end] == b'"' {
            self.i = end + 1;
            return Some(Cow::Borrowed(&self.s[start..end]));
        }
        self.escaped_string(start).map(Cow::Owned)
    }

    /// A string with escapes, from its first byte after the opening quote.
    #[cold]
    fn escaped_string(&mut self, start: usize) -> Option<String> {
        let mut out = String::with_capacity(64);
        let mut i = start;
        loop {
            let stop = i + string_stop(&self.b[i..], true)?;
            out.push_str(&self.s[i..stop]);
            match self.b[stop] {
                b'"' => {
                    self.i = stop + 1;
                    return Some(out);
                }
                b'\\' => {}
                // A raw control character: serde_json's error to give.
                _ => return None,
            }
            let c = match *self.b.get(stop + 1)? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hex = self.s.get(stop + 2..stop + 6)?;
                    if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                        return None;
                    }
                    // Surrogates (pairs or lone) are serde_json's to judge.
                    char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
                }
                _ => return None,
            };
            out.push(c);
            i = stop + if self.b[stop + 1] == b'u' { 6 } else { 2 };
        }
    }

    fn array(&mut self, slot: &mut Doc<'a>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        let mut items = Vec::new();
        if !self.eat(b']') {
            loop {
                items.push(Doc::Null);
                let last = items.len() - 1;
                self.value(&mut items[last], depth)?;
                if self.eat(b',') {
                    continue;
                }
                if !self.eat(b']') {
                    return None;
                }
                break;
            }
        }
        *slot = Doc::Array(items);
        Some(())
    }

    fn object(&mut self, slot: &mut Doc<'a>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        // Sized by what is read, never by a guess per object: `[{},{},...]` allocates nothing
        // for its empty objects.
        let mut members = Vec::new();
        if !self.eat(b'}') {
            loop {
                self.ws();
                if self.b.get(self.i) != Some(&b'"') {
                    return None;
                }
                let key = self.string()?;
                if !self.eat(b':') {
                    return None;
                }
                members.push((key, Doc::Null));
                let last = members.len() - 1;
                self.value(&mut members[last].1, depth)?;
                if self.eat(b',') {
                    continue;
                }
                if !self.eat(b'}') {
                    return None;
                }
                break;
            }
            super::dedup_members(&mut members);
        }
        *slot = Doc::Object(members);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// What the reader takes, it reads as serde_json does.
    fn agrees(input: &[u8]) -> bool {
        let Some(doc) = read(input) else {
            return false;
        };
        let value: Value = serde_json::from_slice(input).unwrap_or_else(|e| {
            panic!(
                "{:?} read, serde_json says {e}",
                String::from_utf8_lossy(input)
            )
        });
        assert_eq!(
            doc.to_value(),
            value,
            "{:?}",
            String::from_utf8_lossy(input)
        );
        true
    }

    #[test]
    fn reads_what_it_can_and_leaves_the_rest() {
        for taken in [
            r#" {"a": "b", "c": [1, 0, true, false, null, {}, []], "d": "x\"y\\z\/\n\u00e9\u0041"} "#,
            r#"{"k": 1, "k": {"x": 2}}"#,
            "18446744073709551615",
            r#""\u0000""#,
        ] {
            assert!(agrees(taken.as_bytes()), "{taken}");
        }
        for left in [
            "-1",
            "1.5",
            "1e3",
            "01",
            "18446744073709551616",
            r#""\ud83d\ude00""#,
            r#""\ud800""#,
            "[1,]",
            r#"{"a":1,}"#,
            "{\"a\":\"\u{1}\"}",
            "[1 2]",
            "nul",
            "truex",
            "{'a': 1}",
            r#"{"a" 1}"#,
            "\"open",
            "",
            "  ",
            "[",
            r#""\x""#,
            r#""\u12""#,
        ] {
            assert!(!agrees(left.as_bytes()), "{left}");
        }
        assert!(!agrees(b"\"\xff\""));
        let deep = format!("{}{}", "[".repeat(120), "]".repeat(120));
        assert!(
            !agrees(deep.as_bytes()),
            "deep nesting is serde_json's to judge"
        );
    }

    proptest! {
        #[test]
        fn string_stop_finds_the_first(b in prop::collection::vec(
            prop::sample::select(vec![b'a', b'"', b'\\', 0, 0x1f, 0x20, 0x7f, 0x80, 0xA2, 0xDC, 0x21, 0x5C ^ 0x80]),
            0..40,
        )) {
            let want = b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            prop_assert_eq!(string_stop(&b, true), want);
        }
    }

    #[test]
    fn reads_every_sample_itself() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        for cloud in ["aws", "alibaba"] {
            for entry in std::fs::read_dir(root.join(cloud)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "json") {
                    let input = std::fs::read(&path).unwrap();
                    assert!(agrees(&input), "{}", path.display());
                }
            }
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[a-z\"\\\\/\u{0}-\u{1f}é😀]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-cK_-]{0,3}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Every number in `v` is a `u64`.
    fn only_u64(v: &Value) -> bool {
        match v {
            Value::Number(n) => n.is_u64(),
            Value::Array(items) => items.iter().all(only_u64),
            Value::Object(m) => m.values().all(only_u64),
            _ => true,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn agrees_with_serde_json_on_json_and_near_json(
            v in arb_json(),
            pretty in any::<bool>(),
            edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..3),
        ) {
            let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) };
            let mut bytes = text.unwrap().into_bytes();
            if edits.is_empty() {
                prop_assert!(read(&bytes).is_none() || agrees(&bytes));
                // Unedited JSON is read, unless it holds a number left to serde_json.
                prop_assert!(!only_u64(&v) || read(&bytes).is_some(), "{}", String::from_utf8_lossy(&bytes));
            }
            for (at, byte, how) in edits {
                let at = at % (bytes.len() + 1);
                match how {
                    0 => bytes.insert(at, byte),
                    1 if at < bytes.len() => { bytes.remove(at); }
                    _ if at < bytes.len() => bytes[at] = byte,
                    _ => {}
                }
            }
            agrees(&bytes);
        }
    }
}
