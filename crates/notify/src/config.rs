//! Target configuration: `KMS_ALERTS_TARGETS` and the delivery settings.
//!
//! Targets are separated by whitespace, `,` or `;`; each is `scheme:address[?option=value&...]`:
//!
//! | target | example |
//! |---|---|
//! | `stdout` | `stdout?format=json` (`text`, `markdown`, `json`) |
//! | `sns:<topic ARN>` | `sns:arn:aws:sns:us-east-1:111122223333:kms-alerts.fifo` |
//! | `sqs:<queue URL>` | `sqs:https://sqs.us-east-1.amazonaws.com/111122223333/kms-audit` |
//! | `mns:<endpoint>/topics/<name>` or `/queues/<name>` | `mns:https://1192850000000060.mns.cn-hangzhou.aliyuncs.com/topics/kms-alerts?tag=kms&format=text` |
//!
//! | `slack:<webhook URL>` | `slack:https://hooks.slack.com/services/T0/B0/XXXX?mention=critical` |
//! | `teams:<workflow URL>` | `teams:https://prod-00.westus.logic.azure.com/workflows/...?sig=...` |
//! | `dingtalk:<robot URL>&secret=<signing secret>` | `dingtalk:https://oapi.dingtalk.com/robot/send?access_token=...&secret=SEC...&keyword=alert` |
//! | `lark:`/`feishu:<hook URL>?secret=<signing secret>` | `lark:https://open.feishu.cn/open-apis/bot/v2/hook/...?secret=...` |
//! | `wecom:<robot URL>` | `wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...` |
//! | `pagerduty:<routing key>` | `pagerduty:env:PD_ROUTING_KEY?min_severity=critical` |
//!
//! Every target takes `min_severity=info|warning|critical` (default `info`) and routing rules
//! (`kind`, `family`, `cloud`, `account`, `region`; see [`crate::route`]): for example critical
//! alerts to a pager and everything to an audit queue. A chat or pager target's address may be
//! a reference instead of the secret itself: `env:NAME`, `secretsmanager:<id>`, `ssm:<name>`.

use std::time::Duration;

use kms_alerts_core::{Format, Severity};

use crate::chat::Vendor;
use crate::error::ConfigError;
use crate::route::Route;
use crate::secrets::SecretRef;

/// Where one target delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Stdout {
        format: Format,
    },
    Sns {
        topic_arn: String,
        /// `format=chatbot`: the message in the AWS Chatbot (Amazon Q Developer in chat
        /// applications) custom notification schema.
        chatbot: bool,
    },
    Sqs {
        queue_url: String,
    },
    Mns {
        endpoint: String,
        resource: MnsResource,
        name: String,
        tag: Option<String>,
        format: Format,
    },
    /// A chat or pager service, with its address (a webhook URL or routing key, maybe a
    /// reference to a stored secret).
    Chat {
        vendor: Vendor,
        address: SecretRef,
        /// A word the message must contain (robots are often set up to require one).
        keyword: Option<String>,
        /// Mention everyone (`@all`, `<!channel>`) for alerts at or above this severity.
        mention: Option<Severity>,
        /// PagerDuty: another Events API address (a stand-in, a proxy).
        api_endpoint: Option<String>,
    },
}

/// An MNS topic or queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnsResource {
    Topic,
    Queue,
}

/// One parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub endpoint: Endpoint,
    pub min_severity: Severity,
    pub route: Route,
}

impl TargetSpec {
    /// A name for logs and errors: the target without its options.
    pub fn name(&self) -> String {
        match &self.endpoint {
            Endpoint::Stdout { .. } => "stdout".to_string(),
            Endpoint::Sns { topic_arn, .. } => format!("sns:{topic_arn}"),
            Endpoint::Sqs { queue_url } => format!("sqs:{queue_url}"),
            Endpoint::Mns {
                endpoint,
                resource,
                name,
                ..
            } => {
                let kind = match resource {
                    MnsResource::Topic => "topics",
                    MnsResource::Queue => "queues",
                };
                format!("mns:{endpoint}/{kind}/{name}")
            }
            Endpoint::Chat {
                vendor, address, ..
            } => format!("{}:{}", vendor.scheme(), address.describe()),
        }
    }
}

