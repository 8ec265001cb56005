//! Chat and pager services, posted to directly: Slack (incoming webhook, Block Kit), Microsoft
//! Teams (Workflows webhook, Adaptive Card), DingTalk (custom robot, signed), Lark/Feishu
//! (custom bot, signed), WeCom (group robot) and PagerDuty (Events API v2). One file per
//! service builds its request and reads its answer; sending, retrying (with `Retry-After`),
//! secret refresh and the size fitting shared by all are here.
//!
//! Formats, signatures, limits and error codes follow the vendors' documentation, gathered in
//! the project's chat-and-pager fact sheet; where a vendor documents no limit (DingTalk's
//! message size), a conservative one is used and the README says so.

mod chatbot;
mod dingtalk;
mod lark;
mod pagerduty;
mod slack;
mod teams;
mod wecom;

use std::time::Duration;

pub use chatbot::chatbot_message;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use kms_alerts_core::render::escape::neutralize;
use kms_alerts_core::{Alert, Severity};
use sha2::{Digest, Sha256};

use crate::config::is_loopback_url;
use crate::error::{ConfigError, SinkError};
use crate::https::HttpsClient;
use crate::retry::{Hinted, RetryPolicy};
use crate::secrets::{Secret, SecretRef};

/// A chat or pager service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Slack,
    Teams,
    DingTalk,
    Lark,
    WeCom,
    PagerDuty,
}

impl Vendor {
    /// The target scheme naming the service (`feishu:` is Lark's other name).
    pub fn from_scheme(scheme: &str) -> Option<Vendor> {
        Some(match scheme {
            "slack" => Vendor::Slack,
            "teams" => Vendor::Teams,
            "dingtalk" => Vendor::DingTalk,
            "lark" | "feishu" => Vendor::Lark,
            "wecom" => Vendor::WeCom,
            "pagerduty" => Vendor::PagerDuty,
            _ => return None,
        })
    }

    pub fn scheme(self) -> &'static str {
        match self {
            Vendor::Slack => "slack",
            Vendor::Teams => "teams",
            Vendor::DingTalk => "dingtalk",
            Vendor::Lark => "lark",
            Vendor::WeCom => "wecom",
            Vendor::PagerDuty => "pagerduty",
        }
    }

    /// Whether the service can mention everyone from a webhook.
    pub fn can_mention(self) -> bool {
        matches!(
            self,
            Vendor::Slack | Vendor::DingTalk | Vendor::Lark | Vendor::WeCom
        )
    }

    /// Checks an address given inline (references are checked when read).
    pub fn check_address(self, address: &str) -> Result<(), String> {
        if self == Vendor::PagerDuty {
            let key = address.trim();
            if key.is_empty() || key.contains(['/', ' ', '?']) {
                return Err("expected pagerduty:<routing key> (32 characters from the service's Events API v2 integration)".into());
            }
            return Ok(());
        }
        if !(address.starts_with("https://") || is_loopback_url(address)) {
            return Err(format!(
                "expected {}:https://... (the webhook URL; http:// only on loopback)",
                self.scheme()
            ));
        }
        let host = address
            .split("://")
            .nth(1)
            .and_then(|r| r.split(['/', '?', ':']).next())
            .unwrap_or("");
        match self {
            Vendor::Teams if host.ends_with("webhook.office.com") => Err(
                "Office 365 connector webhooks (webhook.office.com) are retired: create a Workflows webhook (\"When a Teams webhook request is received\") and use its URL".into(),
            ),
            Vendor::DingTalk if !address.contains("access_token=") => {
                Err("expected the robot URL with its access_token".into())
            }
            Vendor::WeCom if !address.contains("key=") => {
                Err("expected the robot URL with its key".into())
            }
            _ => Ok(()),
        }
    }

    fn request(self, alert: &Alert, address: &str, o: &Options) -> Result<Outgoing, String> {
        match self {
            Vendor::Slack => slack::request(alert, address, o),
            Vendor::Teams => teams::request(alert, address, o),
            Vendor::DingTalk => dingtalk::request(alert, address, o),
            Vendor::Lark => lark::request(alert, address, o),
            Vendor::WeCom => wecom::request(alert, address, o),
            Vendor::PagerDuty => pagerduty::request(alert, address, o),
        }
    }

    fn verdict(self, status: u16, body: &[u8]) -> Verdict {
        match self {
            Vendor::Slack => slack::verdict(status, body),
            Vendor::Teams => teams::verdict(status, body),
            Vendor::DingTalk => dingtalk::verdict(status, body),
            Vendor::Lark => lark::verdict(status, body),
            Vendor::WeCom => wecom::verdict(status, body),
            Vendor::PagerDuty => pagerduty::verdict(status, body),
        }
    }
}

