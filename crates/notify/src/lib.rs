//! kms-alerts notify: the sinks normalized alerts are delivered to (stdout, AWS SNS, AWS SQS,
//! Alibaba Cloud MNS), configured from `KMS_ALERTS_TARGETS`, with per-target minimum
//! severity, bounded retries, and in-memory deduplication of redeliveries.
//!
//! [`Notifier::publish`] either delivers an alert to every target it is meant for, or returns
//! an error: a caller never reports success for an alert that was not published. Every request
//! is bounded by the attempt and publish timeouts, and [`Notifier::publish_until`] by the
//! caller's deadline too.

mod aws_error;
pub mod chat;
pub mod config;
pub mod dedup;
pub mod error;
pub mod https;
pub mod message;
pub mod mns;
pub mod retry;
pub mod route;
pub mod secrets;
pub mod shared_dedup;
pub mod sns;
pub mod sqs;
pub mod stdout;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use kms_alerts_core::{Alert, Severity};

/// The AWS SDK configuration loader every client here starts from: the standard environment
/// (credentials, region, endpoints), over an HTTPS client on rustls with ring.
pub fn aws_defaults() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(https)
}

pub use config::{env_number, parse_targets, Endpoint, MnsResource, Settings, TargetSpec};
pub use dedup::DedupCache;
pub use error::{ConfigError, PublishError, SinkError};
pub use mns::{AlibabaCredentials, CredentialSource, MnsSink};
pub use retry::RetryPolicy;
pub use shared_dedup::{ClaimOutcome, SharedDedup};
pub use sns::SnsSink;
pub use sqs::SqsSink;
pub use stdout::StdoutSink;

/// One destination.
#[derive(Debug, Clone)]
pub enum Sink {
    Stdout(StdoutSink),
    Sns(SnsSink),
    Sqs(SqsSink),
    Mns(Box<MnsSink>),
    Chat(std::sync::Arc<chat::ChatSink>),
}

impl Sink {
    async fn send(&self, alert: &Alert) -> Result<(), SinkError> {
        match self {
            Sink::Stdout(s) => s.send(alert),
            Sink::Sns(s) => s.send(alert).await,
            Sink::Sqs(s) => s.send(alert).await,
            Sink::Mns(s) => s.send(alert).await,
            Sink::Chat(s) => s.send(alert).await,
        }
    }
}

/// A sink with its name and the least severity it wants.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub min_severity: Severity,
    /// Which alerts it takes besides the severity.
    pub route: route::Route,
    pub sink: Sink,
}

/// What happened to one alert.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Targets that took the alert now.
    pub sent: Vec<String>,
    /// Targets that already took this alert (same dedup key) within the dedup TTL.
    pub duplicate: Vec<String>,
    /// Targets whose minimum severity is above the alert's.
    pub filtered: Vec<String>,
}

/// Delivers alerts to every configured target.
#[derive(Debug)]
pub struct Notifier {
    targets: Vec<Target>,
    log: Mutex<DeliveryLog>,
    alibaba_credentials: CredentialSource,
    /// Deliveries shared with every other instance (`KMS_ALERTS_DEDUP_TABLE`).
    shared: Option<SharedDedup>,
    /// How long to wait for another instance that is delivering the same alert.
    wait_for_others: std::time::Duration,
}

/// Which (target, alert) pairs were delivered recently, and which are being delivered now.
#[derive(Debug)]
struct DeliveryLog {
    delivered: DedupCache,
    /// Closed (sender dropped) when that delivery ends, whatever its result.
    in_flight: HashMap<String, tokio::sync::watch::Receiver<()>>,
}

/// One claimed (target, alert) pair: while it lives, concurrent publishes of the same alert
/// wait for it instead of sending again. Dropping it (the publish finished or was cancelled at
/// a deadline) releases the claim and wakes them.
struct Claim<'a> {
    log: &'a Mutex<DeliveryLog>,
    key: String,
    _done: tokio::sync::watch::Sender<()>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.in_flight.remove(&self.key);
    }
}

impl Notifier {
    /// Builds the targets in `KMS_ALERTS_TARGETS` (default stdout) with [`Settings::from_env`].
    /// AWS clients are built once here, from the standard AWS environment (region,
    /// credentials, `AWS_ENDPOINT_URL*`).
    pub async fn from_env() -> Result<Notifier, ConfigError> {
        let specs = parse_targets(&std::env::var("KMS_ALERTS_TARGETS").unwrap_or_default())?;
        Notifier::build(specs, Settings::from_env()?).await
    }

