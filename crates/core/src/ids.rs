//! Identifiers and keys, in one place: what a region code and an account id look like, which
//! AWS partition a region is in, how a resource ARN is read and built, and every rule that makes
//! an alert's dedup key and incident key.
//!
//! Every normalizer, the console links and the alert builder go through these, so one
//! occurrence reported through several channels (an EventBridge event, a CloudTrail service
//! event, a CloudMonitor push) gets one resource ARN, one dedup key and one incident key.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::alert::{Cloud, Kind};

// ---------------------------------------------------------------------------------------------
// Regions, accounts, partitions

/// A cloud region code (`us-east-1`, `us-gov-west-1`, `cn-north-1`, `cn-hangzhou`,
/// `cn-shanghai-finance-1`): lower-case words joined by `-`, the first all letters (two or
/// more), at most 32 bytes. Display names (`US (Virginia)`), placeholders (`$regionId`,
/// `EXAMPLE`), masked values and anything with a `/`, `.` or space are not. The one region
/// validator of the crate: ARNs, console links and the alert's `region` all use it.
pub fn is_region_code(s: &str) -> bool {
    let b = s.as_bytes();
    let first = b.iter().take_while(|c| c.is_ascii_lowercase()).count();
    if b.len() > 32 || first < 2 || b.get(first) != Some(&b'-') {
        return false;
    }
    // Then words of lower-case letters and digits, each after one `-`.
    let mut after_dash = true;
    for &c in &b[first + 1..] {
        match c {
            b'-' if !after_dash => after_dash = true,
            b'a'..=b'z' | b'0'..=b'9' => after_dash = false,
            _ => return false,
        }
    }
    !after_dash
}

