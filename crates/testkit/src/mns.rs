//! A loopback stand-in for Alibaba Cloud MNS: it recomputes every request's signature with
//! the secret it was given (an implementation independent of the sink's), checks the XML,
//! decodes the Base64 body, and answers with MNS's documented success and error responses.
//!
//! Topic and queue names steer the answer: `missing*` -> 404 TopicNotExist / QueueNotExist,
//! `flaky*` -> 503 InternalError for the first N requests (see [`MnsServer::start`]).

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::http::{Request, Response, Server};

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// `topics` or `queues`.
    pub kind: String,
    pub name: String,
    /// The decoded message body.
    pub body: String,
    pub tag: Option<String>,
    pub priority: Option<String>,
    pub security_token: Option<String>,
    pub access_key_id: String,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    rejected: Vec<String>,
    flaky_left: u32,
    requests: u32,
    accept_limit: Option<usize>,
}

pub struct MnsServer {
    server: Server,
    state: Arc<Mutex<State>>,
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error xmlns=\"http://mns.aliyuncs.com/doc/v1/\">\n  <Code>{code}</Code>\n  <Message>{message}</Message>\n  <RequestId>5C7B4E2A3F1D6E0B8A9C0D1E</RequestId>\n  <HostId>http://123456789.mns.cn-hangzhou.aliyuncs.com</HostId>\n</Error>"
    );
    Response::new(status, xml)
        .header("content-type", "text/xml")
        .header("x-mns-request-id", "5C7B4E2A3F1D6E0B8A9C0D1E")
}

fn tag_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

fn expected_signature(secret: &str, req: &Request) -> String {
    let mut mns: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-mns-"))
        .map(|(k, v)| (k.clone(), v.trim().to_string()))
        .collect();
    mns.sort();
    let mut s = format!(
        "{}\n{}\n{}\n{}\n",
        req.method,
        req.header("content-md5").unwrap_or(""),
        req.header("content-type").unwrap_or(""),
        req.header("date").unwrap_or("")
    );
    for (k, v) in mns {
        s.push_str(&format!("{k}:{v}\n"));
    }
    s.push_str(&req.path);
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(s.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl MnsServer {
    /// Starts the server; requests must be signed with `access_key_secret`. Names starting
    /// with `flaky` fail with 503 InternalError for the first `flaky_failures` requests; names
    /// starting with `slow` answer after 300 ms.
    pub fn start(access_key_secret: &str, flaky_failures: u32) -> MnsServer {
        let state = Arc::new(Mutex::new(State {
            flaky_left: flaky_failures,
            ..State::default()
        }));
        let st = state.clone();
        let secret = access_key_secret.to_string();
        let server = Server::start(move |req| {
            if req.path.contains("/slow") {
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
            let mut s = st.lock().unwrap();
            s.requests += 1;
            let reject = |s: &mut State, why: String, resp: Response| {
                s.rejected.push(why);
                resp
            };
            let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
            let (kind, name) = match parts.as_slice() {
                [kind @ ("topics" | "queues"), name, "messages"] if req.method == "POST" => {
                    (kind.to_string(), name.to_string())
                }
                _ => {
                    return reject(
                        &mut s,
                        format!("bad path {} {}", req.method, req.path),
                        error(404, "InvalidPath", "bad path"),
                    )
                }
            };
            if req.header("x-mns-version") != Some("2015-06-06") {
                return reject(
                    &mut s,
                    "missing x-mns-version".into(),
                    error(400, "InvalidArgument", "x-mns-version"),
                );
            }
            let date_ok = req
                .header("date")
                .is_some_and(|d| d.ends_with(" GMT") && d.len() == 29);
            if !date_ok {
                return reject(
                    &mut s,
                    format!("bad date {:?}", req.header("date")),
                    error(400, "InvalidArgument", "Date"),
                );
            }
            let auth = req.header("authorization").unwrap_or("");
            let Some((ak, sig)) = auth.strip_prefix("MNS ").and_then(|a| a.split_once(':')) else {
                return reject(
                    &mut s,
                    format!("bad authorization {auth:?}"),
                    error(403, "AccessDenied", "no signature"),
                );
            };
            if sig != expected_signature(&secret, &req) {
                return reject(&mut s, "signature mismatch".into(), error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."));
            }
            let xml = String::from_utf8_lossy(&req.body).into_owned();
            if !xml.starts_with("<?xml")
                || !xml.contains("<Message xmlns=\"http://mns.aliyuncs.com/doc/v1/\">")
            {
                return reject(
                    &mut s,
                    format!("bad XML {xml:.200}"),
                    error(400, "InvalidArgument", "xml"),
                );
            }
            let Some(body) = tag_text(&xml, "MessageBody")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|b| String::from_utf8(b).ok())
            else {
                return reject(
                    &mut s,
                    "MessageBody is not Base64 UTF-8".into(),
                    error(400, "InvalidArgument", "MessageBody"),
                );
            };
            if name.starts_with("missing") {
                let code = if kind == "topics" {
                    "TopicNotExist"
                } else {
                    "QueueNotExist"
                };
                return error(404, code, "The topic you provided is not exist.");
            }
            if s.accept_limit.is_some_and(|n| s.received.len() >= n) {
                return error(503, "ServiceUnavailable", "The service is down.");
            }
            if name.starts_with("flaky") && s.flaky_left > 0 {
                s.flaky_left -= 1;
                return error(503, "InternalError", "Internal error, please retry later.");
            }
            s.received.push(Received {
                kind: kind.clone(),
                name,
                body,
                tag: tag_text(&xml, "MessageTag").map(str::to_string),
                priority: tag_text(&xml, "Priority").map(str::to_string),
                security_token: req.header("security-token").map(str::to_string),
                access_key_id: ak.to_string(),
            });
            let id = format!("{:032X}", s.received.len());
            Response::new(
                201,
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Message xmlns=\"http://mns.aliyuncs.com/doc/v1/\">\n  <MessageId>{id}</MessageId>\n  <MessageBodyMD5>C5DD56A39F5F7BB8B3337C6D11B6D8C7</MessageBodyMD5>\n</Message>"),
            )
            .header("content-type", "text/xml")
        });
        MnsServer { server, state }
    }

    /// `http://127.0.0.1:PORT`, the MNS endpoint to configure.
    pub fn endpoint(&self) -> String {
        self.server.url()
    }

    /// After `n` accepted messages the server answers every request with 503, as if it died.
    pub fn stop_accepting_after(&self, n: usize) {
        self.state.lock().unwrap().accept_limit = Some(n);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Requests refused for a bad signature, header or body: a correct client has none.
    pub fn rejected(&self) -> Vec<String> {
        self.state.lock().unwrap().rejected.clone()
    }

    pub fn requests(&self) -> u32 {
        self.state.lock().unwrap().requests
    }
}
