//! The builder every source normalizer fills in; `finish` derives the shared fields
//! (family, severity default, title, dedup and incident keys) the same way for every source.

use std::borrow::Cow;

use serde_json::Value;

use crate::alert::{Alert, Cloud, Fact, Family, Kind, Severity};
use crate::ids::{self, arn_parts, is_account_id, is_region_code, Identity};
use crate::text::one_line;

/// Longest resource name kept in a title.
const TITLE_NAME_MAX: usize = 80;
/// Longest value kept in any field of the normalized alert (the raw event keeps everything).
pub(crate) const FIELD_MAX: usize = 2048;
/// Most facts kept.
const FACTS_MAX: usize = 64;

/// Cuts `s` to at most `max` characters (keeping its content otherwise exact), ending in `…`.
fn bounded(mut s: String, max: usize) -> String {
    if s.len() > max {
        if let Some((i, _)) = s.char_indices().nth(max - 1) {
            s.truncate(i);
            s.push('…');
        }
    }
    s
}

fn bounded_opt(s: Option<String>) -> Option<String> {
    s.map(|s| bounded(s, FIELD_MAX))
}

#[derive(Debug)]
pub(crate) struct Draft {
    pub kind: Kind,
    pub cloud: Cloud,
    pub severity: Option<Severity>,
    pub family: Option<Family>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub resource: Option<String>,
    pub resource_name: Option<String>,
    pub occurred_at: Option<String>,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    /// Replaces `"{headline}: {resource_name}"` as the title.
    pub title: Option<String>,
    pub summary: String,
    pub facts: Vec<Fact>,
    pub console_url: Option<String>,
    /// What tells two distinct occurrences apart for deduplication; `None` uses the event id.
    pub dedup_discriminator: Option<String>,
    /// The condition this alert opens or closes, when its kind does not say (a metric alarm
    /// rule, `key_deletion` for `CancelKeyDeletion`).
    pub condition: Option<String>,
    /// This alert closes its condition (rotation succeeded, alarm back to OK, deletion cancelled).
    pub resolves: bool,
}

impl Draft {
    pub fn new(kind: Kind, cloud: Cloud) -> Self {
        Draft {
            kind,
            cloud,
            severity: None,
            family: None,
            account: None,
            region: None,
            resource: None,
            resource_name: None,
            occurred_at: None,
            event_id: None,
            event_type: None,
            title: None,
            summary: String::new(),
            facts: Vec::new(),
            console_url: None,
            dedup_discriminator: None,
            condition: None,
            resolves: false,
        }
    }

    /// Adds a fact when the value is present.
    pub fn fact(&mut self, label: impl Into<Cow<'static, str>>, value: Option<impl Into<String>>) {
        if let Some(value) = value {
            self.facts.push(Fact {
                label: label.into(),
                value: value.into(),
            });
        }
    }

    /// Takes region and account from the resource ARN: the resource's region wins over the
    /// region the event was reported from (a key is in the region of its ARN), and the ARN's
    /// account fills in where the event named none or only a masked or placeholder one.
    /// Returns the region the event named when the ARN's differs from it.
    pub fn fill_from_resource(&mut self) -> Option<String> {
        // A template ARN from documentation (`instance/<resource-id>`, `$regionId`) proves nothing.
        let arn = self
            .resource
            .as_deref()
            .filter(|r| !r.bytes().any(|b| matches!(b, b'<' | b'$' | b'{')))?;
        let (region, account, _) = arn_parts(arn)?;
        let mut reported = None;
        if let Some(r) = region.filter(|r| is_region_code(r)) {
            if self.region.as_deref() != Some(r) {
                reported = self.region.replace(r.to_string());
            }
        }
        if let Some(a) = account.filter(|a| is_account_id(a)) {
            if !self.account.as_deref().is_some_and(is_account_id) {
                self.account = Some(a.to_string());
            }
        }
        reported.filter(|r| is_region_code(r))
    }

