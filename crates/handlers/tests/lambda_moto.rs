//! End to end on AWS's protocols: the real handler binaries, driven through the Lambda runtime
//! API (emulated over HTTP), publishing to SNS and SQS on a real moto server on loopback.

mod common;

use common::{assert_no_secrets, event, samples, Aws, Proc, FAKE_AWS_SECRET};
use kms_alerts_testkit::lambda_api::RuntimeApi;
use kms_alerts_testkit::moto::Moto;
use serde_json::Value;

const ACCOUNT: &str = "123456789012";

fn lambda_env(moto: &Moto, api: &RuntimeApi, targets: &str) -> Vec<(&'static str, String)> {
    let mut env = moto.env();
    env.retain(|(k, _)| *k != "AWS_SECRET_ACCESS_KEY");
    env.push(("AWS_SECRET_ACCESS_KEY", FAKE_AWS_SECRET.to_string()));
    env.push(("AWS_LAMBDA_RUNTIME_API", api.host()));
    env.push(("AWS_LAMBDA_LOG_FORMAT", "JSON".into()));
    env.push(("AWS_LAMBDA_FUNCTION_NAME", "kms-key-lifecycle".into()));
    env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()));
    env.push(("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()));
    env.push(("KMS_ALERTS_TARGETS", targets.to_string()));
    env.push(("KMS_ALERTS_RETRY_BASE_MS", "10".into()));
    env
}

#[test]
fn every_sample_through_the_runtime_api_reaches_sns_and_sqs() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (topic, sub_url) = aws.topic_to_queue("kms-alerts", "kms-alerts-sub");
    let (audit_url, _) = aws.queue("kms-audit");
    let api = RuntimeApi::start();
    let targets = format!("sns:{topic} sqs:{audit_url}");
    let proc_ = Proc::spawn(
        env!("CARGO_BIN_EXE_kms-key-lifecycle"),
        &lambda_env(&moto, &api, &targets),
    );

    let mut expected = 0;
    let mut unique = std::collections::BTreeSet::new();
    let mut subjects = Vec::new();
    for cloud in ["aws", "alibaba"] {
        // Lambda payloads are JSON; the form-encoded alarm callback only reaches FC's HTTP server.
        for (name, body) in samples(cloud)
            .into_iter()
            .filter(|(n, _)| n.ends_with(".json"))
        {
            let records = kms_alerts_core::parse(&body).unwrap();
            let resp = api
                .invoke(&body)
                .unwrap_or_else(|e| panic!("{name}: invocation failed: {e}\n{}", proc_.logs()));
            let resp: Value = serde_json::from_str(&resp).unwrap();
            if name.starts_with("sqs-") {
                assert_eq!(resp, serde_json::json!({"batchItemFailures": []}), "{name}");
            } else {
                assert_eq!(
                    resp["alerts"].as_array().unwrap().len(),
                    records.len(),
                    "{name}: {resp}"
                );
            }
            for r in records {
                let a = r.result.unwrap();
                unique.insert(a.dedup_key.clone());
                subjects.push((
                    kms_alerts_core::render::subject(&a),
                    a.kind.as_str().to_string(),
                    a.severity.as_str().to_string(),
                ));
            }
            expected += kms_alerts_core::parse(&body).unwrap().len();
        }
    }

    // Through the topic: an SNS envelope per alert, the subject, the JSON alert for SQS, attributes.
    let via_topic = aws.drain(&sub_url);
    // Several samples wrap the same event in another envelope (SNS record, SQS batch,
    // CloudEvents): each distinct event is notified once.
    assert!(
        unique.len() >= 20 && unique.len() < expected,
        "{} of {expected}",
        unique.len()
    );
    assert_eq!(
        via_topic.len(),
        unique.len(),
        "one message per distinct alert"
    );
    for (body, _) in &via_topic {
        let env: Value = serde_json::from_str(body).unwrap();
        assert_eq!(env["Type"], "Notification");
        let subject = env["Subject"].as_str().unwrap();
        assert!(subject.len() <= 100 && subject.is_ascii(), "{subject}");
        let alert: Value = serde_json::from_str(env["Message"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{e}: {body}"));
        let (_, kind, severity) = subjects
            .iter()
            .find(|(s, _, _)| s == subject)
            .unwrap_or_else(|| panic!("unexpected subject {subject}"));
        assert_eq!(alert["kind"], kind.as_str());
        assert_eq!(
            env["MessageAttributes"]["severity"]["Value"],
            severity.as_str(),
            "{body}"
        );
        assert_eq!(env["MessageAttributes"]["kind"]["Value"], kind.as_str());
    }

    // Directly to the audit queue: the JSON alert with message attributes.
    let audit = aws.drain(&audit_url);
    assert_eq!(audit.len(), unique.len());
    for (body, attrs) in &audit {
        let alert: Value = serde_json::from_str(body).unwrap();
        assert_eq!(attrs["kind"], alert["kind"]);
        assert_eq!(attrs["severity"], alert["severity"]);
        assert_eq!(attrs["cloud"], alert["cloud"]);
        assert!(alert["dedup_key"]
            .as_str()
            .unwrap()
            .starts_with(alert["cloud"].as_str().unwrap()));
    }

    // Structured JSON logs with request id, kind and dedup key; never the credentials.
    let logs = proc_.logs();
    let published: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "alert published")
        .collect();
    assert_eq!(
        published.len(),
        expected,
        "every alert is logged, duplicates with sent=[]"
    );
    for v in &published {
        // What Lambda's JSON log filtering reads: timestamp, level, message, requestId.
        assert!(v["requestId"].as_str().unwrap().starts_with("req-"), "{v}");
        assert_eq!(v["level"], "INFO", "{v}");
        let ts = v["timestamp"].as_str().unwrap();
        let b = ts.as_bytes();
        assert!(
            ts.len() >= 20 && b[4] == b'-' && b[10] == b'T' && b[13] == b':' && ts.ends_with('Z'),
            "RFC 3339 UTC timestamp: {ts}"
        );
        assert!(v["kind"].is_string() && v["dedup_key"].is_string(), "{v}");
    }
    assert_no_secrets(&logs);
}

#[test]
fn sqs_batch_reports_only_the_bad_records() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (audit_url, _) = aws.queue("audit");
    let api = RuntimeApi::start();
    let _p = Proc::spawn(
        env!("CARGO_BIN_EXE_kms-key-lifecycle"),
        &lambda_env(&moto, &api, &format!("sqs:{audit_url}")),
    );
    let good = String::from_utf8(event("aws/kms-cmk-rotation.json")).unwrap();
    let batch = serde_json::json!({"Records": [
        {"messageId": "good-1", "eventSource": "aws:sqs", "body": good},
        {"messageId": "bad-2", "eventSource": "aws:sqs", "body": "{not json"},
        {"messageId": "good-3", "eventSource": "aws:sqs", "body": String::from_utf8(event("aws/cloudtrail-disable-key.json")).unwrap()},
    ]});
    let resp: Value =
        serde_json::from_str(&api.invoke(batch.to_string().as_bytes()).unwrap()).unwrap();
    assert_eq!(
        resp,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "bad-2"}]})
    );
    assert_eq!(aws.drain(&audit_url).len(), 2);
}

