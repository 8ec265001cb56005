//! The severity policy of KMS API-call records (CloudTrail and ActionTrail), in one place: the
//! table [`SEVERITY_POLICY`], read top to bottom, the first row a record matches deciding its
//! severity. README's "Severity policy" states the same table (a test checks they agree).
//!
//! Also here: what in a record makes it "routine" (made by a cloud service, or by one on a
//! user's behalf) and what makes it a use of a key that is pending deletion or disabled.

use serde_json::Value;

use crate::alert::{Kind, Severity};
use crate::fields::{field, text};

/// What a row of the policy tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A cryptographic operation refused because its key is pending deletion or disabled.
    UnusableKeyUse,
    /// A record that is a lifecycle event of its own kind (deletion scheduled, key deleted,
    /// key rotated, material expired, secret deleted or scheduled for deletion).
    Lifecycle,
    /// A call made by a cloud service, or by one on a user's behalf (see [`routine_reason`]).
    ByCloudService,
    /// A call refused for lack of permission.
    Denied,
    /// A call that failed otherwise.
    Failed,
    /// A successful call that takes away what a key can do, or who can use it by name.
    ReducesKey,
    /// A successful call that changes who may use a key.
    ChangesAccess,
    /// A successful call that puts key material in a new Region or moves its control.
    WidensMaterial,
    /// A successful import of key material the key owner already holds.
    ImportsMaterial,
    /// Any other call.
    Other,
}

/// The level a row gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Fixed(Severity),
    /// The kind's own severity ([`Kind::default_severity`]).
    OfKind,
}

/// One row of the severity policy.
#[derive(Debug, Clone, Copy)]
pub struct PolicyRow {
    pub rule: Rule,
    /// The rule's name, as README's table and the `Severity rule` fact show it.
    pub name: &'static str,
    pub level: Level,
    /// The calls the row names; empty when the row is about who called or how it ended.
    pub calls: &'static [&'static str],
}

/// Cryptographic operations: what "using a key" means (`GenerateDataKey*` and `ReEncrypt*`
/// match by prefix).
pub const KEY_USE_CALLS: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "ReEncrypt*",
    "GenerateDataKey*",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    "GetPublicKey",
];

/// The severity policy of KMS API-call records, first match wins.
pub const SEVERITY_POLICY: &[PolicyRow] = &[
    PolicyRow {
        rule: Rule::UnusableKeyUse,
        name: "unusable_key_use",
        level: Level::Fixed(Severity::Critical),
        calls: KEY_USE_CALLS,
    },
    PolicyRow {
        rule: Rule::Lifecycle,
        name: "lifecycle",
        level: Level::OfKind,
        calls: &[
            "ScheduleKeyDeletion",
            "DeleteKey",
            "RotateKey",
            "DeleteExpiredKeyMaterial",
            "DeleteSecret",
        ],
    },
    PolicyRow {
        rule: Rule::ByCloudService,
        name: "by_cloud_service",
        level: Level::Fixed(Severity::Info),
        calls: &[],
    },
    PolicyRow {
        rule: Rule::Denied,
        name: "denied",
        level: Level::Fixed(Severity::Warning),
        calls: &[],
    },
    PolicyRow {
        rule: Rule::Failed,
        name: "failed",
        level: Level::Fixed(Severity::Info),
        calls: &[],
    },
    PolicyRow {
        rule: Rule::ReducesKey,
        name: "reduces_key",
        level: Level::Fixed(Severity::Warning),
        calls: &[
            "DisableKey",
            "DisableKeyRotation",
            "DeleteImportedKeyMaterial",
            "DeleteAlias",
            "UpdateAlias",
            "RetireGrant",
            "RevokeGrant",
            "DisconnectCustomKeyStore",
            "DeleteCustomKeyStore",
            // Alibaba Cloud KMS
            "DeleteKeyMaterial",
            "SetDeletionProtection",
            "UpdateSecretRotationPolicy",
        ],
    },
    PolicyRow {
        rule: Rule::ChangesAccess,
        name: "changes_access",
        level: Level::Fixed(Severity::Warning),
        calls: &["PutKeyPolicy", "CreateGrant"],
    },
    PolicyRow {
        rule: Rule::WidensMaterial,
        name: "widens_material",
        level: Level::Fixed(Severity::Warning),
        calls: &["ReplicateKey", "UpdatePrimaryRegion"],
    },
    PolicyRow {
        rule: Rule::ImportsMaterial,
        name: "imports_material",
        level: Level::Fixed(Severity::Info),
        calls: &["ImportKeyMaterial"],
    },
    PolicyRow {
        rule: Rule::Other,
        name: "other",
        level: Level::Fixed(Severity::Info),
        calls: &[],
    },
];

/// What the policy reads of one record.
pub(super) struct Subject<'a> {
    pub kind: Kind,
    pub name: &'a str,
    pub error_code: Option<&'a str>,
    /// Why the call counts as made by a cloud service, if it does ([`routine_reason`]).
    pub routine: Option<&'static str>,
}

