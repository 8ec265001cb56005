//! Fault injection: sinks that fail transiently, permanently, or die in the middle of a batch.
//! An alert is delivered exactly once after retries, or the invocation fails (Lambda error,
//! SQS batchItemFailures); never a success without a publish.

mod common;

use std::collections::BTreeSet;

use common::{assert_no_secrets, event, Proc, FAKE_ALIBABA_SECRET};
use kms_alerts_testkit::lambda_api::RuntimeApi;
use kms_alerts_testkit::mns::MnsServer;
use serde_json::{json, Value};

fn lambda(api: &RuntimeApi, targets: &str) -> Proc {
    Proc::spawn(
        env!("CARGO_BIN_EXE_kms-key-lifecycle"),
        &[
            ("AWS_LAMBDA_RUNTIME_API", api.host()),
            ("KMS_ALERTS_TARGETS", targets.to_string()),
            ("KMS_ALERTS_MAX_ATTEMPTS", "3".into()),
            ("KMS_ALERTS_RETRY_BASE_MS", "2".into()),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tFAKEid".into()),
            (
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                FAKE_ALIBABA_SECRET.into(),
            ),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ],
    )
}

/// `n` distinct rotation events in one SQS batch; message ids `m-<i>`, event ids `ev-<i>`.
fn batch(n: usize) -> String {
    let base: Value = serde_json::from_slice(&event("aws/kms-cmk-rotation.json")).unwrap();
    let records: Vec<Value> = (0..n)
        .map(|i| {
            // Ten distinct rotations: rotations of one key on one day are one occurrence.
            let mut e = base.clone();
            e["id"] = format!("ev-{i}").into();
            let key = format!("1234abcd-12ab-34cd-56ef-{i:012}");
            e["detail"]["key-id"] = key.clone().into();
            e["resources"] = json!([format!("arn:aws:kms:us-west-2:111122223333:key/{key}")]);
            json!({"messageId": format!("m-{i}"), "eventSource": "aws:sqs", "body": e.to_string()})
        })
        .collect();
    json!({ "Records": records }).to_string()
}

#[test]
fn a_stalled_target_is_reported_per_record_before_the_lambda_deadline() {
    let api = RuntimeApi::start();
    api.set_timeout(std::time::Duration::from_secs(4));
    let (stalled, seen) = kms_alerts_testkit::stalled_endpoint_seen();
    let mut env = vec![
        ("AWS_LAMBDA_RUNTIME_API", api.host()),
        ("KMS_ALERTS_TARGETS", format!("mns:{stalled}/topics/alerts")),
        ("KMS_ALERTS_MAX_ATTEMPTS", "10".into()),
        ("KMS_ALERTS_RETRY_BASE_MS", "50".into()),
        ("KMS_ALERTS_ATTEMPT_TIMEOUT_MS", "1000".into()),
        // Longer than the function's timeout: only the deadline can stop it in time.
        ("KMS_ALERTS_PUBLISH_TIMEOUT_MS", "60000".into()),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tFAKEid".into()),
        (
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            FAKE_ALIBABA_SECRET.into(),
        ),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
    ];
    env.push(("KMS_ALERTS_DEADLINE_MARGIN_MS", "1500".into()));
    let p = Proc::spawn(env!("CARGO_BIN_EXE_kms-key-lifecycle"), &env);
    let resp = api
        .invoke(batch(10).as_bytes())
        .expect("answered, not timed out");
    seen.recv_timeout(std::time::Duration::from_secs(30))
        .expect("the stalled target was reached");
    let resp: Value = serde_json::from_str(&resp).unwrap();
    let failed: BTreeSet<String> = resp["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect();
    let all: BTreeSet<String> = (0..10).map(|i| format!("m-{i}")).collect();
    assert_eq!(failed, all, "every unpublished record is reported: {resp}");
    let logs = p.logs();
    assert!(
        logs.contains("invocation deadline"),
        "the log says why: {logs}"
    );
    assert_no_secrets(&logs);
}

#[test]
fn transient_sink_failures_are_retried_and_delivered_exactly_once() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 2);
    let api = RuntimeApi::start();
    let p = lambda(&api, &format!("mns:{}/topics/flaky-alerts", mns.endpoint()));
    let resp = api.invoke(&event("aws/kms-cmk-deletion.json")).unwrap();
    let resp: Value = serde_json::from_str(&resp).unwrap();
    assert!(resp["alerts"][0]["error"].is_null(), "{resp}");
    assert_eq!(mns.requests(), 3, "two 503s, then success");
    assert_eq!(mns.received().len(), 1, "exactly once");
    // Redelivered by the platform: still exactly once.
    api.invoke(&event("aws/kms-cmk-deletion.json")).unwrap();
    assert_eq!(mns.received().len(), 1);
    assert_no_secrets(&p.logs());
}

#[test]
fn permanent_sink_failure_fails_the_invocation() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let api = RuntimeApi::start();
    let p = lambda(
        &api,
        &format!("mns:{}/topics/missing-alerts", mns.endpoint()),
    );
    let err = api.invoke(&event("aws/kms-cmk-deletion.json")).unwrap_err();
    assert!(err.contains("TopicNotExist"), "{err}");
    assert_eq!(mns.requests(), 1, "a permanent error is not retried");
    assert!(!err.contains(FAKE_ALIBABA_SECRET));
    assert_no_secrets(&p.logs());
}

#[test]
fn sink_dying_mid_batch_reports_exactly_the_unsent_records() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    mns.stop_accepting_after(4);
    let api = RuntimeApi::start();
    let _p = lambda(&api, &format!("mns:{}/queues/kms-audit", mns.endpoint()));
    let resp: Value = serde_json::from_str(&api.invoke(batch(10).as_bytes()).unwrap()).unwrap();
    let failed: BTreeSet<String> = resp["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect();
    let sent: BTreeSet<String> = mns
        .received()
        .iter()
        .map(|r| {
            let alert: Value = serde_json::from_str(&r.body).unwrap();
            format!(
                "m-{}",
                alert["event_id"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("ev-")
            )
        })
        .collect();
    assert_eq!(sent.len(), 4);
    assert_eq!(failed.len(), 6);
    assert!(
        sent.is_disjoint(&failed),
        "a sent record is never reported failed"
    );
    let all: BTreeSet<String> = (0..10).map(|i| format!("m-{i}")).collect();
    assert_eq!(
        sent.union(&failed).cloned().collect::<BTreeSet<_>>(),
        all,
        "every record is either sent or reported"
    );

    // The platform redelivers the failed records once the sink is back: nothing twice.
    mns.stop_accepting_after(usize::MAX);
    let resp: Value = serde_json::from_str(&api.invoke(batch(10).as_bytes()).unwrap()).unwrap();
    assert_eq!(resp["batchItemFailures"], json!([]));
    assert_eq!(
        mns.received().len(),
        10,
        "the 4 already sent were not sent again"
    );
}

#[test]
fn deployed_without_targets_refuses_to_start() {
    for (platform_var, value) in [
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"),
        ("FC_CUSTOM_LISTEN_PORT", "0"),
    ] {
        for targets in [None, Some("  ")] {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kms-key-lifecycle"));
            cmd.env_clear().env(platform_var, value);
            if let Some(t) = targets {
                cmd.env("KMS_ALERTS_TARGETS", t);
            }
            let out = cmd.output().unwrap();
            let logs = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{platform_var}: {logs}");
            assert!(logs.contains("KMS_ALERTS_TARGETS"), "{logs}");
        }
    }
}
