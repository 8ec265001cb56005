//! AWS KMS events on EventBridge: `KMS CMK Rotation`, `KMS Imported Key Material Expiration`,
//! `KMS CMK Deletion` (and any other `aws.kms` detail-type, as `unknown`).

use serde_json::Value;

use super::list_text;
use crate::alert::{Cloud, Family, Kind};
use crate::draft::Draft;
use crate::fields::{field, text, time_field, Node};
use crate::text::has_part;
use crate::{links, Alert};

/// An EventBridge event from `aws.kms` that is not a CloudTrail record (`AWS API Call via
/// CloudTrail`, `AWS Service Event via CloudTrail`).
pub(super) fn is_kms_event<N: Node>(v: &N) -> bool {
    let source = v.member("source").and_then(N::str_value);
    let detail_type = text(v, &["detail-type"]);
    let via_cloudtrail = detail_type
        .as_deref()
        .is_some_and(|d| d.ends_with("via CloudTrail"));
    source == Some("aws.kms") && !via_cloudtrail
        || detail_type
            .as_deref()
            .is_some_and(|d| d.starts_with("KMS "))
}

/// What a key lifecycle event means and what to do, for the kinds AWS KMS itself reports
/// (the EventBridge events and the same occurrences as CloudTrail service events).
pub(super) fn lifecycle_summary(kind: Kind, key: &str) -> Option<String> {
    let [before, after] = match kind {
        Kind::KeyRotated => [
            "AWS KMS rotated the key material of key ",
            ". No action is needed; new encryptions use the new material and old ciphertexts still decrypt.",
        ],
        Kind::KeyMaterialExpired => [
            "The imported key material of key ",
            " expired and AWS KMS deleted it. The key cannot be used until you reimport the same key material.",
        ],
        Kind::KeyDeleted => [
            "AWS KMS deleted key ",
            " after its waiting period. Data encrypted under it can no longer be decrypted.",
        ],
        _ => return None,
    };
    Some([before, key, after].concat())
}

pub(super) fn normalize(event: Value) -> Alert {
    draft(&event).finish(event)
}

/// The alert an EventBridge KMS event becomes, before its raw event is attached.
pub(super) fn draft<N: Node>(event: &N) -> Draft {
    let detail_type = text(event, &["detail-type"]).unwrap_or_default();
    let is = |names: &[&str]| names.iter().any(|n| detail_type.eq_ignore_ascii_case(n));
    let kind = if is(&["kms cmk rotation", "kms key rotation"]) {
        Kind::KeyRotated
    } else if is(&["kms imported key material expiration"]) {
        Kind::KeyMaterialExpired
    } else if is(&["kms cmk deletion", "kms key deletion"]) {
        Kind::KeyDeleted
    } else {
        Kind::Unknown
    };
    let empty = N::null();
    let detail = field(event, &["detail"]).unwrap_or(&empty);

    let mut d = Draft::new(kind, Cloud::Aws);
    d.event_type = (!detail_type.is_empty()).then(|| detail_type.clone());
    d.event_id = text(event, &["id"]);
    d.account = text(event, &["account"]);
    d.region = text(event, &["region"]);
    d.occurred_at = time_field(event, &["time"]);

    let key_id = text(detail, &["key-id", "keyId"]);
    let resources = field(event, &["resources"]);
    d.resource = resources
        .and_then(N::items)
        .and_then(|r| {
            r.iter()
                .find_map(|x| x.str_value().filter(|s| has_part(s, ":kms:")))
        })
        .map(str::to_string)
        .or_else(|| key_id.clone().filter(|k| k.starts_with("arn:")));
    // Without an ARN in the event, the key's own in the partition of its region.
    d.build_resource("key", key_id.as_deref());
    d.fill_from_resource();
    let key_id = key_id.or_else(|| d.resource_tail(":key/"));
    d.resource_name = key_id.clone();

    d.fact("Key ID", key_id.clone());
    d.fact("Key origin", text(detail, &["key-origin"]));
    d.fact("Rotation type", text(detail, &["rotation-type"]));
    d.fact(
        "Key material ID",
        text(detail, &["key-material-id", "current-key-material-id"]),
    );
    d.fact(
        "Previous key material ID",
        text(detail, &["previous-key-material-id"]),
    );
    d.fact("Key material state", text(detail, &["key-material-state"]));
    if kind == Kind::Unknown {
        d.fact("Resources", list_text(resources));
        for (k, v) in detail.entries().into_iter().flatten().take(12) {
            d.fact(k.to_string(), crate::fields::scalar_text(v));
        }
    }

    let key = key_id.as_deref().unwrap_or("(unknown key)");
    if matches!(kind, Kind::KeyRotated | Kind::KeyMaterialExpired) {
        d.dedup_per_day();
    }
    d.summary = lifecycle_summary(kind, key).unwrap_or_else(|| {
        format!(
            "AWS KMS sent an event of a type this tool does not recognise ({}).",
            if detail_type.is_empty() {
                "no detail-type"
            } else {
                &detail_type
            }
        )
    });
    if kind == Kind::Unknown {
        d.family = Some(Family::KeyLifecycle);
        d.title = Some(format!(
            "{}: {}",
            Kind::Unknown.headline(),
            if detail_type.is_empty() {
                "aws.kms"
            } else {
                &detail_type
            }
        ));
    }
    if let (Some(region), Some(k)) = (&d.region, &key_id) {
        d.console_url = links::aws_key(region, k);
    }
    d
}