/// `name` is one of `calls`, a `*` entry matching by prefix.
fn names(calls: &[&str], name: &str) -> bool {
    calls.iter().any(|c| match c.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => *c == name,
    })
}

impl PolicyRow {
    fn matches(&self, s: &Subject) -> bool {
        match self.rule {
            Rule::UnusableKeyUse => {
                matches!(s.kind, Kind::PendingDeletionKeyUsed | Kind::DisabledKeyUsed)
            }
            Rule::Lifecycle => matches!(
                s.kind,
                Kind::KeyRotated
                    | Kind::KeyDeleted
                    | Kind::KeyMaterialExpired
                    | Kind::KeyDeletionScheduled
                    | Kind::SecretDeletionScheduled
                    | Kind::SecretDeleted
            ),
            Rule::ByCloudService => s.routine.is_some(),
            Rule::Denied => s
                .error_code
                .is_some_and(|c| c.contains("AccessDenied") || c.contains("Unauthorized")),
            Rule::Failed => s.error_code.is_some(),
            Rule::ReducesKey
            | Rule::ChangesAccess
            | Rule::WidensMaterial
            | Rule::ImportsMaterial => names(self.calls, s.name),
            Rule::Other => true,
        }
    }

    /// The severity this row gives a record of `kind`.
    pub fn severity(&self, kind: Kind) -> Severity {
        match self.level {
            Level::Fixed(s) => s,
            Level::OfKind => kind.default_severity(),
        }
    }
}

/// The first row of [`SEVERITY_POLICY`] the record matches.
pub(super) fn decide(s: &Subject) -> &'static PolicyRow {
    SEVERITY_POLICY
        .iter()
        .find(|row| row.matches(s))
        .expect("the last row matches every record")
}

/// Why a record counts as a call made by a cloud service, or by one on a user's behalf:
/// `userIdentity.type` `AWSService`, `userIdentity.invokedBy` set, a service event
/// (`AwsServiceEvent`, `AliyunServiceEvent`), an AWS managed key (the response says
/// `keyManager` `AWS`, or the call names an `alias/aws/` alias), or EC2's grant for an EBS
/// volume (`CreateGrant` to `aws:ec2-infrastructure`, constrained by `encryptionContextSubset`
/// to `aws:ebs:id`, `userAgent` `AWS Internal`). `None` for anything else.
pub(super) fn routine_reason(detail: &Value, service_event: bool) -> Option<&'static str> {
    let who = field(detail, &["userIdentity"]);
    let req = field(detail, &["requestParameters"]);
    let resp = field(detail, &["responseElements"]);
    if who.and_then(|w| text(w, &["type"])).as_deref() == Some("AWSService") {
        return Some("userIdentity.type AWSService");
    }
    if who
        .and_then(|w| text(w, &["invokedBy"]))
        .is_some_and(|s| !s.trim().is_empty())
    {
        return Some("userIdentity.invokedBy set");
    }
    if service_event {
        return Some("a service event");
    }
    let managed_metadata = ["keyMetadata", "replicaKeyMetadata"].iter().any(|m| {
        resp.and_then(|r| field(r, &[m]))
            .and_then(|md| text(md, &["keyManager"]))
            .as_deref()
            == Some("AWS")
    });
    let managed_alias = req
        .and_then(|r| text(r, &["keyId", "aliasName"]))
        .is_some_and(|k| k.starts_with("alias/aws/") || k.contains(":alias/aws/"));
    if managed_metadata || managed_alias {
        return Some("an AWS managed key");
    }
    if is_ebs_grant(detail) {
        return Some("EC2's grant for an EBS volume");
    }
    None
}

/// EC2's `CreateGrant` for an encrypted EBS volume, as AWS documents it: grantee
/// `<account>:aws:ec2-infrastructure:<instance>`, constrained by `encryptionContextSubset` to
/// the volume (`aws:ebs:id`), `userAgent` `AWS Internal`. All three must hold: any principal
/// may name an EBS volume in a constraint.
fn is_ebs_grant(detail: &Value) -> bool {
    let Some(req) = field(detail, &["requestParameters"]) else {
        return false;
    };
    text(detail, &["eventName"]).as_deref() == Some("CreateGrant")
        && text(detail, &["userAgent"]).as_deref() == Some("AWS Internal")
        && text(req, &["granteePrincipal"]).is_some_and(|g| g.contains("aws:ec2-infrastructure"))
        && field(req, &["constraints"])
            .and_then(|c| field(c, &["encryptionContextSubset"]))
            .and_then(Value::as_object)
            .is_some_and(|ctx| ctx.contains_key("aws:ebs:id"))
}

/// The state of a key a cryptographic operation was refused for, read from its
/// `errorMessage` (`<key ARN> is pending deletion.`): AWS documents either
/// `KMSInvalidStateException` or `DisabledException` as the code, so the message decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UnusableState {
    PendingDeletion,
    PendingReplicaDeletion,
    Disabled,
}

