//! Records of KMS API calls and KMS service events: AWS CloudTrail (on EventBridge as `AWS API
//! Call via CloudTrail` / `AWS Service Event via CloudTrail`, bare, or in a log file) and Alibaba
//! Cloud ActionTrail (bare, in a log file, or the `data` of an EventBridge CloudEvent of type
//! `kms:ActionTrail:ApiCall`, `kms:ActionTrail:ConsoleOperation` or
//! `kms:ActionTrail:AliyunServiceEvent`).

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;

use super::policy::{self, Subject, UnusableState};
use super::{aws_kms, Envelope};
use crate::alert::{Cloud, Kind};
use crate::draft::Draft;
use crate::fields::{field, number, text, time_field};
use crate::{ids, links, Alert};

const API_CALL: &str = "AWS API Call via CloudTrail";
const SERVICE_EVENT: &str = "AWS Service Event via CloudTrail";

/// A CloudTrail or ActionTrail record of any service: an `eventName` and the service's
/// endpoint (`kms.amazonaws.com`, `kms-intranet.cn-hangzhou.aliyuncs.com`) or `serviceName`.
pub(super) fn is_trail_record(v: &Value) -> bool {
    let source = v.get("eventSource").and_then(Value::as_str).unwrap_or("");
    v.get("eventName").is_some_and(Value::is_string)
        && (source.ends_with(".amazonaws.com")
            || source.ends_with(".aliyuncs.com")
            || v.get("serviceName").is_some_and(Value::is_string))
}

/// An ActionTrail record of a call to Alibaba Cloud KMS (`eventSource` `kms.<region>...` or
/// `kms-intranet.<region>...`, `serviceName` `Kms`, or a CloudEvent of type `kms:ActionTrail:*`).
fn is_actiontrail_kms(v: &Value, env: Option<&Envelope>) -> bool {
    let source = v.get("eventSource").and_then(Value::as_str).unwrap_or("");
    let kms_source = source.starts_with("kms") && source.ends_with(".aliyuncs.com");
    let kms_service = v
        .get("serviceName")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("kms"));
    let kms_type = env
        .and_then(|e| e.event_type.as_deref())
        .is_some_and(|t| t.starts_with("kms:ActionTrail:"));
    (kms_source || kms_service || kms_type) && v.get("eventName").is_some()
}

fn is_cloudtrail_kms(v: &Value) -> bool {
    v.get("eventSource").and_then(Value::as_str) == Some("kms.amazonaws.com")
        && v.get("eventName").is_some()
}

pub(super) fn is_api_call(v: &Value, env: Option<&Envelope>) -> bool {
    let detail_type = v.get("detail-type").and_then(Value::as_str);
    if matches!(detail_type, Some(API_CALL | SERVICE_EVENT)) {
        let detail = v.get("detail").unwrap_or(&Value::Null);
        return v.get("source").and_then(Value::as_str) == Some("aws.kms")
            || is_cloudtrail_kms(detail);
    }
    is_cloudtrail_kms(v) || is_actiontrail_kms(v, env)
}

/// Data-plane calls that read or use a key without changing it.
const DATA_PLANE: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "ReEncrypt",
    "GenerateRandom",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    // Alibaba Cloud KMS
    "AsymmetricEncrypt",
    "AsymmetricDecrypt",
    "AsymmetricSign",
    "AsymmetricVerify",
    "ExportDataKey",
    "GenerateAndExportDataKey",
];

