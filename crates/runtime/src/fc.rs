//! Alibaba Cloud Function Compute 3.0 custom runtime for the event functions: an HTTP server
//! on `0.0.0.0:$FC_CUSTOM_LISTEN_PORT` (else `FC_SERVER_PORT`, else 9000).
//!
//! - `POST /invoke`: the event (CloudMonitor event, CloudEvent object or array). 200 with the
//!   outcome when every alert was published; otherwise status 404 and `x-fc-status: 404` with
//!   an error body, so FC's retry and async dead-letter see it.
//! - `POST /initialize`: 200 (nothing to warm: clients are built at start).
//! - `GET /pre-stop`: 200.
//! - anything else: 404.
//!
//! The server fails closed on what `x-fc-control-path` says a request is ([`ControlPath`]).
//! FC 2.0 documents `/invoke` (an event call), `/initialize` and `/http-invoke` (an HTTP
//! trigger's call, whose headers are the caller's); whether FC 3.0 sends the header at all is
//! unconfirmed, and emulators and local runs do not. So an event call is `POST /invoke` with
//! the header exactly `/invoke`, sent once, or without it. Any other readable value
//! (`/http-invoke`...) is 404: event functions have no HTTP trigger, and alarm callbacks have
//! their own function ([`crate::alarm_callback`]). A header that is not one readable value
//! (sent twice, empty, not printable ASCII) is 400 on every route, with `x-fc-status: 404`,
//! before the body is read or anything published: the server refuses rather than guess.
//!
//! Credentials for MNS come from `x-fc-access-key-id`, `x-fc-access-key-secret` and
//! `x-fc-security-token` of an event call (only FC reaches an event function), else from the
//! environment's `ALIBABA_CLOUD_*`; the request id from `x-fc-request-id`.
//! `KMS_ALERTS_TIMEOUT_SECONDS` (the function's `timeout` in s.yaml) sets the deadline
//! publishing stops before; `KMS_ALERTS_BODY_TIMEOUT_MS` (default 10 s) how long a request
//! body may take to arrive once its headers have (408 after that).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use hyper::body::Incoming;
use kms_alerts_notify::{env_number, AlibabaCredentials, ConfigError};
use serde_json::json;
use tokio::net::TcpListener;

use crate::handler::Handler;
use crate::http_server::{self, plain, read_body, single_header, BodyError, HeaderProblem, Resp};

/// Default body limit (`KMS_ALERTS_MAX_BODY_BYTES`). FC takes at most 128 KB (256 KB on
/// request) asynchronously, which is how EventBridge invokes; 1 MiB leaves room for batches
/// while a hostile body of that size parses in well under 100 MB.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// Default for `KMS_ALERTS_BODY_TIMEOUT_MS`: how long a request body may take to arrive once
/// its headers have. FC sends an event whole, from the same network.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The port FC tells the runtime to listen on.
pub fn listen_port() -> u16 {
    ["FC_CUSTOM_LISTEN_PORT", "FC_SERVER_PORT"]
        .iter()
        .find_map(|k| std::env::var(k).ok().and_then(|v| v.trim().parse().ok()))
        .unwrap_or(9000)
}

