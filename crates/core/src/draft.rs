//! The builder every source normalizer fills in; `finish` derives the shared fields
//! (family, severity default, title, dedup key) the same way for every source.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::alert::{Alert, Cloud, Fact, Family, Kind, Severity};
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
        }
    }

    /// Adds a fact when the value is present.
    pub fn fact(&mut self, label: &str, value: Option<impl Into<String>>) {
        if let Some(value) = value {
            self.facts.push(Fact {
                label: label.to_string(),
                value: value.into(),
            });
        }
    }

    /// Fills region and account from the resource ARN where they are still unknown.
    pub fn fill_from_resource(&mut self) {
        if let Some((region, account, _)) =
            self.resource.as_deref().and_then(crate::fields::arn_parts)
        {
            if self.region.is_none() {
                self.region = region.map(str::to_string);
            }
            if self.account.is_none() {
                self.account = account.map(str::to_string);
            }
        }
    }

    /// The part of the resource ARN after `marker` (`key/`, `secret/`), if any.
    pub fn resource_tail(&self, marker: &str) -> Option<String> {
        self.resource
            .as_deref()
            .and_then(|r| r.split_once(marker))
            .map(|(_, t)| t.to_string())
            .filter(|t| !t.is_empty())
    }

    pub fn finish(mut self, raw: Value) -> Alert {
        // Event content is unbounded; the alert is not. Every field stays usable in a message.
        self.facts.truncate(FACTS_MAX);
        for f in &mut self.facts {
            f.label = bounded(std::mem::take(&mut f.label), 128);
            f.value = bounded(std::mem::take(&mut f.value), FIELD_MAX);
        }
        self.summary = bounded(self.summary, 2 * FIELD_MAX);
        for field in [
            &mut self.account,
            &mut self.region,
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
                Some(name) => format!(
                    "{}: {}",
                    self.kind.headline(),
                    one_line(name, TITLE_NAME_MAX)
                ),
                None => self.kind.headline().to_string(),
            },
        };
        let dedup_key = dedup_key(
            self.cloud,
            self.kind,
            self.resource.as_deref().or(self.resource_name.as_deref()),
            self.dedup_discriminator
                .as_deref()
                .or(self.event_id.as_deref())
                .or(self.occurred_at.as_deref()),
            &raw,
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
            raw,
        }
    }
}

/// `cloud:kind:` and 24 hex digits of SHA-256 over what identifies the occurrence. Deletions of
/// a resource happen once, so they dedup on the resource alone (AWS documents that `KMS CMK
/// Deletion` can arrive several times with different ids). Without a discriminator the whole
/// raw event is hashed, so byte-identical redeliveries still collapse.
fn dedup_key(
    cloud: Cloud,
    kind: Kind,
    resource: Option<&str>,
    discriminator: Option<&str>,
    raw: &Value,
) -> String {
    let mut h = Sha256::new();
    h.update(cloud.as_str());
    h.update([0]);
    h.update(kind.as_str());
    h.update([0]);
    h.update(resource.unwrap_or(""));
    h.update([0]);
    let once_per_resource =
        matches!(kind, Kind::KeyDeleted | Kind::SecretDeleted) && resource.is_some();
    if !once_per_resource {
        match discriminator {
            Some(d) => h.update(d),
            None => h.update(raw.to_string()),
        }
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(64);
    out.push_str(cloud.as_str());
    out.push(':');
    out.push_str(kind.as_str());
    out.push(':');
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in &digest[..12] {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}
