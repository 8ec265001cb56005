//! Alibaba Cloud KMS system events from CloudMonitor (raw, legacy callback shape, or as the
//! `data` of an EventBridge CloudEvent).

use serde_json::Value;

use super::Envelope;
use crate::alert::{Cloud, Family, Kind, Severity};
use crate::draft::Draft;
use crate::fields::{field, number, object, text, time, time_field, Node};
use crate::ids::{self, is_region_code};
use crate::{links, Alert};

/// A CloudMonitor system event of KMS: `product` kms, a CloudEvent of type
/// `kms:CloudMonitor:*`, or a `name` in KMS's namespaces.
pub(super) fn is_system_event<N: Node>(v: &N, env: Option<&Envelope>) -> bool {
    let product = text(v, &["product"]).map(|p| p.eq_ignore_ascii_case("kms"));
    let cloudmonitor_type = env
        .and_then(|e| e.event_type.as_deref())
        .is_some_and(|t| t.starts_with("kms:CloudMonitor:"));
    // Another product's event (`product` `ECS`) shares the `Instance:` namespace: not ours.
    product == Some(true)
        || product.is_none() && cloudmonitor_type
        || product.is_none()
            && event_name(v, env).is_some_and(|n| {
                ["Instance:", "Key:", "Secret:"]
                    .iter()
                    .any(|p| n.starts_with(p))
                    && n.matches(':').count() >= 2
            })
}

/// The CloudMonitor name an EventBridge type stands for:
/// `kms:CloudMonitor:Secret[RotateSecret:Failure]` is `Secret:RotateSecret:Failure` (the
/// documented form); the older guessed `kms:Secret:RotateSecret:Failure` is read too.
fn name_from_type(t: &str) -> Option<String> {
    if let Some(rest) = t.strip_prefix("kms:CloudMonitor:") {
        return Some(match rest.split_once('[') {
            Some((resource, event)) => format!("{resource}:{}", event.trim_end_matches(']')),
            None => rest.to_string(),
        });
    }
    if t.starts_with("kms:ActionTrail:") || t.starts_with("kms:Config:") {
        return None;
    }
    t.strip_prefix("kms:")
        .or_else(|| t.strip_prefix("acs.kms:"))
        .map(str::to_string)
}

/// The event name. Candidates in order: `name` (classic CloudMonitor), the name the CloudEvent
/// type stands for, `eventName` (the EventBridge `data` shape, alone or after `resourceType`).
/// The first that names a known event wins, else the first there is.
fn event_name<N: Node>(v: &N, env: Option<&Envelope>) -> Option<String> {
    let event_name = text(v, &["eventName"]);
    let mut candidates = [
        text(v, &["name"]),
        env.and_then(|e| e.event_type.as_deref())
            .and_then(name_from_type),
        event_name.clone(),
        text(v, &["resourceType"])
            .zip(event_name)
            .map(|(r, e)| format!("{r}:{e}")),
    ];
    let null = N::null();
    let known = |n: &Option<String>| {
        n.as_deref()
            .is_some_and(|n| kind_of(n, &null) != Kind::Unknown)
    };
    let pick = candidates
        .iter()
        .position(known)
        .or_else(|| candidates.iter().position(Option::is_some))?;
    candidates[pick].take()
}

fn kind_of<N: Node>(name: &str, content: &N) -> Kind {
    let has = |f: &str| field(content, &[f]).is_some();
    let deletion = |scheduled: Kind, deleted: Kind| {
        // The reference shows the ScheduleDeletion name on a "deleted" example: trust the content.
        match (has("plannedDeleteTime"), has("deleteTime")) {
            (true, false) => scheduled,
            (false, true) => deleted,
            _ if name.ends_with("ActualDeletion") => deleted,
            _ => scheduled,
        }
    };
    let is = |names: &[&str]| names.iter().any(|n| name.eq_ignore_ascii_case(n));
    if is(&["instance:qps:reminder"]) {
        Kind::QpsNearQuota
    } else if is(&[
        "key:deletekey:scheduledeletion",
        "key:deletekey:actualdeletion",
    ]) {
        deletion(Kind::KeyDeletionScheduled, Kind::KeyDeleted)
    } else if is(&[
        "secret:deletesecret:scheduledeletion",
        "secret:deletesecret:actualdeletion",
    ]) {
        deletion(Kind::SecretDeletionScheduled, Kind::SecretDeleted)
    } else if is(&["secret:rotatesecret:failure"]) {
        Kind::SecretRotationFailed
    } else if is(&["secret:rotatesecret:success"]) {
        Kind::SecretRotationSucceeded
    } else if is(&["instance:keysync:failure"]) {
        Kind::KeySyncFailed
    } else if is(&["instance:keysync:success"]) {
        Kind::KeySyncSucceeded
    } else if is(&["instance:clientkey:expirereminder"]) {
        Kind::ClientKeyExpiring
    } else {
        match text(content, &["syncStatus"]).as_deref() {
            Some("SyncFailure") => Kind::KeySyncFailed,
            Some("SyncSuccess") => Kind::KeySyncSucceeded,
            _ => Kind::Unknown,
        }
    }
}

