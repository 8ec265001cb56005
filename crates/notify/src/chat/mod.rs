//! Chat and pager services, posted to directly: Slack (incoming webhook, Block Kit), Microsoft
//! Teams (Workflows webhook, Adaptive Card), DingTalk (custom robot, signed), Lark/Feishu
//! (custom bot, signed), WeCom (group robot), PagerDuty (Events API v2) and Google Chat
//! (incoming webhook, cardsV2). One file per service implements [`Service`]: its address
//! rules, its request and how to read its answer. Reading the target, sending one attempt,
//! secret refresh, scrubbing answers and the size fitting shared by all are here; retrying is
//! the notifier's.
//!
//! Formats, signatures, limits and error codes follow the vendors' documentation, gathered in
//! the project's chat-and-pager fact sheet; where a vendor documents no limit (DingTalk's
//! message size), a conservative one is used and the README says so.

mod chatbot;
pub(crate) mod dingtalk;
pub(crate) mod googlechat;
pub(crate) mod lark;
pub(crate) mod pagerduty;
pub(crate) mod slack;
pub(crate) mod teams;
pub(crate) mod wecom;

use std::sync::Arc;

pub use chatbot::chatbot_message;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use kms_alerts_core::render::escape::neutralize;
use kms_alerts_core::{Alert, Severity};

use crate::address::{checked_url, percent_decode, scrub};
use crate::error::ConfigError;
use crate::failure::{from_status, retry_after_header, Failure, SinkError};
use crate::https::HttpsClient;
use crate::secrets::{Secret, SecretRef};
use crate::sink::{Attempt, BoxFuture, BuildContext, Sink, SinkConfig, SinkOptions};

/// A chat or pager service: one per file, each a unit struct.
pub(crate) trait Service: Send + Sync + 'static {
    /// The scheme that names it in messages (`slack`).
    fn name(&self) -> &'static str;
    /// Whether the address is a URL (else a key, as PagerDuty's routing key).
    fn address_is_url(&self) -> bool {
        true
    }
    /// The webhook URL's own query parameters, kept in its URL (`access_token`, `sig`, ...).
    fn url_params(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether it can mention everyone from a webhook (`mention=`).
    fn can_mention(&self) -> bool {
        false
    }
    /// Whether it takes `keyword=` (robots that require a word in every message).
    fn takes_keyword(&self) -> bool {
        true
    }
    /// Whether it takes `endpoint=` (another API address: a stand-in, a proxy).
    fn takes_endpoint(&self) -> bool {
        false
    }
    /// Checks an address beyond what every URL is checked for.
    fn check_address(&self, _address: &str) -> Result<(), String> {
        Ok(())
    }
    /// The request for one alert.
    fn request(&self, alert: &Alert, address: &str, o: &Options) -> Result<Outgoing, String>;
    /// What an answer means: by default, what its status says.
    fn verdict(&self, status: u16, body: &[u8]) -> Verdict {
        by_status(status, body)
    }
}

/// Every check of an address, inline at start-up or stored when read: a real URL (https, or
/// http on loopback, no credentials in it) where the service takes one, then the service's own.
fn check_address(service: &dyn Service, address: &str) -> Result<(), String> {
    if service.address_is_url() {
        checked_url(address).map_err(|e| {
            format!(
                "expected {}:https://... (the webhook URL): {e}",
                service.name()
            )
        })?;
    }
    service.check_address(address)
}

/// One chat or pager target, as configured.
#[derive(Clone)]
pub struct ChatConfig {
    service: &'static dyn Service,
    address: SecretRef,
    keyword: Option<String>,
    mention: Option<Severity>,
    api_endpoint: Option<String>,
}

