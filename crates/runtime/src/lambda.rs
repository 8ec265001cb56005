//! AWS Lambda: the runtime API loop of `lambda_runtime`. EventBridge invocations fail when
//! any alert is not published (EventBridge retries, then the DLQ); SQS batches report
//! per-record failures in `batchItemFailures` so only those records are redelivered.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

use kms_alerts_core::ParseError;

use crate::handler::{Handler, Outcome};

/// Lambda always sets these; `lambda_runtime` panics without them, so a hand-started
/// process (emulators, tests) gets harmless defaults instead.
pub fn fill_missing_env() {
    for (k, v) in [
        ("AWS_LAMBDA_FUNCTION_NAME", "kms-alerts"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "local"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "local"),
    ] {
        if std::env::var_os(k).is_none() {
            std::env::set_var(k, v);
        }
    }
}

/// True for the SQS event shape: `{"Records": [{"eventSource": "aws:sqs", ...}]}`.
pub fn is_sqs_batch(event: &Value) -> bool {
    event
        .get("Records")
        .and_then(Value::as_array)
        .is_some_and(|rs| {
            !rs.is_empty()
                && rs.iter().all(|r| {
                    r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs")
                        || r.get("messageId").is_some()
                })
        })
}

/// Lambda's deadline (milliseconds since the Unix epoch) as the instant publishing stops: the
/// handler's margin before it. `None` when Lambda gave none.
pub fn publish_deadline(handler: &Handler, deadline_ms: u64) -> Option<tokio::time::Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    (deadline_ms > 0).then(|| {
        handler.deadline_within(std::time::Duration::from_millis(
            deadline_ms.saturating_sub(now_ms),
        ))
    })
}

/// Handles one invocation; `Err` makes it a failed invocation. `deadline_ms` is Lambda's
/// deadline (milliseconds since the Unix epoch): publishing stops the margin before it, and
/// what was not published is reported failed while the function can still answer.
pub async fn invoke(
    handler: &Handler,
    event: Value,
    request_id: &str,
    deadline_ms: u64,
) -> Result<Value, Error> {
    let deadline = publish_deadline(handler, deadline_ms);
    let sqs = is_sqs_batch(&event);
    let outcome = handler.handle_value(event, request_id, deadline).await;
    respond(outcome, sqs, request_id)
}

/// The invocation's answer: for an SQS batch, `batchItemFailures` naming the failed records
/// (the whole batch fails if one of them has no id); otherwise the outcome, or a failed
/// invocation if anything failed.
pub fn respond(
    outcome: Result<Outcome, ParseError>,
    sqs: bool,
    request_id: &str,
) -> Result<Value, Error> {
    let outcome = outcome.map_err(|e| {
        tracing::error!(requestId = request_id, error = %e, "invocation refused");
        Error::from(e.to_string())
    })?;
    if sqs {
        let ids = outcome.failed_ids().ok_or_else(|| -> Error {
            format!(
                "a failed SQS record has no messageId; failing the whole batch: {}",
                outcome.errors().join("; ")
            )
            .into()
        })?;
        let mut resp = SqsBatchResponse::default();
        resp.batch_item_failures = ids
            .into_iter()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                f
            })
            .collect();
        return Ok(serde_json::to_value(resp)?);
    }
    if outcome.ok() {
        Ok(serde_json::to_value(&outcome)?)
    } else {
        Err(outcome.errors().join("; ").into())
    }
}

/// The runtime API loop around `invoke`.
pub async fn run(handler: Handler) -> Result<(), Error> {
    run_with(
        Arc::new(handler),
        |h, event, request_id, deadline_ms| async move {
            invoke(&h, event, &request_id, deadline_ms).await
        },
    )
    .await
}

/// The runtime API loop around any invocation function, given the shared state, the event,
/// the request id and Lambda's deadline in epoch milliseconds.
pub async fn run_with<S, F, Fut>(state: Arc<S>, f: F) -> Result<(), Error>
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Value, String, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Value, Error>> + Send,
{
    let f = Arc::new(f);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (state, f) = (state.clone(), f.clone());
        async move {
            let ctx = event.context;
            f(state, event.payload, ctx.request_id, ctx.deadline).await
        }
    }))
    .await
}