fn max_body() -> usize {
    std::env::var("KMS_ALERTS_MAX_BODY_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_BODY)
}

/// `KMS_ALERTS_TIMEOUT_SECONDS`: the function's timeout, if set.
fn function_timeout() -> Option<Duration> {
    std::env::var("KMS_ALERTS_TIMEOUT_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
        .map(Duration::from_secs)
}

/// `KMS_ALERTS_BODY_TIMEOUT_MS`, else [`DEFAULT_BODY_TIMEOUT`]: 1 ms to 15 min, checked at
/// start-up.
pub(crate) fn body_timeout() -> Result<Duration, ConfigError> {
    env_number(
        "KMS_ALERTS_BODY_TIMEOUT_MS",
        DEFAULT_BODY_TIMEOUT.as_millis() as u64,
        1,
        15 * 60 * 1000,
    )
    .map(Duration::from_millis)
}

/// What `x-fc-control-path` says a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ControlPath<'a> {
    /// No such header: a local run or an emulator (and, unconfirmed, maybe FC 3.0).
    Absent,
    /// Exactly `/invoke`, once: FC's own event invocation.
    Invoke,
    /// Another readable value: `/http-invoke` (an HTTP trigger's call), `/initialize`...
    Other(&'a str),
    /// Sent more than once, empty or not printable ASCII: never taken for anything.
    Invalid(HeaderProblem),
}

impl ControlPath<'_> {
    pub(crate) fn of(headers: &HeaderMap) -> ControlPath<'_> {
        match single_header(headers, "x-fc-control-path") {
            Ok(None) => ControlPath::Absent,
            Ok(Some("/invoke")) => ControlPath::Invoke,
            Ok(Some(other)) => ControlPath::Other(other),
            Err(problem) => ControlPath::Invalid(problem),
        }
    }

    /// Whether this is an event call: `/invoke`, or no control path at all.
    fn is_event_call(self) -> bool {
        matches!(self, ControlPath::Absent | ControlPath::Invoke)
    }
}

/// The event function's server state.
struct EventServer {
    handler: Handler,
    max_body: usize,
    body_timeout: Duration,
    timeout: Option<Duration>,
}

/// Reads the settings (a bad one is a start-up error), listens on FC's port and serves the
/// event routes until the process ends.
pub async fn run(handler: Handler) -> Result<(), lambda_runtime::Error> {
    let state = Arc::new(EventServer {
        handler,
        max_body: max_body(),
        body_timeout: body_timeout()?,
        timeout: function_timeout(),
    });
    let addr = SocketAddr::from(([0, 0, 0, 0], listen_port()));
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "Function Compute custom runtime listening");
    http_server::serve(listener, state, route).await?;
    Ok(())
}

async fn route(server: Arc<EventServer>, req: Request<Incoming>) -> Resp {
    let control = ControlPath::of(req.headers());
    if let ControlPath::Invalid(problem) = control {
        return invalid_control_path(problem, &request_id(req.headers()));
    }
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/invoke") if control.is_event_call() => invoke(&server, req).await,
        (&Method::POST, "/invoke") => {
            // Printable ASCII (else Invalid), so any cut is on a character boundary.
            let value = match control {
                ControlPath::Other(v) => v.get(..64).unwrap_or(v),
                _ => "",
            };
            tracing::warn!(
                control_path = value,
                "refused: not an event call (x-fc-control-path is not /invoke), such as an HTTP trigger's call"
            );
            plain(StatusCode::NOT_FOUND, "not found")
        }
        (&Method::POST, "/initialize") => plain(StatusCode::OK, "initialized"),
        (&Method::GET, "/pre-stop") => plain(StatusCode::OK, "stopping"),
        _ => plain(StatusCode::NOT_FOUND, "not found"),
    }
}

/// The answer to a request whose `x-fc-control-path` is not one readable value: 400, with
/// `x-fc-status: 404` so that FC, had it sent it, would count a failed invocation rather than
/// a success.
fn invalid_control_path(problem: HeaderProblem, request_id: &str) -> Resp {
    tracing::warn!(
        requestId = request_id,
        problem = problem.as_str(),
        "refused: x-fc-control-path is not one readable value"
    );
    failure(
        StatusCode::BAD_REQUEST,
        json!({"errorType": "InvalidControlPath",
            "errorMessage": format!("request {request_id}: the x-fc-control-path header is {}; an event call has it exactly once, as /invoke, or not at all. Nothing was published", problem.as_str())}),
    )
}

/// A failed invocation as FC reads it: status 404 and `x-fc-status: 404`.
fn function_error(body: serde_json::Value) -> Resp {
    failure(StatusCode::NOT_FOUND, body)
}

