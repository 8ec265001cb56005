//! Chat and pager targets end to end: the real handler binary (local mode, one event on stdin)
//! posting to loopback stand-ins that check each vendor's request shape, signature, keyword and
//! limits and answer with the vendor's own success, rate-limit and error bodies.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::samples;
use kms_alerts_testkit::chat::{ChatServer, Service, TOKEN};
use serde_json::Value;

const DING_SECRET: &str = "SECtest0123456789";
const LARK_SECRET: &str = "larksecret";

/// Runs a handler locally with `targets`, `stdin` as the event.
fn run(targets: &str, extra: &[(&str, String)], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kms-key-lifecycle"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KMS_ALERTS_TARGETS", targets)
        .env("KMS_ALERTS_RETRY_BASE_MS", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Six {
    slack: ChatServer,
    teams: ChatServer,
    ding: ChatServer,
    lark: ChatServer,
    wecom: ChatServer,
    pd: ChatServer,
}

impl Six {
    fn start() -> Six {
        Six {
            slack: ChatServer::start(Service::Slack, None, None),
            teams: ChatServer::start(Service::Teams, None, None),
            ding: ChatServer::start(Service::DingTalk, Some(DING_SECRET), Some("alert")),
            lark: ChatServer::start(Service::Lark, Some(LARK_SECRET), Some("alert")),
            wecom: ChatServer::start(Service::WeCom, None, None),
            pd: ChatServer::start(Service::PagerDuty, None, None),
        }
    }

    fn targets(&self) -> String {
        [
            format!("slack:{}?mention=critical", self.slack.url()),
            format!("teams:{}", self.teams.url()),
            format!(
                "dingtalk:{}&secret={DING_SECRET}&keyword=alert",
                self.ding.url()
            ),
            format!(
                "lark:{}?secret={LARK_SECRET}&keyword=alert",
                self.lark.url()
            ),
            format!("wecom:{}", self.wecom.url()),
            format!("pagerduty:{TOKEN}?endpoint={}", self.pd.url()),
        ]
        .join(" ")
    }

    fn all(&self) -> [(&'static str, &ChatServer); 6] {
        [
            ("slack", &self.slack),
            ("teams", &self.teams),
            ("dingtalk", &self.ding),
            ("lark", &self.lark),
            ("wecom", &self.wecom),
            ("pagerduty", &self.pd),
        ]
    }
}

#[test]
fn every_sample_reaches_every_target_in_its_native_format() {
    let six = Six::start();
    let targets = six.targets();
    let mut expected = 0;
    for cloud in ["aws", "alibaba"] {
        for (name, body) in samples(cloud) {
            let out = run(&targets, &[], &body);
            let err = stderr(&out);
            assert!(out.status.success(), "{name}: {err}");
            assert!(
                !err.contains(TOKEN) && !err.contains(DING_SECRET) && !err.contains(LARK_SECRET),
                "{name}: a secret leaked: {err}"
            );
            // Copies of one event inside a sample (batches) are sent once.
            let distinct: std::collections::BTreeSet<String> = kms_alerts_core::parse(&body)
                .unwrap()
                .into_iter()
                .map(|r| r.result.unwrap().dedup_key)
                .collect();
            expected += distinct.len();
        }
    }
    assert!(expected >= 40, "{expected}");
    for (name, server) in six.all() {
        assert_eq!(server.rejected(), Vec::<String>::new(), "{name}");
        assert_eq!(server.received().len(), expected, "{name}");
    }
    // Spot checks of each native format.
    let slack = &six.slack.received()[0];
    assert!(slack["text"].as_str().is_some() && slack["blocks"][0]["type"] == "header");
    assert_eq!(
        six.teams.received()[0]["attachments"][0]["content"]["type"],
        "AdaptiveCard"
    );
    let ding = six.ding.received();
    assert!(ding
        .iter()
        .all(|m| m["msgUuid"].as_str().is_some_and(|u| u.len() == 32)));
    assert!(ding
        .iter()
        .any(|m| m["msgtype"] == "actionCard" && m["actionCard"]["singleURL"].as_str().is_some()));
    assert!(six
        .lark
        .received()
        .iter()
        .all(|m| m["card"]["header"]["template"].is_string()));
    assert!(six
        .wecom
        .received()
        .iter()
        .all(|m| m["msgtype"] == "markdown"));
    let pd = six.pd.received();
    assert!(
        pd.iter().any(|m| m["event_action"] == "resolve"),
        "a resolved sample resolves"
    );
    assert!(pd
        .iter()
        .filter(|m| m["event_action"] == "trigger")
        .all(|m| m["payload"]["summary"].as_str().unwrap().chars().count() <= 1024));
    // Mentions only where the target asks, for its severity, never from event text.
    let slack = six.slack.received();
    let mentions = |m: &Value| m.to_string().contains("<!channel>");
    assert!(slack.iter().any(mentions) && !slack.iter().all(mentions));
    assert!(six
        .ding
        .received()
        .iter()
        .all(|m| m["at"]["isAtAll"] != true));
}

#[test]
fn vendor_errors_fail_the_run_loudly() {
    let ding = ChatServer::start(Service::DingTalk, Some(DING_SECRET), None);
    let lark = ChatServer::start(Service::Lark, Some(LARK_SECRET), None);
    let slack = ChatServer::start(Service::Slack, None, None);
    // "kms-alerts" is in every message, so the robot's keyword here is another word.
    let keyworded = ChatServer::start(Service::DingTalk, None, Some("告警"));
    let event = common::event("aws/kms-cmk-deletion.json");
    for (targets, want) in [
        (format!("dingtalk:{}&secret=SECwrong", ding.url()), "310000"),
        (format!("lark:{}?secret=wrong", lark.url()), "19021"),
        (
            format!("slack:{}", slack.url().replace(TOKEN, "revoked")),
            "no_service",
        ),
        // The robot requires a keyword the target was not given.
        (
            format!("dingtalk:{}", keyworded.url()),
            "keywords not in content",
        ),
    ] {
        let out = run(&targets, &[], &event);
        let err = stderr(&out);
        assert!(!out.status.success(), "{targets}: {err}");
        assert!(
            err.contains(want) && err.contains("not published"),
            "{targets}: {err}"
        );
        assert!(!err.contains(TOKEN), "{err}");
    }
    assert!(
        ding.received().is_empty() && lark.received().is_empty() && slack.received().is_empty()
    );
    assert!(keyworded.received().is_empty());
    // With the keyword, the same robot takes it.
    let out = run(
        &format!("dingtalk:{}&keyword=告警", keyworded.url()),
        &[],
        &event,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(keyworded.received().len(), 1);
}

#[test]
fn rate_limits_are_waited_out_as_the_vendor_asks() {
    let slack = ChatServer::start(Service::Slack, None, None);
    let ding = ChatServer::start(Service::DingTalk, None, None);
    let wecom = ChatServer::start(Service::WeCom, None, None);
    slack.rate_limit_next(1);
    ding.rate_limit_next(1);
    wecom.rate_limit_next(1);
    let targets = format!(
        "slack:{} dingtalk:{} wecom:{}",
        slack.url(),
        ding.url(),
        wecom.url()
    );
    let started = Instant::now();
    let out = run(&targets, &[], &common::event("aws/kms-cmk-deletion.json"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Slack's Retry-After: 1 was honoured"
    );
    for s in [&slack, &ding, &wecom] {
        assert_eq!(s.requests(), 2);
        assert_eq!(s.received().len(), 1);
    }
    // DingTalk's msgUuid is the same on the platform's retry (the same targets, a fresh
    // process): the robot can drop a duplicate.
    let out = run(&targets, &[], &common::event("aws/kms-cmk-deletion.json"));
    assert!(out.status.success());
    let got = ding.received();
    assert_eq!(
        got[0]["msgUuid"], got[1]["msgUuid"],
        "same alert, same target: same msgUuid"
    );
}

#[test]
fn secrets_from_the_environment_and_routing_rules() {
    let slack = ChatServer::start(Service::Slack, None, None);
    let ding = ChatServer::start(Service::DingTalk, None, None);
    let env = [("SLACK_HOOK", slack.url()), ("DING_HOOK", ding.url())];
    // Everything AWS to Slack; critical Alibaba alerts to DingTalk.
    let targets =
        "slack:env:SLACK_HOOK?cloud=aws dingtalk:env:DING_HOOK?cloud=alibaba&min_severity=critical";
    let aws = run(targets, &env, &common::event("aws/kms-cmk-deletion.json"));
    let err = stderr(&aws);
    assert!(aws.status.success(), "{err}");
    assert!(
        err.contains("slack:env:SLACK_HOOK") && !err.contains(TOKEN),
        "{err}"
    );
    let ali = run(
        targets,
        &env,
        &common::event("alibaba/secret-rotation-failure.json"),
    );
    assert!(ali.status.success(), "{}", stderr(&ali));
    let info = run(
        targets,
        &env,
        &common::event("alibaba/secret-rotation-success.json"),
    );
    assert!(info.status.success());
    assert_eq!(slack.received().len(), 1);
    assert_eq!(
        ding.received().len(),
        1,
        "the info alert was not for DingTalk"
    );
    // A missing variable and an impossible rule are start-up errors naming the problem.
    let out = run(
        "slack:env:BAD_HOOK",
        &[("BAD_HOOK", "http://hooks.example/x".to_string())],
        b"{}",
    );
    let err = stderr(&out);
    assert!(
        !out.status.success()
            && err.contains("only on loopback")
            && !err.contains("hooks.example/x"),
        "{err}"
    );
    let out = run("slack:env:NOT_SET", &[], b"{}");
    assert!(
        !out.status.success() && stderr(&out).contains("env:NOT_SET"),
        "{}",
        stderr(&out)
    );
    let out = run(
        "slack:env:SLACK_HOOK?cloud=aws&kind=key_sync_failed",
        &env,
        b"{}",
    );
    assert!(
        !out.status.success() && stderr(&out).contains("never match"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_recovered_condition_resolves_in_pagerduty() {
    let pd = ChatServer::start(Service::PagerDuty, None, None);
    let slack = ChatServer::start(Service::Slack, None, None);
    let targets = format!(
        "pagerduty:{TOKEN}?endpoint={} slack:{}",
        pd.url(),
        slack.url()
    );
    let failure: Value =
        serde_json::from_slice(&common::event("alibaba/secret-rotation-failure.json")).unwrap();
    let mut success = failure.clone();
    success["name"] = "Secret:RotateSecret:Success".into();
    success["level"] = "INFO".into();
    for ev in [&failure, &success] {
        let out = run(&targets, &[], ev.to_string().as_bytes());
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let got = pd.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["event_action"], "trigger");
    assert_eq!(got[1]["event_action"], "resolve");
    assert_eq!(got[0]["dedup_key"], got[1]["dedup_key"]);
    let s = slack.received();
    assert!(s[1]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("Resolved"));
}

#[test]
fn addresses_from_secrets_manager_and_ssm_are_read_and_never_shown() {
    let moto = kms_alerts_testkit::moto::Moto::start();
    let slack = ChatServer::start(Service::Slack, None, None);
    let pd = ChatServer::start(Service::PagerDuty, None, None);
    let aws = common::Aws::new(&moto);
    aws.rt.block_on(async {
        let conf = sm_conf(&moto).await;
        aws_sdk_secretsmanager::Client::new(&conf)
            .create_secret()
            .name("kms-alerts/slack")
            .secret_string(slack.url())
            .send()
            .await
            .unwrap();
        aws_sdk_ssm::Client::new(&conf)
            .put_parameter()
            .name("/kms-alerts/pagerduty")
            .value(TOKEN)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    });
    let targets = format!(
        "slack:secretsmanager:kms-alerts/slack pagerduty:ssm:/kms-alerts/pagerduty?endpoint={}",
        pd.url()
    );
    let env: Vec<(&str, String)> = moto.env();
    let out = run(&targets, &env, &common::event("aws/kms-cmk-deletion.json"));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("slack:secretsmanager:kms-alerts/slack")
            && err.contains("pagerduty:ssm:/kms-alerts/pagerduty"),
        "{err}"
    );
    assert!(!err.contains(TOKEN), "{err}");
    assert_eq!(slack.received().len(), 1);
    assert_eq!(pd.received().len(), 1);
    // Rotated: the stored URL is revoked while an alert is on its way. The refusal makes the
    // handler read the secret again, once, and the alert goes out with the new URL.
    let old = ChatServer::start(Service::Slack, None, None);
    let revoked = old.url().replace(TOKEN, "revoked");
    old.set_delay(Duration::from_millis(3000));
    aws.rt.block_on(async {
        aws_sdk_secretsmanager::Client::new(&sm_conf(&moto).await)
            .put_secret_value()
            .secret_id("kms-alerts/slack")
            .secret_string(&revoked)
            .send()
            .await
            .unwrap();
    });
    let rotate = {
        let (endpoint, new_url) = (moto.endpoint(), slack.url());
        let in_flight = old.request_seen();
        std::thread::spawn(move || {
            // Once the request to the revoked URL is in flight, rotate the secret.
            in_flight.recv_timeout(Duration::from_secs(60)).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let conf = sm_conf_at(&endpoint).await;
                aws_sdk_secretsmanager::Client::new(&conf)
                    .put_secret_value()
                    .secret_id("kms-alerts/slack")
                    .secret_string(new_url)
                    .send()
                    .await
                    .unwrap();
            });
        })
    };
    let out = run(
        "slack:secretsmanager:kms-alerts/slack",
        &env,
        &common::event("aws/kms-cmk-rotation.json"),
    );
    rotate.join().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("reading the secret again"), "{err}");
    assert_eq!(old.rejected(), ["no_service"]);
    assert_eq!(slack.received().len(), 2, "the rotated URL took the alert");

    // A reference to nothing fails the alert (retried later), naming the reference only.
    let out = run(
        "slack:secretsmanager:missing",
        &env,
        &common::event("aws/kms-cmk-deletion.json"),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot read secretsmanager:missing"),
        "{}",
        stderr(&out)
    );
}

async fn sm_conf(moto: &kms_alerts_testkit::moto::Moto) -> aws_config::SdkConfig {
    sm_conf_at(&moto.endpoint()).await
}

async fn sm_conf_at(endpoint: &str) -> aws_config::SdkConfig {
    kms_alerts_notify::aws_defaults()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

#[test]
fn huge_hostile_alerts_are_shrunk_to_every_vendor_limit() {
    let six = Six::start();
    let mut ev: Value =
        serde_json::from_slice(&common::event("alibaba/secret-rotation-failure.json")).unwrap();
    ev["content"]["failureInfo"]["errorMessage"] =
        "密钥轮转失败 <!channel> @all [x](http://evil.example) "
            .repeat(5000)
            .into();
    for i in 0..100 {
        ev["content"][format!("extra{i}")] = "值".repeat(3000).into();
    }
    let out = run(&six.targets(), &[], ev.to_string().as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    for (name, server) in six.all() {
        assert_eq!(server.rejected(), Vec::<String>::new(), "{name}");
        let got = server.received();
        assert_eq!(got.len(), 1, "{name}");
        let s = got[0].to_string();
        assert!(
            !s.contains("http://evil") && !s.contains("](http://evil"),
            "{name}: a live link"
        );
        assert!(!s.contains("@all ["), "{name}: a live mention");
    }
}
