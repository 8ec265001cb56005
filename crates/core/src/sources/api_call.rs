//! Records of KMS API calls and KMS service events: AWS CloudTrail (on EventBridge as `AWS API
//! Call via CloudTrail` / `AWS Service Event via CloudTrail`, bare, or in a log file) and Alibaba
//! Cloud ActionTrail (bare, in a log file, or the `data` of an EventBridge CloudEvent of type
//! `kms:ActionTrail:ApiCall`, `kms:ActionTrail:ConsoleOperation` or
//! `kms:ActionTrail:AliyunServiceEvent`).

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;

use super::{aws_kms, Envelope};
use crate::alert::{Cloud, Kind, Severity};
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

/// Calls that change what a key can do, worth a warning even when they succeed.
const RISKY: &[&str] = &[
    "DisableKey",
    "PutKeyPolicy",
    "DisableKeyRotation",
    "DeleteImportedKeyMaterial",
    "DeleteAlias",
    "UpdateAlias",
    "CreateGrant",
    "RetireGrant",
    "RevokeGrant",
    "DisconnectCustomKeyStore",
    "DeleteCustomKeyStore",
    "UpdatePrimaryRegion",
    "ReplicateKey",
    // Alibaba Cloud KMS
    "DeleteKeyMaterial",
    "DeleteSecret",
    "SetDeletionProtection",
    "UpdateSecretRotationPolicy",
];

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