/// An answer with `status` that FC counts as a failed invocation (`x-fc-status: 404`).
fn failure(status: StatusCode, body: serde_json::Value) -> Resp {
    let mut r = http_server::json(status, &body);
    r.headers_mut()
        .insert("x-fc-status", HeaderValue::from_static("404"));
    r
}

/// FC's per-request STS credentials from the `x-fc-*` headers, if each is one readable value.
fn credentials(headers: &HeaderMap) -> Option<AlibabaCredentials> {
    let get = |name| {
        single_header(headers, name)
            .ok()
            .flatten()
            .map(str::to_string)
    };
    Some(AlibabaCredentials {
        access_key_id: get("x-fc-access-key-id")?,
        access_key_secret: get("x-fc-access-key-secret")?,
        security_token: get("x-fc-security-token"),
    })
}

/// Takes the STS credentials FC passes with an event call, for the MNS sinks. Only for event
/// calls ([`ControlPath::is_event_call`]) of an event function, which only FC reaches; never
/// from an HTTP trigger's caller (see [`crate::alarm_callback`]).
fn take_credentials(handler: &Handler, headers: &HeaderMap) {
    if let Some(creds) = credentials(headers) {
        handler.notifier().alibaba_credentials().set(creds);
    }
}

/// The request id FC gives, if it is one readable value, else `unknown`.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    single_header(headers, "x-fc-request-id")
        .ok()
        .flatten()
        .unwrap_or("unknown")
        .to_string()
}

async fn invoke(server: &EventServer, req: Request<Incoming>) -> Resp {
    let request_id = request_id(req.headers());
    println!("FC Invoke Start RequestId: {request_id}");
    let resp = invoke_inner(server, req, &request_id).await;
    println!("FC Invoke End RequestId: {request_id}");
    resp
}

async fn invoke_inner(server: &EventServer, req: Request<Incoming>, request_id: &str) -> Resp {
    let deadline = server.timeout.map(|t| server.handler.deadline_within(t));
    take_credentials(&server.handler, req.headers());
    let (parts, body) = req.into_parts();
    let body = match read_body(&parts.headers, body, server.max_body, server.body_timeout).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            tracing::error!(
                requestId = request_id,
                limit = server.max_body,
                "request body over the limit"
            );
            return function_error(json!({"errorType": "PayloadTooLarge",
                "errorMessage": format!("request {request_id}: body is over the {}-byte limit", server.max_body)}));
        }
        Err(BodyError::TimedOut) => {
            let ms = server.body_timeout.as_millis();
            tracing::error!(
                requestId = request_id,
                timeout_ms = ms as u64,
                "request body not received in time"
            );
            return failure(
                StatusCode::REQUEST_TIMEOUT,
                json!({"errorType": "RequestTimeout",
                "errorMessage": format!("request {request_id}: the body did not arrive within {ms} ms (KMS_ALERTS_BODY_TIMEOUT_MS). Nothing was published")}),
            );
        }
        Err(BodyError::Unreadable(e)) => {
            tracing::error!(requestId = request_id, error = %e, "cannot read the request body");
            return function_error(json!({"errorType": "BadRequest",
                "errorMessage": format!("request {request_id}: cannot read the body: {e}")}));
        }
    };
    match server
        .handler
        .handle_bytes(&body, request_id, deadline)
        .await
    {
        Err(e) => {
            tracing::error!(requestId = request_id, error = %e, "invalid event");
            function_error(json!({"errorType": "InvalidEvent", "errorMessage": e.to_string()}))
        }
        Ok(outcome) if outcome.ok() => http_server::json(
            StatusCode::OK,
            &serde_json::to_value(&outcome).unwrap_or_default(),
        ),
        Ok(outcome) => function_error(
            json!({"errorType": "PublishFailed", "errorMessage": outcome.errors().join("; "), "outcome": outcome}),
        ),
    }
}
