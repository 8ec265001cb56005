//! Every sample event parses, and the fields that matter come out right.

mod common;

use kms_alerts_core::{Cloud, Family, Kind, Severity};

struct Expect {
    file: &'static str,
    kind: Kind,
    severity: Severity,
    cloud: Cloud,
    account: Option<&'static str>,
    region: Option<&'static str>,
    name: Option<&'static str>,
    occurred_at: Option<&'static str>,
    event_id: Option<&'static str>,
}

#[allow(clippy::too_many_arguments)]
const fn e(
    file: &'static str,
    kind: Kind,
    severity: Severity,
    cloud: Cloud,
    account: Option<&'static str>,
    region: Option<&'static str>,
    name: Option<&'static str>,
    occurred_at: Option<&'static str>,
    event_id: Option<&'static str>,
) -> Expect {
    Expect {
        file,
        kind,
        severity,
        cloud,
        account,
        region,
        name,
        occurred_at,
        event_id,
    }
}

use Cloud::{Alibaba, Aws, Unknown as NoCloud};
use Severity::{Critical, Info, Warning};

const AWS_ACCT: Option<&str> = Some("111122223333");
/// The documentation's samples mask the account (`119285********60`): that is no account id.
const ALI_ACCT: Option<&str> = None;
const ALI_ACCT2: Option<&str> = Some("1192850000000060");
const KEY: Option<&str> = Some("1234abcd-12ab-34cd-56ef-1234567890ab");

