//! The Function Compute servers' reading of a request: hyper (through `httparse`) parses the
//! head; what the project does with it is its own: the route (method, path, `x-fc-control-path`),
//! the alarm token in the path, the MNS credentials in `x-fc-access-key-*`, the declared
//! `content-length` and the content type. This target drives the real servers
//! ([`fc::run`](kms_alerts_runtime::fc::run) and
//! [`alarm_callback::run`](kms_alerts_runtime::alarm_callback::run)) over loopback with the
//! fuzzer's bytes as one request, and checks what came of it against the head as `httparse`
//! reads it.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kms_alerts_core::{Alert, Family};
use kms_alerts_notify::{
    Attempt, BoxFuture, CredentialSource, Notifier, Settings, Sink, SinkError, Target,
};
use kms_alerts_runtime::alarm_callback::{self, AlarmToken};
use kms_alerts_runtime::{fc, Handler};

/// The alarm callback's secret path segment.
const TOKEN: &str = "fuzz-token-0123456789abcdef";
/// How long a server may take to answer a whole request.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// A sink that counts what it is given.
#[derive(Debug, Default)]
struct Counting(AtomicUsize);

impl Sink for Counting {
    fn send<'a>(
        &'a self,
        _alert: &'a Alert,
        _attempt: Attempt<'a>,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
}

/// One server under test: where it listens, what it published, the credentials it holds.
struct Server {
    addr: String,
    sent: Arc<Counting>,
    credentials: CredentialSource,
}

struct Servers {
    event: Server,
    callback: Server,
    _runtime: tokio::runtime::Runtime,
}

fn handler() -> (Handler, Arc<Counting>, CredentialSource) {
    let sent = Arc::new(Counting::default());
    let settings = Settings {
        // Every request that publishes is counted, redeliveries included.
        dedup_ttl: Duration::ZERO,
        max_attempts: 1,
        ..Settings::default()
    };
    let target = Target::new(0, "counting", "counting", sent.clone());
    let notifier = Notifier::with_targets(vec![target], &settings);
    let credentials = notifier.alibaba_credentials().clone();
    let handler = Handler::new(Family::KeyLifecycle, notifier).accepting_every_family();
    (handler, sent, credentials)
}

/// Starts `serve` on a free loopback port (the servers read their port from
/// `FC_CUSTOM_LISTEN_PORT`, so they are started one after the other).
fn start<F>(runtime: &tokio::runtime::Runtime, serve: F) -> String
where
    F: std::future::Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static,
{
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    std::env::set_var("FC_CUSTOM_LISTEN_PORT", port.to_string());
    runtime.spawn(async move {
        if let Err(e) = serve.await {
            panic!("server stopped: {e}");
        }
    });
    let addr = format!("127.0.0.1:{port}");
    let end = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < end, "server on {addr} did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    addr
}

fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (event_handler, event_sent, event_credentials) = handler();
        let event = Server {
            addr: start(&runtime, fc::run(event_handler)),
            sent: event_sent,
            credentials: event_credentials,
        };
        let (callback_handler, callback_sent, callback_credentials) = handler();
        let token = AlarmToken::new(TOKEN).expect("a valid token");
        let callback = Server {
            addr: start(&runtime, alarm_callback::run(callback_handler, token)),
            sent: callback_sent,
            credentials: callback_credentials,
        };
        Servers {
            event,
            callback,
            _runtime: runtime,
        }
    })
}

/// The request head as `httparse` (hyper's parser) reads it.
struct Head {
    method: String,
    /// The path of the request target, as `http::Uri` (hyper's) reads it.
    path: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    /// The whole request to send: the head, and the body its `content-length` declares.
    request: Vec<u8>,
    /// The body is all there: the server must answer.
    complete: bool,
}

impl Head {
    fn parse(data: &[u8]) -> Option<Head> {
        let mut headers = [httparse::EMPTY_HEADER; 100];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head_len)) = req.parse(data) else {
            return None;
        };
        let method = req.method?.to_string();
        let path = req
            .path
            .and_then(|p| p.parse::<http::Uri>().ok())
            .map(|u| u.path().to_string());
        let headers: Vec<(String, Vec<u8>)> = req
            .headers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
            .collect();
        let lengths: Vec<&[u8]> = headers
            .iter()
            .filter(|(n, _)| n == "content-length")
            .map(|(_, v)| v.as_slice())
            .collect();
        let chunked = headers.iter().any(|(n, _)| n == "transfer-encoding");
        let declared = match lengths.as_slice() {
            [] => Some(0),
            [one] => std::str::from_utf8(one)
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok()),
            _ => None,
        };
        let rest = &data[head_len..];
        // Only this one request: no body past what is declared (nothing after it to be read
        // as a second request), none at all when the framing is not a plain length.
        let (body, complete) = match declared {
            Some(n) if !chunked => (&rest[..n.min(rest.len())], n <= rest.len()),
            _ => (&rest[..0], false),
        };
        let mut request = data[..head_len].to_vec();
        request.extend_from_slice(body);
        Some(Head {
            method,
            path,
            headers,
            request,
            complete,
        })
    }

    /// Every value of header `name`.
    fn all(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// FC's own event call: `POST /invoke` with `x-fc-control-path` sent once as exactly
    /// `/invoke` (around optional whitespace), or not at all.
    fn is_event_call(&self) -> bool {
        let control = self.all("x-fc-control-path");
        self.method == "POST"
            && self.path.as_deref() == Some("/invoke")
            && match control.as_slice() {
                [] => true,
                [one] => one.trim_ascii() == b"/invoke",
                _ => false,
            }
    }

    /// `POST /alarm/<token>`.
    fn is_callback(&self) -> bool {
        self.method == "POST" && self.path.as_deref() == Some(&format!("/alarm/{TOKEN}"))
    }
}

