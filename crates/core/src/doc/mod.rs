//! Two ways to hold one JSON event, read by the same lookups ([`Node`]): `serde_json::Value`
//! (owned; the public `Alert::raw`) and [`Doc`], a borrowed tree whose strings point into the
//! input. The normalizers that know the common shapes are written once, over `Node`; the bulk
//! path reads events into a `Doc` and builds a `Value` only when the alert must carry it.
//!
//! A `Doc` object keeps its members in document order, a repeated key at its first place with
//! its last value, as `serde_json::Map` does under `preserve_order` (which this crate enables),
//! so a lookup, an iteration and a conversion to `Value` give the same answer on both.

mod fast;

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// What a node is, with its scalar content.
pub enum NodeRef<'n, N> {
    Null,
    Bool(bool),
    Number(&'n Number),
    Str(&'n str),
    Array(&'n [N]),
    Object,
}

/// Read access to a JSON node, the same over `serde_json::Value` and [`Doc`].
pub trait Node: Clone + Sized {
    /// Iterator over an object's members, in the order `serde_json::Map` keeps them.
    type Entries<'n>: Iterator<Item = (&'n str, &'n Self)>
    where
        Self: 'n;

    /// JSON `null`.
    fn null() -> Self;
    /// What this node is.
    fn kind(&self) -> NodeRef<'_, Self>;
    /// The member named exactly `key` of an object (a `null` member included).
    fn member(&self, key: &str) -> Option<&Self>;
    /// The members of an object; `None` for anything else.
    fn entries(&self) -> Option<Self::Entries<'_>>;
    /// The first member, in the order of [`Node::entries`], whose key passes `matches` and
    /// whose value is not `null`.
    fn first_member(&self, matches: impl Fn(&str) -> bool) -> Option<&Self>;
    /// A string that holds a JSON object, read as a node (some deliveries stringify `content`).
    fn parse_object(s: &str) -> Option<Self>;

    /// The string, if this is one.
    fn str_value(&self) -> Option<&str> {
        match self.kind() {
            NodeRef::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items, if this is an array.
    fn items(&self) -> Option<&[Self]> {
        match self.kind() {
            NodeRef::Array(items) => Some(items),
            _ => None,
        }
    }

    /// True for JSON `null`.
    fn is_null_node(&self) -> bool {
        matches!(self.kind(), NodeRef::Null)
    }

    /// True for an object.
    fn is_object_node(&self) -> bool {
        matches!(self.kind(), NodeRef::Object)
    }
}

type ValueEntry<'n> = (&'n String, &'n Value);

fn value_entry<'n>((k, v): ValueEntry<'n>) -> (&'n str, &'n Value) {
    (k.as_str(), v)
}

impl Node for Value {
    type Entries<'n> =
        std::iter::Map<serde_json::map::Iter<'n>, fn(ValueEntry<'n>) -> (&'n str, &'n Value)>;

    fn null() -> Self {
        Value::Null
    }

    fn kind(&self) -> NodeRef<'_, Self> {
        match self {
            Value::Null => NodeRef::Null,
            Value::Bool(b) => NodeRef::Bool(*b),
            Value::Number(n) => NodeRef::Number(n),
            Value::String(s) => NodeRef::Str(s),
            Value::Array(items) => NodeRef::Array(items),
            Value::Object(_) => NodeRef::Object,
        }
    }

    fn member(&self, key: &str) -> Option<&Self> {
        self.as_object()?.get(key)
    }

    fn entries(&self) -> Option<Self::Entries<'_>> {
        let entry: fn(ValueEntry<'_>) -> (&str, &Value) = value_entry;
        Some(self.as_object()?.iter().map(entry))
    }

    fn first_member(&self, matches: impl Fn(&str) -> bool) -> Option<&Self> {
        self.as_object()?
            .iter()
            .find(|(k, v)| matches(k) && !v.is_null())
            .map(|(_, v)| v)
    }

    fn parse_object(s: &str) -> Option<Self> {
        serde_json::from_str::<Value>(s)
            .ok()
            .filter(Value::is_object)
    }
}

/// A JSON value whose strings borrow from the input where they can (no escapes).
#[derive(Debug, Clone, PartialEq)]
pub enum Doc<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Array(Vec<Doc<'a>>),
    /// Members in document order, each key once (see the module comment on order).
    Object(Vec<(Cow<'a, str>, Doc<'a>)>),
}

impl<'a> Doc<'a> {
    /// Reads `input` as one JSON value, borrowing its unescaped strings: exactly what
    /// `serde_json` reads (or its error), mostly without going through it.
    pub fn parse(input: &'a [u8]) -> Result<Doc<'a>, serde_json::Error> {
        match fast::read(input) {
            Some(doc) => Ok(doc),
            None => serde_json::from_slice(input),
        }
    }

    /// The fast reader alone: what it reads itself, or `None` where it leaves the input to
    /// `serde_json` (for the fuzz targets, through [`crate::fuzzing`]).
    pub fn fast(input: &'a [u8]) -> Option<Doc<'a>> {
        fast::read(input)
    }

    /// The same value, owning all its strings.
    pub fn into_owned(self) -> Doc<'static> {
        match self {
            Doc::Null => Doc::Null,
            Doc::Bool(b) => Doc::Bool(b),
            Doc::Number(n) => Doc::Number(n),
            Doc::Str(s) => Doc::Str(Cow::Owned(s.into_owned())),
            Doc::Array(items) => Doc::Array(items.into_iter().map(Doc::into_owned).collect()),
            Doc::Object(members) => Doc::Object(
                members
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            ),
        }
    }

    /// The same value as a `serde_json::Value`, equal to what `serde_json` reads from the input.
    pub fn to_value(&self) -> Value {
        match self {
            Doc::Null => Value::Null,
            Doc::Bool(b) => Value::Bool(*b),
            Doc::Number(n) => Value::Number(n.clone()),
            Doc::Str(s) => Value::String(s.to_string()),
            Doc::Array(items) => Value::Array(items.iter().map(Doc::to_value).collect()),
            Doc::Object(members) => {
                let mut map = Map::with_capacity(members.len());
                for (k, v) in members {
                    map.insert(k.to_string(), v.to_value());
                }
                Value::Object(map)
            }
        }
    }
}

/// A member of a `Doc` object.
type Member<'a> = (Cow<'a, str>, Doc<'a>);

fn doc_entry<'n, 'a>((k, v): &'n Member<'a>) -> (&'n str, &'n Doc<'a>) {
    (k.as_ref(), v)
}

impl<'a> Node for Doc<'a> {
    type Entries<'n>
        = std::iter::Map<
        std::slice::Iter<'n, Member<'a>>,
        fn(&'n Member<'a>) -> (&'n str, &'n Doc<'a>),
    >
    where
        Self: 'n;

    fn null() -> Self {
        Doc::Null
    }

    fn kind(&self) -> NodeRef<'_, Self> {
        match self {
            Doc::Null => NodeRef::Null,
            Doc::Bool(b) => NodeRef::Bool(*b),
            Doc::Number(n) => NodeRef::Number(n),
            Doc::Str(s) => NodeRef::Str(s),
            Doc::Array(items) => NodeRef::Array(items),
            Doc::Object(_) => NodeRef::Object,
        }
    }

    fn member(&self, key: &str) -> Option<&Self> {
        match self {
            // Lengths and first bytes tell most keys apart before a full comparison.
            Doc::Object(members) => members
                .iter()
                .find(|(k, _)| {
                    k.len() == key.len()
                        && k.as_bytes().first() == key.as_bytes().first()
                        && k == key
                })
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn entries<'n>(&'n self) -> Option<Self::Entries<'n>> {
        let Doc::Object(members) = self else {
            return None;
        };
        let entry: fn(&'n Member<'a>) -> (&'n str, &'n Doc<'a>) = doc_entry;
        Some(members.iter().map(entry))
    }

    fn first_member(&self, matches: impl Fn(&str) -> bool) -> Option<&Self> {
        let Doc::Object(members) = self else {
            return None;
        };
        members
            .iter()
            .find(|(k, v)| matches(k) && !v.is_null_node())
            .map(|(_, v)| v)
    }

    fn parse_object(s: &str) -> Option<Self> {
        Doc::parse(s.as_bytes())
            .ok()
            .filter(Doc::is_object_node)
            .map(Doc::into_owned)
    }
}

/// Keeps one member per key, at its first place with its last value, as `serde_json::Map`
/// keeps a repeated key.
fn dedup_members(members: &mut Vec<(Cow<'_, str>, Doc<'_>)>) {
    if members.len() > 32 {
        // Large objects by hash, in linear time whatever a hostile input repeats.
        let mut first = std::collections::HashMap::with_capacity(members.len());
        let mut moves = Vec::new();
        for (i, (k, _)) in members.iter().enumerate() {
            if let Some(&f) = first.get(k.as_ref()) {
                moves.push((i, f));
            } else {
                first.insert(k.as_ref(), i);
            }
        }
        drop(first);
        if moves.is_empty() {
            return;
        }
        let mut keep = vec![true; members.len()];
        for (from, to) in moves {
            members[to].1 = std::mem::replace(&mut members[from].1, Doc::Null);
            keep[from] = false;
        }
        let mut keep = keep.into_iter();
        members.retain(|_| keep.next().unwrap_or(true));
        return;
    }
    let mut i = 1;
    while i < members.len() {
        match members[..i].iter().position(|(k, _)| *k == members[i].0) {
            Some(first) => {
                let (_, v) = members.remove(i);
                members[first].1 = v;
            }
            None => i += 1,
        }
    }
}

/// A string that borrows from the input when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Doc<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> DeserializeSeed<'de> for DocVisitor {
    type Value = Doc<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

// Mirrors serde_json's own `Value` visitor, so both read every input to the same value.
impl<'de> Visitor<'de> for DocVisitor {
    type Value = Doc<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Doc<'de>, E> {
        Ok(Doc::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Doc<'de>, E> {
        Ok(Doc::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Doc<'de>, E> {
        Ok(Doc::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Doc<'de>, E> {
        Ok(Number::from_f64(n).map_or(Doc::Null, Doc::Number))
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Doc<'de>, E> {
        Ok(Doc::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Doc<'de>, E> {
        Ok(Doc::Str(Cow::Owned(s.to_string())))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Doc<'de>, E> {
        Ok(Doc::Str(Cow::Owned(s)))
    }
    fn visit_none<E>(self) -> Result<Doc<'de>, E> {
        Ok(Doc::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Doc<'de>, D::Error> {
        Deserialize::deserialize(d)
    }
    fn visit_unit<E>(self) -> Result<Doc<'de>, E> {
        Ok(Doc::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(DocVisitor)? {
            items.push(item);
        }
        Ok(Doc::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).clamp(8, 64));
        while let Some(CowStr(key)) = map.next_key::<CowStr<'de>>()? {
            let value = map.next_value_seed(DocVisitor)?;
            members.push((key, value));
        }
        dedup_members(&mut members);
        Ok(Doc::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(input: &str) {
        let (doc, value) = match (
            Doc::parse(input.as_bytes()),
            serde_json::from_str::<Value>(input),
        ) {
            (Ok(d), Ok(v)) => (d, v),
            (Err(_), Err(_)) => return,
            (d, v) => panic!("{input}: {d:?} but {v:?}"),
        };
        assert_eq!(doc.to_value(), value, "{input}");
        assert_eq!(doc.to_value().to_string(), value.to_string(), "{input}");
        // Iteration order and the last of a repeated key, as the map has them.
        let keys = |d: &Doc| {
            d.entries()
                .map(|e| e.map(|(k, _)| k.to_string()).collect::<Vec<_>>())
        };
        let vkeys = value
            .entries()
            .map(|e| e.map(|(k, _)| k.to_string()).collect::<Vec<_>>());
        assert_eq!(keys(&doc), vkeys, "{input}");
    }

    #[test]
    fn reads_every_input_as_serde_json_does() {
        for input in [
            r#"{"b": 1, "a": [true, null, 1.5, -3, 18446744073709551615], "c": {"z": "x\"y", "y": "\u00e9"}}"#,
            r#"{"k": 1, "j": 2, "k": 3}"#,
            r#"{"k": {"a": 1}, "k": "later"}"#,
            r#"[{"x": "caf\u00e9"}, "plain", 1.5e300]"#,
            "[1e400]",
            r#"{"a": 1,}"#,
            r#""just a string""#,
            "12",
        ] {
            same(input);
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_last_value() {
        let mut members = ["k", "b", "k", "a", "b", "k"]
            .iter()
            .enumerate()
            .map(|(i, k)| (Cow::Borrowed(*k), Doc::Number(i.into())))
            .collect::<Vec<_>>();
        dedup_members(&mut members);
        let show: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{k}={}", v.to_value()))
            .collect();
        assert_eq!(show, ["k=5", "b=4", "a=3"]);
        // The same past the small-object path.
        let many = format!(
            "{{{}, \"k0\": \"last\"}}",
            (0..40)
                .map(|i| format!("\"k{i}\": {i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        same(&many);
        let doc = Doc::parse(many.as_bytes()).unwrap();
        assert_eq!(doc.member("k0").and_then(Node::str_value), Some("last"));
    }

    #[test]
    fn many_repeated_keys_are_merged_in_linear_time() {
        // 100,000 members, each key twice: a quadratic merge would not finish.
        let members: Vec<String> = (0..100_000)
            .map(|i| format!("\"k{}\": {i}", i % 50_000))
            .collect();
        let input = format!("{{{}}}", members.join(","));
        let doc = Doc::parse(input.as_bytes()).unwrap();
        let Doc::Object(members) = &doc else {
            panic!("an object")
        };
        assert_eq!(members.len(), 50_000);
        assert_eq!(
            doc.member("k7").map(Doc::to_value),
            Some(Value::from(50_007))
        );
        same(&input);
    }

    #[test]
    fn loose_matches_follow_map_order() {
        let input = r#"{"Key_Id": 1, "keyid": 2, "KEYID": 3, "other": null, "key-id": null}"#;
        let doc = Doc::parse(input.as_bytes()).unwrap();
        let value: Value = serde_json::from_str(input).unwrap();
        let loose = |k: &str| k.replace(['-', '_'], "").eq_ignore_ascii_case("keyid");
        assert_eq!(
            doc.first_member(loose).map(Doc::to_value),
            value.first_member(loose).cloned()
        );
    }

    #[test]
    fn borrows_unescaped_strings() {
        let input = br#"{"key-id": "1234", "note": "a\nb"}"#;
        let doc = Doc::parse(input).unwrap();
        let Doc::Object(members) = &doc else {
            panic!("an object")
        };
        let borrowed = |k: &str| {
            members
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| matches!(v, Doc::Str(Cow::Borrowed(_))))
        };
        assert_eq!(borrowed("key-id"), Some(true));
        assert_eq!(borrowed("note"), Some(false));
        assert!(members.iter().all(|(k, _)| matches!(k, Cow::Borrowed(_))));
    }

    #[test]
    fn a_stringified_object_is_read_too() {
        let doc = Doc::parse(br#"{"content": "{\"a\": \"b\"}"}"#).unwrap();
        let s = doc.member("content").and_then(Node::str_value).unwrap();
        let inner = Doc::parse_object(s).unwrap();
        assert_eq!(inner.member("a").and_then(Node::str_value), Some("b"));
        assert!(Doc::parse_object("[1]").is_none());
        assert!(Value::parse_object("not json").is_none());
    }
}
