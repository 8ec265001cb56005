//! What each sink sends: SNS subject and per-protocol message, SQS body, message attributes.
//! Sizes are bounded here so a publish is never rejected because of event content.

use kms_alerts_core::render::{json_within, subject, text, JSON_MIN_BUDGET};
use kms_alerts_core::text::cut_bytes;
use kms_alerts_core::Alert;

use crate::failure::SinkError;
use serde_json::json;

/// SNS and SQS reject messages over 256 KiB (262,144 bytes), attributes included.
pub const AWS_MESSAGE_MAX: usize = 262_144;
/// Room kept for what the services may count beyond body and attributes.
const SAFETY_MARGIN: usize = 512;
/// The most of the SNS payload the email text may take.
const EMAIL_MAX: usize = 64 * 1024;

/// The bytes SNS and SQS count for the attributes: name, data type and value of each.
pub fn attributes_size(alert: &Alert) -> usize {
    attributes(alert)
        .iter()
        .map(|(name, value)| name.len() + "String".len() + value.len())
        .sum()
}

/// What is left of the 256 KiB for the message body once `alert`'s attributes (and, for SNS,
/// its subject) are counted.
fn body_limit(alert: &Alert, subject_len: usize) -> usize {
    AWS_MESSAGE_MAX - SAFETY_MARGIN - attributes_size(alert) - subject_len
}

/// Message attributes every sink sets, so subscribers can filter (SNS filter policies).
pub fn attributes(alert: &Alert) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("severity", alert.severity.as_str().to_string()),
        ("kind", alert.kind.as_str().to_string()),
        ("family", alert.family.as_str().to_string()),
        ("cloud", alert.cloud.as_str().to_string()),
    ];
    for (name, value) in [("region", &alert.region), ("account", &alert.account)] {
        if let Some(v) = value
            .as_deref()
            .map(clean_attribute)
            .filter(|v| !v.is_empty())
        {
            out.push((name, v));
        }
    }
    out
}

/// [`attributes`] built into an SDK's own attribute type (SNS and SQS each have one).
pub(crate) fn typed_attributes<T, E: std::fmt::Display>(
    alert: &Alert,
    build: impl Fn(String) -> Result<T, E>,
) -> Result<Vec<(&'static str, T)>, SinkError> {
    attributes(alert)
        .into_iter()
        .map(|(name, value)| {
            build(value)
                .map(|v| (name, v))
                .map_err(|e| SinkError::permanent(e.to_string()))
        })
        .collect()
}

/// Attribute values: printable, at most 256 characters and 256 bytes.
fn clean_attribute(v: &str) -> String {
    let mut s = kms_alerts_core::text::one_line(v, 256);
    s.truncate(kms_alerts_core::text::floor_char_boundary(&s, 256));
    s
}

/// The SNS `MessageStructure=json` payload: the JSON alert by default (SQS, Lambda, HTTP(S),
/// Firehose, email-json subscribers), plain text for `email`, the subject line for `sms`. With
/// the subject and attributes it stays within 256 KiB in bytes: the email text is cut to
/// 64 KiB, and the JSON alert gives way as [`json_within`] describes.
pub fn sns_message(alert: &Alert) -> String {
    let sms = subject(alert);
    let limit = body_limit(alert, sms.len());
    let mut email = text(alert);
    cut_bytes(&mut email, EMAIL_MAX);
    // The JSON alert is nested as a string, so its quotes and escapes grow again: measure and
    // shrink until the whole payload fits.
    let fixed = serde_json::to_string(&email).map_or(0, |e| e.len()) + sms.len() * 6 + 64;
    let mut budget = limit.saturating_sub(fixed).max(JSON_MIN_BUDGET);
    loop {
        let payload =
            json!({"default": json_within(alert, budget), "email": email, "sms": sms}).to_string();
        if payload.len() <= limit {
            return payload;
        }
        if budget == JSON_MIN_BUDGET {
            // Only reachable with an email text near its cap: give the room to the JSON.
            cut_bytes(&mut email, EMAIL_MAX / 4);
        }
        budget = (budget * 3 / 4).max(JSON_MIN_BUDGET);
    }
}