/// What one message is built with besides the alert.
#[derive(Clone)]
pub(crate) struct Options {
    pub keyword: Option<String>,
    /// Mention everyone in this message.
    pub mention: bool,
    /// The same for every retry of this alert to this target, in every process.
    pub idempotency_key: String,
    pub api_endpoint: Option<String>,
    /// Milliseconds since the Unix epoch (signatures).
    pub now_ms: i64,
}

/// The request to send.
pub(crate) struct Outgoing {
    pub url: String,
    pub body: Vec<u8>,
}

/// What the service's answer means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Delivered,
    /// Try again (rate limit, server error).
    Transient(String),
    /// The address or its secret is wrong or revoked: read a stored secret again, once.
    Auth(String),
    Permanent(String),
}

/// The verdict of a status code alone, for services that answer with it.
pub(crate) fn by_status(status: u16, body: &[u8]) -> Verdict {
    let text = body_text(body);
    match status {
        200..=299 => Verdict::Delivered,
        429 | 500..=599 => Verdict::Transient(format!("HTTP {status} {text}")),
        401 | 403 | 404 | 410 => Verdict::Auth(format!("HTTP {status} {text}")),
        _ => Verdict::Permanent(format!("HTTP {status} {text}")),
    }
}

/// A short, single-line excerpt of an answer for errors (answers can echo the caller's IP).
pub(crate) fn body_text(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(300)]);
    kms_alerts_core::text::one_line(s.trim(), 200)
}

/// The verdict of services that answer HTTP 200 with a code in the body (DingTalk `errcode`,
/// Lark `code`, WeCom `errcode`): 0 is delivered, `retry` codes are rate limits, `auth` codes
/// refuse the address or signature, any other code is permanent.
pub(crate) fn by_code(
    status: u16,
    body: &[u8],
    fields: &[&str],
    retry: &[i64],
    auth: &[i64],
    service: &str,
) -> Verdict {
    if status != 200 {
        return by_status(status, body);
    }
    let detail = body_text(body);
    match fields.iter().find_map(|f| code_of(body, f)) {
        Some(0) => Verdict::Delivered,
        Some(c) if retry.contains(&c) => Verdict::Transient(format!("rate limited: {detail}")),
        Some(c) if auth.contains(&c) => Verdict::Auth(detail),
        Some(_) => Verdict::Permanent(detail),
        None => Verdict::Permanent(format!("not a {service} answer: {detail}")),
    }
}

/// The request body built by `build` from the alert's view, fitted within `limit` bytes.
pub(crate) fn fitted(
    alert: &Alert,
    o: &Options,
    escape: fn(&str, usize) -> String,
    limit: usize,
    build: impl Fn(&View) -> serde_json::Value,
) -> Vec<u8> {
    fit(limit, |value_max, facts_max| {
        build(&View::of(alert, o, escape, value_max, facts_max))
            .to_string()
            .into_bytes()
    })
}

/// Reads a JSON answer's numeric code field (`errcode`, `code`); `None` if absent.
pub(crate) fn code_of(body: &[u8], field: &str) -> Option<i64> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .get(field)?
        .as_i64()
}

/// What a message shows, made inert for the service's format by `escape` and cut to size.
pub(crate) struct View {
    pub severity: Severity,
    pub resolved: bool,
    /// Emoji for the severity, or a check mark when resolved.
    pub icon: &'static str,
    pub title: String,
    pub summary: String,
    pub facts: Vec<(String, String)>,
    /// The console link (built by this project, not event text).
    pub link: Option<String>,
}