pub(super) fn normalize(event: Value, env: Option<&Envelope>) -> Alert {
    draft(&event, env).finish(event)
}

/// The alert a CloudMonitor system event becomes, before its raw event is attached.
pub(super) fn draft<N: Node>(event: &N, env: Option<&Envelope>) -> Draft {
    let name = event_name(event, env);
    let null = N::null();
    // Classic CloudMonitor events carry `content`; the EventBridge `data` shape `extraAttributes`.
    let content = object(event, &["content", "extraAttributes"]);
    let c: &N = content.as_deref().unwrap_or(&null);
    let kind = kind_of(name.as_deref().unwrap_or(""), c);
    let mut d = Draft::new(kind, Cloud::Alibaba);
    d.event_type = name;
    d.severity = text(event, &["level", "eventLevel"]).and_then(|l| Severity::from_level(&l));
    d.event_id = text(c, &["eventId"])
        .or_else(|| text(event, &["id", "eventId"]))
        .or_else(|| env.and_then(|e| e.id.clone()));
    d.region = text(event, &["regionId"])
        .filter(|r| is_region_code(r))
        .or_else(|| env.and_then(|e| e.region.clone()));
    d.account =
        text(event, &["userId", "aliyunAccountId"]).or_else(|| env.and_then(|e| e.account.clone()));
    d.occurred_at = time_field(event, &["time", "eventTime", "startTime"])
        .or_else(|| {
            time_field(
                c,
                &[
                    "failureTime",
                    "successTime",
                    "deleteTime",
                    "eventTime",
                    "time",
                ],
            )
        })
        .or_else(|| env.and_then(|e| e.time.clone()));

    // The KMS key's or secret's own ARN is the resource. A rotation's `RotationEntityArn` can
    // name the RDS/ECS instance whose password rotated: that is a fact, not the resource.
    let entity = text(c, &["deleteEntityArn", "rotationEntityArn"]);
    let top_resource = text(event, &["resourceId"]).filter(|r| r.starts_with("acs:"));
    let (entity_arn, rotated_instance) = match entity {
        Some(a) if a.starts_with("acs:kms:") => (Some(a), None),
        other => (None, other),
    };
    d.resource = entity_arn.or(top_resource);
    d.fill_from_resource();
    let region = d.region.clone().unwrap_or_default();

    match kind {
        Kind::KeyDeletionScheduled | Kind::KeyDeleted => key_deletion(&mut d, c, &region),
        Kind::SecretDeletionScheduled | Kind::SecretDeleted => secret_deletion(&mut d, c, &region),
        Kind::SecretRotationFailed | Kind::SecretRotationSucceeded => {
            secret_rotation(&mut d, c, &region, rotated_instance)
        }
        Kind::KeySyncFailed | Kind::KeySyncSucceeded => key_sync(&mut d, c, &region),
        Kind::QpsNearQuota => qps_near_quota(&mut d, event, c, &region),
        Kind::ClientKeyExpiring => client_key_expiring(&mut d, event, c, &region),
        _ => other(&mut d, event, c, &region),
    }
    drop(content);
    d
}

/// A key scheduled for deletion, or deleted.
fn key_deletion<N: Node>(d: &mut Draft, c: &N, region: &str) {
    let key = text(c, &["keyId"]).or_else(|| d.resource_tail("key/"));
    d.resource_name = key.clone();
    d.build_resource("key", key.as_deref());
    let planned = time_field(c, &["plannedDeleteTime"]);
    let deleted = time_field(c, &["deleteTime"]);
    d.fact("Key ID", key.clone());
    d.fact("Planned deletion", planned.clone());
    d.fact("Deleted at", deleted.clone());
    let k = key.as_deref().unwrap_or("(unknown key)");
    d.summary = if d.kind == Kind::KeyDeleted {
        d.dedup_discriminator = deleted.as_deref().map(ids::deletion_at);
        format!("Key {k} was deleted. Data encrypted under it can no longer be decrypted.")
    } else {
        d.dedup_discriminator = planned.clone();
        format!(
            "Key {k} is scheduled for deletion{}. Cancel the deletion before then if anything still uses the key.",
            on(&planned)
        )
    };
    d.console_url = key.as_deref().and_then(|k| links::alibaba_key(region, k));
}

