//! Loopback stand-ins for chat and pager services that check requests the way the vendor does
//! (path and token, signature and its time window, required keyword, message shape and size
//! limits) and answer with the vendor's own success and error bodies: Slack `ok` / 404
//! `no_service`, Teams 202, DingTalk `errcode` 0 / 310000 / 130101, Lark `code` 0 / 19021 /
//! 19024 / 11232, WeCom `errcode` 0 / 93000 / 45009, PagerDuty 202 / 400 / 429, Google Chat
//! 200 with the message's `name` and `thread` / Google's JSON errors.
//!
//! Each stand-in is one host with two webhooks on it ([`TOKEN`] and [`TOKEN2`]), as two
//! channels of one workspace are: [`ChatServer::received_for`] tells them apart.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::http::{Request, Response, Server};

/// Which service the stand-in plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Slack,
    Teams,
    DingTalk,
    Lark,
    WeCom,
    PagerDuty,
    GoogleChat,
}

/// The token, key or routing key of the first webhook on every stand-in.
pub const TOKEN: &str = "0123456789abcdef0123456789abcdef";
/// The second webhook on the same host: another channel of the same workspace.
pub const TOKEN2: &str = "fedcba9876543210fedcba9876543210";
const TOKENS: [&str; 2] = [TOKEN, TOKEN2];

#[derive(Default)]
struct State {
    /// Told of each request as it arrives (before any delay).
    watchers: Vec<std::sync::mpsc::Sender<()>>,
    /// Accepted messages with the webhook (token) they came to.
    received: Vec<(String, Value)>,
    rejected: Vec<String>,
    requests: u32,
    rate_limit_next: u32,
    delay: std::time::Duration,
}

/// A running stand-in.
pub struct ChatServer {
    service: Service,
    server: Server,
    state: Arc<Mutex<State>>,
}

impl ChatServer {
    /// Starts a stand-in; `secret` turns on signature checks (DingTalk, Lark), `keyword` the
    /// required keyword.
    pub fn start(service: Service, secret: Option<&str>, keyword: Option<&str>) -> ChatServer {
        let state = Arc::new(Mutex::new(State::default()));
        let (st, secret, keyword) = (
            state.clone(),
            secret.map(str::to_string),
            keyword.map(str::to_string),
        );
        let server = Server::start(move |req| {
            let (limited, delay) = {
                let mut s = st.lock().unwrap();
                s.requests += 1;
                s.watchers.retain(|w| w.send(()).is_ok());
                let limited = s.rate_limit_next > 0;
                if limited {
                    s.rate_limit_next -= 1;
                }
                (limited, s.delay)
            };
            // A slow answer (the test changes something while the request is in flight).
            std::thread::sleep(delay);
            let mut s = st.lock().unwrap();
            let (resp, outcome) = answer(
                service,
                &req,
                secret.as_deref(),
                keyword.as_deref(),
                limited,
            );
            match outcome {
                Ok((token, v)) => s.received.push((token, v)),
                Err(e) => s.rejected.push(e),
            }
            resp
        });
        ChatServer {
            service,
            server,
            state,
        }
    }

    /// The webhook URL (or, for PagerDuty, the Events API address) to configure.
    pub fn url(&self) -> String {
        self.url_for(TOKEN)
    }

    /// The URL of the webhook with `token` ([`TOKEN`] or [`TOKEN2`]) on this host.
    pub fn url_for(&self, token: &str) -> String {
        let base = self.server.url();
        match self.service {
            Service::Slack => format!("{base}/services/T000/B000/{token}"),
            Service::Teams => format!(
                "{base}/workflows/1/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={token}"
            ),
            Service::DingTalk => format!("{base}/robot/send?access_token={token}"),
            Service::Lark => format!("{base}/open-apis/bot/v2/hook/{token}"),
            Service::WeCom => format!("{base}/cgi-bin/webhook/send?key={token}"),
            Service::PagerDuty => format!("{base}/v2/enqueue"),
            Service::GoogleChat => {
                format!("{base}/v1/spaces/AAAA1234/messages?key=AIzaFAKEkey&token={token}")
            }
        }
    }

