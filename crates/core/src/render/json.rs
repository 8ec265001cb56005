//! JSON: the whole alert, one object per line; and a size-bounded variant for sinks.

use serde_json::Value;

use crate::alert::Alert;
use crate::text::{cut_bytes, floor_char_boundary};

/// The alert as one line of JSON (no trailing newline). C1 controls and the characters that
/// reorder or hide text (bidi marks and overrides, zero-width characters, line separators) are
/// written as `\uXXXX` escapes, so no viewer of the raw JSON is tricked by them.
pub fn json_line(alert: &Alert) -> String {
    to_json(alert)
}

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    escape_invisible(serde_json::to_string(v).expect("an Alert always serializes"))
}

fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{80}'..='\u{9F}'
        | '\u{061C}'
        | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}')
}

/// Replaces invisible characters by JSON escapes. serde_json writes non-ASCII only inside
/// strings, so the result is the same JSON value.
fn escape_invisible(s: String) -> String {
    if s.is_ascii() || !s.chars().any(is_invisible) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_invisible(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Below this many bytes [`json_within`] cannot promise to fit (the minimal alert is larger).
pub const JSON_MIN_BUDGET: usize = 2048;

/// The alert as JSON of at most `max_bytes` bytes (UTF-8, after escaping), for any
/// `max_bytes` of at least [`JSON_MIN_BUDGET`]. What gives way, least important first:
///
/// 1. the raw event: dropped (`raw` is always the event as received, or absent), with as
///    much of its text as fits in `raw_excerpt` and `raw_truncated: true`;
/// 2. long text: every title, summary, fact, label and resource value cut to 4096, then
///    1024, 256 and 64 bytes, marked with `…`, and `truncated: true`;
/// 3. facts, from the last;
/// 4. everything but kind, family, severity, cloud, title, dedup key, time and console link.
pub fn json_within(alert: &Alert, max_bytes: usize) -> String {
    let full = json_line(alert);
    if full.len() <= max_bytes {
        return full;
    }
    let mut v = serde_json::to_value(alert).expect("an Alert always serializes");
    if let Value::Object(m) = &mut v {
        m.remove("raw");
        m.insert("raw_truncated".into(), Value::Bool(true));
    }
    let without_raw = to_json(&v);
    if without_raw.len() + 32 < max_bytes {
        return with_raw_excerpt(&mut v, &alert.raw.to_string(), max_bytes);
    }
    v["truncated"] = Value::Bool(true);
    for limit in [4096, 1024, 256, 64] {
        cut_texts(&mut v, limit);
        let s = to_json(&v);
        if s.len() <= max_bytes {
            return s;
        }
    }
    while v["facts"].as_array().is_some_and(|f| !f.is_empty()) {
        if let Some(facts) = v["facts"].as_array_mut() {
            let keep = facts.len() / 2;
            facts.truncate(keep);
        }
        let s = to_json(&v);
        if s.len() <= max_bytes {
            return s;
        }
    }
    minimal(alert, max_bytes)
}

/// Adds the longest prefix of `raw_text` as `raw_excerpt` that keeps `v` within `max_bytes`.
fn with_raw_excerpt(v: &mut Value, raw_text: &str, max_bytes: usize) -> String {
    let base = to_json(v).len();
    // JSON escaping can grow text up to 6x (\u00XX); shrink until it fits.
    let mut budget = max_bytes.saturating_sub(base + 32);
    loop {
        let cut = floor_char_boundary(raw_text, budget.min(raw_text.len()));
        if cut == 0 {
            return to_json(v);
        }
        v["raw_excerpt"] = Value::String(raw_text[..cut].to_string());
        let s = to_json(v);
        if s.len() <= max_bytes {
            return s;
        }
        budget = cut.saturating_sub((s.len() - max_bytes).max(cut / 8));
    }
}

/// Cuts every free-text value of the alert object to `limit` bytes.
fn cut_texts(v: &mut Value, limit: usize) {
    for key in [
        "title",
        "summary",
        "account",
        "region",
        "resource",
        "resource_name",
        "occurred_at",
        "event_id",
        "event_type",
        "console_url",
        "raw_excerpt",
    ] {
        if let Some(Value::String(s)) = v.get_mut(key) {
            cut_bytes(s, limit);
        }
    }
    if let Some(facts) = v.get_mut("facts").and_then(Value::as_array_mut) {
        for f in facts {
            for key in ["label", "value"] {
                if let Some(Value::String(s)) = f.get_mut(key) {
                    cut_bytes(s, limit);
                }
            }
        }
    }
}

/// The least an alert can say; within `max_bytes` for any budget of [`JSON_MIN_BUDGET`].
fn minimal(alert: &Alert, max_bytes: usize) -> String {
    let mut title = alert.title.clone();
    cut_bytes(&mut title, 256);
    let mut v = serde_json::json!({
        "kind": alert.kind,
        "family": alert.family,
        "severity": alert.severity,
        "cloud": alert.cloud,
        "title": title,
        "dedup_key": alert.dedup_key,
        "incident_key": alert.incident_key,
        "resolved": alert.resolved,
        "truncated": true,
        "raw_truncated": true,
    });
    for (key, value, limit) in [
        ("occurred_at", &alert.occurred_at, 64),
        ("resource", &alert.resource, 256),
        ("console_url", &alert.console_url, 512),
    ] {
        if let Some(mut s) = value.clone() {
            cut_bytes(&mut s, limit);
            v[key] = Value::String(s);
        }
    }
    let s = to_json(&v);
    if s.len() <= max_bytes {
        return s;
    }
    // Nothing optional left to give: the kind and the dedup key say what to look up.
    to_json(&serde_json::json!({
        "kind": alert.kind, "severity": alert.severity, "cloud": alert.cloud,
        "dedup_key": alert.dedup_key, "resolved": alert.resolved, "truncated": true, "raw_truncated": true,
    }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// Text that is hard to size: multibyte, controls (escaped to 6 bytes), bidi, quotes.
    fn nasty() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("密钥".to_string()),
                Just("\u{1}".to_string()),
                Just("\u{202E}".to_string()),
                Just("\u{9B}".to_string()),
                Just("\"\\".to_string()),
                Just("😀".to_string()),
                "[a-z ]{1,8}",
            ],
            0..500,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn json_within_always_fits_and_keeps_raw_one_type(
            title in nasty(), summary in nasty(),
            facts in proptest::collection::vec((nasty(), nasty()), 0..24),
            raw in nasty(), budget in 2048usize..120_000,
        ) {
            let ev = serde_json::json!({"detail-type": "KMS CMK Deletion", "source": "aws.kms",
                "detail": {"key-id": "k", "blob": raw}});
            let mut a = crate::alert_of(&ev);
            a.title = title;
            a.summary = summary;
            a.facts = facts.into_iter().map(|(label, value)| crate::Fact { label: label.into(), value }).collect();
            let s = super::json_within(&a, budget);
            prop_assert!(s.len() <= budget, "{} > {budget}", s.len());
            let v: serde_json::Value = serde_json::from_str(&s).unwrap();
            prop_assert_eq!(&v["kind"], "key_deleted");
            prop_assert_eq!(&v["dedup_key"], a.dedup_key.as_str());
            match v.get("raw") {
                Some(raw) => prop_assert_eq!(raw, &a.raw),
                None => prop_assert_eq!(&v["raw_truncated"], true),
            }
            if let Some(x) = v.get("raw_excerpt") {
                prop_assert!(x.is_string());
            }
        }
    }

    #[test]
    fn invisible_characters_are_escaped_and_the_json_is_the_same() {
        let ev = serde_json::json!({"detail-type": "KMS CMK Deletion", "source": "aws.kms",
            "detail": {"key-id": "k\u{202E}gpj.exe\u{9B}31m"}});
        let a = crate::alert_of(&ev);
        let line = super::json_line(&a);
        assert!(
            !line.contains('\u{202E}') && !line.contains('\u{9B}'),
            "{line}"
        );
        assert!(
            line.contains("\\u202e") && line.contains("\\u009b"),
            "{line}"
        );
        let back: crate::Alert = serde_json::from_str(&line).unwrap();
        assert_eq!(back, a);
    }
}