/// A successful call that only reads or uses a key or secret: the bulk of a trail log file.
/// A failed one is never routine: a `Decrypt` refused because its key is pending deletion or
/// disabled is `readOnly` too, and is the record most worth an alert.
pub(super) fn is_routine_read(v: &Value) -> bool {
    if text(v, &["errorCode"]).is_some() {
        return false;
    }
    let name = text(v, &["eventName"]).unwrap_or_default();
    truthy(v, "readOnly")
        || text(v, &["eventRW"]).is_some_and(|rw| rw.eq_ignore_ascii_case("read"))
        || DATA_PLANE.contains(&name.as_str())
        || name.starts_with("GenerateDataKey")
        || ["Describe", "List", "Get"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// `true`/`"true"` (ActionTrail and some exports stringify booleans).
fn truthy(v: &Value, name: &str) -> bool {
    match field(v, &[name]) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Who made the call, as the record's `eventType` says.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Actor {
    /// An API call (`AwsApiCall`, `ApiCall`).
    Caller,
    /// A console operation (`ConsoleOperation`, `AwsConsoleAction`).
    Console,
    /// The cloud itself (`AwsServiceEvent`, `AliyunServiceEvent`).
    Service,
}

fn actor_kind(detail_type: Option<&str>, detail: &Value, env: Option<&Envelope>) -> Actor {
    let event_type = text(detail, &["eventType"])
        .or_else(|| {
            env.and_then(|e| e.event_type.as_deref())
                .and_then(|t| t.strip_prefix("kms:ActionTrail:"))
                .map(str::to_string)
        })
        .unwrap_or_default();
    if detail_type == Some(SERVICE_EVENT) || event_type.ends_with("ServiceEvent") {
        Actor::Service
    } else if event_type.contains("Console") {
        Actor::Console
    } else {
        Actor::Caller
    }
}

/// eventTime plus the pending window: the deletion date when the record's own one cannot be
/// read (AWS's documentation shows `Apr 12, 2021 18:58:30 PM`).
fn deletion_from_window(detail: &Value, days: Option<f64>) -> Option<String> {
    let start = time_field(detail, &["eventTime"])?;
    let days = days.filter(|d| (1.0..=365.0).contains(d))?;
    let start = DateTime::parse_from_rfc3339(&start)
        .ok()?
        .with_timezone(&Utc);
    let end = start + Duration::days(days as i64);
    Some(end.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// JSON `null`, for the parts a record leaves out.
static NULL: Value = Value::Null;

/// What a trail record says about the call, read once.
struct Call<'a> {
    /// The CloudTrail or ActionTrail record (the `detail` of an EventBridge event).
    detail: &'a Value,
    req: &'a Value,
    resp: &'a Value,
    cloud: Cloud,
    actor: Actor,
    name: String,
    error_code: Option<String>,
    /// A cryptographic operation refused because its key is pending deletion or disabled.
    unusable: Option<UnusableState>,
    /// Why the call counts as made by a cloud service ([`policy::routine_reason`]).
    routine: Option<&'static str>,
}

impl<'a> Call<'a> {
    fn read(event: &'a Value, env: Option<&Envelope>) -> Self {
        let detail = match event.get("detail") {
            Some(_) => field(event, &["detail"]).unwrap_or(&NULL),
            None => event,
        };
        let detail_type = event.get("detail-type").and_then(Value::as_str);
        let cloud = if is_actiontrail_kms(detail, env) && !is_cloudtrail_kms(detail) {
            Cloud::Alibaba
        } else {
            Cloud::Aws
        };
        let actor = actor_kind(detail_type, detail, env);
        let name = text(detail, &["eventName"]).unwrap_or_else(|| "UnknownCall".to_string());
        let unusable = (cloud == Cloud::Aws)
            .then(|| policy::unusable_key_use(&name, text(detail, &["errorMessage"]).as_deref()))
            .flatten();
        Call {
            detail,
            req: field(detail, &["requestParameters"]).unwrap_or(&NULL),
            resp: field(detail, &["responseElements"]).unwrap_or(&NULL),
            cloud,
            actor,
            name,
            error_code: text(detail, &["errorCode"]),
            unusable,
            routine: policy::routine_reason(detail, actor == Actor::Service),
        }
    }

    /// What happened: a key used while pending deletion or disabled, a lifecycle event the
    /// cloud itself reports, a scheduled or immediate deletion, or any other call. A failed
    /// call is never the event it attempted.
    fn kind(&self) -> Kind {
        if let Some(state) = self.unusable {
            return state.kind();
        }
        let aws = self.cloud == Cloud::Aws;
        match (self.name.as_str(), &self.error_code, self.actor) {
            ("DeleteKey", None, Actor::Service) if aws => Kind::KeyDeleted,
            ("RotateKey", None, Actor::Service) if aws => Kind::KeyRotated,
            ("DeleteExpiredKeyMaterial", None, Actor::Service) if aws => Kind::KeyMaterialExpired,
            ("ScheduleKeyDeletion", None, _) => Kind::KeyDeletionScheduled,
            ("DeleteSecret", None, _) if !aws => {
                if truthy(self.req, "ForceDeleteWithoutRecovery") {
                    Kind::SecretDeleted
                } else {
                    Kind::SecretDeletionScheduled
                }
            }
            _ => Kind::ApiCall,
        }
    }

    fn service_details(&self) -> &'a Value {
        field(self.detail, &["serviceEventDetails"]).unwrap_or(&NULL)
    }
}

/// What the call was on.
struct Target {
    /// The key as the call named it: id, alias or ARN.
    key_ref: Option<String>,
    /// The key's id, when the record names one.
    key_id: Option<String>,
    secret: Option<String>,
    /// The region the call was made from, when the key is in another.
    call_region: Option<String>,
}

/// A pending key deletion, as a `ScheduleKeyDeletion` record tells it.
struct Pending {
    window: Option<f64>,
    date: Option<String>,
    key_state: Option<String>,
    /// A multi-Region primary key waits for its replicas before its waiting period starts.
    replicas: bool,
}

pub(super) fn normalize(event: Value, env: Option<&Envelope>) -> Alert {
    let call = Call::read(&event, env);
    let kind = call.kind();
    let mut d = Draft::new(kind, call.cloud);
    d.event_type = Some(call.name.clone());
    // A successful cancellation or restore closes the pending deletion it undoes.
    if call.error_code.is_none() {
        match call.name.as_str() {
            "CancelKeyDeletion" => {
                (d.condition, d.resolves) = (Some(ids::KEY_DELETION.into()), true)
            }
            "RestoreSecret" => {
                (d.condition, d.resolves) = (Some(ids::SECRET_DELETION.into()), true)
            }
            _ => {}
        }
    }
    identify(&mut d, &call, &event, env);
    let target = locate(&mut d, &call);
    let caller = caller(call.detail);
    let pending = pending_deletion(&call, kind);
    let rule = policy::decide(&Subject {
        kind,
        name: &call.name,
        error_code: call.error_code.as_deref(),
        routine: call.routine,
    });
    d.severity = Some(rule.severity(kind));
    facts(&mut d, &call, &target, caller.as_deref(), &pending);
    d.fact(
        "Severity rule",
        Some(match (rule.rule, call.routine) {
            (policy::Rule::ByCloudService, Some(why)) => format!("{} ({why})", rule.name),
            _ => rule.name.to_string(),
        }),
    );
    d.summary = summary(&mut d, &call, &target, caller, &pending);
    match kind {
        Kind::ApiCall => d.title = Some(title(&d, &call, &target)),
        Kind::PendingDeletionKeyUsed | Kind::DisabledKeyUsed => {
            d.title = Some(unusable_title(&d, &call, &target, &pending));
            // A caller that keeps retrying pages once a day per key, not once per call.
            d.dedup_discriminator = ids::per_day(d.occurred_at.as_deref())
                .map(|day| format!("{day}|{}", caller_key(call.detail)));
            if kind == Kind::PendingDeletionKeyUsed {
                d.condition = Some(ids::KEY_DELETION.into());
            }
        }
        _ => {}
    }
    d.console_url = console_url(&d, &call, &target);
    d.finish(event)
}

/// The event's id, account, region and time: the record's own, else the EventBridge event's,
/// else the envelope's.
fn identify(d: &mut Draft, call: &Call, event: &Value, env: Option<&Envelope>) {
    let detail = call.detail;
    d.event_id = text(detail, &["eventID"])
        .or_else(|| text(event, &["id"]))
        .or_else(|| env.and_then(|e| e.id.clone()));
    d.account = text(event, &["account"])
        .or_else(|| text(detail, &["recipientAccountId"]))
        .or_else(|| field(detail, &["userIdentity"]).and_then(|u| text(u, &["accountId"])))
        .or_else(|| env.and_then(|e| e.account.clone()));
    d.region = text(event, &["region"])
        .or_else(|| text(detail, &["awsRegion", "acsRegion"]))
        .or_else(|| env.and_then(|e| e.region.clone()));
    d.occurred_at = time_field(detail, &["eventTime"])
        .or_else(|| time_field(event, &["time"]))
        .or_else(|| env.and_then(|e| e.time.clone()));
}

/// The key or secret the call was on, and its ARN as the resource: the record's own, else
/// built from the key id or (on Alibaba Cloud) the secret name.
fn locate(d: &mut Draft, call: &Call) -> Target {
    let (req, resp) = (call.req, call.resp);
    d.resource = field(call.detail, &["resources"])
        .and_then(Value::as_array)
        .and_then(|rs| {
            rs.iter()
                .find_map(|r| text(r, &["ARN"]).filter(|a| a.contains(":kms:")))
        })
        .or_else(|| text(resp, &["keyId"]).filter(|k| k.starts_with("arn:")))
        .or_else(|| text(req, &["keyId"]).filter(|k| k.starts_with("arn:") && k.contains(":key/")));
    let call_region = d.fill_from_resource();
    let key_ref = text(req, &["keyId", "targetKeyId", "aliasName"])
        .or_else(|| text(call.service_details(), &["keyId"]))
        .or_else(|| d.resource_tail(":key/"));
    let key_id = d.resource_tail(":key/").or_else(|| {
        key_ref
            .clone()
            .filter(|k| !k.starts_with("alias/") && !k.starts_with("arn:"))
    });
    let secret = text(req, &["SecretName"]);
    d.resource_name = key_id.clone().or(key_ref.clone()).or(secret.clone());
    // CloudTrail and ActionTrail records often name the key or secret, not its ARN: build it.
    match (&key_id, &secret) {
        (Some(k), _) => d.build_resource("key", Some(k)),
        (None, Some(s)) if call.cloud == Cloud::Alibaba => d.build_resource("secret", Some(s)),
        _ => {}
    }
    Target {
        key_ref,
        key_id,
        secret,
        call_region,
    }
}

/// Who made the call: an ARN, a user name, the service that called on their behalf.
fn caller(detail: &Value) -> Option<String> {
    let who = field(detail, &["userIdentity"]).unwrap_or(&NULL);
    text(who, &["arn"])
        .or_else(|| text(who, &["userName"]))
        .or_else(|| text(who, &["invokedBy"]))
        .or_else(|| text(who, &["principalId"]))
        .or_else(|| text(who, &["type"]).map(|t| format!("({t})")))
}

fn pending_deletion(call: &Call, kind: Kind) -> Pending {
    let (req, resp) = (call.req, call.resp);
    let key_state = text(resp, &["keyState"]);
    let window =
        number(req, &["pendingWindowInDays"]).or_else(|| number(resp, &["pendingWindowInDays"]));
    let replicas = key_state.as_deref() == Some("PendingReplicaDeletion");
    let key_state = key_state.or_else(|| call.unusable.map(|u| u.key_state().to_string()));
    let date = time_field(resp, &["deletionDate"]).or_else(|| {
        (kind == Kind::KeyDeletionScheduled && !replicas)
            .then(|| deletion_from_window(call.detail, window))
            .flatten()
    });
    Pending {
        window,
        date,
        key_state,
        replicas,
    }
}

fn facts(d: &mut Draft, call: &Call, target: &Target, caller: Option<&str>, pending: &Pending) {
    let (detail, req, resp) = (call.detail, call.req, call.resp);
    d.fact("Action", Some(call.name.clone()));
    d.fact("Caller", caller);
    d.fact(
        "Caller type",
        field(detail, &["userIdentity"]).and_then(|u| text(u, &["type"])),
    );
    d.fact("Key", target.key_ref.clone());
    d.fact("Secret", target.secret.clone());
    d.fact("Call region", target.call_region.clone());
    d.fact(
        "Recovery window (days)",
        number(req, &["RecoveryWindowInDays"]).map(|n| format!("{n}")),
    );
    d.fact(
        "Pending window (days)",
        pending.window.map(|n| format!("{n}")),
    );
    d.fact(
        "Deletion date",
        pending
            .date
            .clone()
            .or_else(|| text(resp, &["deletionDate"])),
    );
    d.fact("Key state", pending.key_state.clone());
    d.fact(
        "Key material ID",
        text(call.service_details(), &["keyMaterialId"]),
    );
    d.fact("Error code", call.error_code.clone());
    d.fact("Error message", text(detail, &["errorMessage"]));
    d.fact("Source IP", text(detail, &["sourceIPAddress"]));
    d.fact("User agent", text(detail, &["userAgent"]));
}

/// What happened and what to do, in a sentence or two. The lifecycle events AWS reports
/// twice (here and on EventBridge) dedup per day, as their EventBridge twins do.
fn summary(
    d: &mut Draft,
    call: &Call,
    target: &Target,
    caller: Option<String>,
    pending: &Pending,
) -> String {
    let (kind, name) = (d.kind, &call.name);
    let who = match (call.actor, caller) {
        (Actor::Service, _) => call.cloud.display_name().to_string(),
        (_, Some(a)) => a,
        (_, None) => "An unknown caller".to_string(),
    };
    let verb = match call.actor {
        Actor::Caller => "called",
        Actor::Console => "used the console for",
        Actor::Service => "performed",
    };
    let on = target
        .key_ref
        .as_deref()
        .or(target.secret.as_deref())
        .unwrap_or("a KMS key");
    match (kind, &call.error_code) {
        (Kind::PendingDeletionKeyUsed, code) => format!(
            "{who} {verb} {name} on key {on}, which is {}, and the call failed{}. Whatever made this call still depends on the key: once the key is deleted, nothing encrypted under it can be decrypted again. Cancel the deletion (CancelKeyDeletion) until nothing uses the key. Deletion date: {}.",
            if pending.replicas { "pending replica deletion" } else { "pending deletion" },
            code.as_deref().map(|c| format!(" with {c}")).unwrap_or_default(),
            pending.date.as_deref().unwrap_or("unknown (the record does not carry it; DescribeKey shows it)")
        ),
        (Kind::DisabledKeyUsed, code) => format!(
            "{who} {verb} {name} on key {on}, which is disabled, and the call failed{}. Whatever made this call still depends on the key. Enable the key (EnableKey) if it is still needed, or move the caller to another key before deleting this one.",
            code.as_deref().map(|c| format!(" with {c}")).unwrap_or_default()
        ),
        (Kind::KeyRotated | Kind::KeyDeleted | Kind::KeyMaterialExpired, _) => {
            if kind != Kind::KeyDeleted {
                d.dedup_per_day();
            }
            aws_kms::lifecycle_summary(kind, on).unwrap_or_default()
        }
        (Kind::SecretDeletionScheduled, _) => format!(
            "{who} scheduled secret {on} for deletion. Restore it (RestoreSecret) within the recovery window if anything still reads it."
        ),
        (Kind::SecretDeleted, _) => format!(
            "{who} deleted secret {on} immediately, without a recovery window. Applications that read it will fail."
        ),
        (Kind::KeyDeletionScheduled, _) if pending.replicas => format!(
            "{who} scheduled multi-Region primary key {on} for deletion. It is PendingReplicaDeletion: it waits until its replica keys are deleted, then its {}waiting period starts. Cancel the deletion (CancelKeyDeletion) if anything still uses the key or its replicas.",
            pending.window.map(|n| format!("{n}-day ")).unwrap_or_default()
        ),
        (Kind::KeyDeletionScheduled, _) => format!(
            "{who} scheduled key {on} for deletion{}. Cancel the deletion (CancelKeyDeletion) before then if anything still uses the key.",
            pending.date.as_deref().map(|t| format!(" on {t}")).unwrap_or_default()
        ),
        (_, Some(code)) => format!("{who} {verb} {name} on {on}, and the call failed with {code}."),
        _ => format!("{who} {verb} {name} on {on}."),
    }
}

/// Who made the call, for telling callers apart: the ARN, else the principal id, else the
/// source address.
fn caller_key(detail: &Value) -> String {
    let who = field(detail, &["userIdentity"]).unwrap_or(&NULL);
    text(who, &["arn"])
        .or_else(|| text(who, &["principalId"]))
        .or_else(|| text(detail, &["sourceIPAddress"]))
        .unwrap_or_default()
}

/// `Something still uses key 1234abcd-..., which is pending deletion (deletion date unknown)`.
fn unusable_title(d: &Draft, call: &Call, target: &Target, pending: &Pending) -> String {
    let key = d
        .resource_name
        .as_ref()
        .or(target.key_ref.as_ref())
        .map(|k| crate::text::one_line(k, 80))
        .unwrap_or_else(|| "(unknown key)".into());
    let state = match (call.unusable, pending.date.as_deref()) {
        (Some(UnusableState::Disabled), _) => "is disabled".to_string(),
        (Some(UnusableState::PendingReplicaDeletion), _) => {
            "is pending replica deletion (deletion date unknown)".to_string()
        }
        (_, Some(date)) => format!("is scheduled for deletion on {date}"),
        (_, None) => "is pending deletion (deletion date unknown)".to_string(),
    };
    format!("Something still uses key {key}, which {state}")
}

/// `KMS API call DisableKey (failed): 1234abcd-...`, or `KMS service event ...`.
fn title(d: &Draft, call: &Call, target: &Target) -> String {
    let outcome = if call.error_code.is_some() {
        " (failed)"
    } else {
        ""
    };
    let what = if call.actor == Actor::Service {
        "KMS service event"
    } else {
        "KMS API call"
    };
    let name = &call.name;
    match d.resource_name.as_ref().or(target.key_ref.as_ref()) {
        Some(k) => format!("{what} {name}{outcome}: {}", crate::text::one_line(k, 80)),
        None => format!("{what} {name}{outcome}"),
    }
}

/// The key's (or secret's) console page, else the region's KMS console (Alibaba Cloud) or
/// the event in CloudTrail's history (AWS).
fn console_url(d: &Draft, call: &Call, target: &Target) -> Option<String> {
    let region = d.region.as_deref().unwrap_or_default();
    let key = target.key_id.as_deref();
    match call.cloud {
        Cloud::Alibaba => key
            .and_then(|k| links::alibaba_key(region, k))
            .or_else(|| {
                target
                    .secret
                    .as_deref()
                    .and_then(|s| links::alibaba_secret(region, s))
            })
            .or_else(|| links::alibaba_region(region)),
        _ => key.and_then(|k| links::aws_key(region, k)).or_else(|| {
            d.event_id
                .as_deref()
                .and_then(|e| links::aws_cloudtrail_event(region, e))
        }),
    }
}

#[cfg(test)]
mod tests {
    use crate::{Kind, Severity};

    fn call(name: &str, error: Option<&str>) -> crate::Alert {
        let mut detail = serde_json::json!({"eventSource": "kms.amazonaws.com", "eventName": name,
            "requestParameters": {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}});
        if let Some(e) = error {
            detail["errorCode"] = e.into();
        }
        let ev = serde_json::json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.kms",
            "region": "us-east-1", "account": "1", "detail": detail});
        crate::alert_of(&ev)
    }

    #[test]
    fn each_kms_call_maps_to_a_kind_and_severity() {
        let table = [
            (
                "ScheduleKeyDeletion",
                Kind::KeyDeletionScheduled,
                Severity::Warning,
            ),
            ("CancelKeyDeletion", Kind::ApiCall, Severity::Info),
            ("DisableKey", Kind::ApiCall, Severity::Warning),
            ("EnableKey", Kind::ApiCall, Severity::Info),
            ("PutKeyPolicy", Kind::ApiCall, Severity::Warning),
            ("DisableKeyRotation", Kind::ApiCall, Severity::Warning),
            (
                "DeleteImportedKeyMaterial",
                Kind::ApiCall,
                Severity::Warning,
            ),
            ("ImportKeyMaterial", Kind::ApiCall, Severity::Info),
            ("ReplicateKey", Kind::ApiCall, Severity::Warning),
            ("UpdatePrimaryRegion", Kind::ApiCall, Severity::Warning),
            ("CreateGrant", Kind::ApiCall, Severity::Warning),
            ("RevokeGrant", Kind::ApiCall, Severity::Warning),
            ("Decrypt", Kind::ApiCall, Severity::Info),
        ];
        for (name, kind, severity) in table {
            let a = call(name, None);
            assert_eq!((a.kind, a.severity), (kind, severity), "{name}");
            assert_eq!(a.event_type.as_deref(), Some(name));
            assert!(a.console_url.is_some(), "{name}");
        }
        // A failed call is never the lifecycle event it attempted.
        let a = call("ScheduleKeyDeletion", Some("AccessDeniedException"));
        assert_eq!((a.kind, a.severity), (Kind::ApiCall, Severity::Warning));
        assert!(a.title.contains("(failed)"));
        assert_eq!(
            call("EnableKey", Some("KMSInvalidStateException")).severity,
            Severity::Info
        );
    }
}

