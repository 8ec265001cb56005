//! The HTTP plumbing the Function Compute servers share: an accept loop that survives bad
//! connections and backs off when accepting fails, a body reader with a byte limit and a
//! deadline, a reader for headers that must hold one unambiguous value, and small response
//! builders.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// A response with a fixed body.
pub type Resp = Response<Full<Bytes>>;

/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refused body is read and dropped, so the client sees the answer, not a reset.
const DISCARD_FOR: Duration = Duration::from_secs(2);
/// The first wait after a failed accept; it doubles with each failure in a row.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// The longest wait between two accepts that fail.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Once the wait is at its longest, one warning per this many failures (about a minute).
const ACCEPT_WARN_AT_MAX_EVERY: u64 = 60;
/// Failures closer together than this belong to one episode, logged as one: a server at its
/// file limit that accepts a connection whenever another closes must not log each time.
const ACCEPT_EPISODE_GAP: Duration = Duration::from_secs(10);

/// Serves `route` on every connection until the process ends; one failed connection never
/// stops the server. When accepting fails for the server's own reasons (file descriptors
/// exhausted: EMFILE, ENFILE; no memory for a socket), the loop waits before it tries again,
/// 5 ms doubling up to 1 s, and logs once per step of that wait (then once a minute while it
/// stays at 1 s) and once when accepting works again, never once per failure: retrying at
/// once would take a core and write a line per attempt while the condition lasts.
pub async fn serve<S, F, Fut>(listener: TcpListener, state: Arc<S>, route: F) -> std::io::Result<()>
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Request<Incoming>) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Resp> + Send + 'static,
{
    let mut backoff = AcceptBackoff::default();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                if let Some(failures) = backoff.succeeded() {
                    tracing::info!(failures, "accepting connections again after failed accepts");
                }
                stream
            }
            // One client gave up before it was accepted: nothing is wrong with the server.
            Err(e) if is_connection_error(&e) => {
                tracing::debug!(error = %e, "a connection closed before it was accepted");
                continue;
            }
            Err(e) => {
                let step = backoff.failed(Instant::now());
                if step.warn {
                    tracing::warn!(
                        error = %e,
                        failures = step.failures,
                        retry_in_ms = step.wait.as_millis() as u64,
                        "accept failed; waiting before accepting again (logged once per step of the wait)"
                    );
                }
                tokio::time::sleep(step.wait).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(state, req).await) }
            });
            if let Err(e) = http1::Builder::new()
                .keep_alive(true)
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
}

/// Errors that belong to one connection (its client reset or aborted it before the accept),
/// not to the server: the next accept may succeed at once.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// The accept loop's state while accepting fails: how long to wait next, and what to log.
#[derive(Debug, Default)]
struct AcceptBackoff {
    /// The wait after the last failure; `None` after a success, so accepting resumes at once.
    delay: Option<Duration>,
    /// Failures in this episode.
    failures: u64,
    /// Failures in a row at the longest wait since the last warning.
    at_max: u64,
    /// The longest wait already logged in this episode.
    logged: Option<Duration>,
    /// Whether a warning was logged since the last recovery line: only then is the next
    /// success logged, so recovery lines never outnumber warnings.
    warned: bool,
    /// When the last failure was: a failure more than [`ACCEPT_EPISODE_GAP`] later starts a
    /// new episode.
    last_failure: Option<Instant>,
}

/// What to do after a failed accept.
#[derive(Debug, PartialEq, Eq)]
struct AcceptStep {
    wait: Duration,
    /// Failures in this episode, this one included.
    failures: u64,
    /// Whether to log this failure: the first at each step of the wait, and at the longest
    /// wait one per [`ACCEPT_WARN_AT_MAX_EVERY`].
    warn: bool,
}

impl AcceptBackoff {
    /// Records a failed accept at `now`: how long to wait, and whether to say so.
    fn failed(&mut self, now: Instant) -> AcceptStep {
        if self
            .last_failure
            .is_some_and(|t| now.saturating_duration_since(t) > ACCEPT_EPISODE_GAP)
        {
            *self = AcceptBackoff::default();
        }
        self.last_failure = Some(now);
        let wait = self
            .delay
            .map_or(ACCEPT_BACKOFF_MIN, |d| d.saturating_mul(2))
            .min(ACCEPT_BACKOFF_MAX);
        self.failures = self.failures.saturating_add(1);
        let at_max_again = wait == ACCEPT_BACKOFF_MAX && self.delay == Some(wait);
        self.delay = Some(wait);
        let new_step = match self.logged {
            None => true,
            Some(logged) => wait > logged,
        };
        let warn = if new_step {
            self.warned = true;
            self.logged = Some(wait);
            true
        } else if at_max_again {
            self.at_max += 1;
            if self.at_max == ACCEPT_WARN_AT_MAX_EVERY {
                self.at_max = 0;
                self.warned = true;
                true
            } else {
                false
            }
        } else {
            false
        };
        AcceptStep {
            wait,
            failures: self.failures,
            warn,
        }
    }

    /// Records a successful accept: the next failure waits the shortest time again. Returns
    /// the episode's failures when a warning was logged since the last recovery line.
    fn succeeded(&mut self) -> Option<u64> {
        self.delay = None;
        self.at_max = 0;
        if !self.warned {
            return None;
        }
        self.warned = false;
        Some(self.failures)
    }
}

/// Why a body was not read.
#[derive(Debug)]
pub enum BodyError {
    /// Over the limit, declared or streamed.
    TooLarge,
    /// Not all of it arrived within the time allowed.
    TimedOut,
    /// The connection failed mid-body.
    Unreadable(String),
}

