//! Google Chat incoming webhooks (`https://chat.googleapis.com/v1/spaces/<SPACE>/messages?key=...&token=...`;
//! the `token` is the secret): a `cardsV2` card (header with the title and where, the summary,
//! facts as decorated text, an "Open in console" button) with a plain `text` fallback. The
//! incident key is the `thread.threadKey` and the request asks for
//! `messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD`, so the alert that resolves an
//! incident lands in the thread of the alert that opened it. Messages are at most 32,000
//! bytes. Success is 200; 429 is the rate limit; errors come in Google's JSON error format.
//! Card text is HTML-formatted, so event text is made inert and `&`, `<`, `>` escaped.

use kms_alerts_core::Alert;
use serde_json::{json, Value};

use super::{fitted, has_query_param, plain, Options, Outgoing, Service, View};

/// Google Chat's message limit, in bytes.
const BODY_MAX: usize = 32_000;
/// The longest `threadKey` Google Chat takes.
const THREAD_KEY_MAX: usize = 4_000;

/// Text for card fields: inert, with HTML's special characters escaped.
fn card_text(s: &str, max: usize) -> String {
    plain(s, max)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn message(v: &View, alert: &Alert) -> Value {
    let mut widgets = vec![json!({"textParagraph": {"text": v.summary}})];
    widgets.extend(
        v.facts.iter().map(
            |(l, val)| json!({"decoratedText": {"topLabel": l, "text": val, "wrapText": true}}),
        ),
    );
    if let Some(url) = &v.link {
        widgets.push(json!({"buttonList": {"buttons": [
            {"text": "Open in console", "onClick": {"openLink": {"url": url}}}
        ]}}));
    }
    let subtitle = [alert.cloud.display_name(), alert.severity.as_str()].join(" · ");
    let fallback = format!("{} {}: {}", v.icon, v.title, v.summary);
    let thread_key: String = alert
        .incident_key
        .as_deref()
        .unwrap_or(&alert.dedup_key)
        .chars()
        .take(THREAD_KEY_MAX)
        .collect();
    json!({
        "text": fallback,
        "cardsV2": [{"cardId": "kms-alert", "card": {
            "header": {"title": format!("{} {}", v.icon, v.title), "subtitle": subtitle},
            "sections": [{"widgets": widgets}],
        }}],
        "thread": {"threadKey": thread_key},
    })
}

/// The service.
pub(crate) struct GoogleChat;

impl Service for GoogleChat {
    fn name(&self) -> &'static str {
        "googlechat"
    }
    fn url_params(&self) -> &'static [&'static str] {
        &["key", "token"]
    }
    fn check_address(&self, address: &str) -> Result<(), String> {
        let path_ok = url::Url::parse(address)
            .map(|u| u.path().starts_with("/v1/spaces/") && u.path().ends_with("/messages"))
            .unwrap_or(false);
        if !path_ok || !has_query_param(address, "key") || !has_query_param(address, "token") {
            return Err("expected the webhook URL https://chat.googleapis.com/v1/spaces/<SPACE>/messages?key=...&token=...".into());
        }
        Ok(())
    }
    fn request(&self, alert: &Alert, address: &str, o: &Options) -> Result<Outgoing, String> {
        let body = fitted(alert, o, card_text, BODY_MAX, |v| message(v, alert));
        let separator = if address.contains('?') { '&' } else { '?' };
        Ok(Outgoing {
            url: format!(
                "{address}{separator}messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
            ),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Verdict;

    #[test]
    fn a_card_in_a_thread_within_32000_bytes_and_inert() {
        let a = crate::chat::test_support::hostile(
            "<users/all> <b>x</b> & y @all http://evil.example",
            200,
        );
        let o = crate::chat::test_support::options();
        let out = GoogleChat
            .request(
                &a,
                "https://chat.googleapis.com/v1/spaces/S/messages?key=K&token=T",
                &o,
            )
            .unwrap();
        assert!(out.body.len() <= BODY_MAX, "{}", out.body.len());
        assert!(out
            .url
            .ends_with("&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"));
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(v["cardsV2"][0]["cardId"], "kms-alert");
        assert!(!v["text"].as_str().unwrap().is_empty());
        assert_eq!(
            v["thread"]["threadKey"].as_str(),
            Some(a.incident_key.as_deref().unwrap_or(&a.dedup_key))
        );
        let s = String::from_utf8(out.body).unwrap();
        for bad in ["<users/all>", "<b>", "@all", "http://evil"] {
            assert!(!s.contains(bad), "{bad} in {s}");
        }
        assert!(matches!(
            GoogleChat.verdict(429, b"{}"),
            Verdict::RateLimited(_)
        ));
        assert!(matches!(
            GoogleChat.verdict(
                403,
                br#"{"error":{"code":403,"status":"PERMISSION_DENIED"}}"#
            ),
            Verdict::Auth(_)
        ));
        assert!(matches!(
            GoogleChat.verdict(400, b"{}"),
            Verdict::Permanent(_)
        ));
        assert_eq!(GoogleChat.verdict(200, b"{}"), Verdict::Delivered);
        let g = GoogleChat;
        assert!(g
            .check_address("https://chat.googleapis.com/v1/spaces/S/messages?key=K&token=T")
            .is_ok());
        assert!(g
            .check_address("https://chat.googleapis.com/v1/spaces/S/messages?key=K")
            .is_err());
        assert!(g
            .check_address("https://chat.googleapis.com/v1/other?key=K&token=T")
            .is_err());
    }
}
