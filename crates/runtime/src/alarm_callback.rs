//! The CloudMonitor threshold-alarm callback function, `kms-alarm-callback`: the only function
//! with an HTTP trigger, so the only one an internet caller can reach.
//!
//! It serves nothing but `POST /alarm/<token>`, where `<token>` equals `KMS_ALERTS_ALARM_TOKEN`
//! (compared in constant time), with the callback's form-encoded body of at most 64 KiB.
//! Everything else, `/invoke` included, is 404. CloudMonitor does not sign callbacks (no
//! algorithm or key is published), so the secret path is what keeps forged alarms out; the
//! README lists CloudMonitor's source addresses for a network allow-list on top.
//!
//! Callers get a status and a short reason, never target names, dedup keys or upstream errors:
//! 200 delivered, 400 not an alarm callback (or an `x-fc-control-path` that is not one
//! readable value: sent twice, empty, not printable ASCII), 404 anything else, 408 body not
//! received in time (`KMS_ALERTS_BODY_TIMEOUT_MS`, at most the 5 s CloudMonitor waits), 413
//! too large, 415 not a form, 503 not delivered (CloudMonitor retries a failed callback up to
//! three times).
//!
//! MNS credentials come only from the platform, through the environment: the function role's
//! `ALIBABA_CLOUD_ACCESS_KEY_ID`, `_SECRET` and `_SECURITY_TOKEN`, which FC sets (without
//! them and with an `mns:` target the function does not start). Never from the request's
//! `x-fc-access-key-*` headers, and never stored for later requests: FC sends those headers
//! with HTTP-trigger calls too (control path `/http-invoke` in FC 2.0), and whether FC 3.0
//! removes or replaces `x-fc-*` headers (the control path included) that an HTTP caller sent
//! is unconfirmed, so a request here cannot prove they are FC's. FC's own event invocation
//! (`POST /invoke`, control path `/invoke`), whose headers would be the platform's, is not
//! served here (404), and a request to `/alarm/<token>` claiming `/invoke` is still an HTTP
//! caller's claim: its credential headers are ignored like any other.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use kms_alerts_core::{parse_alarm_callback, Kind};
use kms_alerts_notify::ConfigError;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use crate::fc::{body_timeout, listen_port, request_id, ControlPath};
use crate::handler::Handler;
use crate::http_server::{self, header, plain, read_body, BodyError, Resp};

/// The largest callback body taken. A callback is a few hundred bytes of form fields.
pub const MAX_CALLBACK_BODY: usize = 64 * 1024;
/// The shortest token accepted: 16 characters (`openssl rand -hex 32` gives 64).
pub const MIN_TOKEN_LEN: usize = 16;
/// How long one callback may take: CloudMonitor waits 5 s for an answer.
const CALLBACK_BUDGET: Duration = Duration::from_secs(5);

/// The secret path segment, kept only as its SHA-256 so the comparison takes the same time
/// whatever the caller sends.
pub struct AlarmToken([u8; 32]);

impl std::fmt::Debug for AlarmToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AlarmToken(<redacted>)")
    }
}

impl AlarmToken {
    /// `KMS_ALERTS_ALARM_TOKEN`; missing, empty, short or not URL-safe is an error naming it.
    pub fn from_env() -> Result<AlarmToken, String> {
        let token = std::env::var("KMS_ALERTS_ALARM_TOKEN").unwrap_or_default();
        AlarmToken::new(token.trim())
    }

    /// A token of at least [`MIN_TOKEN_LEN`] URL-safe characters (letters, digits, `-`, `_`, `.`, `~`).
    pub fn new(token: &str) -> Result<AlarmToken, String> {
        if token.is_empty() {
            return Err("KMS_ALERTS_ALARM_TOKEN is missing or empty: set it to a random secret (openssl rand -hex 32) and put it in the callback URL, <trigger URL>/alarm/<token>".into());
        }
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "KMS_ALERTS_ALARM_TOKEN is {} characters long: use at least {MIN_TOKEN_LEN} (openssl rand -hex 32)",
                token.len()
            ));
        }
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        {
            return Err("KMS_ALERTS_ALARM_TOKEN may hold only letters, digits, '-', '_', '.' and '~' (it is part of a URL path)".into());
        }
        Ok(AlarmToken(Sha256::digest(token.as_bytes()).into()))
    }

    /// Whether `candidate` is the token, in time that does not depend on where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        digest
            .iter()
            .zip(self.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

struct CallbackServer {
    handler: Handler,
    token: AlarmToken,
    /// How long a body may take to arrive: `KMS_ALERTS_BODY_TIMEOUT_MS`, at most the budget.
    body_timeout: Duration,
}

/// Reads the settings (a bad one is a start-up error), listens on FC's port and serves
/// callbacks until the process ends.
pub async fn run(handler: Handler, token: AlarmToken) -> Result<(), lambda_runtime::Error> {
    check_credentials(&handler)?;
    let state = Arc::new(CallbackServer {
        handler,
        token,
        body_timeout: body_timeout()?.min(CALLBACK_BUDGET),
    });
    let addr = SocketAddr::from(([0, 0, 0, 0], listen_port()));
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "alarm callback endpoint listening");
    http_server::serve(listener, state, route).await?;
    Ok(())
}

