//! JSON: the whole alert, one object per line; and a size-bounded variant for sinks.

use serde_json::Value;

use crate::alert::Alert;

/// The alert as one line of JSON (no trailing newline).
pub fn json_line(alert: &Alert) -> String {
    serde_json::to_string(alert).expect("an Alert always serializes")
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
    let base = serde_json::to_string(&v).expect("serializes").len();
    // JSON escaping can grow text up to 6x (\u00XX); shrink until it fits.
    let mut budget = max_bytes.saturating_sub(base + 16);
    loop {
        let mut cut = budget.min(raw_text.len());
        while !raw_text.is_char_boundary(cut) {
            cut -= 1;
        }
        v["raw"] = Value::String(raw_text[..cut].to_string());
        let s = serde_json::to_string(&v).expect("serializes");
        if s.len() <= max_bytes || cut == 0 {
            return s;
        }
        budget = cut.saturating_sub((s.len() - max_bytes).max(cut / 8));
    }
}