#[rustfmt::skip]
const SINGLE: &[Expect] = &[
    e("events/aws/kms-cmk-rotation.json", Kind::KeyRotated, Info, Aws, AWS_ACCT, Some("us-west-2"), KEY, Some("2022-08-10T16:37:50Z"), Some("6a7e8feb-b491-4cf7-a9f1-bf3703467718")),
    e("events/aws/kms-cmk-rotation-on-demand.json", Kind::KeyRotated, Info, Aws, AWS_ACCT, Some("eu-central-1"), Some("mrk-8d3c1f0a2b4e4c6d9e7f1a2b3c4d5e6f"), Some("2025-06-03T09:12:44Z"), Some("3a1c8b2e-7d4f-4e0a-9b6c-52f1d0e8a7c3")),
    e("events/aws/kms-imported-key-material-expiration.json", Kind::KeyMaterialExpired, Critical, Aws, AWS_ACCT, Some("us-west-2"), KEY, Some("2022-08-10T16:37:50Z"), Some("9da9af57-9253-4406-87cb-7cc400e43465")),
    e("events/aws/kms-cmk-deletion.json", Kind::KeyDeleted, Warning, Aws, AWS_ACCT, Some("us-west-2"), KEY, Some("2022-08-10T16:37:50Z"), Some("e9ce3425-7d22-412a-a699-e7a5fc3fbc9a")),
    e("events/aws/cloudtrail-schedule-key-deletion.json", Kind::KeyDeletionScheduled, Warning, Aws, AWS_ACCT, Some("us-east-1"), KEY, Some("2025-03-04T18:22:09Z"), Some("0f7c9a3e-5b2d-4e1f-8a6c-3d9b2e1f0a7c")),
    e("events/aws/cloudtrail-disable-key.json", Kind::ApiCall, Warning, Aws, AWS_ACCT, Some("ap-southeast-1"), Some("0987dcba-09fe-87dc-65ba-ab0987654321"), Some("2025-05-19T07:45:30Z"), Some("9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d")),
    e("events/aws/cloudtrail-put-key-policy-denied.json", Kind::ApiCall, Info, Aws, AWS_ACCT, Some("us-west-2"), KEY, Some("2025-07-01T23:59:58Z"), Some("11223344-5566-4778-899a-abbccddeeff0")),
    e("events/aws/cloudtrail-cancel-key-deletion.json", Kind::ApiCall, Info, Aws, AWS_ACCT, Some("us-east-1"), KEY, Some("2025-03-05T08:00:01Z"), Some("2b3c4d5e-6f70-4812-93a4-b5c6d7e8f901")),
    e("events/aws/sns-record.json", Kind::KeyRotated, Info, Aws, AWS_ACCT, Some("us-west-2"), KEY, Some("2022-08-10T16:37:50Z"), Some("6a7e8feb-b491-4cf7-a9f1-bf3703467718")),
    e("events/aws/unknown-event.json", Kind::Unknown, Warning, Aws, AWS_ACCT, Some("us-east-2"), None, Some("2025-10-02T04:05:06Z"), Some("d4c3b2a1-0f9e-4d8c-b7a6-958473625140")),
    e("events/alibaba/qps-reminder.json", Kind::QpsNearQuota, Critical, Alibaba, ALI_ACCT, Some("cn-hangzhou"), Some("kst***pn8"), Some("2025-08-26T05:43:00Z"), Some("119285********60:0d603b4a-********71:175*****07")),
    e("events/alibaba/key-schedule-deletion.json", Kind::KeyDeletionScheduled, Warning, Alibaba, ALI_ACCT, Some("cn-hangzhou"), Some("0d603b4a-********71be"), Some("2025-08-25T07:15:22Z"), Some("119285********60:0d603b4a-********71:175*****07")),
    e("events/alibaba/key-actual-deletion.json", Kind::KeyDeleted, Warning, Alibaba, ALI_ACCT, Some("cn-hangzhou"), Some("0d603b4a-********71be"), Some("2025-08-22T09:40:32Z"), Some("119285********60:key-hzz6********pq4:1755855590")),
    e("events/alibaba/secret-schedule-deletion.json", Kind::SecretDeletionScheduled, Warning, Alibaba, ALI_ACCT, Some("cn-shanghai"), Some("XrGpwbua"), Some("2025-08-25T06:11:08Z"), Some("119285********60:XrGpwbua:175*****45")),
    e("events/alibaba/secret-deleted-doc-name-drift.json", Kind::SecretDeleted, Warning, Alibaba, ALI_ACCT, Some("cn-shanghai"), Some("XrGpwbua"), Some("2025-08-25T06:11:08Z"), Some("119285********60:XrGpwbua:1756102245")),
    e("events/alibaba/secret-rotation-failure.json", Kind::SecretRotationFailed, Critical, Alibaba, ALI_ACCT, Some("cn-chengdu"), Some("acs/ecs/secret_rotator"), Some("2025-08-22T09:14:05Z"), Some("119285********60:acs/ecs/secret_rotator:1755853996")),
    e("events/alibaba/secret-rotation-failure-field-drift.json", Kind::SecretRotationFailed, Critical, Alibaba, ALI_ACCT2, Some("cn-beijing"), Some("prod/rds/orders"), Some("2025-10-09T08:53:20Z"), Some("1192850000000060:prod/rds/orders:1760000000")),
    e("events/alibaba/secret-rotation-success.json", Kind::SecretRotationSucceeded, Info, Alibaba, ALI_ACCT, Some("cn-shanghai"), Some("acs/ram/user/secrettest"), Some("2025-08-22T09:40:10Z"), Some("119285********60:acs/ram/user/secrettest:17******59")),
    e("events/alibaba/key-sync-failure.json", Kind::KeySyncFailed, Critical, Alibaba, ALI_ACCT, Some("cn-hangzhou"), Some("key-ph********4d"), Some("2024-03-22T07:41:17Z"), Some("119285********60:8071aa27-********87")),
    e("events/alibaba/key-sync-success.json", Kind::KeySyncSucceeded, Info, Alibaba, ALI_ACCT, Some("cn-hangzhou"), Some("key-ph********04d"), Some("2024-03-22T07:41:17Z"), Some("119285********60:8071aa27-********0fc87")),
    e("events/alibaba/clientkey-expire-reminder.json", Kind::ClientKeyExpiring, Critical, Alibaba, None, Some("cn-hangzhou"), Some("clientKeyName"), None, Some("eventId")),
    e("events/alibaba/cloudevent-secret-rotation-failure.json", Kind::SecretRotationFailed, Critical, Alibaba, ALI_ACCT, Some("cn-chengdu"), Some("acs/ecs/secret_rotator"), Some("2025-08-22T09:14:05Z"), Some("119285********60:acs/ecs/secret_rotator:1755853996")),
    e("events/alibaba/legacy-callback-qps-reminder.json", Kind::QpsNearQuota, Critical, Alibaba, ALI_ACCT2, Some("cn-shanghai"), Some("kst-shh64f0c2a1b3c4d5e6f7"), Some("2025-08-26T05:43:00Z"), Some("1192850000000060:kst-shh64f0c2a1b3c4d5e6f7:1756186980")),
    e("events/alibaba/metric-alarm-5xx-firing.form", Kind::MetricAlarm, Critical, Alibaba, ALI_ACCT2, Some("cn-hangzhou"), Some("kst-hzz62d8f1e0a9b8c7d6e5"), Some("2025-08-26T07:13:00Z"), Some("putNewAlarm_user_6b8f5c1d-2a3e-4f60-9b7c-0d1e2f3a4b5c:1756192380000")),
    e("events/alibaba/metric-alarm-latency-resolved.json", Kind::MetricAlarm, Info, Alibaba, ALI_ACCT2, Some("cn-hangzhou"), Some("kst-hzz62d8f1e0a9b8c7d6e5"), Some("2025-08-26T08:13:00Z"), Some("putNewAlarm_user_0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d:1756195980")),
    e("events/alibaba/unknown-cloudevent.json", Kind::Unknown, Info, Alibaba, ALI_ACCT2, Some("cn-hangzhou"), Some("kst-hzz62d8f1e0a9b8c7d6e5"), Some("2025-11-01T02:00:00Z"), Some("9c8b7a6d-5e4f-4321-8765-43210fedcba9")),
    e("events/alibaba/actiontrail-schedule-key-deletion.json", Kind::KeyDeletionScheduled, Warning, Alibaba, ALI_ACCT2, Some("cn-hangzhou"), Some("key-hzz62d8f1e0a9b8c7d6e5f"), Some("2025-09-10T02:15:30Z"), Some("6B2E0F3A-1C4D-4E5F-8A9B-0C1D2E3F4A5B")),
    e("events/aws/cloudtrail-service-delete-key.json", Kind::KeyDeleted, Warning, Aws, Some("444455556666"), Some("eu-west-1"), Some("5c0f4e6a-7b8c-4d9e-8f0a-1b2c3d4e5f60"), Some("2025-11-02T00:07:00Z"), Some("7e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b")),
    e("events/aws/cloudtrail-service-delete-expired-key-material.json", Kind::KeyMaterialExpired, Critical, Aws, Some("444455556666"), Some("eu-west-1"), Some("5c0f4e6a-7b8c-4d9e-8f0a-1b2c3d4e5f60"), Some("2025-11-03T19:55:11Z"), Some("8f2e3d4c-5b6a-4798-8b1c-2d3e4f5a6b7c")),
    e("events/aws/cloudtrail-service-rotate-key-bare.json", Kind::KeyRotated, Info, Aws, Some("444455556666"), Some("eu-west-1"), Some("5c0f4e6a-7b8c-4d9e-8f0a-1b2c3d4e5f60"), Some("2025-11-04T01:41:59Z"), Some("9a3f4e5d-6c7b-48a9-9c2d-3e4f5a6b7c8d")),
    e("events/aws/cloudtrail-schedule-key-deletion-pending-replica.json", Kind::KeyDeletionScheduled, Warning, Aws, Some("444455556666"), Some("eu-west-1"), Some("mrk-5c0f4e6a7b8c4d9e8f0a1b2c3d4e5f60"), Some("2025-11-06T17:59:05Z"), Some("6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d")),
    e("events/aws/kms-cmk-rotation-cn-north-1.json", Kind::KeyRotated, Info, Aws, Some("777788889999"), Some("cn-north-1"), Some("0f1e2d3c-4b5a-4968-8776-655443322110"), Some("2025-11-07T08:00:00Z"), Some("0b9c8d7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e")),
    e("events/aws/other-service-ec2-state-change.json", Kind::Unknown, Info, Aws, Some("444455556666"), Some("eu-west-1"), None, Some("2025-11-08T12:00:00Z"), Some("7bf73129-1428-4cd3-a780-95db273d1602")),
    e("events/aws/sqs-sns-cloudwatch-alarm-ok.json", Kind::Unknown, Info, Aws, Some("444455556666"), Some("eu-west-1"), None, Some("2025-11-09T06:30:00Z"), None),
    e("events/alibaba/cloudevent-secret-rotation-success-eventbridge-shape.json", Kind::SecretRotationSucceeded, Info, Alibaba, ALI_ACCT2, Some("cn-shanghai"), Some("prod/rds/orders"), Some("2025-10-09T09:00:04Z"), Some("1192850000000060:prod/rds/orders:1760000404")),
    e("events/alibaba/cloudevent-actiontrail-console-disable-key.json", Kind::ApiCall, Warning, Alibaba, ALI_ACCT2, Some("cn-beijing"), Some("key-bjj64a1b2c3d4e5f6a7b8c9"), Some("2025-10-20T03:04:05Z"), Some("C0FFEE00-1234-4abc-9def-0123456789ab")),
    e("events/alibaba/legacy-push-rds-rotation-failure.json", Kind::SecretRotationFailed, Critical, Alibaba, ALI_ACCT2, Some("cn-hangzhou"), Some("prod/rds/billing"), Some("2025-10-12T02:15:00Z"), Some("1192850000000060:prod/rds/billing:1760235300")),
    e("events/alibaba/metric-alarm-4xx-unencoded-nulls.form", Kind::MetricAlarm, Warning, Alibaba, ALI_ACCT2, None, Some("kst-bjj6f1e2d3c4b5a697887"), Some("2025-10-20T03:42:00Z"), Some("putNewAlarm_user_2c3d4e5f-6a7b-4c8d-9e0f-a1b2c3d4e5f6:1760931720000")),
    e("events/aws/cloudtrail-decrypt-pending-deletion-key.json", Kind::PendingDeletionKeyUsed, Critical, Aws, Some("111122223333"), Some("eu-central-1"), Some("3f9a1c2e-8b7d-4e6f-9a0b-c1d2e3f4a5b6"), Some("2025-11-12T09:30:14Z"), Some("d8e9f0a1-b2c3-4d4e-9f5a-6b7c8d9e0f1a")),
    e("events/aws/cloudtrail-ebs-volume-create-grant.json", Kind::ApiCall, Info, Aws, Some("111122223333"), Some("us-east-2"), Some("2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"), Some("2025-11-14T08:15:02Z"), Some("1e2f3a4b-5c6d-4e7f-9a8b-9c0d1e2f3a4b")),
    e("events/aws/cloudtrail-aws-service-create-grant.json", Kind::ApiCall, Info, Aws, Some("111122223333"), Some("eu-west-1"), Some("4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a"), Some("2025-11-15T11:47:19Z"), Some("3a4b5c6d-7e8f-4a9b-8c0d-2e3f4a5b6c7d")),
    e("events/alibaba/actiontrail-delete-secret.json", Kind::SecretDeletionScheduled, Warning, Alibaba, ALI_ACCT2, Some("cn-shanghai"), Some("prod/rds/orders"), Some("2025-09-11T08:00:12Z"), Some("9F8E7D6C-5B4A-4321-8FED-CBA987654321")),
];

