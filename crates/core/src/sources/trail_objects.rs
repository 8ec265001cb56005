//! Notifications that name CloudTrail log objects in S3: S3 event notifications (direct, in
//! SQS, in SNS, in SNS in SQS), S3 `Object Created` events on EventBridge, and CloudTrail's own
//! SNS notification `{"s3Bucket": ..., "s3ObjectKey": [...]}`. Only the names are read here;
//! fetching the objects is the caller's job.
//!
//! Sources: the S3 user guide's notification content structure (keys are form-URL-encoded,
//! `eventName` has no `s3:` prefix, the `s3:TestEvent` message), S3's EventBridge event
//! (`detail.bucket.name`, `detail.object.key`; whether that key is URL-encoded is unconfirmed,
//! so both spellings are tried), CloudTrail's SNS notification, and the log file key layout
//! `[prefix/]AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>`, beside which
//! `CloudTrail-Digest` and `CloudTrail-Insight` folders hold files that are not logs.

use serde_json::Value;

use crate::error::ParseError;
use crate::fields::text;

/// A log object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailObject {
    pub bucket: String,
    /// The object key, decoded.
    pub key: String,
    /// Another spelling to try if `key` does not exist (the key as sent, when it is not known
    /// whether it was URL-encoded).
    pub alternative_key: Option<String>,
}

/// What one delivery (an SQS message, an SNS message, an invocation) names.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectNotice {
    /// The SQS `messageId` (for `batchItemFailures`), else the SNS `MessageId`, else the
    /// EventBridge event id.
    pub delivery_id: Option<String>,
    /// The log objects to read, or why the delivery could not be read.
    pub objects: Result<Vec<TrailObject>, ParseError>,
    /// What was named but is deliberately not read: test events, digest and Insights files,
    /// other object events, each as a short reason.
    pub skipped: Vec<String>,
}

/// Reads a notification (raw bytes of an invocation, an SQS body or stdin) into the deliveries
/// it holds. Input that is not JSON is an error; JSON of any other shape is a delivery whose
/// `objects` is an error, so it fails alone.
pub fn object_notices(input: &[u8], what: &str) -> Result<Vec<ObjectNotice>, ParseError> {
    let value = super::decode(input, what)?;
    Ok(object_notices_in(&value, what))
}

/// [`object_notices`] over decoded JSON.
pub fn object_notices_in(value: &Value, what: &str) -> Vec<ObjectNotice> {
    if let Some(records) = value.get("Records").and_then(Value::as_array) {
        let deliveries = records
            .iter()
            .any(|r| r.get("body").is_some() || r.get("Sns").is_some());
        if deliveries {
            return records.iter().map(|r| delivery_record(r, what)).collect();
        }
    }
    let mut notice = ObjectNotice {
        delivery_id: text(value, &["id"]),
        objects: Ok(Vec::new()),
        skipped: Vec::new(),
    };
    read_message(value, what, &mut notice, 0);
    vec![notice]
}

/// One SQS or SNS record of a Lambda event.
fn delivery_record(r: &Value, what: &str) -> ObjectNotice {
    let (id, body, field) = match r.get("Sns") {
        Some(sns) => (text(sns, &["MessageId"]), sns.get("Message"), "Sns.Message"),
        None => (text(r, &["messageId"]), r.get("body"), "body"),
    };
    let label = format!("{what} record {}", id.as_deref().unwrap_or("(no id)"));
    let mut notice = ObjectNotice {
        delivery_id: id,
        objects: Ok(Vec::new()),
        skipped: Vec::new(),
    };
    match body {
        Some(Value::String(s)) => match super::decode(s.as_bytes(), &label) {
            Ok(v) => read_message(&v, &label, &mut notice, 1),
            Err(e) => notice.objects = Err(e),
        },
        Some(v @ Value::Object(_)) => read_message(v, &label, &mut notice, 1),
        _ => {
            notice.objects = Err(ParseError::field(
                label,
                field,
                "is missing or not a string",
            ))
        }
    }
    notice
}