/// Parses a target list; an empty list means stdout.
pub fn parse_targets(s: &str) -> Result<Vec<TargetSpec>, ConfigError> {
    let items: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty())
        .collect();
    if items.is_empty() {
        return Ok(vec![TargetSpec {
            endpoint: Endpoint::Stdout {
                format: Format::Text,
            },
            min_severity: Severity::Info,
            route: Route::default(),
        }]);
    }
    items.into_iter().map(parse_target).collect()
}

fn parse_target(item: &str) -> Result<TargetSpec, ConfigError> {
    let (main, query) = match item.split_once('?') {
        Some((m, q)) => (m, q),
        None => (item, ""),
    };
    let (scheme, rest) = main.split_once(':').unwrap_or((main, ""));
    let vendor = Vendor::from_scheme(scheme);
    // A chat target's address is its credential: errors show it masked.
    let shown = match vendor {
        Some(_) => format!("{scheme}:{}", SecretRef::parse(rest).describe()),
        None => item.to_string(),
    };
    let err = |m: String| ConfigError(format!("KMS_ALERTS_TARGETS: {shown:?}: {m}"));
    let mut min_severity = Severity::Info;
    let mut format = None;
    let mut tag = None;
    let mut keyword = None;
    let mut mention = None;
    let mut api_endpoint = None;
    let mut route = Route::default();
    // A chat target's own URL parameters (access_token, key, sig, secret...) stay in its URL.
    let mut url_params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| err(format!("option {pair:?} needs a value")))?;
        let severity = |v: &str| {
            kms_alerts_core::Severity::from_level(v)
                .ok_or_else(|| err(format!("{k} {v:?}: expected info, warning or critical")))
        };
        match k {
            "min_severity" | "severity" => min_severity = severity(v)?,
            "format" => format = Some(v.to_string()),
            "tag" => tag = Some(v.to_string()),
            "keyword" if vendor.is_some() => keyword = Some(v.to_string()),
            "mention" if vendor.is_some() => mention = Some(severity(v)?),
            "endpoint" if vendor == Some(Vendor::PagerDuty) => api_endpoint = Some(v.to_string()),
            _ if route.option(k, v).map_err(&err)? => {}
            _ if vendor.is_some() => url_params.push(pair),
            other => return Err(err(format!("unknown option {other:?}"))),
        }
    }
    route.check().map_err(&err)?;
    let text_format = |f: Option<String>| -> Result<Option<Format>, ConfigError> {
        f.map(|f| f.parse::<Format>().map_err(&err)).transpose()
    };
    let endpoint = match scheme {
        "stdout" if rest.is_empty() => Endpoint::Stdout {
            format: text_format(format.take())?.unwrap_or(Format::Text),
        },
        "sns" => {
            let parts: Vec<&str> = rest.split(':').collect();
            if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
                return Err(err(
                    "expected sns:arn:<partition>:sns:<region>:<account>:<topic>".into(),
                ));
            }
            let chatbot = match format.take().as_deref() {
                None => false,
                Some("chatbot") => true,
                Some(other) => {
                    return Err(err(format!(
                        "format {other:?}: an SNS target takes only format=chatbot"
                    )))
                }
            };
            Endpoint::Sns {
                topic_arn: rest.to_string(),
                chatbot,
            }
        }
        "sqs" => {
            if !(rest.starts_with("https://") || rest.starts_with("http://"))
                || rest.trim_end_matches('/').matches('/').count() < 4
            {
                return Err(err("expected sqs:https://<host>/<account>/<queue>".into()));
            }
            Endpoint::Sqs {
                queue_url: rest.trim_end_matches('/').to_string(),
            }
        }
        "mns" => {
            if rest.starts_with("http://") && !is_loopback_url(rest) {
                return Err(err(
                    "MNS over plain http:// would send the signed request and security token in clear; use https://".into(),
                ));
            }
            let (endpoint, resource, name) = parse_mns(rest).ok_or_else(|| {
                err("expected mns:https://<account>.mns.<region>.aliyuncs.com/topics/<name> or /queues/<name>".into())
            })?;
            Endpoint::Mns {
                endpoint,
                resource,
                name,
                tag: tag.take(),
                format: text_format(format.take())?.unwrap_or(Format::Json),
            }
        }
        _ if vendor.is_some() => {
            let vendor = vendor.expect("checked");
            let mut address = rest.to_string();
            if !url_params.is_empty() {
                address.push('?');
                address.push_str(&url_params.join("&"));
            }
            let address = SecretRef::parse(&address);
            if let SecretRef::Inline(value) = &address {
                vendor.check_address(value).map_err(&err)?;
            } else if !url_params.is_empty() {
                return Err(err(format!(
                    "unknown option {:?} (a referenced address carries its own parameters)",
                    url_params[0].split('=').next().unwrap_or("")
                )));
            }
            if mention.is_some() && !vendor.can_mention() {
                return Err(err(format!(
                    "mention: {} has no way to mention everyone from a webhook",
                    vendor.scheme()
                )));
            }
            if keyword.is_some() && vendor == Vendor::PagerDuty {
                return Err(err("keyword applies to chat targets only".into()));
            }
            if let Some(e) = &api_endpoint {
                if !(e.starts_with("https://") || is_loopback_url(e)) {
                    return Err(err("endpoint must be an https:// URL (or http:// on loopback)".into()));
                }
            }
            Endpoint::Chat {
                vendor,
                address,
                keyword: keyword.take(),
                mention: mention.take(),
                api_endpoint: api_endpoint.take(),
            }
        }
        _ => {
            return Err(err(
                "unknown target: expected stdout, sns:<arn>, sqs:<url>, mns:<url>, slack:, teams:, dingtalk:, lark:, feishu:, wecom: or pagerduty:".into(),
            ))
        }
    };
    if format.is_some() {
        return Err(err(
            "format applies to stdout, mns and sns (format=chatbot) targets only".into(),
        ));
    }
    if tag.is_some() {
        return Err(err("tag applies to mns topics only".into()));
    }
    Ok(TargetSpec {
        endpoint,
        min_severity,
        route,
    })
}