/// How an exchange ended.
#[derive(Debug, PartialEq)]
enum Ended {
    /// A whole final answer came (its head and the body its `content-length` declares).
    Answered,
    /// The server closed the connection.
    Closed,
    /// The server reset the connection: it answered and closed without reading all that was
    /// sent, and the reset may discard its answer before it is read.
    Reset,
    /// Nothing more came within [`ANSWER_WITHIN`].
    TimedOut,
}

/// The length of the first final (not 1xx) answer in `answer`, once all of it is there.
fn answered(answer: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = resp.parse(&answer[at..]) else {
            return None;
        };
        if resp.code.is_some_and(|c| c < 200) {
            at += head;
            continue;
        }
        let length = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| {
                std::str::from_utf8(h.value)
                    .ok()?
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or(0);
        return (answer.len() >= at + head + length).then_some(at + head + length);
    }
}

/// Sends `request` on a new connection and reads the answer. A request that is not whole is
/// followed by the end of the stream, so the server stops waiting for the rest; a whole one
/// is not (hyper drops a request whose client half-closes while it is being handled).
fn exchange(addr: &str, request: &[u8], whole: bool) -> (Vec<u8>, Ended) {
    let mut stream = TcpStream::connect(addr).expect("connect to the server under test");
    stream
        .set_read_timeout(Some(ANSWER_WITHIN))
        .expect("a read timeout");
    // A server may answer and close before reading everything (a refused head).
    let _ = stream.write_all(request);
    if !whole {
        let _ = stream.shutdown(Shutdown::Write);
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (answer, Ended::Closed),
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answered(&answer).is_some() {
                    return (answer, Ended::Answered);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (answer, Ended::TimedOut)
            }
            Err(_) => return (answer, Ended::Reset),
        }
    }
}

/// One request to one server: what it published and which credentials it took must follow
/// from the head; a whole request gets a whole answer; the alarm callback never echoes its token.
fn check(server: &Server, data: &[u8], head: Option<&Head>, allowed: bool, what: &str) {
    let before_sent = server.sent.0.load(Ordering::SeqCst);
    let before_credentials = server.credentials.get();
    let request = head.map_or(data, |h| h.request.as_slice());
    let whole = head.is_some_and(|h| h.complete);
    let (answer, ended) = exchange(&server.addr, request, whole);
    let published = server.sent.0.load(Ordering::SeqCst) - before_sent;
    let text = String::from_utf8_lossy(request);
    assert!(
        published == 0 || allowed,
        "the {what} published {published} alert(s) for a request it must refuse: {text:?}"
    );
    if whole {
        assert!(
            ended == Ended::Answered || (ended == Ended::Reset && answered(&answer).is_none()),
            "the {what} gave no whole answer to a whole request within {ANSWER_WITHIN:?} \
             ({ended:?}, {} bytes back): {text:?}",
            answer.len()
        );
    }
    // Only the alarm callback knows the token: the event function may echo what a caller sent
    // (its request id in an error), token-like text included.
    let answer_text = String::from_utf8_lossy(&answer);
    assert!(
        what != "alarm callback" || !answer_text.contains(TOKEN),
        "the {what} echoes the alarm token"
    );
    if !allowed {
        assert!(
            server.credentials.get() == before_credentials,
            "the {what} took MNS credentials from a request it must refuse: {text:?}"
        );
    }
}

/// The fuzzer's bytes as one HTTP request to each Function Compute server:
/// - the event function publishes only for FC's event call (`POST /invoke`, with
///   `x-fc-control-path` absent or exactly `/invoke` and sent once), and takes the MNS
///   credentials of `x-fc-access-key-*` from nothing else;
/// - the alarm callback publishes only for `POST /alarm/<token>`, and never takes credentials
///   from a request (every request there comes through the HTTP trigger);
/// - a whole request gets a well-formed HTTP answer within 5 s (or a reset, when the server
///   refused it unread); no answer of the alarm callback holds its token.
pub fn http_head(data: &[u8]) {
    let servers = servers();
    let head = Head::parse(data);
    let event_call = head.as_ref().is_some_and(Head::is_event_call);
    check(
        &servers.event,
        data,
        head.as_ref(),
        event_call,
        "event function",
    );
    let callback = head.as_ref().is_some_and(Head::is_callback);
    // Credentials are never the caller's on the callback: `allowed` covers publishing only.
    let before = servers.callback.credentials.get();
    check(
        &servers.callback,
        data,
        head.as_ref(),
        callback,
        "alarm callback",
    );
    assert!(
        servers.callback.credentials.get() == before,
        "the alarm callback took MNS credentials from an HTTP-trigger caller: {:?}",
        String::from_utf8_lossy(data)
    );
}
