//! Two channels on one service: two webhooks of the same kind on one host (two Slack channels,
//! two Teams workflows, two robots ...) each receive the alert exactly once, through the real
//! handler binary locally, on the Lambda runtime API (including a redelivery to the warm
//! process) and with the shared dedup table on moto.

mod common;

use common::{event, Aws, Proc};
use kms_alerts_testkit::chat::{ChatServer, Service, TOKEN, TOKEN2};
use kms_alerts_testkit::lambda_api::RuntimeApi;
use kms_alerts_testkit::moto::Moto;
use serde_json::Value;

const SERVICES: [Service; 7] = [
    Service::Slack,
    Service::Teams,
    Service::DingTalk,
    Service::Lark,
    Service::WeCom,
    Service::PagerDuty,
    Service::GoogleChat,
];

/// One stand-in per service, each with two webhooks.
struct Stands(Vec<(Service, ChatServer)>);

impl Stands {
    fn start() -> Stands {
        Stands(
            SERVICES
                .iter()
                .map(|&s| (s, ChatServer::start(s, None, None)))
                .collect(),
        )
    }

    /// Both webhooks of every service, as `KMS_ALERTS_TARGETS`.
    fn targets(&self) -> String {
        let mut out = Vec::new();
        for (service, server) in &self.0 {
            for token in [TOKEN, TOKEN2] {
                out.push(match service {
                    Service::Slack => format!("slack:{}", server.url_for(token)),
                    Service::Teams => format!("teams:{}", server.url_for(token)),
                    Service::DingTalk => format!("dingtalk:{}", server.url_for(token)),
                    Service::Lark => format!("lark:{}", server.url_for(token)),
                    Service::WeCom => format!("wecom:{}", server.url_for(token)),
                    Service::PagerDuty => format!("pagerduty:{token}?endpoint={}", server.url()),
                    Service::GoogleChat => format!("googlechat:{}", server.url_for(token)),
                });
            }
        }
        out.join(" ")
    }

    /// Every webhook received exactly `n` messages.
    fn assert_each_received(&self, n: usize) {
        for (service, server) in &self.0 {
            assert!(
                server.rejected().is_empty(),
                "{service:?}: {:?}",
                server.rejected()
            );
            for token in [TOKEN, TOKEN2] {
                assert_eq!(
                    server.received_for(token).len(),
                    n,
                    "{service:?} webhook {token}"
                );
            }
        }
    }
}

#[test]
fn locally_each_of_two_webhooks_on_one_host_gets_the_alert_once() {
    let stands = Stands::start();
    let targets = stands.targets();
    let (ok, err) = common::run_local(
        env!("CARGO_BIN_EXE_kms-key-lifecycle"),
        &[("KMS_ALERTS_TARGETS", &targets)],
        &event("aws/kms-cmk-deletion.json"),
    );
    assert!(ok, "{err}");
    stands.assert_each_received(1);
    // The outcome (the last line on stderr) names each target apart: the masked name and a
    // distinguishing suffix.
    let outcome: Value = serde_json::from_str(err.trim_end().lines().last().unwrap()).unwrap();
    let sent: Vec<&str> = outcome["alerts"][0]["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(sent.len(), 14, "{outcome}");
    let distinct: std::collections::BTreeSet<_> = sent.iter().collect();
    assert_eq!(distinct.len(), 14, "{sent:?}");
    assert!(sent
        .iter()
        .any(|s| s.starts_with("slack:http://127.0.0.1:") && s.contains("/**** [#2 ")));
    for secret in [TOKEN, TOKEN2] {
        assert!(!err.contains(secret) && !outcome.to_string().contains(secret));
    }
}

fn lambda_env(api: &RuntimeApi, targets: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", api.host()),
        ("AWS_LAMBDA_FUNCTION_NAME", "kms-key-lifecycle".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("KMS_ALERTS_TARGETS", targets.to_string()),
        ("KMS_ALERTS_RETRY_BASE_MS", "10".into()),
    ]
}

#[test]
fn on_lambda_a_redelivery_to_the_warm_process_sends_nothing_twice() {
    let stands = Stands::start();
    let api = RuntimeApi::start();
    let proc_ = Proc::spawn(
        env!("CARGO_BIN_EXE_kms-key-lifecycle"),
        &lambda_env(&api, &stands.targets()),
    );
    let body = event("aws/kms-cmk-deletion.json");
    let first = api
        .invoke(&body)
        .unwrap_or_else(|e| panic!("{e}\n{}", proc_.logs()));
    let first: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(
        first["alerts"][0]["sent"].as_array().unwrap().len(),
        14,
        "{first}"
    );
    stands.assert_each_received(1);
    // EventBridge delivers at least once: the same event again reaches the warm process.
    let again = api
        .invoke(&body)
        .unwrap_or_else(|e| panic!("{e}\n{}", proc_.logs()));
    let again: Value = serde_json::from_str(&again).unwrap();
    assert!(
        again["alerts"][0]["sent"].as_array().unwrap().is_empty(),
        "{again}"
    );
    assert_eq!(
        again["alerts"][0]["duplicate"].as_array().unwrap().len(),
        14
    );
    stands.assert_each_received(1);
}

#[test]
fn with_the_shared_table_two_processes_send_each_channel_one_message() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    aws.dedup_table("kms-alerts-dedup");
    let stands = Stands::start();
    let body = event("aws/kms-cmk-deletion.json");
    for _process in 0..2 {
        let api = RuntimeApi::start();
        let mut env = moto.env();
        env.extend(lambda_env(&api, &stands.targets()));
        env.push(("KMS_ALERTS_DEDUP_TABLE", "kms-alerts-dedup".into()));
        let proc_ = Proc::spawn(env!("CARGO_BIN_EXE_kms-key-lifecycle"), &env);
        let out = api
            .invoke(&body)
            .unwrap_or_else(|e| panic!("{e}\n{}", proc_.logs()));
        let out: Value = serde_json::from_str(&out).unwrap();
        assert!(out["alerts"][0]["error"].is_null(), "{out}");
        stands.assert_each_received(1);
    }
}
