//! Lark / Feishu custom bots: an interactive card (header coloured by severity, the summary,
//! facts as short fields, an "Open in console" button), `<at id=all></at>` when the target
//! mentions everyone. Signed when the target has a secret: `timestamp` (seconds) and `sign` =
//! Base64 HMAC-SHA256 with the key `timestamp + "\n" + secret` over an empty message, both in
//! the body (not DingTalk's scheme). Body at most 20 KB. Success is `code` 0; 11232 is the rate
//! limit (retry); 19021 (signature), 19022 (IP), 19024 (keyword) and 9499 are permanent.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use kms_alerts_core::{Alert, Severity};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{fitted, markdown, split_secret, Options, Outgoing, Service, Verdict, View};

const BODY_MAX: usize = 20_000;

/// The `sign` body field.
pub(crate) fn sign(timestamp_s: i64, secret: &str) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn card(v: &View, mention: bool, incident: Option<&str>) -> Value {
    let template = if v.resolved {
        "green"
    } else {
        match v.severity {
            Severity::Critical => "red",
            Severity::Warning => "orange",
            Severity::Info => "blue",
        }
    };
    let mut elements =
        vec![json!({"tag": "div", "text": {"tag": "lark_md", "content": v.summary}})];
    if mention {
        elements
            .push(json!({"tag": "div", "text": {"tag": "lark_md", "content": "<at id=all></at>"}}));
    }
    let fields: Vec<Value> = v
        .facts
        .iter()
        .map(|(l, val)| json!({"is_short": true, "text": {"tag": "lark_md", "content": format!("**{l}**\n{val}")}}))
        .collect();
    if !fields.is_empty() {
        elements.push(json!({"tag": "div", "fields": fields}));
    }
    if let Some(i) = incident {
        elements.push(json!({"tag": "note", "elements": [{"tag": "plain_text", "content": format!("kms-alerts incident {i}")}]}));
    }
    if let Some(url) = &v.link {
        let kind = if v.severity == Severity::Critical && !v.resolved {
            "danger"
        } else {
            "primary"
        };
        elements.push(json!({"tag": "action", "actions": [{"tag": "button", "text": {"tag": "plain_text", "content": "Open in console"}, "type": kind, "url": url}]}));
    }
    json!({"config": {"wide_screen_mode": true},
           "header": {"title": {"tag": "plain_text", "content": format!("{} {}", v.icon, v.title)}, "template": template},
           "elements": elements})
}

/// The service.
pub(crate) struct Lark;

impl Service for Lark {
    fn name(&self) -> &'static str {
        "lark"
    }
    /// The signing secret this project splits off before sending.
    fn url_params(&self) -> &'static [&'static str] {
        &["secret"]
    }
    fn can_mention(&self) -> bool {
        true
    }
    fn request(&self, alert: &Alert, address: &str, o: &Options) -> Result<Outgoing, String> {
        let (url, secret) = split_secret(address);
        let timestamp = o.now_ms / 1000;
        let body = fitted(alert, o, markdown, BODY_MAX, |v| {
            let mut m = json!({"msg_type": "interactive", "card": card(v, o.mention, alert.incident_key.as_deref())});
            if let Some(secret) = &secret {
                m["timestamp"] = timestamp.to_string().into();
                m["sign"] = sign(timestamp, secret).into();
            }
            m
        });
        Ok(Outgoing { url, body })
    }
    fn verdict(&self, status: u16, body: &[u8]) -> Verdict {
        super::by_code(
            status,
            body,
            &["code", "StatusCode"],
            &[11232],
            &[19021],
            "Lark",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_documented_computation() {
        // ts 1599360473, secret demo (the fact sheet's computed vector; DingTalk's order differs).
        assert_eq!(
            sign(1_599_360_473, "demo"),
            "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
        );
    }

    #[test]
    fn success_is_code_zero() {
        assert_eq!(
            Lark.verdict(200, br#"{"code":0,"msg":"success","data":{}}"#),
            Verdict::Delivered
        );
        assert!(matches!(Lark.verdict(200, br#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#), Verdict::Auth(_)));
        assert!(matches!(
            Lark.verdict(200, br#"{"code":11232,"msg":"frequency limited psm"}"#),
            Verdict::RateLimited(_)
        ));
        assert!(matches!(
            Lark.verdict(200, br#"{"code":19024,"msg":"Key Words Not Found"}"#),
            Verdict::Permanent(_)
        ));
    }
}