#[cfg(test)]
mod actiontrail_tests {
    use crate::{Cloud, Kind, Severity};

    fn call(name: &str, params: serde_json::Value) -> crate::Alert {
        let ev = serde_json::json!({"eventSource": "kms.cn-beijing.aliyuncs.com", "serviceName": "Kms",
            "eventName": name, "acsRegion": "cn-beijing", "eventTime": "2025-01-01T00:00:00Z",
            "userIdentity": {"type": "ram-user", "accountId": "1234", "userName": "bob"},
            "requestParameters": params});
        crate::alert_of(&ev)
    }

    #[test]
    fn actiontrail_calls_map_like_cloudtrail() {
        let a = call(
            "DeleteSecret",
            serde_json::json!({"SecretName": "app/db", "ForceDeleteWithoutRecovery": "true"}),
        );
        assert_eq!(
            (a.cloud, a.kind, a.severity),
            (Cloud::Alibaba, Kind::SecretDeleted, Severity::Warning)
        );
        assert_eq!(
            a.resource.as_deref(),
            Some("acs:kms:cn-beijing:1234:secret/app/db")
        );
        let a = call("DisableKey", serde_json::json!({"KeyId": "key-bjj123"}));
        assert_eq!((a.kind, a.severity), (Kind::ApiCall, Severity::Warning));
        assert_eq!(
            a.console_url.as_deref(),
            Some("https://kms.console.aliyun.com/cn-beijing/key/detail/key-bjj123")
        );
        let a = call("Encrypt", serde_json::json!({"KeyId": "alias/app"}));
        assert_eq!((a.kind, a.severity), (Kind::ApiCall, Severity::Info));
        assert_eq!(a.resource_name.as_deref(), Some("alias/app"));
    }
}

