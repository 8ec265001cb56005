//! `kms-trail-objects` end to end against moto's S3, SQS, SNS and DynamoDB: gzipped CloudTrail
//! log objects in a bucket, S3 notifications delivered through the Lambda runtime API (and
//! stdin), alerts on an SNS topic read back through a subscribed queue, and the shared dedup
//! table keeping every alert to one message across deliveries, processes and crashes.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{event, Aws, Proc};
use kms_alerts_testkit::lambda_api::RuntimeApi;
use kms_alerts_testkit::moto::Moto;
use serde_json::{json, Value};

const BUCKET: &str = "org-trail";
const TABLE: &str = "kms-alerts-dedup";
/// A log file's key as CloudTrail writes it, with a space to show URL decoding.
const KEY: &str = "AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2025/01/01/111122223333_CloudTrail_us-east-1_20250101T0000Z_my file.json.gz";

/// The records of the test log file: the sample log, three KMS calls and service events from
/// the EventBridge samples, a repeated record (same eventID), and other services' calls.
fn log_records() -> Vec<Value> {
    let sample: Value = serde_json::from_slice(&event("aws/cloudtrail-log-file.json")).unwrap();
    let mut records = sample["Records"].as_array().unwrap().clone();
    for name in [
        "cloudtrail-schedule-key-deletion",
        "cloudtrail-service-delete-key",
        "cloudtrail-cancel-key-deletion",
    ] {
        let ev: Value = serde_json::from_slice(&event(&format!("aws/{name}.json"))).unwrap();
        records.push(ev["detail"].clone());
    }
    records.push(records[0].clone());
    for i in 0..500 {
        let mut r = records[1].clone();
        r["eventID"] = json!(format!("other-{i}"));
        records.push(r);
    }
    records
}

fn gzipped_log(records: &[Value]) -> Vec<u8> {
    let body = json!({ "Records": records }).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    gz.finish().unwrap()
}

/// The event ids the log's KMS records should alert on, once each.
fn expected_event_ids(records: &[Value]) -> std::collections::BTreeSet<String> {
    let log = json!({ "Records": records }).to_string();
    kms_alerts_core::parse(log.as_bytes())
        .unwrap()
        .into_iter()
        .map(|r| r.result.unwrap().event_id.unwrap())
        .collect()
}

/// An S3 event notification for `key`, URL-encoded as S3 sends it.
fn s3_notification(key: &str) -> String {
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2025-01-01T00:05:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": BUCKET, "arn": format!("arn:aws:s3:::{BUCKET}")},
               "object": {"key": key.replace(' ', "+"), "size": 1234, "sequencer": "0055AED6DCD90281E5"}}}]})
    .to_string()
}

/// A Lambda SQS event with these (messageId, body) records.
fn sqs_event(messages: &[(&str, String)]) -> Vec<u8> {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({"messageId": id, "receiptHandle": "r", "body": body, "attributes": {},
                   "messageAttributes": {}, "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:trail-objects"})
        })
        .collect();
    json!({ "Records": records }).to_string().into_bytes()
}

/// moto with the bucket, the log object, the dedup table and a topic read through a queue.
struct World {
    moto: Moto,
    aws: Aws,
    topic: String,
    sub_url: String,
    expected: std::collections::BTreeSet<String>,
}

impl World {
    fn new() -> World {
        let moto = Moto::start();
        let aws = Aws::new(&moto);
        let (topic, sub_url) = aws.topic_to_queue("kms-alerts", "kms-alerts-sub");
        let records = log_records();
        let expected = expected_event_ids(&records);
        assert!(
            expected.len() >= 4,
            "DisableKey, ScheduleKeyDeletion, DeleteKey, CancelKeyDeletion: {expected:?}"
        );
        aws.rt.block_on(async {
            aws.s3.create_bucket().bucket(BUCKET).send().await.unwrap();
            aws.s3
                .put_object()
                .bucket(BUCKET)
                .key(KEY)
                .body(gzipped_log(&records).into())
                .send()
                .await
                .unwrap();
        });
        aws.dedup_table(TABLE);
        World {
            moto,
            aws,
            topic,
            sub_url,
            expected,
        }
    }

    fn env(&self, api: Option<&RuntimeApi>) -> Vec<(&'static str, String)> {
        let mut env = self.moto.env();
        if let Some(api) = api {
            env.push(("AWS_LAMBDA_RUNTIME_API", api.host()));
            env.push(("AWS_LAMBDA_FUNCTION_NAME", "kms-trail-objects".into()));
        }
        env.push(("KMS_ALERTS_TARGETS", format!("sns:{}", self.topic)));
        env.push(("KMS_ALERTS_DEDUP_TABLE", TABLE.into()));
        env.push(("KMS_ALERTS_RETRY_BASE_MS", "10".into()));
        env
    }

