//! `kms-trail-objects`: reads the CloudTrail log objects that S3 notifications name (through
//! SQS, SNS or EventBridge, or CloudTrail's own SNS notification), streams each object from S3,
//! gunzips and splits it with the core's streaming reader, and publishes an alert for each KMS
//! record the way the EventBridge path would. Memory stays flat whatever the object's size:
//! at most a few chunks of the object and a few alerts are held at a time.
//!
//! Each delivery (SQS message) succeeds or fails alone: an object that cannot be read, a record
//! that cannot be parsed or an alert that is not published fails its delivery, so SQS
//! redelivers it (and the shared dedup table keeps what was sent from being sent again).

use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;

use aws_sdk_s3::Client;
use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use kms_alerts_core::{
    maybe_gunzip, object_notices, parse_piece, ObjectNotice, Options, Pieces, TrailObject,
};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::handler::{AlertOutcome, Handler, Outcome, PUBLISH_CONCURRENCY};

/// Chunks of an object in flight between the S3 reader and the parser.
const CHUNKS_IN_FLIGHT: usize = 4;
/// Alerts in flight between the parser and the publisher.
const ALERTS_IN_FLIGHT: usize = 64;
/// Default for `KMS_ALERTS_MAX_ALERTS_PER_OBJECT`: the most alerts one log object may give.
/// A CloudTrail file covers about five minutes of one account and region; past this many KMS
/// alerts the object is reported failed (its delivery goes back to the queue and, in the end,
/// to the dead-letter queue for a person to look at), so memory and time stay bounded.
pub const DEFAULT_MAX_ALERTS_PER_OBJECT: usize = 10_000;

/// The handler and the S3 client it reads with.
pub struct TrailReader {
    pub handler: Handler,
    pub s3: Client,
    /// The most alerts one object may give (`KMS_ALERTS_MAX_ALERTS_PER_OBJECT`).
    pub max_alerts: usize,
}

impl TrailReader {
    /// Builds the S3 client from the standard AWS environment. With a custom endpoint
    /// (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`: moto, MinIO) requests use path-style
    /// addressing, since bucket host names do not resolve there.
    pub async fn from_env(handler: Handler) -> Result<TrailReader, kms_alerts_notify::ConfigError> {
        let max_alerts = kms_alerts_notify::env_number(
            "KMS_ALERTS_MAX_ALERTS_PER_OBJECT",
            DEFAULT_MAX_ALERTS_PER_OBJECT as u64,
            1,
            1_000_000,
        )? as usize;
        let conf = kms_alerts_notify::aws_defaults().load().await;
        let custom_endpoint = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
            .iter()
            .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
        let s3 = aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(custom_endpoint)
            .build();
        Ok(TrailReader {
            handler: handler.accepting_every_family(),
            s3: Client::from_conf(s3),
            max_alerts,
        })
    }

    /// Handles one notification (raw bytes): every object of every delivery, outcomes tagged
    /// with their delivery's id. Input that is not JSON is an error.
    pub async fn handle_bytes(
        &self,
        body: &[u8],
        request_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Outcome, kms_alerts_core::ParseError> {
        let notices = object_notices(body, &format!("request {request_id}"))?;
        Ok(self.handle_notices(notices, request_id, deadline).await)
    }

    /// Handles decoded deliveries, one after the other.
    pub async fn handle_notices(
        &self,
        notices: Vec<ObjectNotice>,
        request_id: &str,
        deadline: Option<Instant>,
    ) -> Outcome {
        let mut alerts = Vec::new();
        for notice in notices {
            for reason in &notice.skipped {
                tracing::info!(requestId = request_id, delivery_id = ?notice.delivery_id, skipped = %reason, "not a log file, skipped");
            }
            let objects = match notice.objects {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(requestId = request_id, delivery_id = ?notice.delivery_id, error = %e, "delivery names no readable objects");
                    alerts.push(failed(notice.delivery_id.clone(), e.to_string()));
                    continue;
                }
            };
            for object in &objects {
                let mut outcomes = self.read_object(object, request_id, deadline).await;
                for o in &mut outcomes {
                    o.delivery_id = notice.delivery_id.clone();
                }
                alerts.extend(outcomes);
            }
        }
        Outcome { alerts }
    }