    /// Builds the resource's ARN ([`ids::kms_arn`], in this alert's cloud, region and account)
    /// when the event named none; nothing from an invalid region or account.
    pub fn build_resource(&mut self, resource_type: &str, id: Option<&str>) {
        if self.resource.is_some() {
            return;
        }
        let (Some(region), Some(account), Some(id)) = (&self.region, &self.account, id) else {
            return;
        };
        self.resource = ids::kms_arn(self.cloud, region, account, resource_type, id);
    }

    /// Deduplicates on the resource and the UTC day of the occurrence ([`ids::per_day`]).
    pub fn dedup_per_day(&mut self) {
        self.dedup_discriminator = ids::per_day(self.occurred_at.as_deref());
    }

    /// The part of the resource ARN after `marker` (`key/`, `secret/`), if any.
    pub fn resource_tail(&self, marker: &str) -> Option<String> {
        self.resource
            .as_deref()
            .and_then(|r| r.split_once(marker))
            .map(|(_, t)| t.to_string())
            .filter(|t| !t.is_empty())
    }

    /// The alert, carrying `raw` as the event.
    pub fn finish(self, raw: Value) -> Alert {
        self.build(raw, true)
    }

    /// The alert as text and Markdown show it: without the raw event (`Null`) and without the
    /// dedup and incident keys (empty), which only JSON and the sinks use.
    pub fn finish_for_display(self) -> Alert {
        self.build(Value::Null, false)
    }

    fn build(mut self, raw: Value, keys: bool) -> Alert {
        // Event content is unbounded; the alert is not. Every field stays usable in a message.
        self.facts.truncate(FACTS_MAX);
        for f in &mut self.facts {
            if f.label.len() > 128 {
                f.label = bounded(std::mem::take(&mut f.label).into_owned(), 128).into();
            }
            f.value = bounded(std::mem::take(&mut f.value), FIELD_MAX);
        }
        self.summary = bounded(self.summary, 2 * FIELD_MAX);
        // Only real identifiers: a display name, placeholder or masked value is no region or account.
        self.region = self.region.filter(|r| is_region_code(r));
        self.account = self.account.filter(|a| is_account_id(a));
        for field in [
            &mut self.resource,
            &mut self.resource_name,
            &mut self.event_id,
            &mut self.event_type,
        ] {
            *field = bounded_opt(field.take());
        }
        let severity = self
            .severity
            .unwrap_or_else(|| self.kind.default_severity());
        let family = self.family.unwrap_or_else(|| self.kind.family());
        let title = match self.title {
            Some(t) => one_line(&t, 160),
            None => match self.resource_name.as_deref().or(self.resource.as_deref()) {
                Some(name) => {
                    [self.kind.headline(), ": ", &one_line(name, TITLE_NAME_MAX)].concat()
                }
                None => self.kind.headline().to_string(),
            },
        };
        let identity = Identity {
            cloud: self.cloud,
            kind: self.kind,
            resource: self.resource.as_deref().or(self.resource_name.as_deref()),
            discriminator: self.dedup_discriminator.as_deref(),
            event_id: self.event_id.as_deref(),
            occurred_at: self.occurred_at.as_deref(),
            condition: self.condition.as_deref(),
        };
        let (dedup_key, incident_key) = if keys {
            (identity.dedup_key(&raw), identity.incident_key())
        } else {
            (String::new(), None)
        };
        let resolved = self.resolves
            || matches!(
                self.kind,
                Kind::SecretRotationSucceeded | Kind::KeySyncSucceeded
            );
        Alert {
            kind: self.kind,
            family,
            severity,
            cloud: self.cloud,
            account: self.account,
            region: self.region,
            resource: self.resource,
            resource_name: self.resource_name,
            occurred_at: self.occurred_at,
            title,
            summary: self.summary,
            facts: self.facts,
            console_url: self.console_url,
            dedup_key,
            event_id: self.event_id,
            event_type: self.event_type,
            incident_key,
            resolved,
            raw,
        }
    }
}