    fn spawn(&self, api: &RuntimeApi, extra: &[(&'static str, String)]) -> Proc {
        let mut env = self.env(Some(api));
        env.extend(extra.iter().cloned());
        Proc::spawn(env!("CARGO_BIN_EXE_kms-trail-objects"), &env)
    }

    /// The event ids of the alerts that reached the topic since the last call.
    fn received(&self) -> Vec<String> {
        self.aws
            .drain(&self.sub_url)
            .into_iter()
            .map(|(body, _)| {
                let envelope: Value = serde_json::from_str(&body).unwrap();
                let alert: Value =
                    serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
                alert["event_id"].as_str().unwrap().to_string()
            })
            .collect()
    }

    /// Items of the dedup table with this status.
    fn items_with_status(&self, status: &str) -> usize {
        self.aws.rt.block_on(async {
            let out = self
                .aws
                .dynamodb
                .scan()
                .table_name(TABLE)
                .send()
                .await
                .unwrap();
            out.items()
                .iter()
                .filter(|i| {
                    i.get("status")
                        .and_then(|s| s.as_s().ok())
                        .map(String::as_str)
                        == Some(status)
                })
                .count()
        })
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn no_failures(resp: &str) {
    let v: Value = serde_json::from_str(resp).unwrap();
    assert_eq!(v, json!({"batchItemFailures": []}), "{resp}");
}

#[test]
fn kms_records_of_a_log_object_reach_the_topic_once_whatever_the_delivery() {
    let w = World::new();
    let api = RuntimeApi::start();
    let proc_ = w.spawn(&api, &[]);
    let digest = "AWSLogs/o-abc123/111122223333/CloudTrail-Digest/us-east-1/2025/01/01/x.json.gz";
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2025-01-01T00:00:00.000Z",
        "Bucket": BUCKET, "RequestId": "r", "HostId": "h"});
    let batch = sqs_event(&[
        ("m-log", s3_notification(KEY)),
        ("m-test", test_event.to_string()),
        ("m-digest", s3_notification(digest)),
    ]);
    no_failures(
        &api.invoke(&batch)
            .unwrap_or_else(|e| panic!("{e}\n{}", proc_.logs())),
    );
    let want: Vec<String> = w.expected.iter().cloned().collect();
    assert_eq!(
        sorted(w.received()),
        want,
        "each KMS record once, read-only calls skipped: {}",
        proc_.logs()
    );
    assert_eq!(w.items_with_status("sent"), want.len());
    let logs = proc_.logs();
    assert!(
        logs.contains("log object read") && logs.contains("s3:TestEvent"),
        "{logs}"
    );

    // The same object again: the same process, a new process (only the table remembers),
    // CloudTrail's own SNS notification through SQS, and locally from stdin.
    no_failures(&api.invoke(&batch).unwrap());
    drop(proc_);
    api.forget_pollers();
    let proc_ = w.spawn(&api, &[]);
    let cloudtrail_sns = json!({"Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:us-east-1:111122223333:trail",
        "Message": json!({"s3Bucket": BUCKET, "s3ObjectKey": [KEY]}).to_string()});
    no_failures(
        &api.invoke(&sqs_event(&[("m-ct", cloudtrail_sns.to_string())]))
            .unwrap_or_else(|e| panic!("{e}\n{}", proc_.logs())),
    );
    let out = std::process::Command::new(common::binary(env!("CARGO_BIN_EXE_kms-trail-objects")))
        .env_clear()
        .envs(w.env(None))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .unwrap()
                .write_all(s3_notification(KEY).as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("\"duplicate\":[\"sns:"), "{stderr}");
    assert_eq!(w.received(), Vec::<String>::new(), "nothing sent twice");
}

#[test]
fn two_instances_given_the_same_notification_at_once_send_each_alert_once() {
    let w = World::new();
    let (a, b) = (RuntimeApi::start(), RuntimeApi::start());
    let (pa, pb) = (w.spawn(&a, &[]), w.spawn(&b, &[]));
    let batch = sqs_event(&[("m-1", s3_notification(KEY))]);
    // Both ready, then the same event to both at the same moment.
    for api in [&a, &b] {
        no_failures(
            &api.invoke(&sqs_event(&[(
                "warm-up",
                json!({"Service": "Amazon S3", "Event": "s3:TestEvent"}).to_string(),
            )]))
            .unwrap(),
        );
    }
    let (ida, idb) = (a.enqueue(&batch), b.enqueue(&batch));
    for (api, id, p) in [(&a, ida, &pa), (&b, idb, &pb)] {
        no_failures(
            &api.wait(&id, Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("{e}\n{}", p.logs())),
        );
    }
    let want: Vec<String> = w.expected.iter().cloned().collect();
    assert_eq!(sorted(w.received()), want, "{}\n{}", pa.logs(), pb.logs());
}

#[test]
fn a_claim_left_by_a_crashed_sender_lapses_and_the_retry_sends() {
    let w = World::new();
    let claim = ("KMS_ALERTS_DEDUP_CLAIM_SECONDS", "2".to_string());
    // A claim must outlast a publish.
    let publish = ("KMS_ALERTS_PUBLISH_TIMEOUT_MS", "1500".to_string());
    let batch = sqs_event(&[("m-1", s3_notification(KEY))]);
    // The first instance claims, then hangs on SNS and dies before sending anything.
    let api = RuntimeApi::start();
    let stalled = kms_alerts_testkit::stalled_endpoint();
    let crashed = w.spawn(
        &api,
        &[
            claim.clone(),
            publish.clone(),
            ("AWS_ENDPOINT_URL_SNS", stalled),
        ],
    );
    api.enqueue(&batch);
    let end = Instant::now() + Duration::from_secs(30);
    while w.items_with_status("sending") == 0 {
        assert!(Instant::now() < end, "no claim written: {}", crashed.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(crashed);
    assert_eq!(w.received(), Vec::<String>::new());
    // SQS redelivers to another instance: it waits for the claims to lapse, then sends.
    let api = RuntimeApi::start();
    let retry = w.spawn(&api, &[claim, publish]);
    no_failures(
        &api.invoke(&batch)
            .unwrap_or_else(|e| panic!("{e}\n{}", retry.logs())),
    );
    let want: Vec<String> = w.expected.iter().cloned().collect();
    assert_eq!(sorted(w.received()), want, "{}", retry.logs());
    assert_eq!(w.items_with_status("sending"), 0);
}

#[test]
fn unreadable_objects_and_an_unreachable_table_fail_only_their_records() {
    let w = World::new();
    let api = RuntimeApi::start();
    let proc_ = w.spawn(&api, &[]);
    let missing = KEY.replace("my file", "gone");
    let batch = sqs_event(&[
        ("m-good", s3_notification(KEY)),
        ("m-missing", s3_notification(&missing)),
        ("m-garbage", "{\"hello\": \"world\"}".to_string()),
    ]);
    let resp: Value = serde_json::from_str(&api.invoke(&batch).unwrap()).unwrap();
    let failed: Vec<&str> = resp["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["m-missing", "m-garbage"], "{}", proc_.logs());
    assert!(proc_.logs().contains("NoSuchKey"), "{}", proc_.logs());
    assert_eq!(w.received().len(), w.expected.len());

    // The table is gone (or unreachable): nothing is sent, the record fails and is retried.
    w.aws.rt.block_on(async {
        w.aws
            .dynamodb
            .delete_table()
            .table_name(TABLE)
            .send()
            .await
            .unwrap();
    });
    let api = RuntimeApi::start();
    let proc_ = w.spawn(&api, &[]);
    let resp: Value = serde_json::from_str(
        &api.invoke(&sqs_event(&[("m-good", s3_notification(KEY))]))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        resp["batchItemFailures"],
        json!([{"itemIdentifier": "m-good"}]),
        "{}",
        proc_.logs()
    );
    assert!(
        proc_.logs().contains("dedup table kms-alerts-dedup"),
        "{}",
        proc_.logs()
    );
    assert_eq!(w.received(), Vec::<String>::new());
}

/// Puts `body` in the bucket at `key`.
fn put_object(w: &World, key: &str, body: Vec<u8>) {
    w.aws.rt.block_on(async {
        w.aws
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    });
}

/// `members` gzip members, each of `member` inflating to `inflated` bytes of `fill`: a small
/// object that inflates to `members * inflated` bytes, built without compressing it all.
fn gzip_bomb(prefix: &[u8], fill: u8, inflated: usize, members: usize) -> Vec<u8> {
    let mut first = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    first.write_all(prefix).unwrap();
    first.write_all(&vec![fill; inflated]).unwrap();
    let mut out = first.finish().unwrap();
    let mut rest = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    rest.write_all(&vec![fill; inflated]).unwrap();
    let rest = rest.finish().unwrap();
    for _ in 1..members {
        out.extend_from_slice(&rest);
    }
    out
}

fn failed_items(resp: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(resp).unwrap();
    v["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

/// The bound README states for `kms-trail-objects` on any object, in KiB.
const TRAIL_OBJECTS_LIMIT_KIB: u64 = 128 * 1024;

#[test]
fn a_gzip_bomb_or_a_giant_record_fails_only_its_own_message() {
    let w = World::new();
    // One unterminated string inflating to 1 GiB (24 MiB against the debug build), far past
    // the 8 MiB a record may take.
    let (member, members) = if common::full_size() {
        (16 << 20, 64)
    } else {
        (4 << 20, 6)
    };
    let bomb = KEY.replace("my file", "bomb");
    put_object(
        &w,
        &bomb,
        gzip_bomb(
            br#"{"Records":[{"eventSource":"kms.amazonaws.com","x":""#,
            b'a',
            member,
            members,
        ),
    );
    // One terminated record holding a 512 MiB string (32 MiB against the debug build), and a
    // KMS record after it.
    let giant = KEY.replace("my file", "giant");
    let mut tail = br#""},"#.to_vec();
    tail.extend_from_slice(log_records()[0].to_string().as_bytes());
    tail.extend_from_slice(b"]}");
    let mut body = gzip_bomb(
        br#"{"Records":[{"eventSource":"kms.amazonaws.com","x":""#,
        b'b',
        member,
        members / 2,
    );
    let mut end = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    end.write_all(&tail).unwrap();
    body.extend_from_slice(&end.finish().unwrap());
    put_object(&w, &giant, body);
    let api = RuntimeApi::start();
    let proc_ = w.spawn(&api, &[]);
    let batch = sqs_event(&[
        ("m-bomb", s3_notification(&bomb)),
        ("m-good", s3_notification(KEY)),
        ("m-giant", s3_notification(&giant)),
    ]);
    let resp = api
        .invoke(&batch)
        .unwrap_or_else(|e| panic!("{e}\n{}", proc_.logs()));
    let peak = proc_.peak_rss_kib().unwrap();
    eprintln!(
        "kms-trail-objects after a {} MiB gzip bomb and a {} MiB record: peak RSS {:.1} MiB",
        (member * members) >> 20,
        (member * (members / 2)) >> 20,
        peak as f64 / 1024.0
    );
    assert!(
        peak <= TRAIL_OBJECTS_LIMIT_KIB,
        "peak RSS {peak} KiB over {TRAIL_OBJECTS_LIMIT_KIB} KiB"
    );
    assert_eq!(
        failed_items(&resp),
        ["m-bomb", "m-giant"],
        "{}",
        proc_.logs()
    );
    assert!(
        proc_.logs().contains("bomb.json.gz piece 1"),
        "the error names the object and the record: {}",
        proc_.logs()
    );
    // The record: `{"eventSource":"kms.amazonaws.com","x":"` (40 bytes), the string, `"}`.
    let record_len = member * (members / 2) + 42;
    assert!(
        proc_.logs().contains(&format!(
            "giant.json.gz record 1: {record_len} bytes, over the limit"
        )),
        "the error names the object, the record and its size: {}",
        proc_.logs()
    );
    let want: Vec<String> = w.expected.iter().cloned().collect();
    assert_eq!(sorted(w.received()), want, "the good object's alerts, once");
}

#[test]
fn the_deadline_stops_reading_an_object_and_fails_its_message() {
    let w = World::new();
    // Whitespace between records inflating to 1.5 GiB: longer to read than the deadline allows.
    let slow = KEY.replace("my file", "slow");
    put_object(&w, &slow, gzip_bomb(b"{\"Records\":[", b' ', 16 << 20, 96));
    let api = RuntimeApi::start();
    api.set_timeout(Duration::from_secs(3));
    let proc_ = w.spawn(&api, &[("KMS_ALERTS_DEADLINE_MARGIN_MS", "2000".into())]);
    let resp = api
        .invoke(&sqs_event(&[("m-slow", s3_notification(&slow))]))
        .unwrap_or_else(|e| panic!("answered after the deadline: {e}\n{}", proc_.logs()));
    assert_eq!(failed_items(&resp), ["m-slow"], "{}", proc_.logs());
    assert!(proc_.logs().contains("deadline"), "{}", proc_.logs());
}

#[test]
fn alerts_per_object_are_bounded_and_the_rest_reported() {
    let w = World::new();
    let api = RuntimeApi::start();
    let proc_ = w.spawn(&api, &[("KMS_ALERTS_MAX_ALERTS_PER_OBJECT", "2".into())]);
    let resp = api
        .invoke(&sqs_event(&[("m-many", s3_notification(KEY))]))
        .unwrap_or_else(|e| panic!("{e}\n{}", proc_.logs()));
    assert_eq!(failed_items(&resp), ["m-many"], "{}", proc_.logs());
    assert!(
        proc_
            .logs()
            .contains("more than 2 KMS alerts in one object"),
        "{}",
        proc_.logs()
    );
    assert_eq!(w.received().len(), 2, "the first two were published");
}
