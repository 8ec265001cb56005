//! The handler proper, shared by every platform: parse, check the family, publish each alert,
//! and report per record what happened.

use std::time::Duration;

use futures_util::StreamExt;
use kms_alerts_core::{parse_value_with, parse_with, Family, Options, ParseError, Record};
use kms_alerts_notify::{env_number, ConfigError, Delivery, Notifier};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

/// Default for `KMS_ALERTS_MAX_RECORDS`: the most records one invocation may hold. An SQS
/// batch is at most 10 records in template.yaml; an EventBridge event is one.
pub const DEFAULT_MAX_RECORDS: usize = 1000;
/// How many alerts of one invocation are published at once.
pub const PUBLISH_CONCURRENCY: usize = 8;
/// Default for `KMS_ALERTS_DEADLINE_MARGIN_MS`: how long before the platform's deadline the
/// handler stops publishing, to report what it did not do while it still can.
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(1500);

/// One handler: its family and its targets, built once per process.
#[derive(Debug)]
pub struct Handler {
    family: Family,
    /// Warn when an alert of another family arrives (a routing mistake); off for handlers that
    /// take every family, such as the trail object reader.
    family_check: bool,
    notifier: Notifier,
    max_records: usize,
    deadline_margin: Duration,
}

/// `KMS_ALERTS_MAX_RECORDS`, else [`DEFAULT_MAX_RECORDS`].
fn max_records_from_env() -> Result<usize, ConfigError> {
    env_number(
        "KMS_ALERTS_MAX_RECORDS",
        DEFAULT_MAX_RECORDS as u64,
        1,
        u32::MAX as u64,
    )
    .map(|n| n as usize)
}

/// `KMS_ALERTS_DEADLINE_MARGIN_MS`, else [`DEFAULT_DEADLINE_MARGIN`].
fn deadline_margin_from_env() -> Result<Duration, ConfigError> {
    env_number(
        "KMS_ALERTS_DEADLINE_MARGIN_MS",
        DEFAULT_DEADLINE_MARGIN.as_millis() as u64,
        0,
        60_000,
    )
    .map(Duration::from_millis)
}

/// What happened to one alert (or one record that could not become one).
#[derive(Debug, Clone, Serialize)]
pub struct AlertOutcome {
    /// SQS messageId / SNS MessageId / CloudEvent id the record came with.
    pub delivery_id: Option<String>,
    pub kind: Option<String>,
    pub severity: Option<String>,
    pub dedup_key: Option<String>,
    pub sent: Vec<String>,
    pub duplicate: Vec<String>,
    pub filtered: Vec<String>,
    /// Why the record failed; `None` when it was delivered everywhere it should be.
    pub error: Option<String>,
}

impl AlertOutcome {
    /// An outcome with nothing sent yet; `error` set makes it a failed record.
    pub fn new(delivery_id: Option<String>, error: Option<String>) -> AlertOutcome {
        AlertOutcome {
            delivery_id,
            kind: None,
            severity: None,
            dedup_key: None,
            sent: vec![],
            duplicate: vec![],
            filtered: vec![],
            error,
        }
    }
}

/// What happened to one invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub alerts: Vec<AlertOutcome>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.alerts.iter().all(|a| a.error.is_none())
    }

    /// Delivery ids of failed records; `None` if some failed record has no id to report.
    pub fn failed_ids(&self) -> Option<Vec<String>> {
        let mut ids: Vec<String> = Vec::new();
        for a in self.alerts.iter().filter(|a| a.error.is_some()) {
            let id = a.delivery_id.clone()?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Some(ids)
    }

    /// All error messages, one per failed record.
    pub fn errors(&self) -> Vec<String> {
        self.alerts.iter().filter_map(|a| a.error.clone()).collect()
    }
}

impl Handler {
    pub async fn from_env(family: Family) -> Result<Handler, ConfigError> {
        Ok(Handler {
            family,
            family_check: true,
            notifier: Notifier::from_env().await?,
            max_records: max_records_from_env()?,
            deadline_margin: deadline_margin_from_env()?,
        })
    }

    pub fn new(family: Family, notifier: Notifier) -> Handler {
        Handler {
            family,
            family_check: true,
            notifier,
            max_records: DEFAULT_MAX_RECORDS,
            deadline_margin: DEFAULT_DEADLINE_MARGIN,
        }
    }