impl std::fmt::Debug for ChatConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// Reads a chat target: its address (inline or a reference), the URL's own parameters, and
/// `keyword`, `mention`, `endpoint` where the service takes them.
pub(crate) fn config(
    service: &'static dyn Service,
    _scheme: &str,
    address: &str,
    options: &mut SinkOptions,
) -> Result<Box<dyn SinkConfig>, String> {
    let url_params = options.take_raw(service.url_params());
    let mut full = address.to_string();
    for (i, (k, v)) in url_params.iter().enumerate() {
        full.push(if i == 0 && !address.contains('?') {
            '?'
        } else {
            '&'
        });
        full.push_str(k);
        full.push('=');
        full.push_str(v);
    }
    let address = SecretRef::parse(&full);
    match &address {
        SecretRef::Inline(value) => check_address(service, value)?,
        _ if !url_params.is_empty() => {
            return Err(format!(
                "unknown option {:?} (a referenced address carries its own parameters)",
                url_params[0].0
            ))
        }
        _ => {}
    }
    let severity = |k: &str, v: String| {
        Severity::from_level(&v)
            .ok_or_else(|| format!("{k} {v:?}: expected info, warning or critical"))
    };
    let keyword = if service.takes_keyword() {
        options.take("keyword").map(|k| percent_decode(&k))
    } else {
        None
    };
    let mention = match options.take("mention") {
        Some(_) if !service.can_mention() => {
            return Err(format!(
                "mention: {} has no way to mention everyone from a webhook",
                service.name()
            ))
        }
        Some(v) => Some(severity("mention", v)?),
        None => None,
    };
    let api_endpoint = match options.take("endpoint") {
        Some(_) if !service.takes_endpoint() => {
            return Err(format!(
                "endpoint: {} takes no other API address",
                service.name()
            ))
        }
        Some(e) => {
            let e = percent_decode(&e);
            checked_url(&e).map_err(|m| format!("endpoint: {m}"))?;
            Some(e)
        }
        None => None,
    };
    Ok(Box::new(ChatConfig {
        service,
        address,
        keyword,
        mention,
        api_endpoint,
    }))
}

impl SinkConfig for ChatConfig {
    fn display(&self) -> String {
        format!("{}:{}", self.service.name(), self.address.describe())
    }

    fn identity(&self) -> String {
        let address = match &self.address {
            SecretRef::Inline(v) => v.clone(),
            reference => reference.describe(),
        };
        let endpoint = self.api_endpoint.as_deref().unwrap_or("");
        format!("{}:{address} {endpoint}", self.service.name())
    }

    fn needs_aws(&self) -> bool {
        self.address.is_stored()
    }

    fn build(&self, ctx: &BuildContext) -> Result<Arc<dyn Sink>, ConfigError> {
        Ok(Arc::new(ChatSink::new(self.clone(), ctx.aws.clone())?))
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
    /// Try again (server error).
    Transient(String),
    /// Try again later (the service is throttling this caller).
    RateLimited(String),
    /// The address or its secret is wrong or revoked: read a stored secret again, once.
    Auth(String),
    Permanent(String),
}

/// The verdict of a status code alone, for services that answer with it (the one status
/// classifier, [`from_status`]).
pub(crate) fn by_status(status: u16, body: &[u8]) -> Verdict {
    let text = format!("HTTP {status} {}", body_text(body));
    match from_status(status, None) {
        None => Verdict::Delivered,
        Some(Failure::RateLimited { .. }) => Verdict::RateLimited(text),
        Some(Failure::Transient { .. }) => Verdict::Transient(text),
        Some(Failure::Auth) => Verdict::Auth(text),
        Some(Failure::Permanent) => Verdict::Permanent(text),
    }
}

impl Verdict {
    /// The verdict as the crate's result, with the answer's `Retry-After` where it can wait.
    fn into_result(self, retry_after: Option<std::time::Duration>) -> Result<(), SinkError> {
        let (failure, m) = match self {
            Verdict::Delivered => return Ok(()),
            Verdict::Transient(m) => (Failure::Transient { retry_after }, m),
            Verdict::RateLimited(m) => (Failure::RateLimited { retry_after }, m),
            Verdict::Auth(m) => (Failure::Auth, m),
            Verdict::Permanent(m) => (Failure::Permanent, m),
        };
        Err(SinkError::new(failure, m))
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
        Some(c) if retry.contains(&c) => Verdict::RateLimited(format!("rate limited: {detail}")),
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

/// Whether `address` has the query parameter `name` with a value.
pub(crate) fn has_query_param(address: &str, name: &str) -> bool {
    url::Url::parse(address)
        .map(|u| u.query_pairs().any(|(k, v)| k == name && !v.is_empty()))
        .unwrap_or(false)
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

/// Sends alerts to one chat or pager service.
pub struct ChatSink {
    config: ChatConfig,
    secret: Secret,
    client: HttpsClient,
}

impl std::fmt::Debug for ChatSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChatSink({})", self.config.display())
    }
}

impl ChatSink {
    fn new(
        config: ChatConfig,
        aws: Option<aws_config::SdkConfig>,
    ) -> Result<ChatSink, ConfigError> {
        let name = config.display();
        let secret = Secret::new(config.address.clone(), aws)?;
        // An address known at start-up (inline, from the environment) is checked now; a stored
        // one when it is read.
        if let Some(value) = secret.cached_now() {
            check_address(config.service, &value)
                .map_err(|m| ConfigError(format!("KMS_ALERTS_TARGETS: {name}: {m}")))?;
        }
        Ok(ChatSink {
            client: crate::https::client(&name)?,
            config,
            secret,
        })
    }