impl UnusableState {
    /// The key state as KMS names it.
    pub fn key_state(self) -> &'static str {
        match self {
            UnusableState::PendingDeletion => "PendingDeletion",
            UnusableState::PendingReplicaDeletion => "PendingReplicaDeletion",
            UnusableState::Disabled => "Disabled",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            UnusableState::Disabled => Kind::DisabledKeyUsed,
            _ => Kind::PendingDeletionKeyUsed,
        }
    }
}

/// A cryptographic operation ([`KEY_USE_CALLS`]) refused because its key is pending deletion
/// or disabled; `None` for any other record.
pub(super) fn unusable_key_use(name: &str, error_message: Option<&str>) -> Option<UnusableState> {
    if !names(KEY_USE_CALLS, name) {
        return None;
    }
    let message = error_message?.trim_end();
    if message.ends_with(" is pending deletion.") {
        Some(UnusableState::PendingDeletion)
    } else if message.ends_with(" is pending replica deletion.") {
        Some(UnusableState::PendingReplicaDeletion)
    } else if message.ends_with(" is disabled.") {
        Some(UnusableState::Disabled)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_last_row_matches_everything_and_names_are_unique() {
        let last = SEVERITY_POLICY.last().unwrap();
        assert_eq!(last.rule, Rule::Other);
        let mut seen: Vec<&str> = SEVERITY_POLICY.iter().map(|r| r.name).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), SEVERITY_POLICY.len());
        // No call is named by two rows: the table reads the same in any order of them.
        let mut calls: Vec<&str> = SEVERITY_POLICY
            .iter()
            .flat_map(|r| r.calls)
            .copied()
            .collect();
        let n = calls.len();
        calls.sort_unstable();
        calls.dedup();
        assert_eq!(calls.len(), n);
    }

    #[test]
    fn unusable_key_use_matches_the_message_not_the_code() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let m = |s: &str| format!("{arn} {s}");
        assert_eq!(
            unusable_key_use("Decrypt", Some(&m("is pending deletion."))),
            Some(UnusableState::PendingDeletion)
        );
        assert_eq!(
            unusable_key_use("GenerateDataKeyWithoutPlaintext", Some(&m("is disabled."))),
            Some(UnusableState::Disabled)
        );
        assert_eq!(
            unusable_key_use("ReEncrypt", Some(&m("is pending replica deletion."))),
            Some(UnusableState::PendingReplicaDeletion)
        );
        // Other states, other calls, no message.
        assert_eq!(
            unusable_key_use("Decrypt", Some(&m("is pending import."))),
            None
        );
        assert_eq!(
            unusable_key_use("EnableKey", Some(&m("is pending deletion."))),
            None
        );
        assert_eq!(unusable_key_use("Decrypt", None), None);
    }

    #[test]
    fn routine_reasons_are_the_documented_ones() {
        let ebs = json!({"eventName": "CreateGrant", "userAgent": "AWS Internal",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
            "requestParameters": {"granteePrincipal": "111122223333:aws:ec2-infrastructure:i-0123456789abcdef0",
                "constraints": {"encryptionContextSubset": {"aws:ebs:id": "vol-0123456789abcdef0"}}}});
        assert_eq!(
            routine_reason(&ebs, false),
            Some("EC2's grant for an EBS volume")
        );
        // Each of the three conditions is needed.
        for (path, value) in [
            ("/userAgent", json!("aws-cli/2.22.0")),
            (
                "/requestParameters/granteePrincipal",
                json!("arn:aws:iam::111122223333:role/app"),
            ),
            (
                "/requestParameters/constraints",
                json!({"encryptionContextSubset": {"app": "x"}}),
            ),
        ] {
            let mut v = ebs.clone();
            *v.pointer_mut(path).unwrap() = value;
            assert_eq!(routine_reason(&v, false), None, "{path}");
        }
        assert_eq!(
            routine_reason(
                &json!({"userIdentity": {"type": "AWSService", "invokedBy": "x"}}),
                false
            ),
            Some("userIdentity.type AWSService")
        );
        assert_eq!(
            routine_reason(
                &json!({"userIdentity": {"type": "IAMUser", "invokedBy": "acm.amazonaws.com"}}),
                false
            ),
            Some("userIdentity.invokedBy set")
        );
        assert_eq!(routine_reason(&json!({}), true), Some("a service event"));
        assert_eq!(
            routine_reason(
                &json!({"requestParameters": {"keyId": "alias/aws/ebs"}}),
                false
            ),
            Some("an AWS managed key")
        );
        assert_eq!(
            routine_reason(
                &json!({"responseElements": {"keyMetadata": {"keyManager": "AWS"}}}),
                false
            ),
            Some("an AWS managed key")
        );
        assert_eq!(
            routine_reason(
                &json!({"responseElements": {"keyMetadata": {"keyManager": "CUSTOMER"}}}),
                false
            ),
            None
        );
    }
}