/// Reads one message of any supported shape into `notice`.
fn read_message(v: &Value, what: &str, notice: &mut ObjectNotice, depth: usize) {
    let fail = |notice: &mut ObjectNotice, field: &str, msg: &str| {
        notice.objects = Err(ParseError::field(what, field, msg));
    };
    // An SNS notification (SNS -> SQS without raw delivery): the message is a string inside.
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        match v.get("Message").and_then(Value::as_str) {
            Some(m) if depth < 3 => match super::decode(m.as_bytes(), what) {
                Ok(inner) => {
                    if notice.delivery_id.is_none() {
                        notice.delivery_id = text(v, &["MessageId"]);
                    }
                    read_message(&inner, what, notice, depth + 1)
                }
                Err(e) => notice.objects = Err(e),
            },
            _ => fail(notice, "Message", "is missing or not a string"),
        }
        return;
    }
    // S3's test message when a notification is configured: nothing to read.
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        notice.skipped.push("s3:TestEvent".into());
        return;
    }
    // CloudTrail's own SNS notification: one message per delivered file.
    if let Some(bucket) = text(v, &["s3Bucket"]) {
        let keys = match v.get("s3ObjectKey") {
            Some(Value::Array(keys)) => keys.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(k)) => vec![k.as_str()],
            _ => return fail(notice, "s3ObjectKey", "is missing or not a list of keys"),
        };
        for key in keys {
            add(notice, &bucket, key.to_string(), None);
        }
        return;
    }
    // S3 on EventBridge.
    if text(v, &["detail-type"]).is_some()
        || v.get("source").and_then(Value::as_str) == Some("aws.s3")
    {
        let detail_type = text(v, &["detail-type"]).unwrap_or_default();
        if detail_type != "Object Created" {
            notice
                .skipped
                .push(format!("EventBridge event {detail_type:?}"));
            return;
        }
        let detail = v.get("detail").unwrap_or(&Value::Null);
        let bucket = detail.pointer("/bucket/name").and_then(Value::as_str);
        let key = detail.pointer("/object/key").and_then(Value::as_str);
        match (bucket, key) {
            (Some(b), Some(k)) => {
                let decoded = decode_key(k);
                let alternative = (decoded != k).then_some(decoded);
                add(notice, b, k.to_string(), alternative);
            }
            _ => fail(notice, "detail", "has no bucket.name and object.key"),
        }
        return;
    }
    // S3 event notification: {"Records": [{"eventSource": "aws:s3", ...}]}.
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        for r in records {
            let name = text(r, &["eventName"]).unwrap_or_default();
            let name = name.strip_prefix("s3:").unwrap_or(&name);
            if !name.starts_with("ObjectCreated") {
                notice.skipped.push(format!("S3 event {name:?}"));
                continue;
            }
            let bucket = r.pointer("/s3/bucket/name").and_then(Value::as_str);
            let key = r.pointer("/s3/object/key").and_then(Value::as_str);
            match (bucket, key) {
                (Some(b), Some(k)) => add(notice, b, decode_key(k), None),
                _ => return fail(notice, "Records[].s3", "has no bucket.name and object.key"),
            }
        }
        return;
    }
    fail(
        notice,
        "message",
        "names no S3 objects (expected an S3 event notification, an S3 Object Created event or CloudTrail's s3Bucket/s3ObjectKey notification)",
    );
}

fn add(notice: &mut ObjectNotice, bucket: &str, key: String, alternative_key: Option<String>) {
    if let Some(reason) = not_a_log(&key) {
        notice.skipped.push(format!("{reason}: {key}"));
        return;
    }
    // Neither spelling may name a digest or Insights file (`%2F` in a key decodes to another
    // folder): one that does is not tried.
    let alternative_key = alternative_key.filter(|k| not_a_log(k).is_none());
    if let Ok(objects) = &mut notice.objects {
        let object = TrailObject {
            bucket: bucket.to_string(),
            key,
            alternative_key,
        };
        if !objects.contains(&object) {
            objects.push(object);
        }
    }
}

/// Why `key` is not a CloudTrail log file, if it is not: the folder after the account id must
/// be exactly `CloudTrail` (not `CloudTrail-Digest`, `CloudTrail-Insight`). A key outside the
/// `AWSLogs/` layout is read (a copy in a custom place), unless it names a digest or Insights
/// folder.
pub fn not_a_log(key: &str) -> Option<&'static str> {
    let parts: Vec<&str> = key.split('/').collect();
    let folder = parts.iter().position(|p| *p == "AWSLogs").and_then(|i| {
        // Skip the organization id, if any, and the account id.
        let mut rest = parts[i + 1..].iter().peekable();
        rest.next_if(|p| p.starts_with("o-"));
        rest.next()?;
        rest.next().copied()
    });
    let folder = folder.unwrap_or_else(|| {
        parts
            .iter()
            .find(|p| p.starts_with("CloudTrail-"))
            .copied()
            .unwrap_or("CloudTrail")
    });
    match folder {
        "CloudTrail" => None,
        f if f.starts_with("CloudTrail-Digest") => Some("CloudTrail digest file"),
        f if f.starts_with("CloudTrail-Insight") => Some("CloudTrail Insights file"),
        _ => Some("not a CloudTrail log file"),
    }
}