#[test]
fn every_single_event_sample_extracts_the_right_fields() {
    for x in SINGLE {
        let alerts = common::alerts(x.file);
        assert_eq!(alerts.len(), 1, "{}", x.file);
        let a = &alerts[0];
        let f = x.file;
        assert_eq!(a.kind, x.kind, "{f} kind");
        assert_eq!(
            a.family,
            if a.kind == Kind::Unknown {
                a.family
            } else {
                a.kind.family()
            },
            "{f} family"
        );
        assert_eq!(a.severity, x.severity, "{f} severity");
        assert_eq!(a.cloud, x.cloud, "{f} cloud");
        assert_eq!(a.account.as_deref(), x.account, "{f} account");
        assert_eq!(a.region.as_deref(), x.region, "{f} region");
        assert_eq!(a.resource_name.as_deref(), x.name, "{f} resource name");
        assert_eq!(a.occurred_at.as_deref(), x.occurred_at, "{f} occurred_at");
        assert_eq!(a.event_id.as_deref(), x.event_id, "{f} event id");
        assert!(
            !a.title.is_empty() && !a.title.contains('\n'),
            "{f} title {:?}",
            a.title
        );
        assert!(a.summary.len() > 20, "{f} summary");
        assert!(
            a.dedup_key
                .starts_with(&format!("{}:{}:", a.cloud.as_str(), a.kind.as_str())),
            "{f}"
        );
        assert!(
            a.dedup_key.len() <= 128,
            "{f} dedup key fits an SQS/SNS deduplication id"
        );
        assert!(a.raw.is_object(), "{f} keeps the raw event");
    }
}