#[cfg(test)]
mod policy_tests {
    use serde_json::{json, Value};

    use crate::{Kind, Severity};

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn record(name: &str, who: Value, error: Option<(&str, &str)>) -> Value {
        let mut r = json!({"eventSource": "kms.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
            "eventTime": "2025-11-12T09:30:14Z", "eventID": "e-1", "readOnly": true, "eventType": "AwsApiCall",
            "recipientAccountId": "111122223333", "userIdentity": who,
            "requestParameters": {"keyId": ARN}, "responseElements": null,
            "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": ARN}]});
        if let Some((code, message)) = error {
            r["errorCode"] = code.into();
            r["errorMessage"] = message.into();
        }
        r
    }

    fn app() -> Value {
        json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/app/app"})
    }

    fn eventbridge(detail: Value) -> crate::Alert {
        crate::alert_of(
            &json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.kms",
            "region": "us-east-1", "account": "111122223333", "detail": detail}),
        )
    }

    #[test]
    fn a_key_used_while_pending_deletion_or_disabled_is_critical_whatever_the_code() {
        let pending = format!("{ARN} is pending deletion.");
        for code in ["KMSInvalidStateException", "DisabledException"] {
            let a = eventbridge(record("Decrypt", app(), Some((code, &pending))));
            assert_eq!(
                (a.kind, a.severity),
                (Kind::PendingDeletionKeyUsed, Severity::Critical),
                "{code}"
            );
            assert_eq!(
                a.title,
                "Something still uses key 1234abcd-12ab-34cd-56ef-1234567890ab, which is pending deletion (deletion date unknown)"
            );
            assert_eq!(a.fact("Key state"), Some("PendingDeletion"));
            assert_eq!(a.fact("Severity rule"), Some("unusable_key_use"));
            assert!(a.summary.contains("CancelKeyDeletion"), "{}", a.summary);
            assert!(
                a.summary.contains("Deletion date: unknown"),
                "{}",
                a.summary
            );
            // It belongs to the key's pending deletion, which CancelKeyDeletion closes.
            assert_eq!(
                a.incident_key,
                eventbridge(record("CancelKeyDeletion", app(), None)).incident_key
            );
        }
        let disabled = format!("{ARN} is disabled.");
        let a = eventbridge(record(
            "Sign",
            app(),
            Some(("DisabledException", &disabled)),
        ));
        assert_eq!(
            (a.kind, a.severity),
            (Kind::DisabledKeyUsed, Severity::Critical)
        );
        assert!(a.title.ends_with("which is disabled"), "{}", a.title);
        assert!(a.summary.contains("EnableKey"), "{}", a.summary);
        // Even when an AWS service makes the call: something still depends on the key.
        let ebs = json!({"type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/aws:ec2-infrastructure/i-0a1b2c3d", "invokedBy": "ec2.amazonaws.com"});
        let a = eventbridge(record(
            "Decrypt",
            ebs,
            Some(("KMSInvalidStateException", &pending)),
        ));
        assert_eq!(
            (a.kind, a.severity),
            (Kind::PendingDeletionKeyUsed, Severity::Critical)
        );
        // Other states and other calls stay API calls.
        let importing = format!("{ARN} is pending import.");
        let a = eventbridge(record(
            "Decrypt",
            app(),
            Some(("KMSInvalidStateException", &importing)),
        ));
        assert_eq!((a.kind, a.severity), (Kind::ApiCall, Severity::Info));
        let a = eventbridge(record(
            "EnableKey",
            app(),
            Some(("KMSInvalidStateException", &pending)),
        ));
        assert_eq!(a.kind, Kind::ApiCall);
    }

    #[test]
    fn a_failed_use_in_a_log_file_is_alerted_not_skipped_as_read_only() {
        let pending = format!("{ARN} is pending deletion.");
        let log = json!({"Records": [
            record("Decrypt", app(), Some(("KMSInvalidStateException", &pending))),
            record("Decrypt", app(), None),
        ]});
        let parsed =
            crate::parse_with(log.to_string().as_bytes(), "log", crate::Options::default())
                .unwrap();
        assert_eq!(parsed.skipped.read_only, 1, "the successful Decrypt");
        assert_eq!(parsed.records.len(), 1);
        let from_log = parsed.records[0].result.as_ref().unwrap();
        assert_eq!(from_log.kind, Kind::PendingDeletionKeyUsed);
        // The same record through EventBridge is the same alert, to the dedup key.
        let from_rule = eventbridge(record(
            "Decrypt",
            app(),
            Some(("KMSInvalidStateException", &pending)),
        ));
        assert_eq!(
            (&from_log.title, &from_log.dedup_key, from_log.severity),
            (&from_rule.title, &from_rule.dedup_key, from_rule.severity)
        );
    }

    #[test]
    fn repeated_failures_of_one_caller_dedup_per_day() {
        let pending = format!("{ARN} is pending deletion.");
        let at = |time: &str, id: &str, who: Value| {
            let mut r = record("Decrypt", who, Some(("KMSInvalidStateException", &pending)));
            r["eventTime"] = time.into();
            r["eventID"] = id.into();
            eventbridge(r).dedup_key
        };
        let other = json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/batch/batch"});
        let first = at("2025-11-12T09:30:14Z", "e-1", app());
        assert_eq!(first, at("2025-11-12T17:00:00Z", "e-2", app()));
        assert_ne!(first, at("2025-11-13T09:30:14Z", "e-3", app()), "next day");
        assert_ne!(
            first,
            at("2025-11-12T09:30:14Z", "e-4", other),
            "another caller"
        );
    }

    #[test]
    fn calls_by_or_through_aws_services_are_info() {
        let service =
            json!({"type": "AWSService", "invokedBy": "workmail.eu-west-1.amazonaws.com"});
        let on_behalf = json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice",
            "invokedBy": "acm.amazonaws.com"});
        for who in [service, on_behalf] {
            for name in ["CreateGrant", "PutKeyPolicy", "DisableKey", "ReplicateKey"] {
                let a = eventbridge(record(name, who.clone(), None));
                assert_eq!(
                    (a.kind, a.severity),
                    (Kind::ApiCall, Severity::Info),
                    "{name} {who}"
                );
                assert!(a
                    .fact("Severity rule")
                    .unwrap()
                    .starts_with("by_cloud_service ("));
            }
            // A denied call by a service is the service's business too.
            let a = eventbridge(record(
                "PutKeyPolicy",
                who.clone(),
                Some(("AccessDeniedException", "no")),
            ));
            assert_eq!(a.severity, Severity::Info);
            // Lifecycle events keep their level whoever caused them.
            let a = eventbridge(record("ScheduleKeyDeletion", who.clone(), None));
            assert_eq!(
                (a.kind, a.severity),
                (Kind::KeyDeletionScheduled, Severity::Warning)
            );
        }
        // The same calls by a person warn.
        let a = eventbridge(record("CreateGrant", app(), None));
        assert_eq!(a.severity, Severity::Warning);
        assert_eq!(a.fact("Severity rule"), Some("changes_access"));
        let a = eventbridge(record(
            "PutKeyPolicy",
            app(),
            Some(("AccessDeniedException", "no")),
        ));
        assert_eq!(
            (a.severity, a.fact("Severity rule")),
            (Severity::Warning, Some("denied"))
        );
        // An AWS managed key, named by its alias.
        let mut r = record("CreateGrant", app(), None);
        r["requestParameters"]["keyId"] = "alias/aws/ebs".into();
        assert_eq!(eventbridge(r).severity, Severity::Info);
    }
}
