//! Records of KMS API calls: AWS CloudTrail (on EventBridge as `AWS API Call via CloudTrail`,
//! or bare) and Alibaba Cloud ActionTrail (bare, or the `data` of an EventBridge CloudEvent).

use serde_json::Value;

use super::Envelope;
use crate::alert::{Cloud, Kind, Severity};
use crate::draft::Draft;
use crate::fields::{field, number, text, time_field};
use crate::{links, Alert};

/// An ActionTrail record of a call to Alibaba Cloud KMS.
fn is_actiontrail_kms(v: &Value) -> bool {
    let source = v.get("eventSource").and_then(Value::as_str).unwrap_or("");
    let kms_source = source.starts_with("kms.") && source.ends_with(".aliyuncs.com");
    let kms_service = v
        .get("serviceName")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("kms"));
    (kms_source || kms_service) && v.get("eventName").is_some()
}

pub(super) fn is_api_call(v: &Value) -> bool {
    let detail_type = v.get("detail-type").and_then(Value::as_str);
    if detail_type == Some("AWS API Call via CloudTrail") {
        return true;
    }
    let cloudtrail = v.get("eventSource").and_then(Value::as_str) == Some("kms.amazonaws.com")
        && v.get("eventName").is_some();
    cloudtrail || is_actiontrail_kms(v)
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

/// `true`/`"true"` (ActionTrail stringifies booleans).
fn truthy(v: &Value, name: &str) -> bool {
    match field(v, &[name]) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

pub(super) fn normalize(event: Value, env: Option<&Envelope>) -> Alert {
    let envelope = event.get("detail").is_some();
    let empty = Value::Null;
    let detail = if envelope {
        field(&event, &["detail"]).unwrap_or(&empty)
    } else {
        &event
    };
    let cloud = if is_actiontrail_kms(detail) {
        Cloud::Alibaba
    } else {
        Cloud::Aws
    };
    let name = text(detail, &["eventName"]).unwrap_or_else(|| "UnknownCall".to_string());
    let error_code = text(detail, &["errorCode"]);
    let req = field(detail, &["requestParameters"]).unwrap_or(&empty);
    let kind = match (name.as_str(), &error_code) {
        ("ScheduleKeyDeletion", None) => Kind::KeyDeletionScheduled,
        ("DeleteSecret", None) if cloud == Cloud::Alibaba => {
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
    d.fill_from_resource();
    let key_ref =
        text(req, &["keyId", "targetKeyId", "aliasName"]).or_else(|| d.resource_tail(":key/"));
    let key_id = d.resource_tail(":key/").or_else(|| {
        key_ref
            .clone()
            .filter(|k| !k.starts_with("alias/") && !k.starts_with("arn:"))
    });
    let secret = text(req, &["SecretName"]);
    d.resource_name = key_id.clone().or(key_ref.clone()).or(secret.clone());
    if cloud == Cloud::Alibaba && d.resource.is_none() {
        // ActionTrail names the key or secret, not its ARN: build it.
        let tail = match (&key_id, &secret) {
            (Some(k), _) => Some(format!("key/{k}")),
            (None, Some(s)) => Some(format!("secret/{s}")),
            _ => None,
        };
        if let (Some(r), Some(a), Some(t)) = (&d.region, &d.account, tail) {
            d.resource = Some(format!("acs:kms:{r}:{a}:{t}"));
        }
    }

    let who = field(detail, &["userIdentity"]).unwrap_or(&empty);
    let actor = text(who, &["arn"])
        .or_else(|| text(who, &["userName"]))
        .or_else(|| text(who, &["invokedBy"]))
        .or_else(|| text(who, &["principalId"]))
        .or_else(|| text(who, &["type"]).map(|t| format!("({t})")));
    let error_message = text(detail, &["errorMessage"]);

    d.fact("Action", Some(name.clone()));
    d.fact("Caller", actor.clone());
    d.fact("Caller type", text(who, &["type"]));
    d.fact("Key", key_ref.clone());
    d.fact("Secret", secret.clone());
    d.fact(
        "Recovery window (days)",
        number(req, &["RecoveryWindowInDays"]).map(|n| format!("{n}")),
    );
    d.fact(
        "Pending window (days)",
        number(req, &["pendingWindowInDays"])
            .or_else(|| number(resp, &["pendingWindowInDays"]))
            .map(|n| format!("{n}")),
    );
    let deletion = time_field(resp, &["deletionDate"]);
    d.fact(
        "Deletion date",
        deletion.clone().or_else(|| text(resp, &["deletionDate"])),
    );
    d.fact("Key state", text(resp, &["keyState"]));
    d.fact("Error code", error_code.clone());
    d.fact("Error message", error_message);
    d.fact("Source IP", text(detail, &["sourceIPAddress"]));
    d.fact("User agent", text(detail, &["userAgent"]));

    let who_txt = actor.as_deref().unwrap_or("An unknown caller");
    let key_txt = key_ref
        .as_deref()
        .or(secret.as_deref())
        .unwrap_or("a KMS key");
    d.summary = match (&kind, &error_code) {
        (Kind::SecretDeletionScheduled, _) => format!(
            "{who_txt} scheduled secret {key_txt} for deletion. Restore it (RestoreSecret) within the recovery window if anything still reads it."
        ),
        (Kind::SecretDeleted, _) => format!(
            "{who_txt} deleted secret {key_txt} immediately, without a recovery window. Applications that read it will fail."
        ),
        (Kind::KeyDeletionScheduled, _) => format!(
            "{who_txt} scheduled key {key_txt} for deletion{}. Cancel the deletion (CancelKeyDeletion) before then if anything still uses the key.",
            deletion.as_deref().map(|t| format!(" on {t}")).unwrap_or_default()
        ),
        (_, Some(code)) => format!("{who_txt} called {name} on {key_txt}, and the call failed with {code}."),
        _ => format!("{who_txt} called {name} on {key_txt}."),
    };
    d.severity = Some(match (&kind, &error_code) {
        (Kind::KeyDeletionScheduled | Kind::SecretDeletionScheduled | Kind::SecretDeleted, _) => {
            Severity::Warning
        }
        (_, Some(code)) if code.contains("AccessDenied") || code.contains("Unauthorized") => {
            Severity::Warning
        }
        (_, Some(_)) => Severity::Info,
        _ if RISKY.contains(&name.as_str()) => Severity::Warning,
        _ => Severity::Info,
    });
    if kind == Kind::ApiCall {
        let outcome = if error_code.is_some() {
            " (failed)"
        } else {
            ""
        };
        d.title = Some(match d.resource_name.as_ref().or(key_ref.as_ref()) {
            Some(k) => format!(
                "KMS API call {name}{outcome}: {}",
                crate::text::one_line(k, 80)
            ),
            None => format!("KMS API call {name}{outcome}"),
        });
    }
    let region = d.region.clone().unwrap_or_default();
    d.console_url = match cloud {
        Cloud::Aws => key_id
            .as_deref()
            .and_then(|k| links::aws_key(&region, k))
            .or_else(|| {
                d.event_id
                    .as_deref()
                    .and_then(|e| links::aws_cloudtrail_event(&region, e))
            }),
        Cloud::Alibaba => key_id
            .as_deref()
            .and_then(|k| links::alibaba_key(&region, k))
            .or_else(|| {
                secret
                    .as_deref()
                    .and_then(|s| links::alibaba_secret(&region, s))
            })
            .or_else(|| links::alibaba_region(&region)),
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