/// `http://127.0.0.1...`, `http://localhost...`, `http://[::1]...`: a stand-in on this machine.
pub(crate) fn is_loopback_url(url: &str) -> bool {
    let host = url
        .strip_prefix("http://")
        .unwrap_or("")
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => h,
        _ => host,
    };
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}

fn parse_mns(url: &str) -> Option<(String, MnsResource, String)> {
    let after_scheme = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let slash = after_scheme.find('/')?;
    let endpoint = &url[..url.len() - after_scheme.len() + slash];
    let mut path = after_scheme[slash + 1..].trim_end_matches('/').split('/');
    let resource = match path.next()? {
        "topics" => MnsResource::Topic,
        "queues" => MnsResource::Queue,
        _ => return None,
    };
    let name = path.next()?;
    let valid = !name.is_empty()
        && name.len() <= 256
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (valid && path.next().is_none()).then(|| (endpoint.to_string(), resource, name.to_string()))
}

/// Delivery settings, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Attempts per publish, the first included (`KMS_ALERTS_MAX_ATTEMPTS`, default 3).
    pub max_attempts: u32,
    /// First retry delay, doubled each time (`KMS_ALERTS_RETRY_BASE_MS`, default 100).
    pub retry_base: Duration,
    /// How long a delivered alert is remembered to drop redeliveries (`KMS_ALERTS_DEDUP_TTL_SECONDS`, default 600; 0 disables).
    pub dedup_ttl: Duration,
    /// How many delivered alerts are remembered at most (`KMS_ALERTS_DEDUP_CAPACITY`, default 10000).
    pub dedup_capacity: usize,
    /// The longest one request to a target may take (`KMS_ALERTS_ATTEMPT_TIMEOUT_MS`, default 5000).
    pub attempt_timeout: Duration,
    /// The longest one publish to a target may take, retries included
    /// (`KMS_ALERTS_PUBLISH_TIMEOUT_MS`, default 15000).
    pub publish_timeout: Duration,
    /// The DynamoDB table every instance shares its deliveries in (`KMS_ALERTS_DEDUP_TABLE`);
    /// without it each instance remembers only its own.
    pub dedup_table: Option<String>,
    /// How long an unconfirmed claim in the shared table blocks other senders
    /// (`KMS_ALERTS_DEDUP_CLAIM_SECONDS`, default 30: longer than a publish may take).
    pub dedup_claim: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_attempts: 3,
            retry_base: Duration::from_millis(100),
            dedup_ttl: Duration::from_secs(600),
            dedup_capacity: 10_000,
            attempt_timeout: Duration::from_secs(5),
            publish_timeout: Duration::from_secs(15),
            dedup_table: None,
            dedup_claim: Duration::from_secs(30),
        }
    }
}

