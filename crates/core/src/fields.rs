//! Lenient field access over any JSON `Node` (`serde_json::Value` or the borrowed `Doc`):
//! key-case and separator drift, numbers as strings, empty strings as missing, several time
//! formats. Crate-internal; public here are only the region and account validators (from
//! `ids`), at the path the sinks name them by.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};

pub(crate) use crate::doc::{Node, NodeRef};

/// Looks up the first of `names` in `obj`: exactly, then ignoring ASCII case, `-` and `_`.
pub(crate) fn field<'a, N: Node>(obj: &'a N, names: &[&str]) -> Option<&'a N> {
    if !obj.is_object_node() {
        return None;
    }
    for name in names {
        if let Some(v) = obj.member(name) {
            if !v.is_null_node() {
                return Some(v);
            }
        }
    }
    names.iter().find_map(|name| {
        let name = LooseName::new(name);
        obj.first_member(|k| name.matches(k))
    })
}

/// A name to compare keys with ignoring ASCII case, `-` and `_`; its ends are looked at once.
struct LooseName<'n> {
    name: &'n str,
    /// The first and the last byte, unless a separator (which the quick check skips).
    ends: [Option<u8>; 2],
}

impl<'n> LooseName<'n> {
    fn new(name: &'n str) -> Self {
        let b = name.as_bytes();
        let plain = |c: Option<&u8>| c.copied().filter(|c| !is_separator(*c));
        LooseName {
            name,
            ends: [plain(b.first()), plain(b.last())],
        }
    }

    fn matches(&self, key: &str) -> bool {
        // Quick reject: keys almost never start or end with a separator, so the first and the
        // last letters must agree. Bytes that differ in more than the ASCII case bit (0x20)
        // differ ignoring case; the full comparison settles the rest.
        let k = key.as_bytes();
        let differ = |x: Option<&u8>, y: Option<u8>| match (x, y) {
            (Some(&x), Some(y)) => (x ^ y) & !0x20 != 0 && !is_separator(x),
            _ => false,
        };
        if differ(k.first(), self.ends[0]) || differ(k.last(), self.ends[1]) {
            return false;
        }
        loose_eq(key, self.name)
    }
}

fn loose_eq(a: &str, b: &str) -> bool {
    let mut a = a.bytes().filter(|c| !is_separator(*c));
    let mut b = b.bytes().filter(|c| !is_separator(*c));
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(&y) => {}
            _ => return false,
        }
    }
}

fn is_separator(c: u8) -> bool {
    c == b'-' || c == b'_'
}

