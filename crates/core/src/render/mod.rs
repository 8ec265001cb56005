//! Renderers: plain text (email, SMS), Markdown (chat) and JSON, plus the SNS subject line.
//! Every piece of event text is neutralized first (see [`escape`]).

pub mod escape;
mod json;
mod markdown;
mod text;

pub use json::{json_line, json_within, JSON_MIN_BUDGET};
pub use markdown::markdown;
pub use text::{subject, text};

use crate::alert::Alert;

/// Output formats of [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" | "txt" | "plain" => Ok(Format::Text),
            "markdown" | "md" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            other => Err(format!(
                "unknown format {other:?}: expected text, markdown or json"
            )),
        }
    }
}

/// Renders one alert in `format`. JSON is one line; text and Markdown end with a newline.
pub fn render(alert: &Alert, format: Format) -> String {
    let mut out = String::new();
    render_to(alert, format, &mut out);
    out
}

/// [`render`], appended to `out` (a buffer reused across alerts).
pub fn render_to(alert: &Alert, format: Format, out: &mut String) {
    match format {
        Format::Text => text::text_to(alert, out),
        Format::Markdown => out.push_str(&markdown(alert)),
        Format::Json => out.push_str(&json_line(alert)),
    }
}

/// The labelled lines every format shows after the event's own facts.
pub(crate) fn context_facts(alert: &Alert) -> Vec<(&'static str, &str)> {
    let mut out = Vec::with_capacity(8);
    out.push(("Cloud", alert.cloud.display_name()));
    let optional = [
        ("Account", &alert.account),
        ("Region", &alert.region),
        ("Resource", &alert.resource),
        ("Occurred at", &alert.occurred_at),
        ("Event", &alert.event_type),
        ("Event ID", &alert.event_id),
    ];
    out.extend(
        optional
            .into_iter()
            .filter_map(|(l, v)| v.as_deref().map(|v| (l, v))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hostile() -> Alert {
        let name = "x\n\r<!channel> @all [click](http://evil.example) <script>alert(1)</script> ünïcødé \u{202E}\u{0007}";
        let ev = serde_json::json!({"product": "kms", "name": "Secret:RotateSecret:Failure", "level": "CRITICAL",
            "regionId": "cn-hangzhou", "content": {"secretName": name, "failureInfo": {"errorCode": "E", "errorMessage": "a".repeat(5000)}}});
        crate::alert_of(&ev)
    }

    #[test]
    fn subject_obeys_sns_rules() {
        let a = hostile();
        let s = subject(&a);
        assert!(s.len() <= 100, "{s}");
        assert!(s.bytes().all(|b| (b' '..=b'~').contains(&b)), "{s:?}");
        assert!(s.starts_with("[CRITICAL] Secret rotation failed: x"), "{s}");
        // The subject is also the SMS text and the email subject: as inert as the body.
        let mut phishing = a.clone();
        phishing.title = "Urgent <!channel> @all verify at https://aws-kms-verify.example/login or aws-kms-verify.com".into();
        let s = subject(&phishing);
        for bad in [
            "<!channel>",
            "@all",
            "https://",
            "verify.example/",
            "verify.com",
        ] {
            assert!(!s.contains(bad), "{bad} in {s}");
        }
        let mut long = a.clone();
        long.title = "é".repeat(300);
        assert_eq!(subject(&long).len(), 100);
        long.title = "\n\n".into();
        assert_eq!(subject(&long), "[CRITICAL]");
    }

    #[test]
    fn hostile_text_is_inert_in_every_format() {
        let a = hostile();
        for out in [text(&a), markdown(&a)] {
            assert!(!out.contains("<!channel>"), "{out}");
            assert!(!out.contains("<script>"), "{out}");
            assert!(!out.contains("http://evil"), "{out}");
            assert!(!out.contains("@all"), "{out}");
            assert!(!out.contains('\u{202E}') && !out.contains('\u{0007}') && !out.contains('\r'));
            assert!(out.contains("ünïcødé"));
            // Each fact stays on its own line: the injected newline did not start a new one.
            assert!(out.lines().all(|l| !l.starts_with("<")), "{out}");
            assert!(out.len() < 4000, "long values are cut: {}", out.len());
        }
        assert!(markdown(&a).contains("\\[click\\]"));
        assert!(!markdown(&a).contains("](http"));
    }

    #[test]
    fn json_within_gives_up_the_raw_event_first() {
        let mut a = hostile();
        a.raw = serde_json::json!({"blob": "\u{0001}".repeat(100_000)});
        let full = json_line(&a);
        assert!(full.len() > 100_000);
        let cut = json_within(&a, 20_000);
        assert!(cut.len() <= 20_000, "{}", cut.len());
        let v: serde_json::Value = serde_json::from_str(&cut).unwrap();
        assert_eq!(v["raw_truncated"], true);
        assert!(v.get("raw").is_none(), "raw is the whole event or absent");
        assert!(v["raw_excerpt"].as_str().unwrap().starts_with("{\"blob\":"));
        assert_eq!(v["facts"], serde_json::to_value(&a.facts).unwrap());
        assert_eq!(v["title"], a.title.as_str());
        assert!(
            v.get("truncated").is_none(),
            "the alert's own text is whole"
        );
        let small = json_within(&a, 10_000_000);
        assert_eq!(small, full);
    }

    #[test]
    fn json_within_then_cuts_long_text_then_facts() {
        let mut a = hostile();
        a.facts = (0..12)
            .map(|i| crate::Fact {
                label: format!("Field {i}").into(),
                value: "密钥轮转失败".repeat(2000),
            })
            .collect();
        let cut = json_within(&a, 65_536 * 3 / 4);
        assert!(cut.len() <= 65_536 * 3 / 4, "{}", cut.len());
        let v: serde_json::Value = serde_json::from_str(&cut).unwrap();
        assert_eq!(v["truncated"], true);
        assert_eq!(
            v["facts"].as_array().unwrap().len(),
            12,
            "every fact kept, cut short"
        );
        assert!(v["facts"][0]["value"].as_str().unwrap().ends_with('…'));
        let tiny = json_within(&a, JSON_MIN_BUDGET);
        assert!(tiny.len() <= JSON_MIN_BUDGET, "{}", tiny.len());
        let v: serde_json::Value = serde_json::from_str(&tiny).unwrap();
        assert_eq!(v["kind"], "secret_rotation_failed");
        assert_eq!(v["dedup_key"], a.dedup_key.as_str());
    }
}