impl View {
    /// The view with at most `value_max` characters per value and `facts_max` facts.
    pub fn of(
        alert: &Alert,
        o: &Options,
        escape: fn(&str, usize) -> String,
        value_max: usize,
        facts_max: usize,
    ) -> View {
        let mut title = String::new();
        if let Some(k) = &o.keyword {
            title.push_str(&format!("[{k}] "));
        }
        if alert.resolved {
            title.push_str("Resolved: ");
        }
        title.push_str(&escape(&alert.title, value_max.clamp(64, 200)));
        let context = [
            ("Cloud", Some(alert.cloud.display_name().to_string())),
            ("Account", alert.account.clone()),
            ("Region", alert.region.clone()),
            ("Resource", alert.resource.clone()),
            ("Occurred at", alert.occurred_at.clone()),
        ];
        let facts = alert
            .facts
            .iter()
            .map(|f| (f.label.as_ref(), Some(f.value.clone())))
            .chain(context.iter().map(|(l, v)| (*l, v.clone())))
            .filter_map(|(l, v)| Some((escape(l, 64), escape(&v?, value_max))))
            .take(facts_max)
            .collect();
        View {
            severity: alert.severity,
            resolved: alert.resolved,
            icon: if alert.resolved {
                "✅"
            } else {
                match alert.severity {
                    Severity::Critical => "🔴",
                    Severity::Warning => "🟠",
                    Severity::Info => "🔵",
                }
            },
            title,
            summary: escape(&alert.summary, value_max * 2),
            facts,
            link: alert.console_url.clone(),
        }
    }
}

/// Builds with smaller and fewer values until the result is within `limit` bytes.
pub(crate) fn fit(limit: usize, build: impl Fn(usize, usize) -> Vec<u8>) -> Vec<u8> {
    const STEPS: [(usize, usize); 6] = [(512, 64), (256, 24), (128, 12), (64, 6), (32, 3), (16, 0)];
    let mut out = Vec::new();
    for (value_max, facts_max) in STEPS {
        out = build(value_max, facts_max);
        if out.len() <= limit {
            break;
        }
    }
    out
}

/// Plain text made inert (one line, no links or mentions).
pub(crate) fn plain(s: &str, max: usize) -> String {
    neutralize(s, max)
}

/// Markdown made inert and escaped.
pub(crate) fn markdown(s: &str, max: usize) -> String {
    kms_alerts_core::render::escape::markdown(s, max)
}

/// Removes the `secret` parameter from a webhook URL: (URL to post to, signing secret).
pub(crate) fn split_secret(address: &str) -> (String, Option<String>) {
    let Some((base, query)) = address.split_once('?') else {
        return (address.to_string(), None);
    };
    let mut secret = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| match p.strip_prefix("secret=") {
            Some(s) => {
                secret = Some(percent_decode(s));
                false
            }
            None => !p.is_empty(),
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, secret)
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Sends alerts to one chat or pager service.
pub struct ChatSink {
    vendor: Vendor,
    secret: Secret,
    keyword: Option<String>,
    mention: Option<Severity>,
    api_endpoint: Option<String>,
    client: HttpsClient,
    retry: RetryPolicy,
    name: String,
}

impl std::fmt::Debug for ChatSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChatSink({})", self.name)
    }
}