/// With an `mns:` target, the environment must hold the credentials to sign with: the
/// callback takes none from requests, so without them every callback would fail.
fn check_credentials(handler: &Handler) -> Result<(), ConfigError> {
    let notifier = handler.notifier();
    let mns = notifier
        .target_names()
        .iter()
        .any(|t| t.starts_with("mns:"));
    if mns && notifier.alibaba_credentials().get().is_none() {
        return Err(ConfigError(
            "kms-alarm-callback signs MNS requests with the credentials in ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN), which Function Compute sets from the function's role: give the function a role (it never takes credentials from request headers)".into(),
        ));
    }
    Ok(())
}

async fn route(server: Arc<CallbackServer>, req: Request<Incoming>) -> Resp {
    let authorized = req.method() == Method::POST
        && req
            .uri()
            .path()
            .strip_prefix("/alarm/")
            .is_some_and(|t| server.token.matches(t));
    if !authorized {
        // The path may hold a wrong guess of the token: never log it.
        tracing::warn!(method = %req.method(), "callback refused: not POST /alarm/<token>");
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    let request_id = request_id(req.headers());
    if let ControlPath::Invalid(problem) = ControlPath::of(req.headers()) {
        tracing::warn!(
            requestId = request_id,
            problem = problem.as_str(),
            "callback refused: x-fc-control-path is not one readable value"
        );
        return plain(StatusCode::BAD_REQUEST, "invalid x-fc-control-path");
    }
    println!("FC Invoke Start RequestId: {request_id}");
    let resp = callback(&server, req, &request_id).await;
    println!("FC Invoke End RequestId: {request_id}");
    resp
}

async fn callback(server: &CallbackServer, req: Request<Incoming>, request_id: &str) -> Resp {
    let deadline = Some(server.handler.deadline_within(CALLBACK_BUDGET));
    if !is_form(header(req.headers(), "content-type").as_deref()) {
        tracing::warn!(requestId = request_id, "callback refused: not form-encoded");
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "form-encoded alarm callbacks only",
        );
    }
    let (parts, body) = req.into_parts();
    let body = match read_body(&parts.headers, body, MAX_CALLBACK_BODY, server.body_timeout).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            tracing::warn!(
                requestId = request_id,
                limit = MAX_CALLBACK_BODY,
                "callback refused: body over the limit"
            );
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
        }
        Err(BodyError::TimedOut) => {
            tracing::warn!(
                requestId = request_id,
                timeout_ms = server.body_timeout.as_millis() as u64,
                "callback refused: body not received in time"
            );
            return plain(StatusCode::REQUEST_TIMEOUT, "body not received in time");
        }
        Err(BodyError::Unreadable(e)) => {
            tracing::warn!(requestId = request_id, error = %e, "callback body unreadable");
            return plain(StatusCode::BAD_REQUEST, "unreadable body");
        }
    };
    let alert = match parse_alarm_callback(&body, &format!("callback {request_id}")) {
        Ok(a) if a.kind == Kind::MetricAlarm => a,
        Ok(_) | Err(_) => {
            tracing::warn!(
                requestId = request_id,
                "callback refused: not a CloudMonitor alarm callback"
            );
            return plain(StatusCode::BAD_REQUEST, "not an alarm callback");
        }
    };
    let outcome = server
        .handler
        .handle_alert(alert, request_id, deadline)
        .await;
    if outcome.error.is_none() {
        plain(StatusCode::OK, "accepted")
    } else {
        // Logged in full by the handler; the caller learns only that it may retry.
        plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "not delivered, retry later",
        )
    }
}

/// A missing content type is taken as the form CloudMonitor documents; any other must be it.
fn is_form(content_type: Option<&str>) -> bool {
    match content_type {
        None => true,
        Some(ct) => ct.split(';').next().is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_compared_whole() {
        assert!(AlarmToken::new("")
            .unwrap_err()
            .contains("missing or empty"));
        assert!(AlarmToken::new("short")
            .unwrap_err()
            .contains("at least 16"));
        assert!(AlarmToken::new("0123456789abcdef/x").is_err());
        let t = AlarmToken::new("0123456789abcdef0123").unwrap();
        assert!(t.matches("0123456789abcdef0123"));
        assert!(!t.matches("0123456789abcdef012"));
        assert!(!t.matches("0123456789abcdef01234"));
        assert!(!t.matches(""));
    }

    #[test]
    fn only_the_form_content_type_passes() {
        assert!(is_form(None));
        assert!(is_form(Some(
            "application/x-www-form-urlencoded; charset=UTF-8"
        )));
        assert!(!is_form(Some("application/json")));
        assert!(!is_form(Some("multipart/form-data; boundary=x")));
    }
}