#[test]
fn publish_to_a_missing_topic_fails_the_invocation() {
    let moto = Moto::start();
    let api = RuntimeApi::start();
    let p = Proc::spawn(
        env!("CARGO_BIN_EXE_kms-key-lifecycle"),
        &lambda_env(
            &moto,
            &api,
            &format!("sns:arn:aws:sns:us-east-1:{ACCOUNT}:does-not-exist"),
        ),
    );
    let err = api.invoke(&event("aws/kms-cmk-deletion.json")).unwrap_err();
    let err: Value = serde_json::from_str(&err).unwrap();
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("does-not-exist"),
        "{err}"
    );
    // In an SQS batch the same failure is a batch item failure, not a lost message.
    let batch = serde_json::json!({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs",
        "body": String::from_utf8(event("aws/kms-cmk-deletion.json")).unwrap()}]});
    let resp: Value =
        serde_json::from_str(&api.invoke(batch.to_string().as_bytes()).unwrap()).unwrap();
    assert_eq!(
        resp,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]})
    );
    assert_no_secrets(&p.logs());
}

#[test]
fn fifo_dedup_same_deletion_twice_gives_one_message() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (topic, url) = aws.topic_to_queue("kms-alerts.fifo", "kms-alerts-sub.fifo");
    let (fifo_queue, _) = aws.queue("kms-audit.fifo");
    let targets = format!("sns:{topic} sqs:{fifo_queue}");
    let deletion = event("aws/kms-cmk-deletion.json");
    // AWS may send KMS CMK Deletion again with another id; it is the same deletion.
    let mut again: Value = serde_json::from_slice(&deletion).unwrap();
    again["id"] = "0b6f6a0e-2nd-delivery".into();
    let again = again.to_string().into_bytes();
    // Two separate cold processes, so the in-memory dedup cannot help: only the FIFO ids do.
    for body in [&deletion, &again] {
        let api = RuntimeApi::start();
        let _p = Proc::spawn(
            env!("CARGO_BIN_EXE_kms-key-lifecycle"),
            &lambda_env(&moto, &api, &targets),
        );
        api.invoke(body).unwrap();
    }
    assert_eq!(aws.drain(&url).len(), 1, "SNS FIFO -> SQS FIFO");
    assert_eq!(aws.drain(&fifo_queue).len(), 1, "SQS FIFO");
}