impl ChatSink {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        vendor: Vendor,
        address: SecretRef,
        keyword: Option<String>,
        mention: Option<Severity>,
        api_endpoint: Option<String>,
        aws: Option<aws_config::SdkConfig>,
        retry: RetryPolicy,
    ) -> Result<ChatSink, ConfigError> {
        let name = format!("{}:{}", vendor.scheme(), address.describe());
        let secret = Secret::new(address, aws)?;
        // An address known at start-up (inline, from the environment) is checked now; a stored
        // one when it is read.
        if let Some(value) = secret.cached_now() {
            vendor
                .check_address(&value)
                .map_err(|m| ConfigError(format!("KMS_ALERTS_TARGETS: {name}: {m}")))?;
        }
        Ok(ChatSink {
            vendor,
            secret,
            keyword,
            mention,
            api_endpoint,
            client: crate::https::client(&name)?,
            retry,
            name,
        })
    }

    /// Delivers `alert`, retrying what the service calls transient (honouring `Retry-After`);
    /// an authentication failure with a stored secret reads the secret again and tries once more.
    pub async fn send(&self, alert: &Alert) -> Result<(), SinkError> {
        let options = Options {
            keyword: self.keyword.clone(),
            mention: self.mention.is_some_and(|m| alert.severity >= m) && !alert.resolved,
            idempotency_key: idempotency_key(&self.name, &alert.dedup_key),
            api_endpoint: self.api_endpoint.clone(),
            now_ms: 0,
        };
        let mut refreshed = false;
        loop {
            let address = self.secret.get(&self.name).await?;
            if self.secret.reference().is_stored() {
                if let Err(m) = self.vendor.check_address(&address) {
                    return Err(self.error(false, format!("the stored address is not usable: {m}")));
                }
            }
            let result = self
                .retry
                .run_hinted(&self.name, |_| self.attempt(alert, &address, &options))
                .await;
            match result {
                Err(h) if h.auth && !refreshed && self.secret.invalidate().await => {
                    tracing::warn!(target_name = %self.name, error = %h.error.message, "authentication failed; reading the secret again");
                    refreshed = true;
                }
                r => return r.map_err(|h| h.error),
            }
        }
    }

    async fn attempt(&self, alert: &Alert, address: &str, o: &Options) -> Result<(), Hinted> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let o = Options {
            now_ms,
            ..o.clone()
        };
        let out = self
            .vendor
            .request(alert, address, &o)
            .map_err(|m| Hinted::from(self.error(false, m)))?;
        let req = http::Request::post(&out.url)
            .header("content-type", "application/json; charset=utf-8")
            .header("content-length", out.body.len())
            .body(Full::new(Bytes::from(out.body)))
            .map_err(|_| {
                Hinted::from(self.error(false, "the address is not a valid URL".into()))
            })?;
        let resp = self.client.request(req).await.map_err(|e| {
            // hyper's error names no URL parts beyond the host.
            Hinted::from(self.error(true, format!("request failed: {}", error_chain(&e))))
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|e| Hinted::from(self.error(true, format!("reading the answer failed: {e}"))))?
            .to_bytes();
        match self.vendor.verdict(status, &body) {
            Verdict::Delivered => Ok(()),
            Verdict::Transient(m) => Err(Hinted {
                error: self.error(true, m),
                retry_after,
                auth: false,
            }),
            Verdict::Auth(m) => Err(Hinted {
                error: self.error(false, m),
                retry_after: None,
                auth: true,
            }),
            Verdict::Permanent(m) => Err(Hinted::from(self.error(false, m))),
        }
    }

    fn error(&self, transient: bool, message: String) -> SinkError {
        SinkError {
            target: self.name.clone(),
            transient,
            message,
        }
    }
}

/// An error and its causes, without the request URL (which holds the secret).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// 32 hex digits from the target and the dedup key: a retry, in any process, repeats it.
fn idempotency_key(target: &str, dedup_key: &str) -> String {
    let digest = Sha256::digest(format!("{target}\u{0}{dedup_key}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_split_off_and_addresses_checked() {
        let (url, secret) =
            split_secret("https://oapi.dingtalk.com/robot/send?access_token=abc&secret=SEC%2Bx");
        assert_eq!(url, "https://oapi.dingtalk.com/robot/send?access_token=abc");
        assert_eq!(secret.as_deref(), Some("SEC+x"));
        assert_eq!(
            split_secret("https://open.feishu.cn/open-apis/bot/v2/hook/t?secret=demo"),
            (
                "https://open.feishu.cn/open-apis/bot/v2/hook/t".to_string(),
                Some("demo".to_string())
            )
        );
        assert!(Vendor::Teams
            .check_address("https://x.webhook.office.com/webhookb2/abc")
            .is_err());
        assert!(Vendor::Slack
            .check_address("http://hooks.slack.com/x")
            .is_err());
        assert!(Vendor::Slack.check_address("http://127.0.0.1:9/x").is_ok());
        assert!(Vendor::DingTalk
            .check_address("https://oapi.dingtalk.com/robot/send")
            .is_err());
        assert!(Vendor::PagerDuty
            .check_address("0123456789abcdef0123456789abcdef")
            .is_ok());
        assert_eq!(idempotency_key("a", "b"), idempotency_key("a", "b"));
        assert_ne!(idempotency_key("a", "b"), idempotency_key("a", "c"));
    }
}