/// A secret scheduled for deletion, or deleted.
fn secret_deletion<N: Node>(d: &mut Draft, c: &N, region: &str) {
    let secret = text(c, &["secretName"]).or_else(|| d.resource_tail("secret/"));
    d.resource_name = secret.clone();
    d.build_resource("secret", secret.as_deref());
    let planned = time_field(c, &["plannedDeleteTime"]);
    d.fact("Secret", secret.clone());
    d.fact("Planned deletion", planned.clone());
    let deleted = time_field(c, &["deleteTime"]);
    d.fact("Deleted at", deleted.clone());
    let s = secret.as_deref().unwrap_or("(unknown secret)");
    d.summary = if d.kind == Kind::SecretDeleted {
        d.dedup_discriminator = deleted.as_deref().map(ids::deletion_at);
        format!("Secret {s} was deleted. Applications that read it will fail.")
    } else {
        d.dedup_discriminator = planned.clone();
        format!(
            "Secret {s} is scheduled for deletion{}. Restore it before then if anything still reads it.",
            on(&planned)
        )
    };
    d.console_url = secret
        .as_deref()
        .and_then(|s| links::alibaba_secret(region, s));
}

/// A managed rotation of a secret, failed or succeeded; `rotated_instance` is the instance
/// whose password rotated.
fn secret_rotation<N: Node>(d: &mut Draft, c: &N, region: &str, rotated_instance: Option<String>) {
    let secret = text(c, &["secretName"]).or_else(|| d.resource_tail("secret/"));
    d.resource_name = secret.clone();
    d.build_resource("secret", secret.as_deref());
    let (code, message) = failure_info(c);
    d.fact("Secret", secret.clone());
    d.fact(
        "Secret type",
        join_type(
            text(c, &["secretType"]),
            text(c, &["secretSubType", "rotationSubType"]),
        ),
    );
    d.fact("Rotation status", text(c, &["rotationStatus"]));
    d.fact("Rotated instance", rotated_instance.clone());
    d.fact("Error code", code.clone());
    d.fact("Error message", message.clone());
    d.fact("Failed at", time_field(c, &["failureTime"]));
    d.fact("Rotated at", time_field(c, &["successTime"]));
    d.fact("Message", text(c, &["message"]));
    let s = secret.as_deref().unwrap_or("(unknown secret)");
    d.summary = if d.kind == Kind::SecretRotationFailed {
        let message = message.as_deref().map(|m| m.trim_end_matches('.'));
        let why = match (code.as_deref(), message) {
            (Some(c), Some(m)) => format!(": {c}: {m}"),
            (Some(x), None) | (None, Some(x)) => format!(": {x}"),
            _ => String::new(),
        };
        format!(
            "Managed rotation of secret {s} failed{why}. The old value is still in use; fix the cause and rotate again."
        )
    } else {
        format!("Managed rotation of secret {s} succeeded.")
    };
    d.console_url = secret
        .as_deref()
        .and_then(|s| links::alibaba_secret(region, s));
}

/// A key's sync to a replica instance, failed or succeeded.
fn key_sync<N: Node>(d: &mut Draft, c: &N, region: &str) {
    let key = text(c, &["resourceId"]).or_else(|| d.resource_tail("key/"));
    d.resource_name = key.clone();
    let master = text(c, &["masterInstanceId"]);
    let shadow = text(c, &["shadowInstanceId"]);
    d.fact("Key ID", key.clone());
    d.fact("Resource type", text(c, &["resourceType"]));
    d.fact("Sync task", text(c, &["syncTaskId"]));
    d.fact("Primary instance", master.clone());
    d.fact("Replica instance", shadow.clone());
    d.fact("Sync status", text(c, &["syncStatus"]));
    d.fact("Error code", text(c, &["errorCode"]));
    d.fact("Synced at", time_field(c, &["eventTime"]));
    let k = key.as_deref().unwrap_or("(unknown key)");
    let route = match (&master, &shadow) {
        (Some(m), Some(s)) => format!(" from instance {m} to replica {s}"),
        _ => String::new(),
    };
    d.summary = if d.kind == Kind::KeySyncFailed {
        format!("Cross-region sync of key {k}{route} failed. The replica may not be able to use this key; check the sync task.")
    } else {
        format!("Cross-region sync of key {k}{route} succeeded.")
    };
    d.console_url = key.as_deref().and_then(|k| links::alibaba_key(region, k));
}

