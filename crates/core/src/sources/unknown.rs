//! Anything valid that no normalizer recognises: still an alert, carrying the raw event.

use serde_json::Value;

use super::Envelope;
use crate::alert::{Cloud, Family, Kind, Severity};
use crate::draft::Draft;
use crate::fields::{text, time_field};
use crate::Alert;

pub(super) fn normalize(event: Value, env: Option<&Envelope>) -> Alert {
    // `text` finds nothing in a non-object, so scalars and arrays fall through to the envelope.
    let name = text(
        &event,
        &["detail-type", "name", "eventName", "type", "event", "title"],
    )
    .or_else(|| env.and_then(|e| e.event_type.clone()));
    let source = text(&event, &["source", "product"]);
    let cloud = if source.as_deref().is_some_and(|s| s.starts_with("aws."))
        || event.get("detail-type").is_some()
    {
        Cloud::Aws
    } else if env.is_some() || source.as_deref().is_some_and(|s| s.starts_with("acs.")) {
        Cloud::Alibaba
    } else {
        match text(&event, &["resourceId", "arn"]).as_deref() {
            Some(r) if r.starts_with("arn:") => Cloud::Aws,
            Some(r) if r.starts_with("acs:") => Cloud::Alibaba,
            _ if event.get("account").is_some() || event.get("region").is_some() => Cloud::Aws,
            _ => Cloud::Alibaba,
        }
    };
    let mut d = Draft::new(Kind::Unknown, cloud);
    d.family = Some(Family::guess(name.as_deref().unwrap_or("")));
    d.severity = Some(
        text(&event, &["level", "severity"])
            .and_then(|l| Severity::from_level(&l))
            .unwrap_or(Severity::Warning),
    );
    d.event_type = name.clone();
    d.event_id =
        text(&event, &["id", "eventId", "eventID"]).or_else(|| env.and_then(|e| e.id.clone()));
    d.account = text(&event, &["account", "userId", "aliyunaccountid"])
        .or_else(|| env.and_then(|e| e.account.clone()));
    d.region = text(&event, &["region", "regionId", "aliyunregionid"])
        .or_else(|| env.and_then(|e| e.region.clone()));
    d.occurred_at = time_field(&event, &["time", "eventTime", "timestamp"])
        .or_else(|| env.and_then(|e| e.time.clone()));
    d.resource = text(&event, &["resourceId", "resource", "arn"]);
    d.fact("Source", source.clone());
    let label = name
        .clone()
        .or(source)
        .unwrap_or_else(|| "no event name".to_string());
    d.title = Some(format!("{}: {label}", Kind::Unknown.headline()));
    d.summary = format!(
        "An event this tool does not recognise arrived ({label}). It is forwarded as is so that nothing is lost; see the raw event."
    );
    d.finish(event)
}