    /// Reads one object and publishes its KMS records; one outcome per alert, plus one per
    /// unreadable record, or a single failed outcome when the object cannot be read at all.
    async fn read_object(
        &self,
        object: &TrailObject,
        request_id: &str,
        deadline: Option<Instant>,
    ) -> Vec<AlertOutcome> {
        let name = format!("s3://{}/{}", object.bucket, object.key);
        let body = match self.get(object).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(requestId = request_id, object = %name, error = %e, "object not read");
                return vec![failed(None, format!("{name}: {e}"))];
            }
        };
        let (chunk_tx, chunk_rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        tokio::spawn(pump(body, chunk_tx, deadline));
        let (item_tx, item_rx) = mpsc::channel(ALERTS_IN_FLIGHT);
        let label = name.clone();
        let limits = Limits {
            deadline: deadline.map(Instant::into_std),
            max_alerts: self.max_alerts,
        };
        let parser = tokio::task::spawn_blocking(move || {
            parse_object(
                ChunkReader {
                    rx: chunk_rx,
                    chunk: Bytes::new(),
                },
                &label,
                limits,
                &item_tx,
            )
        });
        let items = futures_util::stream::unfold(item_rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let outcomes: Vec<AlertOutcome> = items
            .map(|item| async move {
                match item {
                    Item::Alert(alert) => {
                        self.handler
                            .handle_alert(*alert, request_id, deadline)
                            .await
                    }
                    Item::Unreadable(message) => {
                        tracing::error!(requestId = request_id, error = %message, "record not readable");
                        failed(None, message)
                    }
                }
            })
            .buffered(PUBLISH_CONCURRENCY)
            .collect()
            .await;
        match parser.await {
            Ok(stats) => {
                tracing::info!(
                    requestId = request_id,
                    object = %name,
                    records = stats.records,
                    alerts = outcomes.len(),
                    repeated = stats.repeated,
                    skipped_other_services = stats.skipped.other_service,
                    skipped_read_only = stats.skipped.read_only,
                    "log object read"
                );
                outcomes
            }
            Err(e) => {
                let mut outcomes = outcomes;
                outcomes.push(failed(None, format!("{name}: reading stopped: {e}")));
                outcomes
            }
        }
    }

    /// Starts reading `object`, trying its other spelling when the first does not exist.
    async fn get(
        &self,
        object: &TrailObject,
    ) -> Result<aws_sdk_s3::primitives::ByteStream, String> {
        let keys = std::iter::once(&object.key).chain(object.alternative_key.as_ref());
        let mut last = String::new();
        for key in keys {
            match self
                .s3
                .get_object()
                .bucket(&object.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(out) => return Ok(out.body),
                Err(e) => {
                    let missing = e.as_service_error().is_some_and(|se| se.is_no_such_key());
                    last = aws_sdk_s3::error::DisplayErrorContext(&e).to_string();
                    if !missing {
                        break;
                    }
                }
            }
        }
        Err(last)
    }
}

/// What the parser hands to the publisher.
enum Item {
    Alert(Box<kms_alerts_core::Alert>),
    Unreadable(String),
}

/// What one object held.
#[derive(Debug, Default)]
struct Stats {
    records: usize,
    repeated: usize,
    skipped: kms_alerts_core::Skipped,
}

/// What bounds the reading of one object.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// When reading stops (the publish deadline: the invocation's, less the margin).
    deadline: Option<std::time::Instant>,
    /// The most alerts the object may give.
    max_alerts: usize,
}

