//! DingTalk custom robots: an action card (Markdown text and an "Open in console" button), or
//! Markdown with `at.isAtAll` when the target mentions everyone. Signed when the target has a
//! secret: `timestamp` (ms) and `sign` = URL-encoded Base64 HMAC-SHA256 (key: the secret) of
//! `timestamp + "\n" + secret`, appended to the URL. `msgUuid` makes retries idempotent.
//! Success is `errcode` 0 (with HTTP 200); 130101 is the rate limit (retry); 310000 (keyword,
//! signature, timestamp, IP) and 300005 (token) are permanent.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use kms_alerts_core::Alert;
use serde_json::json;
use sha2::Sha256;

use super::{fitted, markdown, split_secret, Options, Outgoing, Service, Verdict, View};

/// DingTalk documents no message size; 20,000 bytes keeps well inside what robots take.
const BODY_MAX: usize = 20_000;

/// The `sign` parameter, before URL encoding.
pub(crate) fn sign(timestamp_ms: i64, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn text(v: &View, incident: Option<&str>) -> String {
    let mut t = format!("### {} {}\n\n{}\n\n", v.icon, v.title, v.summary);
    for (l, val) in &v.facts {
        t.push_str(&format!("- **{l}**: {val}\n"));
    }
    if let Some(i) = incident {
        t.push_str(&format!("\nkms-alerts incident {i}\n"));
    }
    t
}

/// The service.
pub(crate) struct DingTalk;

impl Service for DingTalk {
    fn name(&self) -> &'static str {
        "dingtalk"
    }
    /// The robot's token, and the signing secret this project splits off before sending.
    fn url_params(&self) -> &'static [&'static str] {
        &["access_token", "secret"]
    }
    fn can_mention(&self) -> bool {
        true
    }
    fn check_address(&self, address: &str) -> Result<(), String> {
        super::has_query_param(address, "access_token")
            .then_some(())
            .ok_or_else(|| "expected the robot URL with its access_token".into())
    }
    fn request(&self, alert: &Alert, address: &str, o: &Options) -> Result<Outgoing, String> {
        let (mut url, secret) = split_secret(address);
        let body = fitted(alert, o, markdown, BODY_MAX, |v| {
            let mut t = text(v, alert.incident_key.as_deref());
            let m = if o.mention || v.link.is_none() {
                if let Some(link) = &v.link {
                    t.push_str(&format!("\n[Open in console]({link})\n"));
                }
                json!({"msgtype": "markdown", "markdown": {"title": v.title, "text": t},
                       "at": {"isAtAll": o.mention}, "msgUuid": o.idempotency_key})
            } else {
                json!({"msgtype": "actionCard", "actionCard": {"title": v.title, "text": t,
                       "singleTitle": "Open in console", "singleURL": v.link},
                       "msgUuid": o.idempotency_key})
            };
            m
        });
        if let Some(secret) = secret {
            let sign: String =
                form_urlencoded::byte_serialize(sign(o.now_ms, &secret).as_bytes()).collect();
            url.push_str(&format!("&timestamp={}&sign={sign}", o.now_ms));
        }
        Ok(Outgoing { url, body })
    }
    fn verdict(&self, status: u16, body: &[u8]) -> Verdict {
        super::by_code(
            status,
            body,
            &["errcode"],
            &[130101],
            &[310000, 300005],
            "DingTalk",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_documented_computation() {
        // ts 1700000000000, secret SECexample (the fact sheet's computed vector).
        assert_eq!(
            sign(1_700_000_000_000, "SECexample"),
            "uroalHrWHORz59talE1o26b8HuX2kOp8WlAN91F9Pj0="
        );
    }

    #[test]
    fn success_is_errcode_zero() {
        assert_eq!(
            DingTalk.verdict(200, br#"{"errcode":0,"errmsg":"ok"}"#),
            Verdict::Delivered
        );
        assert!(matches!(
            DingTalk.verdict(200, br#"{"errcode":310000,"errmsg":"sign not match"}"#),
            Verdict::Auth(_)
        ));
        assert!(matches!(
            DingTalk.verdict(200, br#"{"errcode":130101,"errmsg":"send too fast"}"#),
            Verdict::RateLimited(_)
        ));
        assert!(matches!(
            DingTalk.verdict(200, b"<html>"),
            Verdict::Permanent(_)
        ));
        assert!(matches!(DingTalk.verdict(502, b""), Verdict::Transient(_)));
    }
}