/// A scalar as text: strings trimmed (empty and the literal `null` are `None`), numbers and
/// booleans printed. CloudMonitor callbacks and some CloudTrail exports write absent values as
/// the string `null`.
pub(crate) fn scalar_text<N: Node>(v: &N) -> Option<String> {
    match v.kind() {
        NodeRef::Str(s) => {
            let t = s.trim();
            (!t.is_empty() && !t.eq_ignore_ascii_case("null")).then(|| t.to_string())
        }
        NodeRef::Number(n) => Some(n.to_string()),
        NodeRef::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The first of `names` in `obj` as text (see [`scalar_text`]).
pub(crate) fn text<N: Node>(obj: &N, names: &[&str]) -> Option<String> {
    field(obj, names).and_then(scalar_text)
}

/// The first of `names` in `obj` as a number, accepting numeric strings (`"180"`, `" 92.5 "`).
pub(crate) fn number<N: Node>(obj: &N, names: &[&str]) -> Option<f64> {
    match field(obj, names)?.kind() {
        NodeRef::Number(n) => n.as_f64(),
        NodeRef::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// An object field, or a string field that holds a JSON object (some deliveries stringify `content`).
pub(crate) fn object<'a, N: Node>(obj: &'a N, names: &[&str]) -> Option<Cow<'a, N>> {
    let v = field(obj, names)?;
    match v.kind() {
        NodeRef::Object => Some(Cow::Borrowed(v)),
        NodeRef::Str(s) if s.trim_start().starts_with('{') => N::parse_object(s).map(Cow::Owned),
        _ => None,
    }
}

/// Normalizes a time value to RFC 3339 UTC with second precision.
///
/// Accepts epoch seconds or milliseconds (number or numeric string), RFC 3339 with any offset,
/// `2025-08-26 05:43:00` (no zone: taken as UTC), `20180816T135935.689+0800`, and CloudTrail's
/// `Mar 15, 2024, 12:00:00 AM` (UTC).
pub(crate) fn time<N: Node>(v: &N) -> Option<String> {
    let dt = match v.kind() {
        NodeRef::Number(n) => epoch(n.as_f64()?),
        NodeRef::Str(s) => parse_time_str(s.trim()),
        _ => None,
    }?;
    Some(rfc3339_secs(dt))
}

/// `2025-01-01T00:00:00Z`, as chrono writes it with seconds and `Z`, without its format
/// machinery for the years 0 to 9999.
fn rfc3339_secs(dt: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let dt = dt.naive_utc();
    let Ok(year) = u32::try_from(dt.year()) else {
        return dt.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true);
    };
    if year > 9999 || dt.nanosecond() >= 1_000_000_000 {
        // Out of four digits, or a leap second: chrono's own form.
        return dt.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true);
    }
    let mut b = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, n: u32, width: usize| {
        let mut n = n;
        for i in (at..at + width).rev() {
            b[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, year, 4);
    put(5, dt.month(), 2);
    put(8, dt.day(), 2);
    put(11, dt.hour(), 2);
    put(14, dt.minute(), 2);
    put(17, dt.second(), 2);
    String::from_utf8_lossy(&b).into_owned()
}

/// The first of `names` in `obj` that parses as a time (see [`time`]).
pub(crate) fn time_field<N: Node>(obj: &N, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| field(obj, &[n]).and_then(time))
}

fn epoch(f: f64) -> Option<DateTime<Utc>> {
    if !f.is_finite() || f <= 0.0 {
        return None;
    }
    // Anything past the year 5138 in seconds is taken as milliseconds.
    let ms = if f >= 1.0e11 { f } else { f * 1000.0 };
    if ms > 1.0e15 {
        return None;
    }
    Utc.timestamp_millis_opt(ms as i64).single()
}

fn parse_time_str(s: &str) -> Option<DateTime<Utc>> {
    if s.is_empty() {
        return None;
    }
    parse_common_time(s.as_bytes()).or_else(|| parse_any_time(s))
}

/// Every accepted time form, through chrono.
fn parse_any_time(s: &str) -> Option<DateTime<Utc>> {
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return epoch(s.parse().ok()?);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in [
        "%Y%m%dT%H%M%S%.f%z",
        "%Y%m%dT%H%M%S%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y%m%dT%H%M%S%.f",
        "%b %d, %Y, %I:%M:%S %p",
        "%b %e, %Y, %I:%M:%S %p",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(naive.and_utc());
        }
    }
    None
}

