//! The notifier: every configured target, built once; one alert delivered to each target it is
//! meant for, once. All state (the in-process dedup, in-flight marks, the shared table's items)
//! is keyed by the target's identity, never by its name.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use kms_alerts_core::Alert;

use crate::config::Settings;
use crate::dedup::DedupCache;
use crate::error::{ConfigError, PublishError};
use crate::failure::SinkError;
use crate::mns::CredentialSource;
use crate::retry::RetryPolicy;
use crate::shared_dedup::{ClaimOutcome, SharedDedup};
use crate::sink::{Attempt, BuildContext};
use crate::target::{parse_targets, Target, TargetSpec};

/// What happened to one alert, by target label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Targets that took the alert now.
    pub sent: Vec<String>,
    /// Targets that already took this alert (same dedup key) within the dedup TTL.
    pub duplicate: Vec<String>,
    /// Targets whose minimum severity or routing rules leave this alert out.
    pub filtered: Vec<String>,
}

/// Delivers alerts to every configured target.
#[derive(Debug)]
pub struct Notifier {
    targets: Vec<Target>,
    retry: RetryPolicy,
    log: Mutex<DeliveryLog>,
    alibaba_credentials: CredentialSource,
    /// Deliveries shared with every other instance (`KMS_ALERTS_DEDUP_TABLE`).
    shared: Option<SharedDedup>,
    /// How long to wait for another instance that is delivering the same alert (bounded by
    /// the caller's deadline too).
    wait_for_others: std::time::Duration,
}

/// Which (target identity, alert) pairs were delivered recently, and which are being delivered now.
#[derive(Debug)]
struct DeliveryLog {
    delivered: DedupCache,
    /// Closed (sender dropped) when that delivery ends, whatever its result.
    in_flight: HashMap<String, tokio::sync::watch::Receiver<()>>,
}

/// One claimed (target, alert) pair: while it lives, concurrent publishes of the same alert to
/// the same target wait for it instead of sending again. Dropping it (the publish finished or
/// was cancelled at a deadline) releases the claim and wakes them.
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

