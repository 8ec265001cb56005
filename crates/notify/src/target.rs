//! Targets: `KMS_ALERTS_TARGETS` read into [`TargetSpec`]s, and each target's identity.
//!
//! Targets are separated by whitespace, `,` or `;`; each is `scheme:address[?option=value&...]`.
//! The scheme picks the sink ([`crate::registry`]); every target takes `min_severity` and the
//! routing options ([`crate::route`]); the sink takes its own options; any other option is a
//! start-up error that names it.
//!
//! A target's identity ([`TargetId`]) is its position in the list and a keyed hash of its full
//! address (or of a secret reference's name): deduplication, in-flight marks, the shared
//! table's items and idempotency keys use it, so two Slack channels on one host never share
//! state. People see the masked name with a short suffix from the identity
//! (`slack:https://hooks.slack.com/**** [#2 3fa9c1]`).

use std::sync::Arc;

use hmac::{Hmac, Mac};
use kms_alerts_core::Severity;
use sha2::{Digest, Sha256};

use crate::address::hex;
use crate::error::ConfigError;
use crate::route::Route;
use crate::sink::{Sink, SinkConfig, SinkOptions};

/// A target's identity: position and keyed hash of the full address. Never shown whole.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TargetId {
    index: usize,
    digest: [u8; 16],
}

impl std::fmt::Debug for TargetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.suffix())
    }
}

/// The hash key. Fixed, so every instance derives the same identity for the same target and
/// shared state (the dedup table) is found by all; the address itself is never stored.
const IDENTITY_KEY: &[u8] = b"kms-alerts target identity v1";

impl TargetId {
    /// The identity of the target at `index` (from 0) whose address (or reference) is `identity`.
    pub fn new(index: usize, identity: &str) -> TargetId {
        let mut mac = Hmac::<Sha256>::new_from_slice(IDENTITY_KEY).expect("any key length");
        mac.update(identity.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&full[..16]);
        TargetId { index, digest }
    }

    /// The key state is stored under: position and 32 hex digits.
    pub fn key(&self) -> String {
        format!("{}-{}", self.index, hex(&self.digest))
    }

    /// What people see after the name: position (from 1) and six hex digits.
    pub fn suffix(&self) -> String {
        format!("[#{} {}]", self.index + 1, hex(&self.digest[..3]))
    }

    /// 32 hex digits from this identity and `value` (a dedup key): idempotency keys, item keys.
    pub fn scoped(&self, value: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.key().as_bytes());
        h.update([0]);
        h.update(value.as_bytes());
        hex(&h.finalize()[..16])
    }
}

/// One parsed target, not yet built.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub config: Arc<dyn SinkConfig>,
    pub min_severity: Severity,
    pub route: Route,
}

impl TargetSpec {
    /// The name people see, without the identity suffix.
    pub fn name(&self) -> String {
        self.config.display()
    }
}

/// A built target: identity, label, filters and sink.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: TargetId,
    /// The masked name and the identity suffix: what logs and outcomes show.
    pub label: String,
    pub min_severity: Severity,
    /// Which alerts it takes besides the severity.
    pub route: Route,
    pub sink: Arc<dyn Sink>,
}

impl Target {
    /// A target at `index` with a ready-made sink (tests, custom wiring).
    pub fn new(index: usize, name: &str, identity: &str, sink: Arc<dyn Sink>) -> Target {
        let id = TargetId::new(index, identity);
        Target {
            label: format!("{name} {}", id.suffix()),
            id,
            min_severity: Severity::Info,
            route: Route::default(),
            sink,
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
        return parse_targets("stdout");
    }
    items.into_iter().map(parse_target).collect()
}

fn parse_target(item: &str) -> Result<TargetSpec, ConfigError> {
    let (main, query) = item.split_once('?').unwrap_or((item, ""));
    let (scheme_name, address) = main.split_once(':').unwrap_or((main, ""));
    let scheme = crate::registry::lookup(scheme_name);
    // A secret address (a webhook URL, a routing key) is shown masked, even in errors.
    let shown = match scheme {
        Some(s) if s.secret_address => format!(
            "{scheme_name}:{}",
            crate::secrets::SecretRef::parse(address).describe()
        ),
        _ => main.to_string(),
    };
    let err = |m: String| ConfigError(format!("KMS_ALERTS_TARGETS: {shown:?}: {m}"));
    let scheme = scheme.ok_or_else(|| err(crate::registry::unknown_scheme()))?;
    let mut min_severity = Severity::Info;
    let mut route = Route::default();
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| err(format!("option {:?} needs a value", option_name(pair))))?;
        match k {
            "min_severity" | "severity" => {
                min_severity = Severity::from_level(v)
                    .ok_or_else(|| err(format!("{k} {v:?}: expected info, warning or critical")))?
            }
            _ if route.option(k, v).map_err(&err)? => {}
            _ => rest.push((k.to_string(), v.to_string())),
        }
    }
    route.check().map_err(&err)?;
    let mut options = SinkOptions::new(rest);
    let config = (scheme.parse)(scheme_name, address, &mut options).map_err(&err)?;
    if let Some(unknown) = options.unknown() {
        return Err(err(format!(
            "unknown option {:?} for a {} target",
            option_name(unknown),
            scheme.names[0]
        )));
    }
    Ok(TargetSpec {
        config: Arc::from(config),
        min_severity,
        route,
    })
}

