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

use Cloud::{Alibaba, Aws};
use Severity::{Critical, Info, Warning};

const AWS_ACCT: Option<&str> = Some("111122223333");
const ALI_ACCT: Option<&str> = Some("119285********60");
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
    e("events/aws/cloudtrail-put-key-policy-denied.json", Kind::ApiCall, Warning, Aws, AWS_ACCT, Some("us-west-2"), KEY, Some("2025-07-01T23:59:58Z"), Some("11223344-5566-4778-899a-abbccddeeff0")),
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
    e("events/alibaba/metric-alarm-cpu-resolved.json", Kind::MetricAlarm, Info, Alibaba, ALI_ACCT2, Some("cn-hangzhou"), Some("kst-hzz62d8f1e0a9b8c7d6e5"), Some("2025-08-26T08:13:00Z"), Some("putNewAlarm_user_0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d:1756195980")),
    e("events/alibaba/unknown-cloudevent.json", Kind::Unknown, Info, Alibaba, ALI_ACCT2, Some("cn-hangzhou"), Some("kst-hzz62d8f1e0a9b8c7d6e5"), Some("2025-11-01T02:00:00Z"), Some("9c8b7a6d-5e4f-4321-8765-43210fedcba9")),
    e("events/alibaba/actiontrail-schedule-key-deletion.json", Kind::KeyDeletionScheduled, Warning, Alibaba, ALI_ACCT2, Some("cn-hangzhou"), Some("key-hzz62d8f1e0a9b8c7d6e5f"), Some("2025-09-10T02:15:30Z"), Some("6B2E0F3A-1C4D-4E5F-8A9B-0C1D2E3F4A5B")),
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
    assert_eq!(alerts[1].account.as_deref(), Some("119285********60"));
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
    assert_eq!(a.fact("Current value"), Some("37 count/min"));
    assert_eq!(a.fact("Metric"), Some("5xx_error_requests"));
}

#[test]
fn console_links_where_they_can_be_built() {
    let link = |f: &str| common::alerts(f)[0].console_url.clone();
    assert_eq!(
        link("events/aws/kms-cmk-deletion.json").as_deref(),
        Some("https://us-west-2.console.aws.amazon.com/kms/home?region=us-west-2#/kms/keys/1234abcd-12ab-34cd-56ef-1234567890ab")
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
