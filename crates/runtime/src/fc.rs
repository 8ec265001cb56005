//! Alibaba Cloud Function Compute 3.0 custom runtime: an HTTP server on
//! `0.0.0.0:$FC_CUSTOM_LISTEN_PORT` (else `FC_SERVER_PORT`, else 9000).
//!
//! - `POST /invoke`: the event (CloudMonitor event, CloudEvent object or array, alarm callback).
//!   200 with the outcome when every alert was published; otherwise status 404 and
//!   `x-fc-status: 404` with an error body, so FC's retry and async dead-letter see it.
//! - `POST /alarm`: the same, for CloudMonitor alarm callbacks through an HTTP trigger.
//! - `POST /initialize`: 200 (nothing to warm: clients are built at start).
//! - `GET /pre-stop`: 200.
//! - anything else: 404.
//!
//! Credentials for MNS come from `x-fc-access-key-id`, `x-fc-access-key-secret` and
//! `x-fc-security-token`; the request id from `x-fc-request-id`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kms_alerts_notify::AlibabaCredentials;
use serde_json::json;
use tokio::net::TcpListener;

use crate::handler::Handler;

/// Default body limit (`KMS_ALERTS_MAX_BODY_BYTES`): FC's own synchronous payload limit.
pub const DEFAULT_MAX_BODY: usize = 32 * 1024 * 1024;

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

pub async fn run(handler: Handler) -> Result<(), lambda_runtime::Error> {
    let addr = SocketAddr::from(([0, 0, 0, 0], listen_port()));
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "Function Compute custom runtime listening");
    serve(listener, Arc::new(handler), max_body()).await
}

/// Serves until the process ends; one failed connection never stops the server.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<Handler>,
    max_body: usize,
) -> Result<(), lambda_runtime::Error> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| route(handler.clone(), req, max_body));
            if let Err(e) = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
}

async fn route(
    handler: Arc<Handler>,
    req: Request<Incoming>,
    max_body: usize,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let resp = match (req.method(), req.uri().path()) {
        // `/alarm` is where an HTTP trigger delivers CloudMonitor alarm callbacks.
        (&Method::POST, "/invoke" | "/alarm") => invoke(&handler, req, max_body).await,
        (&Method::POST, "/initialize") => plain(StatusCode::OK, "initialized"),
        (&Method::GET, "/pre-stop") => plain(StatusCode::OK, "stopping"),
        _ => plain(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(resp)
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r
}

fn json_response(
    status: StatusCode,
    body: serde_json::Value,
    function_error: bool,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    if function_error {
        r.headers_mut()
            .insert("x-fc-status", http::HeaderValue::from_static("404"));
    }
    r
}

fn function_error(error_type: &str, message: String) -> Response<Full<Bytes>> {
    json_response(
        StatusCode::NOT_FOUND,
        json!({"errorType": error_type, "errorMessage": message}),
        true,
    )
}

/// Refuses a body over the limit (declared or streamed).
async fn too_large(
    body: &mut Incoming,
    request_id: &str,
    max_body: usize,
) -> Response<Full<Bytes>> {
    tracing::error!(
        requestId = request_id,
        limit = max_body,
        "request body over the limit"
    );
    discard(body, max_body).await;
    function_error(
        "PayloadTooLarge",
        format!("request {request_id}: body is over the {max_body}-byte limit"),
    )
}

/// Reads and drops up to `max_body` more bytes of a refused body, so the client (which is
/// still sending) gets the error response instead of a connection reset.
async fn discard(body: &mut Incoming, max_body: usize) {
    let mut seen = 0usize;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while seen <= max_body {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => seen += frame.data_ref().map_or(0, |d| d.len()),
            _ => return,
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn credentials(headers: &HeaderMap) -> Option<AlibabaCredentials> {
    Some(AlibabaCredentials {
        access_key_id: header(headers, "x-fc-access-key-id")?,
        access_key_secret: header(headers, "x-fc-access-key-secret")?,
        security_token: header(headers, "x-fc-security-token"),
    })
}

async fn invoke(
    handler: &Handler,
    req: Request<Incoming>,
    max_body: usize,
) -> Response<Full<Bytes>> {
    let request_id =
        header(req.headers(), "x-fc-request-id").unwrap_or_else(|| "unknown".to_string());
    println!("FC Invoke Start RequestId: {request_id}");
    let resp = invoke_inner(handler, req, max_body, &request_id).await;
    println!("FC Invoke End RequestId: {request_id}");
    resp
}

async fn invoke_inner(
    handler: &Handler,
    req: Request<Incoming>,
    max_body: usize,
    request_id: &str,
) -> Response<Full<Bytes>> {
    if let Some(creds) = credentials(req.headers()) {
        handler.notifier().alibaba_credentials().set(creds);
    }
    let declared = header(req.headers(), "content-length").and_then(|v| v.parse::<usize>().ok());
    let mut body = req.into_body();
    if declared.is_some_and(|n| n > max_body) {
        return too_large(&mut body, request_id, max_body).await;
    }
    let mut buf = bytes::BytesMut::new();
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > max_body {
                        return too_large(&mut body, request_id, max_body).await;
                    }
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => {
                tracing::error!(requestId = request_id, error = %e, "cannot read the request body");
                return function_error(
                    "BadRequest",
                    format!("request {request_id}: cannot read the body: {e}"),
                );
            }
        }
    }
    let body = buf.freeze();
    match handler.handle_bytes(&body, request_id).await {
        Err(e) => {
            tracing::error!(requestId = request_id, error = %e, "invalid event");
            function_error("InvalidEvent", e.to_string())
        }
        Ok(outcome) if outcome.ok() => json_response(
            StatusCode::OK,
            serde_json::to_value(&outcome).unwrap_or_default(),
            false,
        ),
        Ok(outcome) => json_response(
            StatusCode::NOT_FOUND,
            json!({"errorType": "PublishFailed", "errorMessage": outcome.errors().join("; "), "outcome": outcome}),
            true,
        ),
    }
}