#[test]
fn every_sample_file_is_covered_by_a_test() {
    let covered: Vec<&str> = SINGLE
        .iter()
        .map(|x| x.file)
        .chain([
            "events/aws/sqs-batch.json",
            "events/alibaba/cloudevents-batch.json",
            "events/aws/cloudtrail-log-file.json",
            "events/aws/cloudtrail-log-file-disabled-key-use.json",
        ])
        .collect();
    for path in common::sample_events() {
        let p = path.to_str().unwrap();
        assert!(
            covered.contains(&p),
            "{p} has no expectations in tests/samples.rs"
        );
    }
    assert!(covered.len() >= 13);
}

#[test]
fn sqs_batch_yields_one_record_per_message_with_its_message_id() {
    let bytes = common::read("events/aws/sqs-batch.json".as_ref());
    let records = kms_alerts_core::parse(&bytes).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0].delivery_id.as_deref(),
        Some("059f36b4-87a3-44ab-83d2-661975830a7d")
    );
    assert_eq!(
        records[1].delivery_id.as_deref(),
        Some("2e1424d4-f796-459a-8184-9c92662be6da")
    );
    let a0 = records[0].result.as_ref().unwrap();
    let a1 = records[1].result.as_ref().unwrap();
    assert_eq!(
        (a0.kind, a0.family),
        (Kind::KeyDeleted, Family::KeyLifecycle)
    );
    assert_eq!((a1.kind, a1.family), (Kind::ApiCall, Family::ApiActivity));
    assert_eq!(
        a1.fact("Caller"),
        Some("arn:aws:iam::111122223333:user/bob")
    );
}

