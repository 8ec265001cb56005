//! JSON: the whole alert, one object per line; and a size-bounded variant for sinks.

use serde_json::Value;

use crate::alert::Alert;

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

/// The alert as JSON of at most `max_bytes` bytes where possible: when too large, the raw
/// event is replaced by a truncated string of it and `raw_truncated` is set. The facts and
/// every other field are kept whole; only the raw event gives way.
pub fn json_within(alert: &Alert, max_bytes: usize) -> String {
    let full = json_line(alert);
    if full.len() <= max_bytes {
        return full;
    }
    let raw_text = alert.raw.to_string();
    let mut shell = alert.clone();
    shell.raw = Value::String(String::new());
    let mut v = serde_json::to_value(&shell).expect("an Alert always serializes");
    v["raw_truncated"] = Value::Bool(true);
    let base = to_json(&v).len();
    // JSON escaping can grow text up to 6x (\u00XX); shrink until it fits.
    let mut budget = max_bytes.saturating_sub(base + 16);
    loop {
        let mut cut = budget.min(raw_text.len());
        while !raw_text.is_char_boundary(cut) {
            cut -= 1;
        }
        v["raw"] = Value::String(raw_text[..cut].to_string());
        let s = to_json(&v);
        if s.len() <= max_bytes || cut == 0 {
            return s;
        }
        budget = cut.saturating_sub((s.len() - max_bytes).max(cut / 8));
    }
}

#[cfg(test)]
mod tests {
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