/// Splits and parses one object, sending each KMS alert (once per `eventID`) and each
/// unreadable record to the publisher. Runs on a blocking thread. Stops with an unreadable
/// record (so the delivery fails and is retried) at the deadline, however much of the object
/// is left (a small gzip member can inflate for a long time), and past `max_alerts` alerts.
fn parse_object(
    reader: ChunkReader,
    label: &str,
    limits: Limits,
    out: &mpsc::Sender<Item>,
) -> Stats {
    let mut stats = Stats::default();
    let send = |item: Item| out.blocking_send(item).is_ok();
    let reader = match maybe_gunzip(std::io::BufReader::with_capacity(64 * 1024, reader)) {
        Ok(r) => r,
        Err(e) => {
            send(Item::Unreadable(format!("{label}: {e}")));
            return stats;
        }
    };
    // The deadline is checked on every read of the inflated bytes, inside a record too.
    let reader = std::io::BufReader::with_capacity(
        64 * 1024,
        DeadlineReader {
            inner: reader,
            deadline: limits.deadline,
        },
    );
    let mut seen = HashSet::new();
    let mut alerts = 0usize;
    for (n, piece) in Pieces::new(reader, label).enumerate() {
        let piece = match piece {
            Ok(p) => p,
            Err(e) => {
                send(Item::Unreadable(e.to_string()));
                break;
            }
        };
        let what = piece.describe(label, n);
        stats.records += 1;
        match parse_piece(&piece, &what, Options::default()) {
            Ok(parsed) => {
                stats.skipped.add(parsed.skipped);
                for record in parsed.records {
                    let item = match record.result {
                        Ok(alert) => {
                            // A log file can hold the same event twice (same eventID).
                            if let Some(id) = &alert.event_id {
                                if !seen.insert(id.clone()) {
                                    stats.repeated += 1;
                                    continue;
                                }
                            }
                            alerts += 1;
                            if alerts > limits.max_alerts {
                                send(Item::Unreadable(format!(
                                    "{label}: more than {} KMS alerts in one object (KMS_ALERTS_MAX_ALERTS_PER_OBJECT); the first {} were published, the rest were not: the delivery fails so the object is retried and, in the end, reaches the dead-letter queue",
                                    limits.max_alerts, limits.max_alerts
                                )));
                                return stats;
                            }
                            Item::Alert(Box::new(alert))
                        }
                        Err(e) => Item::Unreadable(e.to_string()),
                    };
                    if !send(item) {
                        return stats;
                    }
                }
            }
            Err(e) => {
                if !send(Item::Unreadable(e.to_string())) {
                    return stats;
                }
            }
        }
    }
    stats
}

/// Moves the object's body, chunk by chunk, to the parser; stops at `deadline`.
async fn pump(
    mut body: aws_sdk_s3::primitives::ByteStream,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    deadline: Option<Instant>,
) {
    loop {
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, body.try_next()).await {
                Ok(r) => r,
                Err(_) => {
                    let _ = tx
                        .send(Err(std::io::Error::other(
                            "the invocation's deadline came before the object was read",
                        )))
                        .await;
                    return;
                }
            },
            None => body.try_next().await,
        };
        let item = match next {
            Ok(Some(chunk)) => Ok(chunk),
            Ok(None) => return,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        let stop = item.is_err();
        if tx.send(item).await.is_err() || stop {
            return;
        }
    }
}

/// A reader that fails once `deadline` has passed: reading stops in the middle of a record.
struct DeadlineReader<R> {
    inner: R,
    deadline: Option<std::time::Instant>,
}

impl<R: Read> Read for DeadlineReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self
            .deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the invocation's deadline came before the object was read",
            ));
        }
        self.inner.read(buf)
    }
}

/// The parser's view of the body: a blocking `Read` over the chunks the pump sends.
struct ChunkReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

fn failed(delivery_id: Option<String>, error: String) -> AlertOutcome {
    AlertOutcome::new(delivery_id, Some(error))
}

/// Lambda: each invocation is a notification; SQS batches answer with `batchItemFailures`.
pub async fn run_lambda(reader: TrailReader) -> Result<(), lambda_runtime::Error> {
    crate::lambda::run_with(
        Arc::new(reader),
        |reader, event: Value, request_id, deadline_ms| async move {
            let deadline = crate::lambda::publish_deadline(&reader.handler, deadline_ms);
            let sqs = crate::lambda::is_sqs_batch(&event);
            let notices = kms_alerts_core::sources::trail_objects::object_notices_in(
                &event,
                &format!("request {request_id}"),
            );
            let outcome = reader.handle_notices(notices, &request_id, deadline).await;
            crate::lambda::respond(Ok(outcome), sqs, &request_id)
        },
    )
    .await
}

/// Locally: one notification from stdin; the objects it names are fetched and published.
pub async fn run_local(reader: TrailReader) -> Result<(), lambda_runtime::Error> {
    let body = crate::local::read_stdin()?;
    crate::local::report(reader.handle_bytes(&body, "local", None).await)
}