/// An account id as both clouds write them: digits only (AWS 12, Alibaba Cloud 16). Masked
/// (`188989715694****`) and placeholder (`$accountId`, `ACCOUNT_NUMBER`) values are not.
pub fn is_account_id(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Region prefixes of the AWS partitions other than `aws`, as AWS's partition table
/// (`partitions.json` of the SDKs) matches them.
const PARTITIONS: &[(&str, &str)] = &[
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-iso-", "aws-iso"),
    ("us-isob-", "aws-iso-b"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-isof-", "aws-iso-f"),
    ("eusc-", "aws-eusc"),
];

/// The AWS partition of a region: `aws-cn` for `cn-*`, `aws-us-gov` for `us-gov-*`, the
/// isolated partitions (`us-iso-*`, `us-isob-*`, `eu-isoe-*`, `us-isof-*`), `aws-eusc` for the
/// European Sovereign Cloud, `aws` for every other region. `None` for what is not a region code.
pub fn aws_partition(region: &str) -> Option<&'static str> {
    if !is_region_code(region) {
        return None;
    }
    Some(
        PARTITIONS
            .iter()
            .find(|(prefix, _)| region.starts_with(prefix))
            .map_or("aws", |(_, partition)| partition),
    )
}

// ---------------------------------------------------------------------------------------------
// ARNs

/// Splits an ARN (`arn:aws:kms:us-west-2:1111:key/abc` or `acs:kms:cn-hangzhou:1192:key/abc`)
/// into (region, account, resource) where present.
pub fn arn_parts(arn: &str) -> Option<(Option<&str>, Option<&str>, &str)> {
    let n = if arn.starts_with("arn:") {
        6
    } else if arn.starts_with("acs:") {
        5
    } else {
        return None;
    };
    // The first n - 1 colons split the parts; the last part keeps any further colons.
    let mut parts = [""; 6];
    let mut start = 0;
    let mut count = 0;
    for (i, b) in arn.bytes().enumerate() {
        if b == b':' && count < n - 1 {
            parts[count] = &arn[start..i];
            count += 1;
            start = i + 1;
        }
    }
    if count != n - 1 {
        return None;
    }
    parts[n - 1] = &arn[start..];
    if parts[n - 1].is_empty() {
        return None;
    }
    Some((
        non_empty(parts[n - 3]),
        non_empty(parts[n - 2]),
        parts[n - 1],
    ))
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// The ARN of a KMS resource of `cloud` (`resource_type` `key`, `secret`, `instance`):
/// `arn:<partition>:kms:<region>:<account>:<type>/<id>` on AWS, with the partition of the
/// region, and `acs:kms:<region>:<account>:<type>/<id>` on Alibaba Cloud. The one ARN builder:
/// `None` unless `region` is a region code, `account` an account id and `id` not empty, and
/// for a cloud that is not known.
pub fn kms_arn(
    cloud: Cloud,
    region: &str,
    account: &str,
    resource_type: &str,
    id: &str,
) -> Option<String> {
    if !is_account_id(account) || id.is_empty() {
        return None;
    }
    let [a, b, c] = match cloud {
        Cloud::Aws => ["arn:", aws_partition(region)?, ":kms:"],
        Cloud::Alibaba if is_region_code(region) => ["acs:kms:", "", ""],
        _ => return None,
    };
    Some([a, b, c, region, ":", account, ":", resource_type, "/", id].concat())
}

// ---------------------------------------------------------------------------------------------
// Dedup and incident keys

/// The condition of a key's pending deletion: opened by its scheduling, closed by its
/// cancellation (`CancelKeyDeletion`), and the deletion itself.
pub(crate) const KEY_DELETION: &str = "key_deletion";
/// The condition of a secret's pending deletion (closed by `RestoreSecret`).
pub(crate) const SECRET_DELETION: &str = "secret_deletion";

/// The condition a kind opens or closes by itself; other conditions are named by their
/// normalizer ([`metric_alarm_condition`], [`KEY_DELETION`] for a cancellation).
fn condition_of(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::SecretRotationFailed | Kind::SecretRotationSucceeded => Some("secret_rotation"),
        Kind::KeySyncFailed | Kind::KeySyncSucceeded => Some("key_sync"),
        Kind::KeyDeletionScheduled | Kind::KeyDeleted => Some(KEY_DELETION),
        Kind::SecretDeletionScheduled | Kind::SecretDeleted => Some(SECRET_DELETION),
        _ => None,
    }
}

/// An occurrence told apart by the UTC day it happened (`2025-01-01`): AWS reports one
/// rotation or material expiry both as its own EventBridge event and as a CloudTrail service
/// event, with different ids and times seconds apart.
pub(crate) fn per_day(time: Option<&str>) -> Option<String> {
    time.and_then(|t| t.get(..10)).map(str::to_string)
}

/// A deletion told apart by the minute it happened (`deleted 2025-01-01T10:20`): one deletion
/// reaches us through several channels (EventBridge, CloudMonitor push, ActionTrail and
/// CloudTrail) with different ids and times seconds apart, while delete, recreate, delete (a
/// secret name can be used again) is two alerts. `time` is a normalized time.
pub(crate) fn deletion_at(time: &str) -> String {
    ["deleted ", time.get(..16).unwrap_or(time)].concat()
}

/// The condition of a CloudMonitor alarm rule on its instance: firing opens it, OK closes it.
pub(crate) fn metric_alarm_condition(rule: &str) -> String {
    ["metric_alarm:", rule].concat()
}

/// One state change of an alarm rule: the rule, the state and when.
pub(crate) fn metric_alarm_occurrence(rule: &str, state: &str, time: &str) -> String {
    [rule, "|", state, "|", time].concat()
}

/// One ClientKey expiry reminder: the days left and the expiry date.
pub(crate) fn client_key_occurrence(days: &str, expires: &str) -> String {
    [days, "|", expires].concat()
}

/// What an alert's keys are made from.
pub(crate) struct Identity<'a> {
    pub cloud: Cloud,
    pub kind: Kind,
    /// The resource ARN, else its name.
    pub resource: Option<&'a str>,
    /// What tells two occurrences apart, when the normalizer knows (the rules above).
    pub discriminator: Option<&'a str>,
    pub event_id: Option<&'a str>,
    pub occurred_at: Option<&'a str>,
    /// The condition the alert opens or closes, when its kind does not say.
    pub condition: Option<&'a str>,
}

