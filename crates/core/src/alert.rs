//! The normalized alert every source event becomes.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Reads a name as JSON writes it (`key_deleted`, `secret_lifecycle`, `critical`) into a
/// [`Kind`], [`Family`], [`Severity`] or [`Cloud`]; `None` for any other name.
pub fn from_name<T: DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(Value::String(name.to_string())).ok()
}

/// What happened, independent of the cloud that reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    KeyRotated,
    KeyMaterialExpired,
    KeyDeleted,
    KeyDeletionScheduled,
    SecretDeletionScheduled,
    SecretDeleted,
    SecretRotationFailed,
    SecretRotationSucceeded,
    KeySyncFailed,
    KeySyncSucceeded,
    QpsNearQuota,
    ClientKeyExpiring,
    MetricAlarm,
    ApiCall,
    /// A cryptographic operation refused because its key is pending deletion.
    PendingDeletionKeyUsed,
    /// A cryptographic operation refused because its key is disabled.
    DisabledKeyUsed,
    Unknown,
}

impl Kind {
    /// The snake_case name used in JSON, logs and message attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::KeyRotated => "key_rotated",
            Kind::KeyMaterialExpired => "key_material_expired",
            Kind::KeyDeleted => "key_deleted",
            Kind::KeyDeletionScheduled => "key_deletion_scheduled",
            Kind::SecretDeletionScheduled => "secret_deletion_scheduled",
            Kind::SecretDeleted => "secret_deleted",
            Kind::SecretRotationFailed => "secret_rotation_failed",
            Kind::SecretRotationSucceeded => "secret_rotation_succeeded",
            Kind::KeySyncFailed => "key_sync_failed",
            Kind::KeySyncSucceeded => "key_sync_succeeded",
            Kind::QpsNearQuota => "qps_near_quota",
            Kind::ClientKeyExpiring => "client_key_expiring",
            Kind::MetricAlarm => "metric_alarm",
            Kind::ApiCall => "api_call",
            Kind::PendingDeletionKeyUsed => "pending_deletion_key_used",
            Kind::DisabledKeyUsed => "disabled_key_used",
            Kind::Unknown => "unknown",
        }
    }

    /// The family a kind belongs to. `Unknown` has no fixed family; see [`Family::guess`].
    pub fn family(self) -> Family {
        match self {
            Kind::KeyRotated
            | Kind::KeyMaterialExpired
            | Kind::KeyDeleted
            | Kind::KeyDeletionScheduled => Family::KeyLifecycle,
            Kind::SecretDeletionScheduled
            | Kind::SecretDeleted
            | Kind::SecretRotationFailed
            | Kind::SecretRotationSucceeded => Family::SecretLifecycle,
            Kind::KeySyncFailed
            | Kind::KeySyncSucceeded
            | Kind::QpsNearQuota
            | Kind::ClientKeyExpiring
            | Kind::MetricAlarm
            | Kind::Unknown => Family::InstanceHealth,
            Kind::ApiCall | Kind::PendingDeletionKeyUsed | Kind::DisabledKeyUsed => {
                Family::ApiActivity
            }
        }
    }

    /// The severity the source documents for this kind, used when the event carries none.
    pub fn default_severity(self) -> Severity {
        match self {
            Kind::KeyRotated
            | Kind::SecretRotationSucceeded
            | Kind::KeySyncSucceeded
            | Kind::ApiCall => Severity::Info,
            Kind::KeyDeleted
            | Kind::KeyDeletionScheduled
            | Kind::SecretDeletionScheduled
            | Kind::SecretDeleted
            | Kind::MetricAlarm
            | Kind::Unknown => Severity::Warning,
            Kind::KeyMaterialExpired
            | Kind::SecretRotationFailed
            | Kind::KeySyncFailed
            | Kind::QpsNearQuota
            | Kind::ClientKeyExpiring
            | Kind::PendingDeletionKeyUsed
            | Kind::DisabledKeyUsed => Severity::Critical,
        }
    }

    /// A short human phrase used as the start of titles.
    pub fn headline(self) -> &'static str {
        match self {
            Kind::KeyRotated => "KMS key rotated",
            Kind::KeyMaterialExpired => "KMS imported key material expired",
            Kind::KeyDeleted => "KMS key deleted",
            Kind::KeyDeletionScheduled => "KMS key scheduled for deletion",
            Kind::SecretDeletionScheduled => "Secret scheduled for deletion",
            Kind::SecretDeleted => "Secret deleted",
            Kind::SecretRotationFailed => "Secret rotation failed",
            Kind::SecretRotationSucceeded => "Secret rotation succeeded",
            Kind::KeySyncFailed => "KMS key sync failed",
            Kind::KeySyncSucceeded => "KMS key sync succeeded",
            Kind::QpsNearQuota => "KMS instance QPS near quota",
            Kind::ClientKeyExpiring => "KMS ClientKey expiring",
            Kind::MetricAlarm => "KMS metric alarm",
            Kind::ApiCall => "KMS API call",
            Kind::PendingDeletionKeyUsed => "KMS key pending deletion still in use",
            Kind::DisabledKeyUsed => "Disabled KMS key still in use",
            Kind::Unknown => "Unrecognized KMS event",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Event families; each handler binary serves one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    KeyLifecycle,
    SecretLifecycle,
    InstanceHealth,
    ApiActivity,
}