/// Decodes an S3 notification key: form-URL-encoding, `+` for a space and `%XX` escapes.
/// Invalid escapes are kept as they are.
pub fn decode_key(key: &str) -> String {
    let b = key.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2025/01/01/111122223333_CloudTrail_us-east-1_20250101T0000Z_abcd.json.gz";

    fn s3_event(key: &str, name: &str) -> Value {
        json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": name,
            "s3": {"bucket": {"name": "trail-bucket"}, "object": {"key": key, "size": 10}}}]})
    }

    fn objects(v: &Value) -> Vec<(Option<String>, Vec<TrailObject>, Vec<String>)> {
        object_notices_in(v, "t")
            .into_iter()
            .map(|n| (n.delivery_id, n.objects.unwrap(), n.skipped))
            .collect()
    }

    fn obj(key: &str) -> TrailObject {
        TrailObject {
            bucket: "trail-bucket".into(),
            key: key.into(),
            alternative_key: None,
        }
    }

    #[test]
    fn every_delivery_shape_names_its_objects() {
        let s3 = s3_event(KEY, "ObjectCreated:Put");
        // Direct, in SQS, in SNS, in SNS in SQS.
        assert_eq!(objects(&s3), [(None, vec![obj(KEY)], vec![])]);
        let sqs = json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": s3.to_string()}]});
        assert_eq!(objects(&sqs), [(Some("m1".into()), vec![obj(KEY)], vec![])]);
        let envelope =
            json!({"Type": "Notification", "MessageId": "sns-1", "Message": s3.to_string()});
        let sns_in_sqs = json!({"Records": [{"messageId": "m2", "body": envelope.to_string()}]});
        assert_eq!(objects(&sns_in_sqs)[0].1, vec![obj(KEY)]);
        assert_eq!(objects(&sns_in_sqs)[0].0.as_deref(), Some("m2"));
        let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "sns-2", "Message": s3.to_string()}}]});
        assert_eq!(objects(&sns)[0].0.as_deref(), Some("sns-2"));
        // CloudTrail's own notification names several keys.
        let ct =
            json!({"s3Bucket": "trail-bucket", "s3ObjectKey": [KEY, KEY.replace("abcd", "efgh")]});
        assert_eq!(objects(&ct)[0].1.len(), 2);
        // EventBridge: the key as sent, and decoded as the alternative.
        let eb = json!({"id": "ev-1", "source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "trail-bucket"}, "object": {"key": "AWSLogs/1/CloudTrail/x/a+b%3D.json.gz"}}});
        let got = objects(&eb);
        assert_eq!(got[0].0.as_deref(), Some("ev-1"));
        assert_eq!(got[0].1[0].key, "AWSLogs/1/CloudTrail/x/a+b%3D.json.gz");
        assert_eq!(
            got[0].1[0].alternative_key.as_deref(),
            Some("AWSLogs/1/CloudTrail/x/a b=.json.gz")
        );
    }

    #[test]
    fn keys_are_decoded_and_non_logs_skipped() {
        let got = objects(&s3_event(
            "AWSLogs/111122223333/CloudTrail/us-east-1/my+file%2B1.json.gz",
            "ObjectCreated:Put",
        ));
        assert_eq!(
            got[0].1[0].key,
            "AWSLogs/111122223333/CloudTrail/us-east-1/my file+1.json.gz"
        );
        for key in [
            "AWSLogs/o-abc/111122223333/CloudTrail-Digest/us-east-1/2025/01/01/x.json.gz",
            "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2025/01/01/x.json.gz",
        ] {
            let got = objects(&s3_event(key, "ObjectCreated:Put"));
            assert!(got[0].1.is_empty(), "{key}");
            assert_eq!(got[0].2.len(), 1, "{key}");
        }
        let removed = objects(&s3_event(KEY, "ObjectRemoved:Delete"));
        assert!(removed[0].1.is_empty() && removed[0].2[0].contains("ObjectRemoved"));
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2025-01-01T00:00:00Z", "Bucket": "trail-bucket"});
        assert_eq!(
            objects(&test),
            [(None, vec![], vec!["s3:TestEvent".to_string()])]
        );
        // The s3_notices fuzz target fails on it: the decoded spelling of a log key may name a
        // digest folder; it is not tried.
        let eb = json!({"id": "ev-2", "source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "AWSLogs/1%2FCloudTrail-Digest/CloudTrail/x.json.gz"}}});
        let got = objects(&eb);
        assert_eq!(
            got[0].1[0].key,
            "AWSLogs/1%2FCloudTrail-Digest/CloudTrail/x.json.gz"
        );
        assert_eq!(got[0].1[0].alternative_key, None);
        assert_eq!(decode_key("a%2"), "a%2");
        assert_eq!(decode_key("%zz%41"), "%zzA");
    }

    #[test]
    fn a_bad_delivery_fails_alone() {
        let sqs = json!({"Records": [
            {"messageId": "good", "body": s3_event(KEY, "ObjectCreated:Put").to_string()},
            {"messageId": "bad", "body": "{\"hello\": 1}"},
            {"messageId": "broken", "body": "{"}
        ]});
        let notices = object_notices_in(&sqs, "t");
        assert!(notices[0].objects.is_ok());
        let bad = notices[1].objects.as_ref().unwrap_err().to_string();
        assert!(
            bad.contains("record bad") && bad.contains("names no S3 objects"),
            "{bad}"
        );
        assert!(notices[2].objects.is_err());
        assert!(object_notices(b"not json", "stdin").is_err());
    }
}