impl Identity<'_> {
    /// `cloud:kind:` and 24 hex digits of SHA-256 over what identifies the occurrence:
    /// the resource and the discriminator, else for a deletion the minute it happened, else the
    /// event id, else the time. An AWS key is deleted once (key ids are never reused, and AWS
    /// documents that `KMS CMK Deletion` can arrive several times with different ids), so its
    /// deletion dedups on the key alone. With nothing to tell occurrences apart the whole raw
    /// event is hashed, so byte-identical redeliveries still collapse.
    pub fn dedup_key(&self, raw: &Value) -> String {
        let (cloud, kind) = (self.cloud, self.kind);
        let deletion = matches!(kind, Kind::KeyDeleted | Kind::SecretDeleted)
            .then(|| self.occurred_at.and_then(|t| t.get(..16)).map(deletion_at))
            .flatten();
        let discriminator = self
            .discriminator
            .or(deletion.as_deref())
            .or(self.event_id)
            .or(self.occurred_at);
        let mut h = Sha256::new();
        h.update(cloud.as_str());
        h.update([0]);
        h.update(kind.as_str());
        h.update([0]);
        h.update(self.resource.unwrap_or(""));
        h.update([0]);
        let once_per_resource =
            cloud == Cloud::Aws && kind == Kind::KeyDeleted && self.resource.is_some();
        if !once_per_resource {
            match discriminator {
                Some(d) => h.update(d),
                None => h.update(raw.to_string()),
            }
        }
        let digest = h.finalize();
        let mut out = String::with_capacity(64);
        out.push_str(cloud.as_str());
        out.push(':');
        out.push_str(kind.as_str());
        out.push(':');
        crate::text::push_hex(&mut out, &digest[..12]);
        out
    }

    /// `cloud:condition:` and 24 hex digits of SHA-256 over the resource: shared by the alert
    /// that opens a condition and the one that closes it (at most 255 bytes, PagerDuty's
    /// `dedup_key`). `None` for an alert that opens or closes no condition.
    pub fn incident_key(&self) -> Option<String> {
        let condition = self.condition.or(condition_of(self.kind))?;
        let mut h = Sha256::new();
        h.update(self.resource.unwrap_or(""));
        let digest = h.finalize();
        let condition = crate::text::one_line(condition, 128);
        let cloud = self.cloud.as_str();
        let mut out = String::with_capacity(cloud.len() + condition.len() + 26);
        out.push_str(cloud);
        out.push(':');
        out.push_str(&condition);
        out.push(':');
        crate::text::push_hex(&mut out, &digest[..12]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        /// The byte-wise readers of ARNs and region codes agree with the plain definitions.
        #[test]
        fn arn_and_region_readers_match_their_definitions(s in "(arn:|acs:)?[a-z0-9:/*-]{0,30}|[a-zA-Z0-9-]{0,12}") {
            let region = |s: &str| {
                let mut parts = s.split('-');
                let first = parts.next().unwrap_or("");
                s.len() <= 32
                    && first.len() >= 2
                    && first.bytes().all(|b| b.is_ascii_lowercase())
                    && s.contains('-')
                    && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
            };
            prop_assert_eq!(is_region_code(&s), region(&s), "{}", s);
            fn arn(arn: &str) -> Option<(Option<&str>, Option<&str>, &str)> {
                let n = match arn.split(':').next()? {
                    "arn" => 6,
                    "acs" => 5,
                    _ => return None,
                };
                let parts: Vec<&str> = arn.splitn(n, ':').collect();
                if parts.len() != n || parts[n - 1].is_empty() {
                    return None;
                }
                Some((non_empty(parts[n - 3]), non_empty(parts[n - 2]), parts[n - 1]))
            }
            prop_assert_eq!(arn_parts(&s), arn(&s), "{}", s);
        }

        /// A built ARN reads back as the parts it was built from, and only real region codes and
        /// account ids are built into one.
        #[test]
        fn built_arns_read_back(region in "[a-z]{0,4}(-[a-z0-9 ./]{0,6}){0,3}", account in "[0-9*a]{0,14}", id in "[a-z0-9/-]{0,10}") {
            for cloud in [Cloud::Aws, Cloud::Alibaba] {
                let arn = kms_arn(cloud, &region, &account, "key", &id);
                let valid = is_region_code(&region) && is_account_id(&account) && !id.is_empty();
                prop_assert_eq!(arn.is_some(), valid, "{} {} {}", region, account, id);
                if let Some(arn) = arn {
                    let key = format!("key/{id}");
                    prop_assert_eq!(arn_parts(&arn), Some((Some(region.as_str()), Some(account.as_str()), key.as_str())));
                }
            }
        }
    }

    #[test]
    fn region_and_account_codes_only() {
        for r in [
            "us-east-1",
            "us-gov-east-1",
            "cn-north-1",
            "cn-hangzhou",
            "ap-southeast-1",
            "cn-shanghai-finance-1",
            "eusc-de-east-1",
        ] {
            assert!(is_region_code(r), "{r}");
        }
        for r in [
            "US (Virginia)",
            "EXAMPLE",
            "$regionId",
            "REGION",
            "cn-****",
            "eu",
            "-east-1",
            "us--1",
            "",
            "cn-hangzhou/../x",
            "evil region",
            "evil.com/",
        ] {
            assert!(!is_region_code(r), "{r}");
        }
        assert!(is_account_id("111122223333") && is_account_id("1192850000000060"));
        for a in [
            "188989715694****",
            "$accountId",
            "ACCOUNT_NUMBER",
            "",
            "12-34",
        ] {
            assert!(!is_account_id(a), "{a}");
        }
    }

    #[test]
    fn every_partition_from_its_regions() {
        for (region, partition) in [
            ("us-east-1", Some("aws")),
            ("eu-west-1", Some("aws")),
            ("cn-north-1", Some("aws-cn")),
            ("cn-northwest-1", Some("aws-cn")),
            ("us-gov-west-1", Some("aws-us-gov")),
            ("us-iso-east-1", Some("aws-iso")),
            ("us-isob-east-1", Some("aws-iso-b")),
            ("eu-isoe-west-1", Some("aws-iso-e")),
            ("us-isof-south-1", Some("aws-iso-f")),
            ("eusc-de-east-1", Some("aws-eusc")),
            ("cn-north-1/../x", None),
            ("", None),
        ] {
            assert_eq!(aws_partition(region), partition, "{region}");
        }
    }

    #[test]
    fn arns_in_each_cloud_and_partition() {
        let k = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(
            kms_arn(Cloud::Aws, "cn-north-1", "111122223333", "key", k).as_deref(),
            Some("arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        );
        assert_eq!(
            kms_arn(Cloud::Aws, "us-gov-west-1", "111122223333", "key", "k").as_deref(),
            Some("arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/k")
        );
        assert_eq!(
            kms_arn(
                Cloud::Alibaba,
                "cn-hangzhou",
                "1192850000000060",
                "secret",
                "a/b"
            )
            .as_deref(),
            Some("acs:kms:cn-hangzhou:1192850000000060:secret/a/b")
        );
        assert_eq!(kms_arn(Cloud::Aws, "evil region", "1", "key", "k"), None);
        assert_eq!(
            kms_arn(Cloud::Alibaba, "cn-hangzhou", "12****", "key", "k"),
            None
        );
        assert_eq!(kms_arn(Cloud::Alibaba, "cn-hangzhou", "1", "key", ""), None);
        assert_eq!(
            kms_arn(Cloud::Unknown, "cn-hangzhou", "1", "key", "k"),
            None
        );
    }

    #[test]
    fn arn_parts_for_both_clouds() {
        assert_eq!(
            arn_parts("arn:aws:kms:us-west-2:111122223333:key/1234"),
            Some((Some("us-west-2"), Some("111122223333"), "key/1234"))
        );
        assert_eq!(
            arn_parts("acs:kms:cn-chengdu:119285********60:secret/acs/ecs/secret_rotator"),
            Some((
                Some("cn-chengdu"),
                Some("119285********60"),
                "secret/acs/ecs/secret_rotator"
            ))
        );
        assert_eq!(
            arn_parts("acs:kms:cn-hangzhou:1:key/a:b"),
            Some((Some("cn-hangzhou"), Some("1"), "key/a:b"))
        );
        assert_eq!(arn_parts("<aap_arn>"), None);
    }

    #[test]
    fn keys_follow_their_rules() {
        let id = |kind, resource, discriminator, event_id| Identity {
            cloud: Cloud::Aws,
            kind,
            resource,
            discriminator,
            event_id,
            occurred_at: Some("2025-01-01T10:20:30Z"),
            condition: None,
        };
        let raw = json!({"a": 1});
        // An AWS key's deletion: the key alone, whatever the ids.
        assert_eq!(
            id(Kind::KeyDeleted, Some("arn:k"), None, Some("e-1")).dedup_key(&raw),
            id(Kind::KeyDeleted, Some("arn:k"), Some("x"), Some("e-2")).dedup_key(&raw)
        );
        // A secret's deletion: the minute it happened, whatever the ids.
        assert_eq!(
            id(Kind::SecretDeleted, Some("arn:s"), None, Some("e-1")).dedup_key(&raw),
            id(Kind::SecretDeleted, Some("arn:s"), None, Some("e-2")).dedup_key(&raw)
        );
        // Otherwise the event id.
        assert_ne!(
            id(Kind::ApiCall, Some("arn:k"), None, Some("e-1")).dedup_key(&raw),
            id(Kind::ApiCall, Some("arn:k"), None, Some("e-2")).dedup_key(&raw)
        );
        let key = id(Kind::KeyDeletionScheduled, Some("arn:k"), None, None);
        assert!(key
            .dedup_key(&raw)
            .starts_with("aws:key_deletion_scheduled:"));
        assert!(key
            .incident_key()
            .is_some_and(|k| k.starts_with("aws:key_deletion:")));
        assert_eq!(id(Kind::ApiCall, None, None, None).incident_key(), None);
        assert_eq!(
            deletion_at("2025-01-01T10:20:30Z"),
            "deleted 2025-01-01T10:20"
        );
        assert_eq!(
            per_day(Some("2025-01-01T10:20:30Z")).as_deref(),
            Some("2025-01-01")
        );
    }

    /// A `cn-north-1` key deleted: the EventBridge `KMS CMK Deletion` without `resources` and
    /// the same deletion as a CloudTrail service event name one ARN in the `aws-cn` partition,
    /// so they share their dedup and incident keys: one alert.
    #[test]
    fn a_china_region_deletion_is_one_alert() {
        let key = "0f1e2d3c-4b5a-4968-8776-655443322110";
        let arn = format!("arn:aws-cn:kms:cn-north-1:777788889999:key/{key}");
        let eventbridge = crate::alert_of(&json!({
            "version": "0", "id": "a-1", "detail-type": "KMS CMK Deletion", "source": "aws.kms",
            "account": "777788889999", "time": "2025-11-07T08:00:00Z", "region": "cn-north-1",
            "detail": {"key-id": key}}));
        let record = json!({
            "eventVersion": "1.11", "userIdentity": {"accountId": "777788889999", "invokedBy": "AWS Internal"},
            "eventTime": "2025-11-07T08:00:02Z", "eventSource": "kms.amazonaws.com", "eventName": "DeleteKey",
            "awsRegion": "cn-north-1", "sourceIPAddress": "AWS Internal", "requestParameters": null,
            "responseElements": null, "eventID": "e-1", "readOnly": false, "eventType": "AwsServiceEvent",
            "recipientAccountId": "777788889999",
            "resources": [{"accountId": "777788889999", "type": "AWS::KMS::Key", "ARN": arn}]});
        let via_eventbridge = crate::alert_of(&json!({
            "version": "0", "id": "b-1", "detail-type": "AWS Service Event via CloudTrail",
            "source": "aws.kms", "account": "777788889999", "time": "2025-11-07T08:00:02Z",
            "region": "cn-north-1", "resources": [], "detail": record}));
        // The bare record, naming the key only in its details: the ARN is built the same way.
        let mut bare = record.clone();
        bare.as_object_mut().unwrap().remove("resources");
        bare["serviceEventDetails"] = json!({"keyId": key});
        let bare = crate::alert_of(&bare);
        for a in [&eventbridge, &via_eventbridge, &bare] {
            assert_eq!(a.kind, Kind::KeyDeleted);
            assert_eq!(a.resource.as_deref(), Some(arn.as_str()));
            assert_eq!(a.dedup_key, eventbridge.dedup_key);
            assert_eq!(a.incident_key, eventbridge.incident_key);
        }
        assert!(eventbridge
            .incident_key
            .as_deref()
            .is_some_and(|k| k.starts_with("aws:key_deletion:")));
    }

    /// A metric alarm's region and account are the sender's text: junk builds no ARN.
    #[test]
    fn a_metric_alarm_with_a_junk_region_or_account_builds_no_arn() {
        let alarm = |region: &str, account: &str| {
            crate::alert_of(&json!({"alertName": "kms-5xx", "metricName": "code_5xx_1m",
                "namespace": "acs_kms", "alertState": "ALERT", "regionId": region, "userId": account,
                "dimensions": {"instanceId": "kst-hzz62d8f1e0a9b8c7d6e5"}, "timestamp": "1756192380000"}))
        };
        let good = alarm("cn-hangzhou", "1192850000000060");
        assert_eq!(
            good.resource.as_deref(),
            Some("acs:kms:cn-hangzhou:1192850000000060:instance/kst-hzz62d8f1e0a9b8c7d6e5")
        );
        for (region, account) in [
            ("cn-hangzhou/../x", "1192850000000060"),
            ("evil region", "1192850000000060"),
            ("cn-hangzhou", "1192850000000060:instance/x"),
            ("cn-hangzhou", "119285********60"),
        ] {
            let a = alarm(region, account);
            assert_eq!(a.resource, None, "{region} {account}");
            assert_eq!(
                a.resource_name.as_deref(),
                Some("kst-hzz62d8f1e0a9b8c7d6e5")
            );
        }
    }
}