/// A KMS instance near its QPS quota.
fn qps_near_quota<N: Node>(d: &mut Draft, event: &N, c: &N, region: &str) {
    let instance = text(c, &["kmsInstanceId"]).or_else(|| text(event, &["instanceName"]));
    d.resource_name = instance.clone();
    d.fact("KMS instance", instance.clone());
    d.fact("QPS", text(c, &["qps"]));
    d.fact("QPS quota", text(c, &["qpsQuota"]));
    let usage = match (number(c, &["qps"]), number(c, &["qpsQuota"])) {
        (Some(q), Some(max)) if max > 0.0 => Some(q / max * 100.0),
        _ => None,
    };
    d.fact("Usage", usage.map(|u| format!("{u:.0}%")));
    d.fact("Measured at", field(c, &["time"]).and_then(time));
    let i = instance.as_deref().unwrap_or("(unknown instance)");
    d.summary = match usage {
        Some(u) => format!("KMS instance {i} is at {u:.0}% of its QPS quota. Requests over the quota are throttled; spread the load or raise the quota."),
        None => format!("KMS instance {i} has reached 90% of its QPS quota. Requests over the quota are throttled; spread the load or raise the quota."),
    };
    d.console_url = links::alibaba_region(region);
}

/// An application access point's ClientKey about to expire.
fn client_key_expiring<N: Node>(d: &mut Draft, event: &N, c: &N, region: &str) {
    let client_key = text(c, &["clientKeyName"]);
    d.resource_name = client_key.clone();
    if d.resource.is_none() {
        d.resource = text(event, &["resourceId"]).filter(|r| !r.starts_with('<'));
    }
    let days = number(c, &["daysToExpire"]);
    let expires = time_field(c, &["dateOfExpiration"]);
    d.fact("ClientKey", client_key.clone());
    d.fact(
        "Expires at",
        expires.clone().or_else(|| text(c, &["dateOfExpiration"])),
    );
    d.fact(
        "Days to expiry",
        days.map(|n| format!("{n}"))
            .or_else(|| text(c, &["daysToExpire"])),
    );
    d.fact("KMS instance", text(c, &["affectedKmsInstanceId"]));
    let k = client_key.as_deref().unwrap_or("(unknown ClientKey)");
    let when = match days {
        Some(n) => format!("in {n} days{}", on(&expires)),
        None => expires
            .as_deref()
            .map(|t| format!("on {t}"))
            .unwrap_or_else(|| "soon".to_string()),
    };
    d.summary = format!(
        "ClientKey {k} expires {when}. Create a new ClientKey for the application access point and deploy it before then."
    );
    if let Some(n) = days {
        d.title = Some(format!(
            "{} in {n} days: {}",
            Kind::ClientKeyExpiring.headline(),
            crate::text::one_line(k, 80)
        ));
    }
    d.dedup_discriminator = Some(ids::client_key_occurrence(
        &text(c, &["daysToExpire"]).unwrap_or_default(),
        expires.as_deref().unwrap_or_default(),
    ));
    d.console_url = links::alibaba_region(region);
}

/// Any other KMS event from CloudMonitor: its name, status and first content fields.
fn other<N: Node>(d: &mut Draft, event: &N, c: &N, region: &str) {
    let n = d
        .event_type
        .clone()
        .unwrap_or_else(|| "unnamed event".to_string());
    d.family = Some(Family::guess(&n));
    d.resource_name = text(event, &["instanceName"]);
    d.fact("Status", text(event, &["status"]));
    for (k, v) in c.entries().into_iter().flatten().take(12) {
        d.fact(k.to_string(), crate::fields::scalar_text(v));
    }
    d.summary = format!("Alibaba Cloud KMS reported an event this tool does not recognise ({n}).");
    d.title = Some(format!("{}: {n}", Kind::Unknown.headline()));
    d.console_url = links::alibaba_region(region);
}

fn on(t: &Option<String>) -> String {
    t.as_deref().map(|t| format!(" on {t}")).unwrap_or_default()
}

fn join_type(t: Option<String>, sub: Option<String>) -> Option<String> {
    match (t, sub) {
        (Some(t), Some(s)) => Some([t.as_str(), " (", &s, ")"].concat()),
        (t, s) => t.or(s),
    }
}

/// `failureInfo` as `{errorCode, errorMessage}`, a JSON string of that, or a plain message.
fn failure_info<N: Node>(c: &N) -> (Option<String>, Option<String>) {
    match object(c, &["failureInfo"]) {
        Some(info) => (
            text(&*info, &["errorCode", "code"]),
            text(&*info, &["errorMessage", "message"]),
        ),
        None => (
            text(c, &["errorCode"]),
            text(c, &["failureInfo", "errorMessage"]),
        ),
    }
}
