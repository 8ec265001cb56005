//! Anything valid that no normalizer recognises: still an alert, carrying the raw event.
//!
//! The cloud, account and region come from the evidence in the event and its envelope, never
//! from a default. An event that another service sent (EC2, a schedule, a CloudWatch alarm) is
//! forwarded as `info` and its title does not call it a KMS event; an unrecognised event from KMS
//! itself, or one whose sender cannot be told, keeps its own level or `warning`.

use serde_json::Value;

use super::{evidence, Envelope};
use crate::alert::{Cloud, Family, Kind, Severity};
use crate::draft::Draft;
use crate::fields::{text, time_field};
use crate::ids::{arn_parts, is_account_id, is_region_code};
use crate::Alert;

/// Region fields in the spellings of both clouds and their envelopes.
const REGION_FIELDS: &[&str] = &[
    "region",
    "awsRegion",
    "regionId",
    "acsRegion",
    "aliyunregionid",
    "Region",
];
/// Account fields in the spellings of both clouds and their envelopes.
const ACCOUNT_FIELDS: &[&str] = &[
    "account",
    "accountId",
    "recipientAccountId",
    "AWSAccountId",
    "userId",
    "aliyunaccountid",
];

pub(super) fn normalize(event: Value, env: Option<&Envelope>) -> Alert {
    // `text` finds nothing in a non-object, so scalars and arrays fall through to the envelope.
    let name = text(
        &event,
        &[
            "detail-type",
            "name",
            "eventName",
            "AlarmName",
            "type",
            "event",
            "title",
        ],
    )
    .or_else(|| env.and_then(|e| e.event_type.clone()));
    let env_type = env.and_then(|e| e.event_type.as_deref());
    let service = evidence::service_of(&event, env_type);
    let cloud = evidence::cloud_of(&event)
        .or_else(|| env.and_then(|e| e.cloud))
        .unwrap_or(Cloud::Unknown);
    let from_kms = service.as_deref() == Some("kms");
    let other_service = service.as_deref().filter(|_| !from_kms);

    let mut d = Draft::new(Kind::Unknown, cloud);
    d.family = Some(Family::guess(name.as_deref().unwrap_or("")));
    let level = text(&event, &["level", "severity"]).and_then(|l| Severity::from_level(&l));
    d.severity = Some(
        if other_service.is_some() || evidence::alarm_back_to_ok(&event) {
            Severity::Info
        } else {
            level.unwrap_or(Severity::Warning)
        },
    );
    d.event_type = name.clone();
    d.event_id =
        text(&event, &["id", "eventId", "eventID"]).or_else(|| env.and_then(|e| e.id.clone()));
    // A CloudEvent's envelope speaks for the bus account; the data's own ids come next.
    d.account = env
        .and_then(|e| e.account.clone())
        .or_else(|| first_valid(&event, ACCOUNT_FIELDS, is_account_id));
    d.region = env
        .and_then(|e| e.region.clone())
        .or_else(|| first_valid(&event, REGION_FIELDS, is_region_code))
        .or_else(|| resource_region(&event));
    d.occurred_at = time_field(
        &event,
        &["time", "eventTime", "timestamp", "StateChangeTime"],
    )
    .or_else(|| env.and_then(|e| e.time.clone()));
    d.resource = text(
        &event,
        &["resourceId", "resource", "arn", "alarmArn", "AlarmArn"],
    );
    if d.region.is_none() {
        // A display name (`EU (Ireland)`) is no region; the resource's ARN may name one.
        d.region = d
            .resource
            .as_deref()
            .and_then(arn_parts)
            .and_then(|(region, _, _)| region.filter(|r| is_region_code(r)))
            .map(str::to_string);
    }
    d.fact(
        "Source",
        text(&event, &["source", "product", "eventSource"]),
    );
    if let Some(level) = text(&event, &["level", "severity"]) {
        if other_service.is_some() {
            d.fact("Level", Some(level));
        }
    }
    let label = name
        .clone()
        .or_else(|| service.clone())
        .unwrap_or_else(|| "no event name".to_string());
    d.title = Some(match (other_service, from_kms) {
        (Some(s), _) => format!("Event from {s} (forwarded): {label}"),
        (None, true) => format!("{}: {label}", Kind::Unknown.headline()),
        (None, false) => format!("Unrecognized event: {label}"),
    });
    d.summary = match other_service {
        Some(s) => format!(
            "An event from {s}, not from the key management service, arrived ({label}). It is forwarded as is so that nothing is lost; check the rule or subscription that sent it here."
        ),
        None => format!(
            "An event this tool does not recognise arrived ({label}). It is forwarded as is so that nothing is lost; see the raw event."
        ),
    };
    d.finish(event)
}

/// The first of `names` whose text passes `valid`.
fn first_valid(event: &Value, names: &[&str], valid: fn(&str) -> bool) -> Option<String> {
    names
        .iter()
        .filter_map(|n| text(event, &[n]))
        .find(|v| valid(v))
}

/// The region of the first ARN in `resources` that names one.
fn resource_region(event: &Value) -> Option<String> {
    event
        .get("resources")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .filter_map(arn_parts)
        .find_map(|(region, _, _)| region.filter(|r| is_region_code(r)))
        .map(str::to_string)
}
