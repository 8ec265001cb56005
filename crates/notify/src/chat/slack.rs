//! Slack incoming webhooks: Block Kit (header, summary, facts as fields, a button) with a
//! plain-text `text` fallback (mobile notifications show only that). Limits counted the way
//! Slack counts them, in characters: header 150, section text 3,000, 10 fields of 2,000 per
//! section, 50 blocks, button text 75, `text` 40,000. Success is 200 with the body `ok`.

use kms_alerts_core::{Alert, Severity};
use serde_json::{json, Value};

use super::{fitted, plain, Options, Outgoing, Service, View};

/// Slack's control characters, escaped as it asks (`&`, `<`, `>`); `<` is already gone.
fn slack_text(s: &str, max: usize) -> String {
    plain(s, max).replace('&', "&amp;").replace('>', "&gt;")
}

fn message(v: &View, mention: bool, incident: Option<&str>) -> Value {
    let header = format!("{} {}", v.icon, v.title);
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&header, 150), "emoji": true}}),
        json!({"type": "section", "text": {"type": "plain_text", "text": cut(&v.summary, 3000), "emoji": false}}),
    ];
    if mention {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": "<!channel>"}}));
    }
    for chunk in v.facts.chunks(10).take(40) {
        let fields: Vec<Value> = chunk
            .iter()
            .map(|(l, val)| json!({"type": "plain_text", "text": cut(&format!("{l}: {val}"), 2000), "emoji": false}))
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    let mut context = vec![json!({"type": "plain_text", "text": "kms-alerts", "emoji": false})];
    if let Some(i) = incident {
        context.push(json!({"type": "plain_text", "text": cut(&format!("incident {i}"), 150), "emoji": false}));
    }
    blocks.push(json!({"type": "context", "elements": context}));
    if let Some(url) = v.link.as_deref().filter(|u| u.len() <= 3000) {
        let mut button = json!({"type": "button", "text": {"type": "plain_text", "text": "Open in console"}, "url": url});
        if v.severity == Severity::Critical && !v.resolved {
            button["style"] = "danger".into();
        }
        blocks.push(json!({"type": "actions", "elements": [button]}));
    }
    let mut text = format!("{} {}: {}", v.icon, v.title, v.summary);
    if mention {
        text.push_str(" <!channel>");
    }
    json!({"text": cut(&text, 40_000), "blocks": blocks})
}

/// At most `max` characters.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => {
            let mut out = s[..i].to_string();
            out.pop();
            out.push('…');
            out
        }
        None => s.to_string(),
    }
}

/// The service.
pub(crate) struct Slack;

impl Service for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }
    fn can_mention(&self) -> bool {
        true
    }
    fn request(&self, alert: &Alert, address: &str, o: &Options) -> Result<Outgoing, String> {
        // Slack takes far more than a readable alert needs; stay well inside its limits.
        let body = fitted(alert, o, slack_text, 32_000, |v| {
            message(v, o.mention, alert.incident_key.as_deref())
        });
        Ok(Outgoing {
            url: address.to_string(),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Verdict;

    #[test]
    fn block_kit_within_limits_and_inert() {
        let a =
            crate::chat::test_support::hostile("<!channel> x & y > z @all http://evil.example", 80);
        let o = crate::chat::test_support::options();
        let out = Slack
            .request(&a, "https://hooks.slack.com/services/T/B/X", &o)
            .unwrap();
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50);
        assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
        for b in blocks {
            for f in b["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= 2000);
            }
            assert!(b["fields"].as_array().map_or(0, Vec::len) <= 10);
        }
        let s = String::from_utf8(out.body).unwrap();
        assert!(
            !s.contains("<!channel>") && !s.contains("@all") && !s.contains("http://evil"),
            "{s}"
        );
        assert!(s.contains("&amp;") && s.contains("&gt;"));
        assert_eq!(Slack.verdict(200, b"ok"), Verdict::Delivered);
        assert!(
            matches!(Slack.verdict(404, b"no_service"), Verdict::Auth(m) if m.contains("no_service"))
        );
        assert!(matches!(
            Slack.verdict(429, b"rate_limited"),
            Verdict::RateLimited(_)
        ));
        assert!(matches!(
            Slack.verdict(400, b"invalid_blocks"),
            Verdict::Permanent(_)
        ));
    }
}