impl Settings {
    /// Reads the settings; a malformed value is an error naming the variable.
    pub fn from_env() -> Result<Settings, ConfigError> {
        let d = Settings::default();
        let num = env_number;
        let dedup_table = std::env::var("KMS_ALERTS_DEDUP_TABLE")
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Ok(Settings {
            max_attempts: num("KMS_ALERTS_MAX_ATTEMPTS", d.max_attempts as u64, 1, 10)? as u32,
            retry_base: Duration::from_millis(num("KMS_ALERTS_RETRY_BASE_MS", 100, 1, 60_000)?),
            dedup_ttl: Duration::from_secs(num("KMS_ALERTS_DEDUP_TTL_SECONDS", 600, 0, 86_400)?),
            dedup_capacity: num("KMS_ALERTS_DEDUP_CAPACITY", 10_000, 1, 10_000_000)? as usize,
            attempt_timeout: Duration::from_millis(num(
                "KMS_ALERTS_ATTEMPT_TIMEOUT_MS",
                5_000,
                100,
                60_000,
            )?),
            publish_timeout: Duration::from_millis(num(
                "KMS_ALERTS_PUBLISH_TIMEOUT_MS",
                15_000,
                100,
                900_000,
            )?),
            dedup_table,
            dedup_claim: Duration::from_secs(num("KMS_ALERTS_DEDUP_CLAIM_SECONDS", 30, 1, 3600)?),
        })
    }
}