#[test]
fn cloudevents_array_yields_each_event_with_envelope_context() {
    let alerts = common::alerts("events/alibaba/cloudevents-batch.json");
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].kind, Kind::KeyDeletionScheduled);
    assert_eq!(
        alerts[0].fact("Planned deletion"),
        Some("2025-09-01T07:15:07Z")
    );
    // The second event's data is a JSON string; it is decoded all the same.
    assert_eq!(alerts[1].kind, Kind::QpsNearQuota);
    // The masked account of the documentation's sample is not taken as an account id.
    assert_eq!(alerts[1].account, None);
}

#[test]
fn cloudtrail_log_file_alerts_on_kms_records_and_counts_the_rest() {
    let bytes = common::read("events/aws/cloudtrail-log-file.json".as_ref());
    let parsed =
        kms_alerts_core::parse_with(&bytes, "log", kms_alerts_core::Options::default()).unwrap();
    let alerts: Vec<_> = parsed
        .records
        .iter()
        .map(|r| r.result.as_ref().unwrap())
        .collect();
    // DisableKey and the denied Decrypt; RunInstances (EC2) and the successful Decrypt and
    // GenerateDataKey are skipped and counted.
    let names: Vec<_> = alerts
        .iter()
        .map(|a| a.event_type.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["DisableKey", "Decrypt"]);
    assert!(alerts
        .iter()
        .all(|a| a.kind == Kind::ApiCall && a.cloud == Aws));
    assert_eq!(
        parsed.skipped,
        kms_alerts_core::Skipped {
            other_service: 1,
            read_only: 2
        }
    );
    let all = kms_alerts_core::parse_with(
        &bytes,
        "log",
        kms_alerts_core::Options {
            include_read_only: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(all.records.len(), 4);
    assert_eq!(all.skipped.read_only, 0);
}

#[test]
fn a_disabled_key_used_in_a_log_file_is_critical_and_not_skipped() {
    let bytes = common::read("events/aws/cloudtrail-log-file-disabled-key-use.json".as_ref());
    let parsed =
        kms_alerts_core::parse_with(&bytes, "log", kms_alerts_core::Options::default()).unwrap();
    // The refused GenerateDataKey is read-only like the successful one, which alone is skipped.
    assert_eq!(parsed.skipped.read_only, 1);
    assert_eq!(parsed.records.len(), 1);
    let a = parsed.records[0].result.as_ref().unwrap();
    assert_eq!(
        (a.kind, a.family, a.severity, a.cloud),
        (Kind::DisabledKeyUsed, Family::ApiActivity, Critical, Aws)
    );
    assert_eq!(
        a.title,
        "Something still uses key 7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d, which is disabled"
    );
    assert_eq!(a.fact("Key"), Some("alias/reports"));
    assert_eq!(a.fact("Key state"), Some("Disabled"));
    assert_eq!(a.fact("Error code"), Some("DisabledException"));
    assert_eq!(
        (a.account.as_deref(), a.region.as_deref()),
        (Some("444455556666"), Some("eu-west-1"))
    );
}

#[test]
fn severity_policy_samples_say_why() {
    let a = &common::alerts("events/aws/cloudtrail-decrypt-pending-deletion-key.json")[0];
    assert_eq!(
        a.title,
        "Something still uses key 3f9a1c2e-8b7d-4e6f-9a0b-c1d2e3f4a5b6, which is pending deletion (deletion date unknown)"
    );
    assert_eq!(a.fact("Error code"), Some("KMSInvalidStateException"));
    assert_eq!(a.fact("Key state"), Some("PendingDeletion"));
    assert!(a
        .summary
        .contains("Cancel the deletion (CancelKeyDeletion)"));
    assert!(a.summary.contains("Deletion date: unknown"));
    assert!(
        a.incident_key.is_some(),
        "shares the key's pending deletion"
    );
    let rule = |f: &str| {
        common::alerts(f)[0]
            .fact("Severity rule")
            .map(str::to_string)
    };
    assert_eq!(
        rule("events/aws/cloudtrail-ebs-volume-create-grant.json").as_deref(),
        Some("by_cloud_service (EC2's grant for an EBS volume)")
    );
    assert_eq!(
        rule("events/aws/cloudtrail-aws-service-create-grant.json").as_deref(),
        Some("by_cloud_service (userIdentity.type AWSService)")
    );
    assert_eq!(
        rule("events/aws/cloudtrail-put-key-policy-denied.json").as_deref(),
        Some("by_cloud_service (userIdentity.type AWSService)")
    );
    assert_eq!(
        rule("events/aws/cloudtrail-disable-key.json").as_deref(),
        Some("reduces_key")
    );
}

#[test]
fn unknown_events_take_their_cloud_from_evidence_only() {
    let one = |s: &str| {
        kms_alerts_core::parse(s.as_bytes()).unwrap()[0]
            .result
            .clone()
            .unwrap()
    };
    let a = one(r#"{"message": "foo1"}"#);
    assert_eq!((a.cloud, a.severity), (NoCloud, Warning));
    assert!(a.title.starts_with("Unrecognized event"), "{}", a.title);
    let sqs = r#"{"Records":[{"messageId":"m","eventSource":"aws:sqs","body":"{\"message\":\"foo1\"}"}]}"#;
    assert_eq!(one(sqs).cloud, Aws, "an SQS envelope is evidence of AWS");
    let a = one(
        r#"{"eventSource":"controltower.amazonaws.com","eventName":"X","awsRegion":"eu-west-1","recipientAccountId":"123456789000"}"#,
    );
    assert_eq!(
        (
            a.cloud,
            a.severity,
            a.region.as_deref(),
            a.account.as_deref()
        ),
        (Aws, Info, Some("eu-west-1"), Some("123456789000"))
    );
    let a = one(
        r#"{"product":"ECS","name":"Instance:SystemFailure.Reboot:Executed","regionId":"cn-hangzhou","resourceId":"acs:ecs:cn-hangzhou:1192850000000060:instance/i-1","level":"CRITICAL"}"#,
    );
    assert_eq!((a.cloud, a.severity), (Alibaba, Info));
    assert!(!a.title.to_lowercase().contains("kms"), "{}", a.title);
    assert_eq!(a.fact("Level"), Some("CRITICAL"));
    // An unrecognised event from KMS itself stays a warning.
    let a = one(
        r#"{"source":"aws.kms","detail-type":"KMS Something New","region":"us-east-1","account":"111122223333","detail":{}}"#,
    );
    assert_eq!((a.kind, a.severity), (Kind::Unknown, Warning));
    let a = one(
        r#"{"source":"aws.ec2","detail-type":"X","region":"US (Virginia)","account":"ACCOUNT"}"#,
    );
    assert_eq!((a.region, a.account), (None, None), "only real codes");
}

#[test]
fn specific_facts_are_extracted() {
    let a = &common::alerts("events/alibaba/secret-rotation-failure.json")[0];
    assert_eq!(a.fact("Error code"), Some("RotateError"));
    assert_eq!(
        a.fact("Error message"),
        Some("output , err stdout:[Module:DescribeECSInstances failed]")
    );
    assert_eq!(a.fact("Secret type"), Some("ECS (ECSLoginPassword)"));
    assert_eq!(
        a.resource.as_deref(),
        Some("acs:kms:cn-chengdu:119285********60:secret/acs/ecs/secret_rotator")
    );

    // The secret is the resource; the RDS instance whose password rotated is a fact.
    let a = &common::alerts("events/alibaba/legacy-push-rds-rotation-failure.json")[0];
    assert_eq!(
        a.resource.as_deref(),
        Some("acs:kms:cn-hangzhou:1192850000000060:secret/prod/rds/billing")
    );
    assert_eq!(
        a.fact("Rotated instance"),
        Some("acs:rds:cn-hangzhou:1192850000000060:dbinstance/rm-bp1000000000000")
    );
    assert_eq!(a.fact("Secret type"), Some("Rds (SingleUser)"));
    let a =
        &common::alerts("events/alibaba/cloudevent-secret-rotation-success-eventbridge-shape.json")
            [0];
    assert_eq!(
        a.fact("Rotated instance"),
        Some("acs:rds:cn-shanghai:1192850000000060:dbinstance/rm-uf6000000000000")
    );
    assert_eq!(a.event_type.as_deref(), Some("Secret:RotateSecret:Success"));
    let a = &common::alerts("events/alibaba/cloudevent-secret-rotation-failure.json")[0];
    assert_eq!(a.event_type.as_deref(), Some("Secret:RotateSecret:Failure"));

    // Absent values written as the string `null` are missing, not text.
    let a = &common::alerts("events/alibaba/metric-alarm-4xx-unencoded-nulls.form")[0];
    assert_eq!(a.fact("Namespace"), Some("acs_kms"));
    assert_eq!(a.fact("Metric"), Some("code_4xx_1m"));
    assert!(a.facts.iter().all(|f| f.value != "null"), "{:?}", a.facts);
    assert_eq!(
        a.resource_name.as_deref(),
        Some("kst-bjj6f1e2d3c4b5a697887")
    );

    let a = &common::alerts("events/aws/cloudtrail-schedule-key-deletion-pending-replica.json")[0];
    assert!(a.summary.contains("PendingReplicaDeletion") && a.summary.contains("replica keys"));
    assert_eq!(
        a.fact("Deletion date"),
        None,
        "no date until the replicas are gone"
    );

    let a = &common::alerts("events/aws/cloudtrail-service-delete-expired-key-material.json")[0];
    assert!(!a.summary.contains("called"), "{}", a.summary);
    assert_eq!(
        a.fact("Key material ID"),
        Some("0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9")
    );

    let a = &common::alerts("events/aws/other-service-ec2-state-change.json")[0];
    assert!(!a.title.to_lowercase().contains("kms"), "{}", a.title);

    let a = &common::alerts("events/alibaba/secret-rotation-failure-field-drift.json")[0];
    assert_eq!(
        a.fact("Error message"),
        Some("Access denied when connecting to rm-2ze0000000000 as user orders_app")
    );
    assert_eq!(a.fact("Rotation status"), Some("Invalid"));
    assert_eq!(
        a.resource.as_deref(),
        Some("acs:kms:cn-beijing:1192850000000060:secret/prod/rds/orders")
    );

    let a = &common::alerts("events/alibaba/legacy-callback-qps-reminder.json")[0];
    assert_eq!(a.fact("Usage"), Some("92%"));

    let a = &common::alerts("events/alibaba/clientkey-expire-reminder.json")[0];
    assert_eq!(a.fact("Days to expiry"), Some("180"));
    assert_eq!(a.title, "KMS ClientKey expiring in 180 days: clientKeyName");

    let a = &common::alerts("events/aws/cloudtrail-schedule-key-deletion.json")[0];
    assert_eq!(a.fact("Deletion date"), Some("2025-03-11T18:22:09Z"));
    assert_eq!(a.fact("Pending window (days)"), Some("7"));
    assert!(
        a.facts
            .iter()
            .all(|f| !f.value.contains("ASIAEXAMPLEKEYID1234")),
        "access key ids are not shown"
    );

    let a = &common::alerts("events/aws/cloudtrail-put-key-policy-denied.json")[0];
    assert_eq!(a.fact("Error code"), Some("AccessDeniedException"));
    assert_eq!(a.fact("Caller"), Some("cloudformation.amazonaws.com"));

    let a = &common::alerts("events/alibaba/metric-alarm-5xx-firing.form")[0];
    assert_eq!(a.fact("State"), Some("firing (ALERT)"));
    assert_eq!(a.fact("Current value"), Some("37 count"));
    assert_eq!(a.fact("Metric"), Some("code_5xx_1m"));
    assert_eq!(a.fact("Namespace"), Some("acs_kms"));
}

#[test]
fn console_links_where_they_can_be_built() {
    let link = |f: &str| common::alerts(f)[0].console_url.clone();
    assert_eq!(
        link("events/aws/kms-cmk-deletion.json").as_deref(),
        Some("https://us-west-2.console.aws.amazon.com/kms/home?region=us-west-2#/kms/keys/1234abcd-12ab-34cd-56ef-1234567890ab")
    );
    // Each AWS partition has its own console.
    assert_eq!(
        link("events/aws/kms-cmk-rotation-cn-north-1.json").as_deref(),
        Some("https://console.amazonaws.cn/kms/home?region=cn-north-1#/kms/keys/0f1e2d3c-4b5a-4968-8776-655443322110")
    );
    // Masked ids cannot be linked to.
    assert_eq!(link("events/alibaba/key-schedule-deletion.json"), None);
    assert!(link("events/alibaba/secret-rotation-failure.json")
        .unwrap()
        .ends_with("/cn-chengdu/secret/detail/acs%2Fecs%2Fsecret_rotator"));
}

#[test]
fn dedup_key_is_stable_and_collapses_redeliveries() {
    let a = common::alerts("events/aws/kms-cmk-deletion.json").remove(0);
    let b = common::alerts("events/aws/kms-cmk-deletion.json").remove(0);
    assert_eq!(a.dedup_key, b.dedup_key);
    // AWS may send KMS CMK Deletion several times with different ids: same key, same dedup key.
    let mut raw = a.raw.clone();
    raw["id"] = "another-delivery-id".into();
    raw["time"] = "2022-08-10T16:37:53Z".into();
    let again = kms_alerts_core::parse_value(raw).remove(0).result.unwrap();
    assert_eq!(again.dedup_key, a.dedup_key);
    // Alibaba deletions dedup per occurrence: a redelivery (new id, new push time) collapses,
    // a second deletion of a recreated secret of the same name is its own alert.
    for sample in [
        "events/alibaba/key-actual-deletion.json",
        "events/alibaba/secret-deleted-doc-name-drift.json",
    ] {
        let first = common::alerts(sample).remove(0);
        let mut raw = first.raw.clone();
        raw["id"] = "another-delivery".into();
        raw["time"] = serde_json::json!(raw["time"].as_i64().unwrap() + 30_000);
        let redelivered = kms_alerts_core::parse_value(raw.clone())
            .remove(0)
            .result
            .unwrap();
        assert_eq!(redelivered.dedup_key, first.dedup_key, "{sample}");
        raw["content"]["deleteTime"] = "2025-09-02T07:00:00Z".into();
        raw["content"]["eventId"] = "a-later-deletion".into();
        let later = kms_alerts_core::parse_value(raw).remove(0).result.unwrap();
        assert_ne!(later.dedup_key, first.dedup_key, "{sample}");
    }
    // Different events never share a key.
    let mut keys: Vec<String> = common::sample_events()
        .iter()
        .filter(|p| {
            !p.to_str().unwrap().contains("batch") && !p.to_str().unwrap().contains("sns-record")
        })
        .flat_map(|p| common::alerts(p.to_str().unwrap()))
        .map(|a| a.dedup_key)
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    // The CloudEvent sample wraps the same rotation failure as the raw sample: that one pair may collide.
    assert!(keys.len() >= n - 1, "{} distinct keys of {n}", keys.len());
}

/// The alert that closes a condition shares the incident key of the one that opened it and says
/// `resolved`: rotation failure then success of one secret, scheduled deletion then
/// CancelKeyDeletion of one key, a metric alarm firing then back to OK.
#[test]
fn closing_alerts_resolve_the_incident_the_opening_ones_started() {
    fn alert(v: &serde_json::Value) -> kms_alerts_core::Alert {
        kms_alerts_core::parse(v.to_string().as_bytes())
            .unwrap()
            .remove(0)
            .result
            .unwrap()
    }
    let json = |rel: &str| -> serde_json::Value {
        serde_json::from_slice(&kms_alerts_testkit_event(rel)).unwrap()
    };
    // Rotation: the same secret failing, then succeeding.
    let failure = json("alibaba/secret-rotation-failure.json");
    let mut success = failure.clone();
    success["name"] = "Secret:RotateSecret:Success".into();
    success["level"] = "INFO".into();
    success["content"]
        .as_object_mut()
        .unwrap()
        .remove("failureInfo");
    let (open, close) = (alert(&failure), alert(&success));
    assert!(open
        .incident_key
        .as_deref()
        .unwrap()
        .starts_with("alibaba:secret_rotation:"));
    assert_eq!(open.incident_key, close.incident_key);
    assert!(!open.resolved && close.resolved);
    assert_ne!(
        open.incident_key,
        alert(&json("alibaba/secret-rotation-success.json")).incident_key,
        "another secret is another incident"
    );

    // Key deletion: scheduled (CloudTrail), deleted (EventBridge), then a cancel of that key.
    let scheduled = json("aws/cloudtrail-schedule-key-deletion.json");
    let mut cancel = scheduled.clone();
    cancel["detail"]["eventName"] = "CancelKeyDeletion".into();
    let (open, close) = (alert(&scheduled), alert(&cancel));
    assert!(open
        .incident_key
        .as_deref()
        .unwrap()
        .starts_with("aws:key_deletion:"));
    assert_eq!(open.incident_key, close.incident_key);
    assert!(!open.resolved && close.resolved);
    cancel["detail"]["errorCode"] = "AccessDeniedException".into();
    assert!(!alert(&cancel).resolved, "a failed cancel closes nothing");

    // Metric alarm: the same rule on the same instance, firing then OK.
    let firing = kms_alerts_core::parse(&kms_alerts_testkit_event(
        "alibaba/metric-alarm-5xx-firing.form",
    ))
    .unwrap()
    .remove(0)
    .result
    .unwrap();
    let ok_form = String::from_utf8(kms_alerts_testkit_event(
        "alibaba/metric-alarm-5xx-firing.form",
    ))
    .unwrap()
    .replace("alertState=ALERT", "alertState=OK");
    let ok = kms_alerts_core::parse(ok_form.as_bytes())
        .unwrap()
        .remove(0)
        .result
        .unwrap();
    assert!(firing
        .incident_key
        .as_deref()
        .unwrap()
        .starts_with("alibaba:metric_alarm:"));
    assert_eq!(firing.incident_key, ok.incident_key);
    assert!(!firing.resolved && ok.resolved);

    // Kinds with no condition to close carry none.
    assert_eq!(alert(&json("aws/kms-cmk-rotation.json")).incident_key, None);
    let v: serde_json::Value =
        serde_json::from_str(&kms_alerts_core::render::json_line(&close)).unwrap();
    assert_eq!(v["resolved"], true);
    assert_eq!(
        v["incident_key"],
        close.incident_key.clone().unwrap().as_str()
    );
}

fn kms_alerts_testkit_event(rel: &str) -> Vec<u8> {
    std::fs::read(common::root().join("events").join(rel)).unwrap()
}