impl Family {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::KeyLifecycle => "key_lifecycle",
            Family::SecretLifecycle => "secret_lifecycle",
            Family::InstanceHealth => "instance_health",
            Family::ApiActivity => "api_activity",
        }
    }

    /// Best guess for an event we do not recognise, from its name.
    pub fn guess(name: &str) -> Family {
        let lower = name.to_ascii_lowercase();
        if lower.contains("secret") || lower.contains("credential") {
            Family::SecretLifecycle
        } else if lower.contains("cloudtrail") || lower.contains("api call") {
            Family::ApiActivity
        } else if lower.starts_with("key") || lower.contains("cmk") || lower.contains(" key") {
            Family::KeyLifecycle
        } else {
            Family::InstanceHealth
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgently someone should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// The name in capitals, as message headlines show it: `CRITICAL`, `WARNING`, `INFO`.
    pub fn upper(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Maps a source level (`CRITICAL`, `WARN`, `INFO`, `warning`, `P1`, ...) to a severity.
    pub fn from_level(level: &str) -> Option<Severity> {
        const LEVELS: [(&[&str], Severity); 3] = [
            (
                &["CRITICAL", "CRIT", "FATAL", "ERROR", "P1", "P2"],
                Severity::Critical,
            ),
            (&["WARN", "WARNING", "P3"], Severity::Warning),
            (&["INFO", "NOTICE", "OK", "P4", "P5"], Severity::Info),
        ];
        let level = level.trim();
        LEVELS
            .iter()
            .find(|(names, _)| names.iter().any(|n| level.eq_ignore_ascii_case(n)))
            .map(|(_, s)| *s)
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which cloud reported the event, decided from the evidence in it (ARNs, region and account
/// fields, the delivery envelope); `Unknown` when nothing in the input says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cloud {
    Aws,
    Alibaba,
    Unknown,
}

impl Cloud {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Alibaba => "alibaba",
            Cloud::Unknown => "unknown",
        }
    }

    /// The product name for people.
    pub fn display_name(self) -> &'static str {
        match self {
            Cloud::Aws => "AWS",
            Cloud::Alibaba => "Alibaba Cloud",
            Cloud::Unknown => "an unknown cloud",
        }
    }
}

/// One labelled detail of an alert, in the order it should be shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// Most labels are the normalizers' own words, kept without a copy.
    pub label: Cow<'static, str>,
    pub value: String,
}

/// One normalized alert: everything a sink or renderer needs, plus the raw event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: Kind,
    pub family: Family,
    pub severity: Severity,
    pub cloud: Cloud,
    pub account: Option<String>,
    pub region: Option<String>,
    /// The affected resource's ARN.
    pub resource: Option<String>,
    /// A short name for the resource: key id, secret name, instance id, alarm name.
    pub resource_name: Option<String>,
    /// When the event happened, RFC 3339 UTC (`2022-08-10T16:37:50Z`).
    pub occurred_at: Option<String>,
    /// One line, no control characters.
    pub title: String,
    /// One or two sentences in plain words: what happened and what to do.
    pub summary: String,
    pub facts: Vec<Fact>,
    pub console_url: Option<String>,
    /// Stable across redeliveries of the same event; safe as an SNS/SQS deduplication id.
    pub dedup_key: String,
    /// The source's own event id.
    pub event_id: Option<String>,
    /// The source's own name for the event (`KMS CMK Deletion`, `Key:DeleteKey:ScheduleDeletion`, `DisableKey`).
    pub event_type: Option<String>,
    /// Shared by the alert that opens a condition and the one that closes it (a secret's
    /// rotation, a key's pending deletion, a key's sync, an alarm rule on its instance).
    #[serde(default)]
    pub incident_key: Option<String>,
    /// This alert closes the condition of `incident_key` (rotation succeeded, sync succeeded,
    /// alarm back to OK, key deletion cancelled).
    #[serde(default)]
    pub resolved: bool,
    /// The event exactly as received (after unwrapping envelopes).
    pub raw: Value,
}

impl Alert {
    /// The value of the fact with this label, if any.
    pub fn fact(&self, label: &str) -> Option<&str> {
        self.facts
            .iter()
            .find(|f| f.label == label)
            .map(|f| f.value.as_str())
    }
}