    /// When to stop publishing, given the time the platform leaves this invocation: that much
    /// from now, less the margin.
    pub fn deadline_within(&self, remaining: Duration) -> Instant {
        Instant::now() + remaining.saturating_sub(self.deadline_margin)
    }

    fn options(&self) -> Options {
        Options {
            max_records: Some(self.max_records),
            ..Options::default()
        }
    }

    /// This handler takes alerts of every family without warning.
    pub fn accepting_every_family(mut self) -> Handler {
        self.family_check = false;
        self
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Handles raw bytes (FC body, stdin). Unparseable input, or more records than
    /// `KMS_ALERTS_MAX_RECORDS`, is an error and nothing of it is published. Records not
    /// published by `deadline` are reported failed.
    pub async fn handle_bytes(
        &self,
        body: &[u8],
        request_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Outcome, ParseError> {
        let parsed = parse_with(body, &format!("request {request_id}"), self.options())?;
        Ok(self
            .handle_records(parsed.records, request_id, deadline)
            .await)
    }

    /// Handles an already-decoded event (Lambda); over `KMS_ALERTS_MAX_RECORDS` it is an error.
    pub async fn handle_value(
        &self,
        event: Value,
        request_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Outcome, ParseError> {
        let parsed = parse_value_with(event, self.options());
        if parsed.over_limit {
            return Err(ParseError::TooManyRecords {
                what: format!("request {request_id}"),
                max: self.max_records,
            });
        }
        Ok(self
            .handle_records(parsed.records, request_id, deadline)
            .await)
    }

    /// Publishes one ready-made alert (the alarm callback), by `deadline`.
    pub async fn handle_alert(
        &self,
        alert: kms_alerts_core::Alert,
        request_id: &str,
        deadline: Option<Instant>,
    ) -> AlertOutcome {
        let record = Record {
            delivery_id: None,
            result: Ok(alert),
        };
        self.handle_record(record, request_id, deadline).await
    }

    /// Publishes at most [`PUBLISH_CONCURRENCY`] alerts at once, outcomes in record order.
    /// A record whose turn comes after `deadline` is not started and is reported failed.
    pub async fn handle_records(
        &self,
        records: Vec<Record>,
        request_id: &str,
        deadline: Option<Instant>,
    ) -> Outcome {
        let alerts = futures_util::stream::iter(records)
            .map(|r| self.handle_record(r, request_id, deadline))
            .buffered(PUBLISH_CONCURRENCY)
            .collect()
            .await;
        Outcome { alerts }
    }

    async fn handle_record(
        &self,
        record: Record,
        request_id: &str,
        deadline: Option<Instant>,
    ) -> AlertOutcome {
        let mut out = AlertOutcome::new(record.delivery_id, None);
        let alert = match record.result {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(requestId = request_id, delivery_id = ?out.delivery_id, error = %e, "record is not a readable event");
                out.error = Some(e.to_string());
                return out;
            }
        };
        out.kind = Some(alert.kind.as_str().to_string());
        out.severity = Some(alert.severity.as_str().to_string());
        out.dedup_key = Some(alert.dedup_key.clone());
        if self.family_check && alert.family != self.family {
            tracing::warn!(
                requestId = request_id,
                kind = alert.kind.as_str(),
                dedup_key = %alert.dedup_key,
                alert_family = alert.family.as_str(),
                handler_family = self.family.as_str(),
                "alert of another family reached this handler (check the routing rule); publishing it all the same"
            );
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            tracing::error!(requestId = request_id, kind = alert.kind.as_str(), dedup_key = %alert.dedup_key, "alert not published: the invocation deadline is near");
            out.error = Some(
                "not published: the invocation's deadline came first (the platform will retry)"
                    .into(),
            );
            return out;
        }
        match self.notifier.publish_until(&alert, deadline).await {
            Ok(Delivery {
                sent,
                duplicate,
                filtered,
            }) => {
                tracing::info!(
                    requestId = request_id,
                    kind = alert.kind.as_str(),
                    severity = alert.severity.as_str(),
                    dedup_key = %alert.dedup_key,
                    sent = ?sent,
                    duplicate = ?duplicate,
                    "alert published"
                );
                (out.sent, out.duplicate, out.filtered) = (sent, duplicate, filtered);
            }
            Err(e) => {
                tracing::error!(requestId = request_id, kind = alert.kind.as_str(), dedup_key = %alert.dedup_key, error = %e, "alert not published");
                out.sent = e.sent.clone();
                out.error = Some(e.to_string());
            }
        }
        out
    }
}
