//! Invariants every alert and every message rendered from it keep, whatever the input.

use kms_alerts_core::render::{json_line, json_within, markdown, subject, text, JSON_MIN_BUDGET};
use kms_alerts_core::{Alert, Parsed, Record};

/// The SNS subject (also the SMS text and the email subject): SNS's own limit.
const SUBJECT_MAX: usize = 100;

/// Checks `alert` and everything rendered from it. `full` is false for alerts read with
/// `display_only`, which may lack the raw event and the keys.
pub fn alert(alert: &Alert, full: bool) {
    let ctx = || format!("{alert:#?}");

    // One line, no control characters.
    assert!(
        !alert.title.chars().any(char::is_control),
        "title has control characters: {}",
        ctx()
    );
    if full {
        let key = &alert.dedup_key;
        assert!(
            !key.is_empty() && key.len() <= 128 && key.bytes().all(|b| b.is_ascii_graphic()),
            "dedup key is not 1-128 printable ASCII characters: {key:?}"
        );
    }
    if let Some(url) = &alert.console_url {
        assert!(
            url.starts_with("https://")
                && !url.bytes().any(|b| b.is_ascii_whitespace()
                    || b.is_ascii_control()
                    || b >= 0x80
                    || b"<>\"'`|()[]{}\\^".contains(&b)),
            "console link carries event text: {url:?}"
        );
    }

    // The SNS subject: printable ASCII, one line, 1-100 characters, inert.
    let s = subject(alert);
    assert!(
        !s.is_empty() && s.len() <= SUBJECT_MAX,
        "subject of {} bytes: {s:?}",
        s.len()
    );
    assert!(
        s.bytes().all(|b| (b' '..=b'~').contains(&b)),
        "subject is not printable ASCII: {s:?}"
    );
    inert(&s, None, "subject");

    // Text (email) and Markdown (chat): event text neutralized, only the console link live.
    let t = text(alert);
    inert(&t, alert.console_url.as_deref(), "text");
    let m = markdown(alert);
    inert(&m, alert.console_url.as_deref(), "markdown");

    // JSON: one line of valid JSON; within any budget it is given.
    let j = json_line(alert);
    assert!(!j.contains('\n'), "JSON alert is not one line");
    let back: serde_json::Value =
        serde_json::from_str(&j).unwrap_or_else(|e| panic!("JSON alert does not parse: {e}"));
    assert_eq!(back["dedup_key"], alert.dedup_key.as_str());
    for budget in [JSON_MIN_BUDGET, 4096, 65_536] {
        let within = json_within(alert, budget);
        assert!(
            within.len() <= budget,
            "json_within({budget}) gave {} bytes",
            within.len()
        );
        serde_json::from_str::<serde_json::Value>(&within)
            .unwrap_or_else(|e| panic!("json_within({budget}) does not parse: {e}"));
    }
}

/// No live link, mention or markup opener in `message`, other than `link` (the console link
/// the alert itself built from validated identifiers).
fn inert(message: &str, link: Option<&str>, what: &str) {
    let rest = match link {
        Some(link) => message.replace(link, ""),
        None => message.to_string(),
    };
    for live in ["://", "<!", "<@", "<http", "<mailto"] {
        assert!(
            !rest.contains(live),
            "{what} holds a live {live:?}: {message:?}"
        );
    }
    // Bidi overrides and zero-width joiners that hide or reorder text.
    assert!(
        !rest
            .chars()
            .any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')),
        "{what} holds a bidi control: {message:?}"
    );
}

/// Checks every alert of `parsed`; errors must have a message.
pub fn parsed(parsed: &Parsed, full: bool) {
    for r in &parsed.records {
        record(r, full);
    }
}

/// Checks one record.
pub fn record(r: &Record, full: bool) {
    match &r.result {
        Ok(a) => alert(a, full),
        Err(e) => assert!(!e.to_string().is_empty(), "an error without a message"),
    }
}

/// What two paths must agree on for one record: the delivery id, and the alert (all of it) or
/// that it failed.
pub fn same_records(a: &[Record], b: &[Record], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: record counts differ");
    for (n, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(
            x.delivery_id, y.delivery_id,
            "{what}: record {n} delivery ids differ"
        );
        match (&x.result, &y.result) {
            (Ok(p), Ok(q)) => assert_eq!(p, q, "{what}: record {n} alerts differ"),
            (Err(_), Err(_)) => {}
            (p, q) => panic!("{what}: record {n} is {p:?} one way, {q:?} the other"),
        }
    }
}