    /// Builds `specs` into targets.
    pub async fn build(
        specs: Vec<TargetSpec>,
        settings: Settings,
    ) -> Result<Notifier, ConfigError> {
        let needs_aws = settings.dedup_table.is_some()
            || specs.iter().any(|s| match &s.endpoint {
                Endpoint::Sns { .. } | Endpoint::Sqs { .. } => true,
                Endpoint::Chat { address, .. } => address.is_stored(),
                _ => false,
            });
        let aws = if needs_aws {
            Some(
                aws_defaults()
                    .retry_config(
                        RetryConfig::standard()
                            .with_max_attempts(settings.max_attempts)
                            .with_initial_backoff(settings.retry_base),
                    )
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(settings.attempt_timeout.min(CONNECT_TIMEOUT))
                            .operation_attempt_timeout(settings.attempt_timeout)
                            .operation_timeout(settings.publish_timeout)
                            .build(),
                    )
                    .load()
                    .await,
            )
        } else {
            None
        };
        let credentials = CredentialSource::from_env();
        let retry = RetryPolicy {
            max_attempts: settings.max_attempts,
            base: settings.retry_base,
            max_delay: std::time::Duration::from_secs(5),
            attempt_timeout: settings.attempt_timeout,
            operation_timeout: settings.publish_timeout,
        };
        let mut sns_clients: HashMap<Option<String>, aws_sdk_sns::Client> = HashMap::new();
        let mut sqs_clients: HashMap<Option<String>, aws_sdk_sqs::Client> = HashMap::new();
        let mut targets = Vec::with_capacity(specs.len());
        for spec in specs {
            let name = spec.name();
            let sink = match spec.endpoint {
                Endpoint::Stdout { format } => Sink::Stdout(StdoutSink { format }),
                Endpoint::Sns { topic_arn, chatbot } => {
                    let region = topic_arn
                        .split(':')
                        .nth(3)
                        .filter(|r| !r.is_empty())
                        .map(str::to_string);
                    let conf = aws.as_ref().expect("built when needed");
                    let client = sns_clients
                        .entry(region.clone())
                        .or_insert_with(|| sns_client(conf, region))
                        .clone();
                    Sink::Sns(SnsSink::new(client, topic_arn).chatbot(chatbot))
                }
                Endpoint::Sqs { queue_url } => {
                    let region = sqs_region(&queue_url);
                    let conf = aws.as_ref().expect("built when needed");
                    let client = sqs_clients
                        .entry(region.clone())
                        .or_insert_with(|| sqs_client(conf, region))
                        .clone();
                    Sink::Sqs(SqsSink::new(client, queue_url))
                }
                Endpoint::Mns {
                    endpoint,
                    resource,
                    name,
                    tag,
                    format,
                } => Sink::Mns(Box::new(MnsSink::new(
                    &endpoint,
                    resource,
                    &name,
                    tag,
                    format,
                    credentials.clone(),
                    retry,
                )?)),
                Endpoint::Chat {
                    vendor,
                    address,
                    keyword,
                    mention,
                    api_endpoint,
                } => Sink::Chat(std::sync::Arc::new(chat::ChatSink::new(
                    vendor,
                    address,
                    keyword,
                    mention,
                    api_endpoint,
                    aws.clone(),
                    retry,
                )?)),
            };
            targets.push(Target {
                name,
                min_severity: spec.min_severity,
                route: spec.route,
                sink,
            });
        }
        let shared = settings.dedup_table.as_ref().map(|table| {
            let conf = aws.as_ref().expect("built when needed");
            SharedDedup::new(
                aws_sdk_dynamodb::Client::new(conf),
                table,
                settings.dedup_ttl,
                settings.dedup_claim,
            )
        });
        let mut notifier = Notifier::with_targets(targets, &settings).with_credentials(credentials);
        notifier.shared = shared;
        Ok(notifier)
    }

    /// A notifier over ready-made targets (tests, custom wiring).
    pub fn with_targets(targets: Vec<Target>, settings: &Settings) -> Notifier {
        Notifier {
            targets,
            log: Mutex::new(DeliveryLog {
                delivered: DedupCache::new(settings.dedup_ttl, settings.dedup_capacity),
                in_flight: HashMap::new(),
            }),
            alibaba_credentials: CredentialSource::default(),
            shared: None,
            wait_for_others: settings.publish_timeout,
        }
    }

    fn with_credentials(mut self, credentials: CredentialSource) -> Notifier {
        self.alibaba_credentials = credentials;
        self
    }

    /// The credentials MNS sinks sign with; the FC runtime replaces them per request.
    pub fn alibaba_credentials(&self) -> &CredentialSource {
        &self.alibaba_credentials
    }

    /// The configured target names.
    pub fn target_names(&self) -> Vec<&str> {
        self.targets.iter().map(|t| t.name.as_str()).collect()
    }

    /// Delivers `alert` to every target whose minimum severity it meets, concurrently. Targets
    /// that already took an alert with the same dedup key (within the TTL) are skipped; while
    /// one publish of an alert is under way, a concurrent publish of the same alert waits for
    /// it and sends only where it failed. Any failure fails the whole publish, naming each
    /// failed target; the targets that did take it are remembered, so the platform's retry
    /// reaches only the ones that failed.
    pub async fn publish(&self, alert: &Alert) -> Result<Delivery, PublishError> {
        self.publish_until(alert, None).await
    }

    /// [`Notifier::publish`], given up at `deadline`: a target not done by then is a
    /// (transient) failure, so the caller can report it before the platform stops it.
    pub async fn publish_until(
        &self,
        alert: &Alert,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Delivery, PublishError> {
        let mut delivery = Delivery::default();
        let mut failures = Vec::new();
        let mut pending: Vec<&Target> = Vec::new();
        for t in &self.targets {
            if alert.severity < t.min_severity || !t.route.matches(alert) {
                delivery.filtered.push(t.name.clone());
            } else {
                pending.push(t);
            }
        }
        while !pending.is_empty() {
            let mut due: Vec<(&Target, Option<Claim<'_>>)> = Vec::new();
            let mut waiting = Vec::new();
            {
                let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
                let dedup = log.delivered.enabled();
                let now = Instant::now();
                for t in pending.drain(..) {
                    let key = dedup_entry(&t.name, &alert.dedup_key);
                    if !dedup {
                        due.push((t, None));
                    } else if log.delivered.contains(&key, now) {
                        delivery.duplicate.push(t.name.clone());
                    } else if let Some(rx) = log.in_flight.get(&key) {
                        waiting.push((t, rx.clone()));
                    } else {
                        let (tx, rx) = tokio::sync::watch::channel(());
                        log.in_flight.insert(key.clone(), rx);
                        let claim = Claim {
                            log: &self.log,
                            key,
                            _done: tx,
                        };
                        due.push((t, Some(claim)));
                    }
                }
            }
            let sends = futures_util::future::join_all(
                due.iter()
                    .map(|(t, _)| until(deadline, &t.name, self.deliver(t, alert))),
            );
            let waits = futures_util::future::join_all(waiting.iter_mut().map(|(_, rx)| {
                until(deadline, "", async move {
                    // Err: the claim was dropped, which is the signal.
                    let _ = rx.changed().await;
                    Ok(())
                })
            }));
            let (results, waited) = futures_util::future::join(sends, waits).await;
            {
                let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
                for ((t, _), r) in due.iter().zip(results) {
                    match r {
                        Ok(sent) => {
                            log.delivered
                                .insert(dedup_entry(&t.name, &alert.dedup_key), Instant::now());
                            if sent {
                                delivery.sent.push(t.name.clone());
                            } else {
                                delivery.duplicate.push(t.name.clone());
                            }
                        }
                        Err(e) => failures.push(e),
                    }
                }
            }
            drop(due);
            // Targets another publish was delivering: look again (delivered, or claim them).
            for ((t, _), w) in waiting.into_iter().zip(waited) {
                match w {
                    Ok(()) => pending.push(t),
                    Err(mut e) => {
                        e.target = t.name.clone();
                        e.message = format!(
                            "{} (a concurrent delivery of the same alert was still under way)",
                            e.message
                        );
                        failures.push(e);
                    }
                }
            }
        }
        if failures.is_empty() {
            Ok(delivery)
        } else {
            Err(PublishError {
                dedup_key: alert.dedup_key.clone(),
                failures,
                sent: delivery.sent,
            })
        }
    }
}

impl Notifier {
    /// Sends `alert` to `t`, once across every instance when a shared table is configured:
    /// `Ok(true)` sent now, `Ok(false)` another instance already sent it. While another
    /// instance holds the claim, this one waits (up to the publish timeout) for it to confirm
    /// or lapse; still held then, it is a transient failure, so the platform retries later
    /// instead of dropping or double-sending.
    async fn deliver(&self, t: &Target, alert: &Alert) -> Result<bool, SinkError> {
        let Some(shared) = &self.shared else {
            return t.sink.send(alert).await.map(|()| true);
        };
        let key = SharedDedup::item_key(&t.name, &alert.dedup_key);
        let give_up = tokio::time::Instant::now() + self.wait_for_others;
        let mut free = true;
        loop {
            // Claim when the pair looks free; while another instance holds it, only read.
            let outcome = if free {
                shared.claim(&t.name, &key).await?
            } else {
                shared.state(&t.name, &key).await?
            };
            match outcome {
                ClaimOutcome::Delivered => return Ok(false),
                ClaimOutcome::Claimed(token) => {
                    return match t.sink.send(alert).await {
                        Ok(()) => {
                            if let Err(e) = shared.confirm(&t.name, &key, &token).await {
                                tracing::warn!(dedup_key = %alert.dedup_key, error = %e, "sent, but not recorded in the dedup table: a retry after the claim lapses may send again");
                            }
                            Ok(true)
                        }
                        Err(e) => {
                            if let Err(r) = shared.release(&t.name, &key, &token).await {
                                tracing::warn!(dedup_key = %alert.dedup_key, error = %r, "claim not released; it lapses on its own");
                            }
                            Err(e)
                        }
                    };
                }
                // Read as free (missing or lapsed): claim it now.
                ClaimOutcome::InProgress(0) if !free => free = true,
                ClaimOutcome::InProgress(lapses_at) => {
                    free = false;
                    if tokio::time::Instant::now() >= give_up {
                        return Err(SinkError {
                            target: t.name.clone(),
                            transient: true,
                            message: format!(
                                "another instance is delivering this alert (its claim lapses at epoch second {lapses_at}); retry later"
                            ),
                        });
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
            }
        }
    }
}

/// The longest a connection may take to open, whatever the attempt timeout.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Runs `fut` until `deadline`; past it, a transient failure of `target`.
async fn until<F, T>(
    deadline: Option<tokio::time::Instant>,
    target: &str,
    fut: F,
) -> Result<T, SinkError>
where
    F: std::future::Future<Output = Result<T, SinkError>>,
{
    match deadline {
        None => fut.await,
        Some(d) => tokio::time::timeout_at(d, fut).await.unwrap_or_else(|_| {
            Err(SinkError {
                target: target.to_string(),
                transient: true,
                message: "not finished before the invocation deadline".into(),
            })
        }),
    }
}

fn dedup_entry(target: &str, dedup_key: &str) -> String {
    format!("{target}\u{0}{dedup_key}")
}

fn sns_client(conf: &SdkConfig, region: Option<String>) -> aws_sdk_sns::Client {
    let mut b = aws_sdk_sns::config::Builder::from(conf);
    if let Some(r) = region {
        b = b.region(Region::new(r));
    }
    aws_sdk_sns::Client::from_conf(b.build())
}

fn sqs_client(conf: &SdkConfig, region: Option<String>) -> aws_sdk_sqs::Client {
    let mut b = aws_sdk_sqs::config::Builder::from(conf);
    if let Some(r) = region {
        b = b.region(Region::new(r));
    }
    aws_sdk_sqs::Client::from_conf(b.build())
}

/// `https://sqs.us-east-1.amazonaws.com/...` -> `us-east-1`; other hosts use the default region.
fn sqs_region(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let mut parts = host.split('.');
    (parts.next()? == "sqs")
        .then(|| parts.next().map(str::to_string))
        .flatten()
        .filter(|r| r.contains('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqs_region_from_url() {
        assert_eq!(
            sqs_region("https://sqs.eu-west-1.amazonaws.com/1/q").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(sqs_region("http://127.0.0.1:5000/123456789012/q"), None);
    }
}