/// An option's name as errors show it: short, and never a value.
fn option_name(pair: &str) -> String {
    let name = pair.split('=').next().unwrap_or("");
    kms_alerts_core::text::one_line(name, 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(specs: &[TargetSpec]) -> Vec<String> {
        specs.iter().map(TargetSpec::name).collect()
    }

    #[test]
    fn parses_every_target_kind_with_options() {
        let t = parse_targets(
            "sns:arn:aws:sns:us-east-1:111122223333:pager.fifo?min_severity=critical, \
             sqs:https://sqs.us-east-1.amazonaws.com/111122223333/audit\n\
             stdout?format=json;mns:https://123.mns.cn-hangzhou.aliyuncs.com/topics/kms-alerts?tag=kms&min_severity=warning \
             googlechat:https://chat.googleapis.com/v1/spaces/AAA/messages?key=K&token=T",
        )
        .unwrap();
        assert_eq!(
            names(&t),
            [
                "sns:arn:aws:sns:us-east-1:111122223333:pager.fifo",
                "sqs:https://sqs.us-east-1.amazonaws.com/111122223333/audit",
                "stdout",
                "mns:https://123.mns.cn-hangzhou.aliyuncs.com/topics/kms-alerts",
                "googlechat:https://chat.googleapis.com/****",
            ]
        );
        assert_eq!(t[0].min_severity, Severity::Critical);
        assert_eq!(t[3].min_severity, Severity::Warning);
        assert!(t[3].config.identity().contains("kms-alerts"));
        assert!(t[4].config.identity().contains("token=T"));
        assert_eq!(names(&parse_targets("  ").unwrap()), ["stdout"]);
    }

    #[test]
    fn bad_targets_name_the_target_and_the_problem() {
        for (spec, want) in [
            ("sns:topic-name", "expected sns:arn:"),
            ("sns:arn:aws:sns:evil region:1:t", "expected sns:arn:"),
            ("sqs:queue", "expected sqs:https://"),
            (
                "sqs:https://sqs.us-east-1.amazonaws.com/1/q/extra",
                "expected sqs:https://",
            ),
            ("kafka:x", "unknown target"),
            (
                "mns:http://123.mns.cn-hangzhou.aliyuncs.com/topics/t",
                "in clear",
            ),
            ("mns:http://127.evil.example/topics/t", "in clear"),
            ("mns:http://localhost.evil.example/topics/t", "in clear"),
            ("mns:http://127.0.0.1@evil.example/topics/t", "credentials"),
            (
                "mns:https://1.mns.cn-hangzhou.aliyuncs.com/queues/q?tag=x",
                "tag applies to mns topics only",
            ),
            ("stdout?min_severity=loud", "min_severity \"loud\""),
            ("stdout?colour=red", "unknown option \"colour\""),
            (
                "sqs:https://sqs.us-east-1.amazonaws.com/1/q?format=json",
                "unknown option \"format\"",
            ),
            (
                "sns:arn:aws:sns:us-east-1:1:t?format=json",
                "an SNS target takes only format=chatbot",
            ),
            ("slack:http://hooks.slack.com/x", "http:// only on loopback"),
            (
                "slack:http://127.evil.example/x",
                "http:// only on loopback",
            ),
            (
                "slack:http://localhost.evil.example/x",
                "http:// only on loopback",
            ),
            ("slack:http://127.0.0.1@evil.example/x", "credentials"),
            ("slack:https://user:pass@hooks.slack.com/x", "credentials"),
            (
                "slack:https://hooks.slack.com/x?foo=bar",
                "unknown option \"foo\"",
            ),
            (
                "slack:https://hooks.slack.com/x?token=abc",
                "unknown option \"token\"",
            ),
            ("teams:https://x.webhook.office.com/webhookb2/a", "retired"),
            (
                "teams:https://x.logic.azure.com/w?sig=S&extra=1",
                "unknown option \"extra\"",
            ),
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
            ("pagerduty:abc?keyword=alert", "unknown option \"keyword\""),
            (
                "pagerduty:abc?endpoint=http://127.evil.example/v2",
                "endpoint",
            ),
            (
                "slack:https://hooks.slack.com/x?endpoint=https://x",
                "takes no other API address",
            ),
            ("slack:env:X?foo=bar", "unknown option \"foo\""),
            (
                "dingtalk:env:X?access_token=abc",
                "carries its own parameters",
            ),
            (
                "googlechat:https://chat.googleapis.com/v1/spaces/S/messages?key=K",
                "token",
            ),
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
                e.contains(spec.split([':', '?']).next().unwrap()),
                "{spec}: {e}"
            );
        }
    }

    #[test]
    fn errors_never_show_a_secret() {
        for spec in [
            "slack:https://hooks.slack.com/services/T0/B0/SECRETPART?mention=loud",
            "dingtalk:https://oapi.dingtalk.com/robot/send?access_token=SECRETPART&secret=SECRETPART&kind=nope",
            "pagerduty:SECRETPART0123456789abcdef012?endpoint=ftp://x",
            "slack:https://user:SECRETPART@hooks.slack.com/services/T0/B0/X",
            "slack:https://hooks.slack.com/services/T0/B0/SECRETPART?foo=1",
            "teams:https://x.logic.azure.com/w?sig=SECRETPART&flag",
        ] {
            let e = parse_targets(spec).unwrap_err().to_string();
            assert!(!e.contains("SECRETPART"), "{e}");
        }
    }

    #[test]
    fn chat_targets_keep_their_url_parameters_and_hide_their_secrets() {
        let t = parse_targets(
            "dingtalk:https://oapi.dingtalk.com/robot/send?access_token=TOKEN&secret=SECabc&keyword=alert&min_severity=critical&cloud=alibaba \
             teams:https://prod-00.westus.logic.azure.com:443/workflows/1/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers&sig=SIG \
             pagerduty:env:PD_KEY?kind=key_deleted|key_deletion_scheduled&endpoint=http://127.0.0.1:9/v2/enqueue \
             slack:https://hooks.slack.com/services/T0/B0/XYZ?mention=critical \
             sns:arn:aws:sns:us-east-1:111122223333:chat?format=chatbot",
        )
        .unwrap();
        assert!(t[0]
            .config
            .identity()
            .contains("https://oapi.dingtalk.com/robot/send?access_token=TOKEN&secret=SECabc"));
        assert_eq!(t[0].min_severity, Severity::Critical);
        assert_eq!(t[0].route.clouds, [kms_alerts_core::Cloud::Alibaba]);
        assert!(t[1]
            .config
            .identity()
            .contains("invoke?api-version=2016-06-01&sp=%2Ftriggers&sig=SIG"));
        assert_eq!(
            names(&t)[..4],
            [
                "dingtalk:https://oapi.dingtalk.com/****",
                "teams:https://prod-00.westus.logic.azure.com/****",
                "pagerduty:env:PD_KEY",
                "slack:https://hooks.slack.com/****",
            ]
        );
        assert_eq!(t[2].route.kinds.len(), 2);
        assert!(!names(&t)
            .iter()
            .any(|n| n.contains("TOKEN") || n.contains("SIG") || n.contains("XYZ")));
    }

    #[test]
    fn two_channels_on_one_host_have_one_name_and_two_identities() {
        let t = parse_targets(
            "slack:https://hooks.slack.com/services/T0/B0/AAA slack:https://hooks.slack.com/services/T1/B1/BBB",
        )
        .unwrap();
        assert_eq!(t[0].name(), t[1].name());
        let a = TargetId::new(0, &t[0].config.identity());
        let b = TargetId::new(1, &t[1].config.identity());
        assert_ne!(a, b);
        assert_ne!(a.suffix(), b.suffix());
    }

    #[test]
    fn identities_differ_by_address_and_position_and_hide_the_address() {
        let a = TargetId::new(0, "https://hooks.slack.com/services/T0/B0/AAA");
        let b = TargetId::new(1, "https://hooks.slack.com/services/T1/B1/BBB");
        let a_again = TargetId::new(0, "https://hooks.slack.com/services/T0/B0/AAA");
        let a_moved = TargetId::new(1, "https://hooks.slack.com/services/T0/B0/AAA");
        assert_eq!(a, a_again);
        assert_ne!(a, b);
        assert_ne!(a, a_moved);
        assert_ne!(a.suffix(), b.suffix());
        assert_ne!(a.scoped("k"), b.scoped("k"));
        assert_eq!(a.scoped("k"), a_again.scoped("k"));
        assert_eq!(a.scoped("k").len(), 32);
        for s in [a.key(), a.suffix(), format!("{a:?}"), a.scoped("k")] {
            assert!(!s.contains("AAA") && !s.contains("hooks"), "{s}");
        }
    }
}