/// The SNS message for a topic a Chatbot configuration subscribes to (`format=chatbot`): the
/// custom notification schema, within 256 KiB with the subject and attributes.
pub fn chatbot_sns_message(alert: &Alert) -> String {
    crate::chat::chatbot_message(alert, body_limit(alert, subject(alert).len()))
}

/// The SQS body: the JSON alert, within 256 KiB with its attributes.
pub fn sqs_body(alert: &Alert) -> String {
    json_within(alert, body_limit(alert, 0))
}

/// The SNS/SQS FIFO deduplication id: the alert's dedup key, kept to 128 printable ASCII
/// characters (it already is), so redeliveries within five minutes collapse.
pub fn fifo_dedup_id(alert: &Alert) -> String {
    alert
        .dedup_key
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(128)
        .collect()
}

/// The SNS/SQS FIFO message group id: the resource (else its name, else the kind), so alerts
/// about one key or secret stay in order while different resources flow in parallel. Printable
/// ASCII only, at most 128 characters (the end of a long ARN, where its id is).
pub fn fifo_group_id(alert: &Alert) -> String {
    let source = alert
        .resource
        .as_deref()
        .or(alert.resource_name.as_deref())
        .unwrap_or(alert.kind.as_str());
    let clean: Vec<char> = source.chars().filter(|c| c.is_ascii_graphic()).collect();
    let start = clean.len().saturating_sub(128);
    let id: String = clean[start..].iter().collect();
    if id.is_empty() {
        alert.kind.as_str().to_string()
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big_alert() -> Alert {
        let ev = serde_json::json!({"source": "aws.kms", "detail-type": "KMS CMK Deletion", "region": "us-east-1",
            "account": "1", "detail": {"key-id": "k", "padding": "\u{0001}é".repeat(400_000)}});
        kms_alerts_core::parse(ev.to_string().as_bytes())
            .unwrap()
            .remove(0)
            .result
            .unwrap()
    }

    #[test]
    fn sns_payload_fits_even_for_a_huge_event() {
        let a = big_alert();
        let m = sns_message(&a);
        assert!(
            m.len() + attributes_size(&a) + subject(&a).len() <= AWS_MESSAGE_MAX,
            "{}",
            m.len()
        );
        let v: serde_json::Value = serde_json::from_str(&m).unwrap();
        assert!(v["email"]
            .as_str()
            .unwrap()
            .starts_with("[WARNING] KMS key deleted: k"));
        assert_eq!(v["sms"], "[WARNING] KMS key deleted: k");
        let inner: serde_json::Value =
            serde_json::from_str(v["default"].as_str().unwrap()).unwrap();
        assert_eq!(inner["raw_truncated"], true);
        assert_eq!(inner["kind"], "key_deleted");
    }

    #[test]
    fn sqs_body_fits() {
        let a = big_alert();
        let body = sqs_body(&a);
        assert!(body.len() + attributes_size(&a) <= AWS_MESSAGE_MAX);
    }

    #[test]
    fn fifo_group_is_the_resource_and_dedup_id_the_occurrence() {
        let ev = br#"{"source":"aws.kms","detail-type":"KMS CMK Deletion","region":"us-east-1","account":"111122223333","detail":{"key-id":"1234abcd-12ab-34cd-56ef-1234567890ab"}}"#;
        let a = kms_alerts_core::parse(ev)
            .unwrap()
            .remove(0)
            .result
            .unwrap();
        assert_eq!(
            fifo_group_id(&a),
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        assert_eq!(fifo_dedup_id(&a), a.dedup_key);
        let mut long = a.clone();
        long.resource = Some(format!("acs:kms:cn-hangzhou:1:secret/{}é", "s".repeat(300)));
        let g = fifo_group_id(&long);
        assert_eq!(g.len(), 128);
        assert!(g.ends_with("sss") && g.is_ascii());
        long.resource = Some("密钥".into());
        long.resource_name = None;
        assert_eq!(fifo_group_id(&long), "key_deleted");
    }

    #[test]
    fn attributes_skip_missing_values() {
        let ev = br#"{"source":"aws.kms","detail-type":"KMS CMK Rotation","detail":{}}"#;
        let a = kms_alerts_core::parse(ev)
            .unwrap()
            .remove(0)
            .result
            .unwrap();
        let names: Vec<_> = attributes(&a).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["severity", "kind", "family", "cloud"]);
    }
}
