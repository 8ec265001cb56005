//! What an event says about where it came from: the cloud (AWS ARNs and field names against
//! Alibaba Cloud `acs:` ARNs and `aliyun*` attributes) and the service that sent it.

use serde_json::Value;

use crate::alert::Cloud;
use crate::fields::text;

/// How many keys and values the scan looks at before it stops; events are small, hostile input is not.
const SCAN_BUDGET: usize = 400;
/// How deep the scan goes.
const SCAN_DEPTH: usize = 4;

/// The cloud the event's own content points to, if it points to one.
pub(super) fn cloud_of(v: &Value) -> Option<Cloud> {
    let mut votes = Votes::default();
    let mut budget = SCAN_BUDGET;
    scan(v, 0, &mut budget, &mut votes);
    match votes.aws.cmp(&votes.alibaba) {
        std::cmp::Ordering::Greater => Some(Cloud::Aws),
        std::cmp::Ordering::Less => Some(Cloud::Alibaba),
        std::cmp::Ordering::Equal => None,
    }
}

#[derive(Default)]
struct Votes {
    aws: usize,
    alibaba: usize,
}

fn scan(v: &Value, depth: usize, budget: &mut usize, votes: &mut Votes) {
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                if *budget == 0 {
                    return;
                }
                *budget -= 1;
                key_vote(k, val, votes);
                if depth < SCAN_DEPTH {
                    scan(val, depth + 1, budget, votes);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                if *budget == 0 {
                    return;
                }
                *budget -= 1;
                if depth < SCAN_DEPTH {
                    scan(item, depth + 1, budget, votes);
                }
            }
        }
        Value::String(s) => value_vote(s, votes),
        _ => {}
    }
}

fn key_vote(key: &str, val: &Value, votes: &mut Votes) {
    const AWS_KEYS: &[&str] = &[
        "awsRegion",
        "recipientAccountId",
        "AWSAccountId",
        "detail-type",
        "alarmArn",
        "AlarmArn",
        "TopicArn",
    ];
    const ALIBABA_KEYS: &[&str] = &["acsRegion", "aliyunAccountId", "regionId"];
    if AWS_KEYS.contains(&key) {
        votes.aws += 2;
    } else if ALIBABA_KEYS.contains(&key) || key.to_ascii_lowercase().starts_with("aliyun") {
        votes.alibaba += 2;
    }
    if let Value::String(s) = val {
        match key {
            "source" if s.starts_with("aws.") => votes.aws += 2,
            "source" if s.starts_with("acs.") || s.starts_with("acs:") => votes.alibaba += 2,
            "eventSource" if s.ends_with(".amazonaws.com") => votes.aws += 2,
            "eventSource" if s.ends_with(".aliyuncs.com") => votes.alibaba += 2,
            _ => {}
        }
    }
}

fn value_vote(s: &str, votes: &mut Votes) {
    if s.starts_with("arn:aws:") || s.starts_with("arn:aws-") {
        votes.aws += 1;
    } else if s.starts_with("acs:") && s[4..].starts_with(|c: char| c.is_ascii_lowercase()) {
        votes.alibaba += 1;
    }
}

/// The service that sent the event, lower case (`kms`, `ec2`, `cloudwatch`, `aliyuncvc`), from
/// its `source`, `eventSource`, `product`, a CloudEvent type, or a CloudWatch alarm's shape.
pub(super) fn service_of(v: &Value, event_type: Option<&str>) -> Option<String> {
    if let Some(s) = text(v, &["source"]) {
        let rest = s
            .strip_prefix("aws.")
            .or_else(|| s.strip_prefix("acs."))
            .or_else(|| s.strip_prefix("acs:"));
        if let Some(service) = rest.filter(|r| !r.is_empty()) {
            return Some(service.to_ascii_lowercase());
        }
    }
    if let Some(s) = text(v, &["eventSource"]) {
        if let Some(host) = s
            .strip_suffix(".amazonaws.com")
            .or_else(|| s.strip_suffix(".aliyuncs.com"))
        {
            let service = host.split(['.', '-']).next().unwrap_or(host);
            return Some(service.to_ascii_lowercase());
        }
    }
    if let Some(p) = text(v, &["product"]) {
        return Some(p.to_ascii_lowercase());
    }
    if v.get("AlarmName").is_some() && v.get("NewStateValue").is_some() {
        return Some(if alarm_namespace(v).as_deref() == Some("AWS/KMS") {
            "kms".to_string()
        } else {
            "cloudwatch".to_string()
        });
    }
    event_type
        .and_then(|t| t.split_once(':'))
        .map(|(service, _)| service.to_ascii_lowercase())
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The metric namespace of a CloudWatch alarm notification (`Trigger.Namespace`).
fn alarm_namespace(v: &Value) -> Option<String> {
    v.get("Trigger").and_then(|t| text(t, &["Namespace"]))
}

/// A CloudWatch alarm notification or state-change event that says the alarm is back to OK.
pub(super) fn alarm_back_to_ok(v: &Value) -> bool {
    let state = text(v, &["NewStateValue"]).or_else(|| {
        v.get("alarmData")
            .and_then(|a| a.get("state"))
            .and_then(|s| text(s, &["value"]))
    });
    state.as_deref() == Some("OK")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cloud_from_evidence_never_a_default() {
        assert_eq!(
            cloud_of(&json!({"awsRegion": "eu-west-1"})),
            Some(Cloud::Aws)
        );
        assert_eq!(
            cloud_of(&json!({"x": {"y": "arn:aws-cn:kms:cn-north-1:1:key/k"}})),
            Some(Cloud::Aws)
        );
        assert_eq!(
            cloud_of(&json!({"resourceId": "acs:kms:cn-hangzhou:1:key/k"})),
            Some(Cloud::Alibaba)
        );
        assert_eq!(
            cloud_of(&json!({"aliyunregionid": "cn-hangzhou"})),
            Some(Cloud::Alibaba)
        );
        assert_eq!(cloud_of(&json!({"message": "foo1"})), None);
        assert_eq!(cloud_of(&json!({"level": "CRITICAL"})), None);
    }

    #[test]
    fn service_from_any_of_its_spellings() {
        assert_eq!(
            service_of(&json!({"source": "aws.ec2"}), None).as_deref(),
            Some("ec2")
        );
        assert_eq!(
            service_of(
                &json!({"eventSource": "kms-intranet.cn-hangzhou.aliyuncs.com"}),
                None
            )
            .as_deref(),
            Some("kms")
        );
        assert_eq!(
            service_of(&json!({}), Some("aliyuncvc:MeetingEvent:MemberOperate")).as_deref(),
            Some("aliyuncvc")
        );
        let alarm =
            json!({"AlarmName": "a", "NewStateValue": "OK", "Trigger": {"Namespace": "AWS/KMS"}});
        assert_eq!(service_of(&alarm, None).as_deref(), Some("kms"));
        assert!(alarm_back_to_ok(&alarm));
        assert_eq!(service_of(&json!({"message": "x"}), None), None);
    }
}