#[test]
fn redelivery_to_a_warm_handler_notifies_once() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (url, _) = aws.queue("plain");
    let api = RuntimeApi::start();
    let _p = Proc::spawn(
        env!("CARGO_BIN_EXE_kms-key-lifecycle"),
        &lambda_env(&moto, &api, &format!("sqs:{url}")),
    );
    for _ in 0..3 {
        api.invoke(&event("aws/kms-cmk-rotation.json")).unwrap();
    }
    // Each invocation answered after its sends: the queue holds what was sent.
    assert_eq!(aws.drain(&url).len(), 1);
}

/// `format=chatbot`: the topic carries the AWS Chatbot custom notification schema, which a
/// Chatbot channel configuration subscribed to the topic renders without glue.
#[test]
fn chatbot_topic_gets_the_custom_notification_schema() {
    let moto = Moto::start();
    let aws = Aws::new(&moto);
    let (topic, sub_url) = aws.topic_to_queue("kms-chatbot", "kms-chatbot-sub");
    let api = RuntimeApi::start();
    let proc_ = Proc::spawn(
        env!("CARGO_BIN_EXE_kms-key-lifecycle"),
        &lambda_env(&moto, &api, &format!("sns:{topic}?format=chatbot")),
    );
    api.invoke(&event("aws/kms-cmk-deletion.json"))
        .unwrap_or_else(|e| panic!("{e}\n{}", proc_.logs()));
    let got = aws.drain(&sub_url);
    assert_eq!(got.len(), 1);
    let envelope: Value = serde_json::from_str(&got[0].0).unwrap();
    let m: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(m["version"], "1.0");
    assert_eq!(m["source"], "custom");
    assert_eq!(m["content"]["textType"], "client-markdown");
    assert!(m["content"]["title"]
        .as_str()
        .unwrap()
        .contains("KMS key deleted"));
    assert!(m["content"]["description"]
        .as_str()
        .unwrap()
        .contains("Key ID"));
    assert!(m["content"]["nextSteps"][0]
        .as_str()
        .unwrap()
        .starts_with("Open in console: https://"));
    assert!(m["metadata"]["threadId"]
        .as_str()
        .unwrap()
        .starts_with("aws:key_deletion:"));
    assert!(envelope["Subject"]
        .as_str()
        .unwrap()
        .starts_with("[WARNING]"));
}