pub(super) fn normalize(event: Value, env: Option<&Envelope>) -> Alert {
    let envelope = event.get("detail").is_some();
    let empty = Value::Null;
    let detail = if envelope {
        field(&event, &["detail"]).unwrap_or(&empty)
    } else {
        &event
    };
    let detail_type = event.get("detail-type").and_then(Value::as_str);
    let cloud = if is_actiontrail_kms(detail, env) && !is_cloudtrail_kms(detail) {
        Cloud::Alibaba
    } else {
        Cloud::Aws
    };
    let actor_kind = actor_kind(detail_type, detail, env);
    let name = text(detail, &["eventName"]).unwrap_or_else(|| "UnknownCall".to_string());
    let error_code = text(detail, &["errorCode"]);
    let req = field(detail, &["requestParameters"]).unwrap_or(&empty);
    let service_details = field(detail, &["serviceEventDetails"]).unwrap_or(&empty);
    let kind = match (name.as_str(), &error_code, actor_kind) {
        ("DeleteKey", None, Actor::Service) if cloud == Cloud::Aws => Kind::KeyDeleted,
        ("RotateKey", None, Actor::Service) if cloud == Cloud::Aws => Kind::KeyRotated,
        ("DeleteExpiredKeyMaterial", None, Actor::Service) if cloud == Cloud::Aws => {
            Kind::KeyMaterialExpired
        }
        ("ScheduleKeyDeletion", None, _) => Kind::KeyDeletionScheduled,
        ("DeleteSecret", None, _) if cloud == Cloud::Alibaba => {
            if truthy(req, "ForceDeleteWithoutRecovery") {
                Kind::SecretDeleted
            } else {
                Kind::SecretDeletionScheduled
            }
        }
        _ => Kind::ApiCall,
    };
    let mut d = Draft::new(kind, cloud);
    d.event_type = Some(name.clone());
    // A successful cancellation or restore closes the pending deletion it undoes.
    if error_code.is_none() {
        match name.as_str() {
            "CancelKeyDeletion" => {
                (d.condition, d.resolves) = (Some(ids::KEY_DELETION.into()), true)
            }
            "RestoreSecret" => {
                (d.condition, d.resolves) = (Some(ids::SECRET_DELETION.into()), true)
            }
            _ => {}
        }
    }
    d.event_id = text(detail, &["eventID"])
        .or_else(|| text(&event, &["id"]))
        .or_else(|| env.and_then(|e| e.id.clone()));
    d.account = text(&event, &["account"])
        .or_else(|| text(detail, &["recipientAccountId"]))
        .or_else(|| field(detail, &["userIdentity"]).and_then(|u| text(u, &["accountId"])))
        .or_else(|| env.and_then(|e| e.account.clone()));
    d.region = text(&event, &["region"])
        .or_else(|| text(detail, &["awsRegion", "acsRegion"]))
        .or_else(|| env.and_then(|e| e.region.clone()));
    d.occurred_at = time_field(detail, &["eventTime"])
        .or_else(|| time_field(&event, &["time"]))
        .or_else(|| env.and_then(|e| e.time.clone()));

    let resp = field(detail, &["responseElements"]).unwrap_or(&empty);
    let resource_arn = field(detail, &["resources"])
        .and_then(Value::as_array)
        .and_then(|rs| {
            rs.iter()
                .find_map(|r| text(r, &["ARN"]).filter(|a| a.contains(":kms:")))
        })
        .or_else(|| text(resp, &["keyId"]).filter(|k| k.starts_with("arn:")))
        .or_else(|| text(req, &["keyId"]).filter(|k| k.starts_with("arn:") && k.contains(":key/")));
    d.resource = resource_arn;
    let call_region = d.fill_from_resource();
    let key_ref = text(req, &["keyId", "targetKeyId", "aliasName"])
        .or_else(|| text(service_details, &["keyId"]))
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
        (None, Some(s)) if cloud == Cloud::Alibaba => d.build_resource("secret", Some(s)),
        _ => {}
    }

    let who = field(detail, &["userIdentity"]).unwrap_or(&empty);
    let actor = text(who, &["arn"])
        .or_else(|| text(who, &["userName"]))
        .or_else(|| text(who, &["invokedBy"]))
        .or_else(|| text(who, &["principalId"]))
        .or_else(|| text(who, &["type"]).map(|t| format!("({t})")));
    let error_message = text(detail, &["errorMessage"]);
    let key_state = text(resp, &["keyState"]);
    let window =
        number(req, &["pendingWindowInDays"]).or_else(|| number(resp, &["pendingWindowInDays"]));
    let pending_replicas = key_state.as_deref() == Some("PendingReplicaDeletion");
    let deletion = time_field(resp, &["deletionDate"]).or_else(|| {
        (kind == Kind::KeyDeletionScheduled && !pending_replicas)
            .then(|| deletion_from_window(detail, window))
            .flatten()
    });

    d.fact("Action", Some(name.clone()));
    d.fact("Caller", actor.clone());
    d.fact("Caller type", text(who, &["type"]));
    d.fact("Key", key_ref.clone());
    d.fact("Secret", secret.clone());
    d.fact("Call region", call_region);
    d.fact(
        "Recovery window (days)",
        number(req, &["RecoveryWindowInDays"]).map(|n| format!("{n}")),
    );
    d.fact("Pending window (days)", window.map(|n| format!("{n}")));
    d.fact(
        "Deletion date",
        deletion.clone().or_else(|| text(resp, &["deletionDate"])),
    );
    d.fact("Key state", key_state.clone());
    d.fact("Key material ID", text(service_details, &["keyMaterialId"]));
    d.fact("Error code", error_code.clone());
    d.fact("Error message", error_message);
    d.fact("Source IP", text(detail, &["sourceIPAddress"]));
    d.fact("User agent", text(detail, &["userAgent"]));

    let who_txt = match (actor_kind, &actor) {
        (Actor::Service, _) => cloud.display_name().to_string(),
        (_, Some(a)) => a.clone(),
        (_, None) => "An unknown caller".to_string(),
    };
    let verb = match actor_kind {
        Actor::Caller => "called",
        Actor::Console => "used the console for",
        Actor::Service => "performed",
    };
    let key_txt = key_ref
        .as_deref()
        .or(secret.as_deref())
        .unwrap_or("a KMS key");
    d.summary = match (&kind, &error_code) {
        (Kind::KeyRotated | Kind::KeyDeleted | Kind::KeyMaterialExpired, _) => {
            if kind != Kind::KeyDeleted {
                d.dedup_per_day();
            }
            aws_kms::lifecycle_summary(kind, key_txt).unwrap_or_default()
        }
        (Kind::SecretDeletionScheduled, _) => format!(
            "{who_txt} scheduled secret {key_txt} for deletion. Restore it (RestoreSecret) within the recovery window if anything still reads it."
        ),
        (Kind::SecretDeleted, _) => format!(
            "{who_txt} deleted secret {key_txt} immediately, without a recovery window. Applications that read it will fail."
        ),
        (Kind::KeyDeletionScheduled, _) if pending_replicas => format!(
            "{who_txt} scheduled multi-Region primary key {key_txt} for deletion. It is PendingReplicaDeletion: it waits until its replica keys are deleted, then its {}waiting period starts. Cancel the deletion (CancelKeyDeletion) if anything still uses the key or its replicas.",
            window.map(|n| format!("{n}-day ")).unwrap_or_default()
        ),
        (Kind::KeyDeletionScheduled, _) => format!(
            "{who_txt} scheduled key {key_txt} for deletion{}. Cancel the deletion (CancelKeyDeletion) before then if anything still uses the key.",
            deletion.as_deref().map(|t| format!(" on {t}")).unwrap_or_default()
        ),
        (_, Some(code)) => format!("{who_txt} {verb} {name} on {key_txt}, and the call failed with {code}."),
        _ => format!("{who_txt} {verb} {name} on {key_txt}."),
    };
    d.severity = match (&kind, &error_code) {
        (Kind::KeyRotated | Kind::KeyDeleted | Kind::KeyMaterialExpired, _) => None,
        (Kind::KeyDeletionScheduled | Kind::SecretDeletionScheduled | Kind::SecretDeleted, _) => {
            Some(Severity::Warning)
        }
        (_, Some(code)) if code.contains("AccessDenied") || code.contains("Unauthorized") => {
            Some(Severity::Warning)
        }
        (_, Some(_)) => Some(Severity::Info),
        _ if RISKY.contains(&name.as_str()) => Some(Severity::Warning),
        _ => Some(Severity::Info),
    };
    if kind == Kind::ApiCall {
        let outcome = if error_code.is_some() {
            " (failed)"
        } else {
            ""
        };
        let what = if actor_kind == Actor::Service {
            "KMS service event"
        } else {
            "KMS API call"
        };
        d.title = Some(match d.resource_name.as_ref().or(key_ref.as_ref()) {
            Some(k) => format!("{what} {name}{outcome}: {}", crate::text::one_line(k, 80)),
            None => format!("{what} {name}{outcome}"),
        });
    }
    let region = d.region.clone().unwrap_or_default();
    d.console_url = match cloud {
        Cloud::Alibaba => key_id
            .as_deref()
            .and_then(|k| links::alibaba_key(&region, k))
            .or_else(|| {
                secret
                    .as_deref()
                    .and_then(|s| links::alibaba_secret(&region, s))
            })
            .or_else(|| links::alibaba_region(&region)),
        _ => key_id
            .as_deref()
            .and_then(|k| links::aws_key(&region, k))
            .or_else(|| {
                d.event_id
                    .as_deref()
                    .and_then(|e| links::aws_cloudtrail_event(&region, e))
            }),
    };
    d.finish(event)
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