/// The longest a connection may take to open, whatever the attempt timeout.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl Notifier {
    /// Builds the targets in `KMS_ALERTS_TARGETS` (default stdout) with [`Settings::from_env`].
    /// AWS clients are built once here, from the standard AWS environment (region,
    /// credentials, `AWS_ENDPOINT_URL*`).
    pub async fn from_env() -> Result<Notifier, ConfigError> {
        let specs = parse_targets(&std::env::var("KMS_ALERTS_TARGETS").unwrap_or_default())?;
        Notifier::build(specs, Settings::from_env()?).await
    }

    /// Builds `specs` into targets; each gets its identity from its position and address.
    pub async fn build(
        specs: Vec<TargetSpec>,
        settings: Settings,
    ) -> Result<Notifier, ConfigError> {
        let needs_aws =
            settings.dedup_table.is_some() || specs.iter().any(|s| s.config.needs_aws());
        let aws = if needs_aws {
            Some(aws_config(&settings).await)
        } else {
            None
        };
        let ctx = BuildContext {
            // The notifier's retry loop is the only one for sinks.
            aws_sinks: aws
                .as_ref()
                .map(|c| c.to_builder().retry_config(RetryConfig::disabled()).build()),
            aws: aws.clone(),
            alibaba: CredentialSource::from_env(),
            retry: settings.retry(),
        };
        let mut targets = Vec::with_capacity(specs.len());
        for (index, spec) in specs.into_iter().enumerate() {
            let mut t = Target::new(
                index,
                &spec.config.display(),
                &spec.config.identity(),
                spec.config.build(&ctx)?,
            );
            t.min_severity = spec.min_severity;
            t.route = spec.route;
            targets.push(t);
        }
        let mut notifier = Notifier::with_targets(targets, &settings);
        notifier.alibaba_credentials = ctx.alibaba;
        notifier.shared = settings.dedup_table.as_ref().map(|table| {
            let conf = aws.as_ref().expect("loaded when a table is set");
            SharedDedup::new(
                aws_sdk_dynamodb::Client::new(conf),
                table,
                settings.dedup_ttl,
                settings.dedup_claim,
            )
        });
        Ok(notifier)
    }

    /// A notifier over ready-made targets (tests, custom wiring).
    pub fn with_targets(targets: Vec<Target>, settings: &Settings) -> Notifier {
        Notifier {
            targets,
            retry: settings.retry(),
            log: Mutex::new(DeliveryLog {
                delivered: DedupCache::new(settings.dedup_ttl, settings.dedup_capacity),
                in_flight: HashMap::new(),
            }),
            alibaba_credentials: CredentialSource::default(),
            shared: None,
            // Long enough for a claim left by a crashed instance to lapse.
            wait_for_others: settings.dedup_claim + std::time::Duration::from_secs(1),
        }
    }

    /// The credentials MNS sinks sign with; the FC runtime replaces them per request.
    pub fn alibaba_credentials(&self) -> &CredentialSource {
        &self.alibaba_credentials
    }

    /// The configured targets' labels (masked name and identity suffix).
    pub fn target_names(&self) -> Vec<&str> {
        self.targets.iter().map(|t| t.label.as_str()).collect()
    }

    /// Delivers `alert` to every target whose minimum severity and routing rules it meets,
    /// concurrently. Targets that already took an alert with the same dedup key (within the
    /// TTL) are skipped; while one publish of an alert to a target is under way, a concurrent
    /// publish of the same alert to the same target waits for it and sends only if it failed.
    /// Any failure fails the whole publish, naming each failed target; the targets that did
    /// take it are remembered, so the platform's retry reaches only the ones that failed.
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
                delivery.filtered.push(t.label.clone());
            } else {
                pending.push(t);
            }
        }
        while !pending.is_empty() {
            let (due, mut waiting) = self.claim(&mut pending, alert, &mut delivery);
            let sends = futures_util::future::join_all(
                due.iter()
                    .map(|(t, _)| until(deadline, self.deliver(t, alert))),
            );
            let waits = futures_util::future::join_all(waiting.iter_mut().map(|(_, rx)| {
                until(deadline, async move {
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
                            log.delivered.insert(entry(t, alert), Instant::now());
                            if sent {
                                delivery.sent.push(t.label.clone());
                            } else {
                                delivery.duplicate.push(t.label.clone());
                            }
                        }
                        Err(e) => failures.push(e.for_target(&t.label)),
                    }
                }
            }
            drop(due);
            // Targets another publish was delivering: look again (delivered, or claim them).
            for ((t, _), w) in waiting.into_iter().zip(waited) {
                match w {
                    Ok(()) => pending.push(t),
                    Err(mut e) => {
                        e.message = format!(
                            "{} (a concurrent delivery of the same alert was still under way)",
                            e.message
                        );
                        failures.push(e.for_target(&t.label));
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

    /// Sorts `pending` targets: already delivered (into `delivery.duplicate`), being delivered
    /// by a concurrent publish (returned to wait on), or claimed now (returned to send).
    #[allow(clippy::type_complexity)]
    fn claim<'t>(
        &'t self,
        pending: &mut Vec<&'t Target>,
        alert: &Alert,
        delivery: &mut Delivery,
    ) -> (
        Vec<(&'t Target, Option<Claim<'t>>)>,
        Vec<(&'t Target, tokio::sync::watch::Receiver<()>)>,
    ) {
        let mut due = Vec::new();
        let mut waiting = Vec::new();
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let dedup = log.delivered.enabled();
        let now = Instant::now();
        for t in pending.drain(..) {
            let key = entry(t, alert);
            if !dedup {
                due.push((t, None));
            } else if log.delivered.contains(&key, now) {
                delivery.duplicate.push(t.label.clone());
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
        (due, waiting)
    }

    /// Sends `alert` to `t` with retries, once across every instance when a shared table is
    /// configured: `Ok(true)` sent now, `Ok(false)` another instance already sent it. While
    /// another instance holds the claim, this one waits (until the claim could have lapsed) for
    /// it to confirm or lapse; still held then, it is a transient failure, so the platform retries
    /// later instead of dropping or double-sending.
    async fn deliver(&self, t: &Target, alert: &Alert) -> Result<bool, SinkError> {
        let Some(shared) = &self.shared else {
            return t.send(alert, &self.retry).await.map(|()| true);
        };
        let key = SharedDedup::item_key(&t.id, &alert.dedup_key);
        let give_up = tokio::time::Instant::now() + self.wait_for_others;
        let mut free = true;
        loop {
            // Claim when the pair looks free; while another instance holds it, only read.
            let outcome = if free {
                shared.claim(&key).await?
            } else {
                shared.state(&key).await?
            };
            match outcome {
                ClaimOutcome::Delivered => return Ok(false),
                ClaimOutcome::Claimed(token) => {
                    let sent = t.send(alert, &self.retry).await;
                    let recorded = match &sent {
                        Ok(()) => shared.confirm(&key, &token).await,
                        Err(_) => shared.release(&key, &token).await,
                    };
                    if let Err(e) = recorded {
                        tracing::warn!(target_name = %t.label, dedup_key = %alert.dedup_key, error = %e, "dedup table not updated; the claim lapses on its own");
                    }
                    return sent.map(|()| true);
                }
                // Read as free (missing or lapsed): claim it now.
                ClaimOutcome::InProgress(0) if !free => free = true,
                ClaimOutcome::InProgress(lapses_at) => {
                    free = false;
                    if tokio::time::Instant::now() >= give_up {
                        return Err(SinkError::transient(format!(
                            "another instance is delivering this alert (its claim lapses at epoch second {lapses_at}); retry later"
                        )));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
            }
        }
    }
}

impl Target {
    /// Delivers `alert` to this target through the one retry loop: attempts under `retry`'s
    /// timeouts, `Retry-After` honoured, a refused stored credential read again once.
    pub async fn send(&self, alert: &Alert, retry: &RetryPolicy) -> Result<(), SinkError> {
        let attempt = Attempt { target: &self.id };
        retry
            .run_refreshing(
                &self.label,
                |_| self.sink.send(alert, attempt),
                || self.sink.refresh(),
            )
            .await
            .map_err(|e| e.for_target(&self.label))
    }
}

/// The in-process key of a (target, alert) pair.
fn entry(t: &Target, alert: &Alert) -> String {
    format!("{}\u{0}{}", t.id.key(), alert.dedup_key)
}

/// Runs `fut` until `deadline`; past it, a transient failure.
async fn until<F, T>(deadline: Option<tokio::time::Instant>, fut: F) -> Result<T, SinkError>
where
    F: std::future::Future<Output = Result<T, SinkError>>,
{
    match deadline {
        None => fut.await,
        Some(d) => tokio::time::timeout_at(d, fut).await.unwrap_or_else(|_| {
            Err(SinkError::transient(
                "not finished before the invocation deadline",
            ))
        }),
    }
}

/// The AWS configuration every client starts from, with the delivery settings' timeouts and
/// the SDK's standard retries (sinks switch those off).
async fn aws_config(settings: &Settings) -> aws_config::SdkConfig {
    crate::aws_defaults()
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
        .await
}