    /// A signal for each request from now on, as it arrives (before any delay): a test waits on
    /// it instead of sleeping.
    pub fn request_seen(&self) -> std::sync::mpsc::Receiver<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.state.lock().unwrap().watchers.push(tx);
        rx
    }

    /// Answers the next `n` requests with the service's rate-limit answer.
    pub fn rate_limit_next(&self, n: u32) {
        self.state.lock().unwrap().rate_limit_next = n;
    }

    /// Answers every request only after `delay`.
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    /// Messages accepted, in order.
    pub fn received(&self) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        s.received.iter().map(|(_, v)| v.clone()).collect()
    }

    /// Messages the webhook with `token` accepted, in order.
    pub fn received_for(&self, token: &str) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        s.received
            .iter()
            .filter(|(t, _)| t == token)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Why requests were refused (bad shape, signature, keyword, limit, rate limit).
    pub fn rejected(&self) -> Vec<String> {
        self.state.lock().unwrap().rejected.clone()
    }

    /// Requests seen.
    pub fn requests(&self) -> u32 {
        self.state.lock().unwrap().requests
    }
}

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn query(path: &str) -> Vec<(String, String)> {
    path.split_once('?')
        .map(|(_, q)| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn param(path: &str, key: &str) -> Option<String> {
    query(path)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// One request, with what the stand-in was started with.
struct Call<'a> {
    req: &'a Request,
    json_body: Result<Value, serde_json::Error>,
    secret: Option<&'a str>,
    keyword: Option<&'a str>,
    limited: bool,
}

/// Whether the message contains the keyword the robot requires (if any).
fn has_keyword(keyword: Option<&str>, v: &Value) -> bool {
    match keyword {
        Some(k) => v.to_string().contains(k),
        None => true,
    }
}

/// The webhook (token) and message accepted, or why not.
type Outcome = Result<(String, Value), String>;

/// Which of the webhooks on this host `found` names.
fn token_of(found: Option<&str>) -> Option<String> {
    found.filter(|t| TOKENS.contains(t)).map(str::to_string)
}

fn answer(
    service: Service,
    req: &Request,
    secret: Option<&str>,
    keyword: Option<&str>,
    limited: bool,
) -> (Response, Outcome) {
    let json_body = serde_json::from_slice::<Value>(&req.body);
    match service {
        Service::Slack => slack(Call {
            req,
            json_body,
            secret,
            keyword,
            limited,
        }),
        Service::Teams => teams(Call {
            req,
            json_body,
            secret,
            keyword,
            limited,
        }),
        Service::DingTalk => dingtalk(Call {
            req,
            json_body,
            secret,
            keyword,
            limited,
        }),
        Service::Lark => lark(Call {
            req,
            json_body,
            secret,
            keyword,
            limited,
        }),
        Service::WeCom => wecom(Call {
            req,
            json_body,
            secret,
            keyword,
            limited,
        }),
        Service::PagerDuty => pagerduty(Call {
            req,
            json_body,
            secret,
            keyword,
            limited,
        }),
        Service::GoogleChat => google_chat(req, json_body.ok(), limited),
    }
}

/// Slack.
fn slack(call: Call<'_>) -> (Response, Outcome) {
    let Some(token) = token_of(call.req.path.strip_prefix("/services/T000/B000/")) else {
        return (Response::new(404, "no_service"), Err("no_service".into()));
    };
    if call.limited {
        return (
            Response::new(429, "rate_limited").header("retry-after", "1"),
            Err("rate call.limited".into()),
        );
    }
    let Ok(v) = call.json_body else {
        return (
            Response::new(400, "invalid_payload"),
            Err("invalid_payload".into()),
        );
    };
    let blocks = v["blocks"].as_array().cloned().unwrap_or_default();
    let problem = if chars(&v["text"]) == 0 {
        Some("no text fallback")
    } else if blocks.len() > 50 {
        Some("more than 50 blocks")
    } else if blocks.iter().any(|b| {
        (b["type"] == "header" && chars(&b["text"]["text"]) > 150)
            || chars(&b["text"]["text"]) > 3000
            || b["fields"]
                .as_array()
                .is_some_and(|f| f.len() > 10 || f.iter().any(|x| chars(&x["text"]) > 2000))
            || b["elements"].as_array().is_some_and(|e| {
                e.iter()
                    .any(|x| chars(&x["text"]["text"]) > 75 || chars(&x["url"]) > 3000)
            })
    }) {
        Some("a block over its limit")
    } else if chars(&v["text"]) > 40_000 {
        Some("text over 40,000 characters")
    } else {
        None
    };
    match problem {
        Some(p) => (Response::new(400, "invalid_blocks"), Err(p.into())),
        None => (Response::new(200, "ok"), Ok((token, v))),
    }
}

/// Teams.
fn teams(call: Call<'_>) -> (Response, Outcome) {
    let Some(token) = token_of(param(&call.req.path, "sig").as_deref()) else {
        return (
            Response::new(
                401,
                r#"{"error":{"code":"DirectApiAuthorizationRequired"}}"#,
            ),
            Err("bad sig".into()),
        );
    };
    if call.limited {
        return (
            Response::new(429, "").header("retry-after", "1"),
            Err("rate call.limited".into()),
        );
    }
    let ok = call.json_body.as_ref().is_ok_and(|v| {
        v["type"] == "message"
            && v["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
            && v["attachments"][0]["content"]["type"] == "AdaptiveCard"
            && v["attachments"][0]["content"]["version"]
                .as_str()
                .is_some_and(|s| s <= "1.5")
    });
    if !ok || call.req.body.len() > 28 * 1024 {
        return (
            Response::new(400, "bad card"),
            Err("not a Teams Adaptive Card message within 28 KB".into()),
        );
    }
    (Response::new(202, ""), Ok((token, call.json_body.unwrap())))
}

/// DingTalk.
fn dingtalk(call: Call<'_>) -> (Response, Outcome) {
    let ding = |code: i64, msg: &str| {
        Response::new(200, json!({"errcode": code, "errmsg": msg}).to_string())
    };
    let Some(token) = token_of(param(&call.req.path, "access_token").as_deref()) else {
        return (ding(300005, "token is not exist"), Err("token".into()));
    };
    if let Some(secret) = call.secret {
        let ts: i64 = param(&call.req.path, "timestamp")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let sign = param(&call.req.path, "sign").unwrap_or_default();
        if (now_ms() - ts).abs() > 3_600_000 {
            return (ding(310000, "invalid timestamp"), Err("timestamp".into()));
        }
        if sign != hmac_b64(secret.as_bytes(), format!("{ts}\n{secret}").as_bytes()) {
            return (ding(310000, "sign not match"), Err("sign not match".into()));
        }
    }
    if call.limited {
        return (
            ding(130101, "send too fast, exceed 20 times per minute"),
            Err("rate call.limited".into()),
        );
    }
    let Ok(v) = call.json_body else {
        return (ding(40035, "param error"), Err("not JSON".into()));
    };
    let content = match v["msgtype"].as_str() {
        Some("markdown") => &v["markdown"],
        Some("actionCard") => &v["actionCard"],
        Some("text") => &v["text"],
        _ => return (ding(40035, "msgtype invalid"), Err("msgtype".into())),
    };
    if !has_keyword(call.keyword, content) {
        return (
            ding(310000, "keywords not in content"),
            Err("keyword".into()),
        );
    }
    if v["msgUuid"].as_str().unwrap_or("").is_empty() {
        return (ding(40035, "msgUuid missing"), Err("no msgUuid".into()));
    }
    (ding(0, "ok"), Ok((token, v)))
}

/// Lark.
fn lark(call: Call<'_>) -> (Response, Outcome) {
    let lark = |code: i64, msg: &str| {
        Response::new(
            200,
            json!({"code": code, "msg": msg, "data": {}}).to_string(),
        )
    };
    let Some(token) = token_of(call.req.path.strip_prefix("/open-apis/bot/v2/hook/")) else {
        return (
            lark(
                19001,
                "param invalid: incoming webhook access token invalid",
            ),
            Err("token".into()),
        );
    };
    if call.req.body.len() > 20 * 1024 {
        return (lark(9499, "Bad Request"), Err("over 20 KB".into()));
    }
    let Ok(v) = call.json_body else {
        return (lark(9499, "Bad Request"), Err("not JSON".into()));
    };
    if let Some(secret) = call.secret {
        let ts: i64 = v["timestamp"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let want = hmac_b64(format!("{ts}\n{secret}").as_bytes(), b"");
        if (now_ms() / 1000 - ts).abs() > 3600 || v["sign"].as_str() != Some(want.as_str()) {
            return (
                lark(
                    19021,
                    "sign match fail or timestamp is not within one hour from current time",
                ),
                Err("sign".into()),
            );
        }
    }
    if call.limited {
        return (
            lark(11232, "frequency call.limited psm[lark.oapi.bot]"),
            Err("rate call.limited".into()),
        );
    }
    if v["msg_type"] != "interactive" || !v["card"].is_object() {
        return (lark(9499, "Bad Request"), Err("msg_type".into()));
    }
    if !has_keyword(call.keyword, &v["card"]) {
        return (lark(19024, "Key Words Not Found"), Err("keyword".into()));
    }
    (lark(0, "success"), Ok((token, v)))
}

/// WeCom.
fn wecom(call: Call<'_>) -> (Response, Outcome) {
    let we = |code: i64, msg: &str| {
        Response::new(200, json!({"errcode": code, "errmsg": msg}).to_string())
    };
    let Some(token) = token_of(param(&call.req.path, "key").as_deref()) else {
        return (
            we(
                93000,
                "invalid webhook url, hint: [1700000000_1_abcd], from ip: 127.0.0.1",
            ),
            Err("key".into()),
        );
    };
    if call.limited {
        return (
            we(45009, "api freq out of limit"),
            Err("rate call.limited".into()),
        );
    }
    let Ok(v) = call.json_body else {
        return (we(40001, "invalid json"), Err("not JSON".into()));
    };
    let (content, max) = match v["msgtype"].as_str() {
        Some("markdown") => (&v["markdown"]["content"], 4096),
        Some("text") => (&v["text"]["content"], 2048),
        _ => return (we(40008, "invalid message type"), Err("msgtype".into())),
    };
    let bytes = content.as_str().map_or(0, str::len);
    if bytes == 0 || bytes > max {
        return (
            we(40058, "content exceed max length"),
            Err(format!("content {bytes} bytes over {max}")),
        );
    }
    (we(0, "ok"), Ok((token, v)))
}

/// PagerDuty.
fn pagerduty(call: Call<'_>) -> (Response, Outcome) {
    if call.limited {
        return (
            Response::new(429, "").header("retry-after", "1"),
            Err("rate call.limited".into()),
        );
    }
    let bad = |m: &str| {
        (
            Response::new(400, json!({"status": "invalid event", "message": "Event object is invalid", "errors": [m]}).to_string()),
            Err(m.to_string()),
        )
    };
    let Ok(v) = call.json_body else {
        return bad("Invalid JSON");
    };
    let Some(token) = token_of(v["routing_key"].as_str()) else {
        return bad("Invalid routing key");
    };
    let dedup = v["dedup_key"].as_str().unwrap_or("");
    if dedup.is_empty() || dedup.len() > 255 {
        return bad("dedup_key is missing or longer than 255");
    }
    match v["event_action"].as_str() {
        Some("resolve") => {}
        Some("trigger") => {
            let p = &v["payload"];
            if chars(&p["summary"]) == 0
                || chars(&p["summary"]) > 1024
                || p["source"].as_str().unwrap_or("").is_empty()
                // The Events API v2 OpenAPI types these as strings: absent, never null.
                || ["component", "group", "class"]
                    .iter()
                    .any(|f| p.get(*f).is_some_and(|v| !v.is_string()))
                || !["critical", "error", "warning", "info"]
                    .contains(&p["severity"].as_str().unwrap_or(""))
            {
                return bad("payload is invalid");
            }
            if call.req.body.len() > 512 * 1024 {
                return bad("payload too large");
            }
        }
        _ => return bad("event_action is invalid"),
    }
    (
        Response::new(
            202,
            json!({"status": "success", "message": "Event processed", "dedup_key": dedup})
                .to_string(),
        ),
        Ok((token, v)),
    )
}

/// Google Chat: the token in the query, a `cardsV2` message with a `text` fallback within
/// 32,000 bytes, a `thread.threadKey` with `messageReplyOption`; errors in Google's format.
fn google_chat(req: &Request, body: Option<Value>, limited: bool) -> (Response, Outcome) {
    let error = |code: u16, status: &str, message: &str| {
        Response::new(
            code,
            json!({"error": {"code": code, "message": message, "status": status}}).to_string(),
        )
    };
    let path_ok = req.path.starts_with("/v1/spaces/AAAA1234/messages?");
    let Some(token) = token_of(param(&req.path, "token").as_deref()).filter(|_| path_ok) else {
        return (
            error(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
            ),
            Err("token".into()),
        );
    };
    if param(&req.path, "key").as_deref() != Some("AIzaFAKEkey") {
        return (
            error(400, "INVALID_ARGUMENT", "API key not valid"),
            Err("key".into()),
        );
    }
    if limited {
        return (
            error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted")
                .header("retry-after", "1"),
            Err("rate limited".into()),
        );
    }
    let Some(v) = body else {
        return (
            error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
            Err("not JSON".into()),
        );
    };
    let card = &v["cardsV2"][0]["card"];
    let thread_key = v["thread"]["threadKey"].as_str().unwrap_or("");
    let problem = if req.body.len() > 32_000 {
        Some("message over 32,000 bytes")
    } else if chars(&v["text"]) == 0 || chars(&card["header"]["title"]) == 0 {
        Some("no text or card header")
    } else if thread_key.is_empty() || thread_key.chars().count() > 4000 {
        Some("threadKey missing or over 4,000 characters")
    } else if param(&req.path, "messageReplyOption").as_deref()
        != Some("REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD")
    {
        Some("messageReplyOption missing")
    } else {
        None
    };
    if let Some(p) = problem {
        return (error(400, "INVALID_ARGUMENT", p), Err(p.into()));
    }
    let reply = json!({
        "name": "spaces/AAAA1234/messages/m1",
        "thread": {"name": format!("spaces/AAAA1234/threads/{}", thread_key.len())},
    });
    (Response::new(200, reply.to_string()), Ok((token, v)))
}