    /// One attempt: read the address (a stored one is read once and cached), build the
    /// service's request, post it and read the answer. Whatever the answer says is scrubbed of
    /// the address before it reaches an error.
    async fn attempt(&self, alert: &Alert, attempt: Attempt<'_>) -> Result<(), SinkError> {
        let address = self.secret.get().await?;
        if self.config.address.is_stored() {
            if let Err(m) = check_address(self.config.service, &address) {
                return Err(SinkError::permanent(format!(
                    "the stored address is not usable: {m}"
                )));
            }
        }
        let o = Options {
            keyword: self.config.keyword.clone(),
            mention: self.config.mention.is_some_and(|m| alert.severity >= m) && !alert.resolved,
            idempotency_key: attempt.idempotency_key(&alert.dedup_key),
            api_endpoint: self.config.api_endpoint.clone(),
            now_ms: chrono::Utc::now().timestamp_millis(),
        };
        let out = self
            .config
            .service
            .request(alert, &address, &o)
            .map_err(SinkError::permanent)?;
        let req = http::Request::post(&out.url)
            .header("content-type", "application/json; charset=utf-8")
            .header("content-length", out.body.len())
            .body(Full::new(Bytes::from(out.body)))
            .map_err(|_| SinkError::permanent("the address is not a valid URL"))?;
        let resp = self.client.request(req).await.map_err(|e| {
            SinkError::transient(scrub(
                &format!("request failed: {}", error_chain(&e)),
                &address,
            ))
        })?;
        let status = resp.status().as_u16();
        let retry_after = retry_after_header(resp.headers());
        let body = Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|e| SinkError::transient(format!("reading the answer failed: {e}")))?
            .to_bytes();
        self.config
            .service
            .verdict(status, &body)
            .into_result(retry_after)
            .map_err(|mut e| {
                e.message = scrub(&e.message, &address);
                e
            })
    }
}

impl Sink for ChatSink {
    fn send<'a>(
        &'a self,
        alert: &'a Alert,
        attempt: Attempt<'a>,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.attempt(alert, attempt))
    }

    /// A stored address is read again after the service refused it (it may have been rotated).
    fn refresh(&self) -> BoxFuture<'_, bool> {
        Box::pin(self.secret.invalidate())
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

/// What the services' own tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use super::Options;
    use kms_alerts_core::Alert;

    /// A critical CloudMonitor alert whose secret name is `name`, with `facts` huge facts.
    pub fn hostile(name: &str, facts: usize) -> Alert {
        let event = serde_json::json!({"product": "KMS", "name": "Secret:RotateSecret:Failure",
            "level": "CRITICAL", "regionId": "cn-hangzhou", "content": {"secretName": name}});
        let mut a = kms_alerts_core::parse(event.to_string().as_bytes())
            .unwrap()
            .remove(0)
            .result
            .unwrap();
        a.facts.extend((0..facts).map(|i| kms_alerts_core::Fact {
            label: format!("f{i}").into(),
            value: "密".repeat(3000),
        }));
        a
    }

    /// Options without keyword, mention or endpoint.
    pub fn options() -> Options {
        Options {
            keyword: None,
            mention: false,
            idempotency_key: "k".into(),
            api_endpoint: None,
            now_ms: 0,
        }
    }
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
        let check = |s: &dyn Service, a: &str| check_address(s, a);
        assert!(check(&teams::Teams, "https://x.webhook.office.com/webhookb2/abc").is_err());
        assert!(check(&slack::Slack, "http://hooks.slack.com/x").is_err());
        assert!(check(&slack::Slack, "http://127.0.0.1:9/x").is_ok());
        assert!(check(&slack::Slack, "http://127.evil.example/x").is_err());
        assert!(check(&slack::Slack, "https://u:p@hooks.slack.com/x").is_err());
        assert!(check(&dingtalk::DingTalk, "https://oapi.dingtalk.com/robot/send").is_err());
        assert!(check(&pagerduty::PagerDuty, "0123456789abcdef0123456789abcdef").is_ok());
        assert!(check(&pagerduty::PagerDuty, "a/b").is_err());
    }
}