/// Reads the whole body within `timeout`, refusing it as soon as it is known to exceed `max`
/// bytes (the declared `content-length` first). A refused body is read and dropped for a
/// short while. A body still incomplete when `timeout` is up is refused, so a client that
/// declares more than it sends, or sends a byte at a time, cannot hold a handler.
pub async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let mut body = body;
    let declared = header(headers, "content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        discard(&mut body, max).await;
        return Err(BodyError::TooLarge);
    }
    let deadline = Instant::now() + timeout;
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(max));
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::TimedOut),
            Ok(None) => break,
            Ok(Some(frame)) => frame.map_err(|e| BodyError::Unreadable(e.to_string()))?,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max {
                discard(&mut body, max).await;
                return Err(BodyError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

async fn discard(body: &mut Incoming, max: usize) {
    let mut seen = 0usize;
    let deadline = Instant::now() + DISCARD_FOR;
    while seen <= max {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => seen += frame.data_ref().map_or(0, |d| d.len()),
            _ => return,
        }
    }
}

/// Why a header that must say one thing does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderProblem {
    /// Sent more than once.
    Repeated,
    /// Sent with no value (or only spaces).
    Empty,
    /// Holds a byte outside printable ASCII.
    NotAscii,
}

impl HeaderProblem {
    pub fn as_str(self) -> &'static str {
        match self {
            HeaderProblem::Repeated => "sent more than once",
            HeaderProblem::Empty => "empty",
            HeaderProblem::NotAscii => "not printable ASCII",
        }
    }
}

/// The one value of a header that must be unambiguous, without surrounding spaces:
/// `Ok(None)` when absent; an error when it is sent more than once (alike or not), is empty,
/// or holds anything but printable ASCII (space to `~`).
pub fn single_header<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<Option<&'a str>, HeaderProblem> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(HeaderProblem::Repeated);
    }
    let bytes = value.as_bytes();
    if !bytes.iter().all(|b| (b' '..=b'~').contains(b)) {
        return Err(HeaderProblem::NotAscii);
    }
    match std::str::from_utf8(bytes).map(|v| v.trim_matches(' ')) {
        Ok("") => Err(HeaderProblem::Empty),
        Ok(text) => Ok(Some(text)),
        Err(_) => Err(HeaderProblem::NotAscii),
    }
}

/// A header's trimmed text, if present and not empty.
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A plain-text response.
pub fn plain(status: StatusCode, body: &'static str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A JSON response.
pub fn json(status: StatusCode, body: &serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-test", HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn a_single_header_is_one_readable_value() {
        assert_eq!(single_header(&headers(&[]), "x-test"), Ok(None));
        assert_eq!(
            single_header(&headers(&[b" /invoke "]), "x-test"),
            Ok(Some("/invoke"))
        );
        for repeated in [
            &[&b"/invoke"[..], b"/invoke"][..],
            &[b"/invoke", b"/http-invoke"],
        ] {
            assert_eq!(
                single_header(&headers(repeated), "x-test"),
                Err(HeaderProblem::Repeated)
            );
        }
        for empty in [&b""[..], b"  "] {
            assert_eq!(
                single_header(&headers(&[empty]), "x-test"),
                Err(HeaderProblem::Empty)
            );
        }
        for bad in [
            &b"/inv\xc3\xb6ke"[..],
            b"/invoke\t",
            b"\xff",
            b"/invoke\xc2\xa0",
        ] {
            assert_eq!(
                single_header(&headers(&[bad]), "x-test"),
                Err(HeaderProblem::NotAscii),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn failed_accepts_wait_longer_each_time_up_to_a_second_and_log_per_step() {
        let mut b = AcceptBackoff::default();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let steps: Vec<AcceptStep> = (0..12).map(|i| b.failed(ms(i))).collect();
        let waits: Vec<u128> = steps.iter().map(|s| s.wait.as_millis()).collect();
        assert_eq!(
            waits,
            [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000]
        );
        let warned: Vec<bool> = steps.iter().map(|s| s.warn).collect();
        assert_eq!(warned, [[true; 9].as_slice(), &[false; 3]].concat());
        assert_eq!(steps[11].failures, 12);
        // At the longest wait, one warning a minute.
        let at_max: Vec<bool> = (12..12 + 2 * ACCEPT_WARN_AT_MAX_EVERY)
            .map(|i| b.failed(ms(i)).warn)
            .collect();
        assert_eq!(at_max.iter().filter(|w| **w).count(), 2, "{at_max:?}");

        // Accepting works again: said once, and the next failure waits the shortest time.
        assert_eq!(b.succeeded(), Some(12 + 2 * ACCEPT_WARN_AT_MAX_EVERY));
        assert_eq!(b.succeeded(), None);
        let next = b.failed(ms(200));
        assert_eq!((next.wait, next.warn), (ACCEPT_BACKOFF_MIN, false));
        // Flapping (one accept works, the next fails) stays one quiet episode.
        for i in 0..100 {
            assert_eq!(b.succeeded(), None);
            assert!(!b.failed(ms(300 + i)).warn);
        }
        // Quiet for longer than the gap: a new episode, logged again.
        let later = b.failed(ms(300 + 100) + ACCEPT_EPISODE_GAP + Duration::from_millis(1));
        assert_eq!(
            (later.wait, later.warn, later.failures),
            (ACCEPT_BACKOFF_MIN, true, 1)
        );
        assert_eq!(b.succeeded(), Some(1));
    }

    #[test]
    fn only_errors_of_one_connection_skip_the_wait() {
        use std::io::{Error, ErrorKind};
        assert!(is_connection_error(&Error::from(
            ErrorKind::ConnectionAborted
        )));
        assert!(!is_connection_error(&Error::from_raw_os_error(24)));
        assert!(!is_connection_error(&Error::from(ErrorKind::OutOfMemory)));
    }
}