/// The whole number in the environment variable `name`, `default` when it is unset or empty;
/// outside `min..=max` or not a number is an error naming the variable.
pub fn env_number(name: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ConfigError(format!(
                    "{name}={v:?}: expected a whole number from {min} to {max}"
                ))
            }),
        _ => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_target_kind_with_options() {
        let t = parse_targets(
            "sns:arn:aws:sns:us-east-1:111122223333:pager.fifo?min_severity=critical, \
             sqs:https://sqs.us-east-1.amazonaws.com/111122223333/audit\n\
             stdout?format=json;mns:https://123.mns.cn-hangzhou.aliyuncs.com/topics/kms-alerts?tag=kms&min_severity=warning",
        )
        .unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(
            t[0].endpoint,
            Endpoint::Sns {
                topic_arn: "arn:aws:sns:us-east-1:111122223333:pager.fifo".into(),
                chatbot: false,
            }
        );
        assert_eq!(t[0].min_severity, Severity::Critical);
        assert_eq!(
            t[1].name(),
            "sqs:https://sqs.us-east-1.amazonaws.com/111122223333/audit"
        );
        assert_eq!(
            t[2].endpoint,
            Endpoint::Stdout {
                format: Format::Json
            }
        );
        assert_eq!(
            t[3].endpoint,
            Endpoint::Mns {
                endpoint: "https://123.mns.cn-hangzhou.aliyuncs.com".into(),
                resource: MnsResource::Topic,
                name: "kms-alerts".into(),
                tag: Some("kms".into()),
                format: Format::Json,
            }
        );
        assert_eq!(t[3].min_severity, Severity::Warning);
        assert_eq!(
            parse_targets("  ").unwrap()[0].endpoint,
            Endpoint::Stdout {
                format: Format::Text
            }
        );
    }

    #[test]
    fn bad_targets_name_the_target_and_the_problem() {
        for (spec, want) in [
            ("sns:topic-name", "expected sns:arn:"),
            ("sqs:queue", "expected sqs:https://"),
            ("kafka:x", "unknown target"),
            (
                "mns:http://123.mns.cn-hangzhou.aliyuncs.com/topics/t",
                "in clear; use https://",
            ),
            ("stdout?min_severity=loud", "min_severity \"loud\""),
            ("stdout?colour=red", "unknown option \"colour\""),
            (
                "sns:arn:aws:sns:us-east-1:1:t?format=json",
                "an SNS target takes only format=chatbot",
            ),
            ("slack:http://hooks.slack.com/x", "http:// only on loopback"),
            ("teams:https://x.webhook.office.com/webhookb2/a", "retired"),
            (
                "dingtalk:https://oapi.dingtalk.com/robot/send",
                "access_token",
            ),
            (
                "wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
                "with its key",
            ),
            (
                "teams:https://x.logic.azure.com/w?mention=critical",
                "no way to mention",
            ),
            ("pagerduty:abc?keyword=alert", "chat targets only"),
            ("slack:env:X?foo=bar", "carries its own parameters"),
            (
                "slack:https://hooks.slack.com/x?kind=secret_rotation_failed&cloud=aws",
                "never match",
            ),
            (
                "sqs:https://sqs.us-east-1.amazonaws.com/1/q?region=Virginia",
                "never matches",
            ),
            (
                "mns:https://1.mns.cn-hangzhou.aliyuncs.com/buckets/x",
                "expected mns:",
            ),
            (
                "mns:https://1.mns.cn-hangzhou.aliyuncs.com/queues/a/b",
                "expected mns:",
            ),
        ] {
            let e = parse_targets(spec).unwrap_err().to_string();
            assert!(e.contains(want), "{spec}: {e}");
            assert!(
                e.contains(spec.split('?').next().unwrap())
                    || e.contains(spec.split(':').next().unwrap()),
                "{spec}: {e}"
            );
        }
    }

    #[test]
    fn errors_never_show_a_webhook_secret() {
        for spec in [
            "slack:https://hooks.slack.com/services/T0/B0/SECRETPART?mention=loud",
            "dingtalk:https://oapi.dingtalk.com/robot/send?access_token=SECRETPART&secret=SECRETPART&kind=nope",
            "pagerduty:SECRETPART0123456789abcdef012?endpoint=ftp://x",
        ] {
            let e = parse_targets(spec).unwrap_err().to_string();
            assert!(!e.contains("SECRETPART"), "{e}");
        }
    }

    #[test]
    fn chat_targets_keep_their_url_parameters_and_hide_their_secrets() {
        let t = parse_targets(
            "dingtalk:https://oapi.dingtalk.com/robot/send?access_token=TOKEN&secret=SECabc&keyword=alert&min_severity=critical&cloud=alibaba              teams:https://prod-00.westus.logic.azure.com:443/workflows/1/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers&sig=SIG              pagerduty:env:PD_KEY?kind=key_deleted|key_deletion_scheduled&endpoint=http://127.0.0.1:9/v2/enqueue              slack:https://hooks.slack.com/services/T0/B0/XYZ?mention=critical              sns:arn:aws:sns:us-east-1:111122223333:chat?format=chatbot",
        )
        .unwrap();
        match &t[0].endpoint {
            Endpoint::Chat {
                vendor,
                address,
                keyword,
                ..
            } => {
                assert_eq!(*vendor, Vendor::DingTalk);
                assert_eq!(
                    address,
                    &SecretRef::Inline(
                        "https://oapi.dingtalk.com/robot/send?access_token=TOKEN&secret=SECabc"
                            .into()
                    )
                );
                assert_eq!(keyword.as_deref(), Some("alert"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t[0].min_severity, Severity::Critical);
        assert_eq!(t[0].route.clouds, [kms_alerts_core::Cloud::Alibaba]);
        assert_eq!(t[0].name(), "dingtalk:https://oapi.dingtalk.com/****");
        match &t[1].endpoint {
            Endpoint::Chat {
                address: SecretRef::Inline(a),
                ..
            } => {
                assert!(
                    a.ends_with("invoke?api-version=2016-06-01&sp=%2Ftriggers&sig=SIG"),
                    "{a}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t[2].name(), "pagerduty:env:PD_KEY");
        assert_eq!(t[2].route.kinds.len(), 2);
        assert!(matches!(
            &t[3].endpoint,
            Endpoint::Chat {
                mention: Some(Severity::Critical),
                ..
            }
        ));
        assert!(!t.iter().any(|s| s.name().contains("TOKEN")
            || s.name().contains("SIG")
            || s.name().contains("XYZ")));
        assert!(matches!(
            &t[4].endpoint,
            Endpoint::Sns { chatbot: true, .. }
        ));
    }
}