/// The two forms nearly every event uses, read without chrono's format machinery:
/// RFC 3339 `2025-01-01T00:00:00[.fff](Z|+08:00)` and CloudMonitor's
/// `20180816T135935[.fff]+0800`. Fractions of a second are dropped (alerts show seconds).
/// Anything else, or anything out of range, is `None` and left
/// to the general parser, which reads these forms the same way.
fn parse_common_time(b: &[u8]) -> Option<DateTime<Utc>> {
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = b.get(from..from + n)?;
        part.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (year, month, day, hour, min, sec, mut i, colons) = if b.get(4) == Some(&b'-') {
        // 2025-01-01T00:00:00
        if b.get(7) != Some(&b'-')
            || b.get(10) != Some(&b'T')
            || b.get(13) != Some(&b':')
            || b.get(16) != Some(&b':')
        {
            return None;
        }
        (
            digits(0, 4)?,
            digits(5, 2)?,
            digits(8, 2)?,
            digits(11, 2)?,
            digits(14, 2)?,
            digits(17, 2)?,
            19,
            true,
        )
    } else if b.get(8) == Some(&b'T') {
        // 20180816T135935
        (
            digits(0, 4)?,
            digits(4, 2)?,
            digits(6, 2)?,
            digits(9, 2)?,
            digits(11, 2)?,
            digits(13, 2)?,
            15,
            false,
        )
    } else {
        return None;
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_secs: i64 = match b.get(i) {
        Some(b'Z') if colons && i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let (oh, om) = if colons {
                if b.get(i + 3) != Some(&b':') || i + 6 != b.len() {
                    return None;
                }
                (digits(i + 1, 2)?, digits(i + 4, 2)?)
            } else {
                if i + 5 != b.len() {
                    return None;
                }
                (digits(i + 1, 2)?, digits(i + 3, 2)?)
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = i64::from(oh * 3600 + om * 60);
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    if !(1000..=9999).contains(&year) || sec > 59 {
        return None;
    }
    let naive =
        chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_opt(hour, min, sec)?;
    Some(naive.and_utc() - chrono::TimeDelta::try_seconds(offset_secs)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        /// Times are written exactly as chrono writes them.
        #[test]
        fn times_are_written_like_chrono(ms in -70_000_000_000_000i64..260_000_000_000_000i64) {
            let dt = Utc.timestamp_millis_opt(ms).single().unwrap();
            prop_assert_eq!(rfc3339_secs(dt), dt.to_rfc3339_opts(SecondsFormat::Secs, true));
        }

        /// The fast reader of the two common forms agrees with chrono wherever it answers, and
        /// answers for every valid time in those forms.
        #[test]
        fn common_time_forms_read_like_chrono(
            s in r"[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{1,9})?(Z|[+-][0-2][0-9]:[0-6][0-9])|[0-9]{8}T[0-9]{6}(\.[0-9]{1,6})?[+-][0-2][0-9][0-6][0-9]|.{0,30}"
        ) {
            let secs = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
            let fast = parse_common_time(s.as_bytes()).map(secs);
            let general = parse_any_time(&s).map(secs);
            if fast.is_some() {
                prop_assert_eq!(fast, general);
            } else if general.is_some() && s.len() >= 15 && s.as_bytes()[0].is_ascii_digit() {
                // Only leap seconds, years before 1000 and odd forms go the general way.
                let sec = if s.as_bytes()[4] == b'-' { &s[17..19] } else { &s[13..15] };
                prop_assert!(sec == "60" || s.starts_with('0') || !s.contains('T'), "{}", s);
            }
        }
    }

    #[test]
    fn common_time_forms() {
        for (input, want) in [
            ("2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
            ("2024-02-29T23:59:59.999+08:00", "2024-02-29T15:59:59Z"),
            ("20180816T135935.689+0800", "2018-08-16T05:59:35Z"),
            ("20180816T135935-0130", "2018-08-16T15:29:35Z"),
        ] {
            assert_eq!(time(&json!(input)).as_deref(), Some(want), "{input}");
        }
        for bad in [
            "2025-02-30T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:00:00+24:00",
        ] {
            assert_eq!(parse_common_time(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn field_tolerates_case_and_separator_drift() {
        let v = json!({"RotationEntityArn": "a", "key-id": "k", "x": null, "X": "y"});
        assert_eq!(text(&v, &["rotationEntityArn"]).as_deref(), Some("a"));
        assert_eq!(text(&v, &["keyId"]).as_deref(), Some("k"));
        assert_eq!(text(&v, &["x"]).as_deref(), Some("y"));
        assert_eq!(text(&v, &["missing"]), None);
    }

    #[test]
    fn numbers_as_strings_and_masked_values() {
        let v = json!({"daysToExpire": "180", "qps": "***", "n": 7, "blank": "  "});
        assert_eq!(number(&v, &["daysToExpire"]), Some(180.0));
        assert_eq!(number(&v, &["qps"]), None);
        assert_eq!(text(&v, &["qps"]).as_deref(), Some("***"));
        assert_eq!(text(&v, &["n"]).as_deref(), Some("7"));
        assert_eq!(text(&v, &["blank"]), None);
        assert_eq!(text(&json!({"regionId": "null"}), &["regionId"]), None);
    }

    #[test]
    fn every_time_format_normalizes_to_utc() {
        let cases = [
            (json!(1756106122000u64), "2025-08-25T07:15:22Z"),
            (json!(1756106122), "2025-08-25T07:15:22Z"),
            (json!("1756106122000"), "2025-08-25T07:15:22Z"),
            (json!("2025-09-01T07:15:07Z"), "2025-09-01T07:15:07Z"),
            (
                json!("2025-09-01T15:15:07.123+08:00"),
                "2025-09-01T07:15:07Z",
            ),
            (json!("2025-08-26 05:43:00"), "2025-08-26T05:43:00Z"),
            (json!("20180816T135935.689+0800"), "2018-08-16T05:59:35Z"),
            (json!("Mar 15, 2024, 12:00:00 AM"), "2024-03-15T00:00:00Z"),
        ];
        for (input, want) in cases {
            assert_eq!(time(&input).as_deref(), Some(want), "input {input}");
        }
        for bad in [
            json!("soon"),
            json!(-1),
            json!(1e300),
            json!(""),
            json!(null),
            json!({}),
        ] {
            assert_eq!(time(&bad), None, "input {bad}");
        }
    }
}
