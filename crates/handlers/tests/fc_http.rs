//! Function Compute custom runtime: the real handler binary started with FC's environment,
//! driven by real HTTP requests, publishing to a loopback MNS that verifies signatures (and,
//! for multi-cloud teams, to SQS on moto).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{assert_no_secrets, event, samples, Proc, FAKE_ALIBABA_SECRET, FAKE_STS_TOKEN};
use kms_alerts_testkit::http::request;
use kms_alerts_testkit::mns::MnsServer;
use serde_json::Value;

struct Fc {
    proc_: Proc,
    addr: String,
}

impl Fc {
    fn start(bin: &str, targets: &str, extra: &[(&'static str, String)]) -> Fc {
        let port = kms_alerts_testkit::free_port();
        let mut env = vec![
            ("FC_FUNCTION_NAME", "kms-alerts".to_string()),
            ("FC_CUSTOM_LISTEN_PORT", port.to_string()),
            ("KMS_ALERTS_TARGETS", targets.to_string()),
            ("KMS_ALERTS_RETRY_BASE_MS", "5".to_string()),
            ("KMS_ALERTS_LOG_FORMAT", "json".to_string()),
        ];
        env.extend(extra.iter().cloned());
        let mut proc_ = Proc::spawn(bin, &env);
        let addr = format!("127.0.0.1:{port}");
        let end = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(proc_.is_running(), "the handler exited: {}", proc_.logs());
            assert!(
                Instant::now() < end,
                "FC server did not start: {}",
                proc_.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Fc { proc_, addr }
    }

    fn invoke(&self, request_id: &str, body: &[u8]) -> (u16, HashMap<String, String>, Value) {
        let (status, headers, body) = request(
            &self.addr,
            "POST",
            "/invoke",
            &[
                ("x-fc-request-id", request_id),
                ("x-fc-access-key-id", "STS.FAKEid"),
                ("x-fc-access-key-secret", FAKE_ALIBABA_SECRET),
                ("x-fc-security-token", FAKE_STS_TOKEN),
                ("content-type", "application/octet-stream"),
            ],
            body,
        )
        .unwrap();
        (
            status,
            headers,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        )
    }
}

fn mns_targets(mns: &MnsServer, topic: &str) -> String {
    format!(
        "mns:{0}/topics/{topic} mns:{0}/queues/kms-audit?format=text",
        mns.endpoint()
    )
}

#[test]
fn every_alibaba_sample_over_http_reaches_mns_signed() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let fc = Fc::start(
        env!("CARGO_BIN_EXE_kms-secret-lifecycle"),
        &mns_targets(&mns, "kms-alerts"),
        &[],
    );
    let mut unique = std::collections::BTreeSet::new();
    for (i, (name, body)) in samples("alibaba").into_iter().enumerate() {
        let (status, headers, resp) = fc.invoke(&format!("r-{i}"), &body);
        assert_eq!(status, 200, "{name}: {resp}\n{}", fc.proc_.logs());
        assert!(!headers.contains_key("x-fc-status"), "{name}");
        for a in resp["alerts"].as_array().unwrap() {
            assert!(a["error"].is_null(), "{name}: {a}");
            unique.insert(a["dedup_key"].as_str().unwrap().to_string());
        }
    }
    assert!(
        mns.rejected().is_empty(),
        "MNS refused requests: {:?}",
        mns.rejected()
    );
    let got = mns.received();
    let topic: Vec<_> = got.iter().filter(|r| r.kind == "topics").collect();
    let queue: Vec<_> = got.iter().filter(|r| r.kind == "queues").collect();
    assert_eq!(
        topic.len(),
        unique.len(),
        "one topic message per distinct alert"
    );
    assert_eq!(queue.len(), unique.len());
    for r in &topic {
        let alert: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            r.tag.as_deref(),
            alert["severity"].as_str(),
            "message tag from severity"
        );
        assert_eq!(
            r.security_token.as_deref(),
            Some(FAKE_STS_TOKEN),
            "STS token from x-fc-security-token"
        );
        assert_eq!(r.access_key_id, "STS.FAKEid");
    }
    assert!(
        queue.iter().all(|r| r.body.starts_with('[')),
        "the queue target asked for text"
    );
    let logs = fc.proc_.logs();
    assert!(
        logs.contains("FC Invoke Start RequestId: r-0")
            && logs.contains("FC Invoke End RequestId: r-0"),
        "{logs}"
    );
    assert_no_secrets(&logs);
}

#[test]
fn bad_bodies_get_clear_errors_and_the_server_keeps_serving() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let fc = Fc::start(
        env!("CARGO_BIN_EXE_kms-instance-health"),
        &mns_targets(&mns, "kms-alerts"),
        &[],
    );

    let (status, headers, resp) = fc.invoke("bad-1", b"{\"product\": \"kms\",\n \"content\": {");
    assert_eq!(status, 404);
    assert_eq!(headers.get("x-fc-status").map(String::as_str), Some("404"));
    assert_eq!(resp["errorType"], "InvalidEvent");
    let msg = resp["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains(
            "request bad-1: invalid JSON at line 2, column 13: EOF while parsing an object"
        ),
        "{msg}"
    );

    let (status, headers, resp) = fc.invoke("empty-1", b"");
    assert_eq!(
        (status, headers.get("x-fc-status").cloned()),
        (404, Some("404".into()))
    );
    assert!(resp["errorMessage"]
        .as_str()
        .unwrap()
        .contains("empty input"));

    let huge = vec![b' '; 2 * 1024 * 1024];
    let (status, headers, resp) = fc.invoke("huge-1", &huge);
    assert_eq!(
        (status, headers.get("x-fc-status").cloned()),
        (404, Some("404".into()))
    );
    assert_eq!(resp["errorType"], "PayloadTooLarge");

    // Still serving, and a good event goes through.
    let (status, _, _) = fc.invoke("good-1", &event("alibaba/qps-reminder.json"));
    assert_eq!(status, 200);
    assert_eq!(mns.received().len(), 2);

    // The other routes.
    let addr = fc.addr.as_str();
    assert_eq!(
        request(addr, "POST", "/initialize", &[], b"").unwrap().0,
        200
    );
    assert_eq!(request(addr, "GET", "/pre-stop", &[], b"").unwrap().0, 200);
    assert_eq!(request(addr, "GET", "/invoke", &[], b"").unwrap().0, 404);
    assert_eq!(
        request(addr, "POST", "/elsewhere", &[], b"{}").unwrap().0,
        404
    );
    assert_no_secrets(&fc.proc_.logs());
}

#[test]
fn sink_failure_fails_the_invocation_with_x_fc_status() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let fc = Fc::start(
        env!("CARGO_BIN_EXE_kms-secret-lifecycle"),
        &mns_targets(&mns, "missing-topic"),
        &[],
    );
    let (status, headers, resp) =
        fc.invoke("fail-1", &event("alibaba/secret-rotation-failure.json"));
    assert_eq!(status, 404);
    assert_eq!(headers.get("x-fc-status").map(String::as_str), Some("404"));
    assert_eq!(resp["errorType"], "PublishFailed");
    assert!(
        resp["errorMessage"]
            .as_str()
            .unwrap()
            .contains("TopicNotExist"),
        "{resp}"
    );
    // The queue did take it; FC's retry must reach only the topic.
    assert_eq!(
        resp["outcome"]["alerts"][0]["sent"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_no_secrets(&fc.proc_.logs());
    assert!(!resp.to_string().contains(FAKE_ALIBABA_SECRET));
}

const TOKEN: &str = "k3y-0f-the-callback-url-9f8e7d6c5b4a";

/// The function role's access key id, as FC puts it in the environment.
const ROLE_KEY_ID: &str = "STS.ROLEid";

/// The alarm callback function, with its role's credentials in the environment as FC sets
/// them (it never takes credentials from request headers).
fn callback_fn(mns: &MnsServer, topic: &str) -> Fc {
    callback_fn_with(mns, topic, &[])
}

fn callback_fn_with(mns: &MnsServer, topic: &str, extra: &[(&'static str, String)]) -> Fc {
    let mut env = vec![
        ("KMS_ALERTS_ALARM_TOKEN", TOKEN.to_string()),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", ROLE_KEY_ID.to_string()),
        (
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            FAKE_ALIBABA_SECRET.to_string(),
        ),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", FAKE_STS_TOKEN.to_string()),
    ];
    env.extend(extra.iter().cloned());
    Fc::start(
        env!("CARGO_BIN_EXE_kms-alarm-callback"),
        &mns_targets(mns, topic),
        &env,
    )
}

/// An anonymous caller's request through the HTTP trigger (FC marks it `/http-invoke`).
fn http_call(fc: &Fc, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let (status, _, body) = request(
        &fc.addr,
        method,
        path,
        &[
            ("x-fc-request-id", "http-1"),
            ("x-fc-control-path", "/http-invoke"),
            ("x-fc-access-key-id", "STS.FAKEid"),
            ("x-fc-access-key-secret", FAKE_ALIBABA_SECRET),
            ("x-fc-security-token", FAKE_STS_TOKEN),
            ("content-type", content_type),
        ],
        body,
    )
    .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

const FORM: &str = "application/x-www-form-urlencoded; charset=UTF-8";

#[test]
fn the_alarm_callback_function_takes_only_its_form_on_its_secret_path() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let fc = callback_fn(&mns, "kms-alerts");
    let alarm = event("alibaba/metric-alarm-5xx-firing.form");
    let path = format!("/alarm/{TOKEN}");

    let (status, body) = http_call(&fc, "POST", &path, FORM, &alarm);
    assert_eq!(
        (status, body.as_str()),
        (200, "accepted"),
        "{}",
        fc.proc_.logs()
    );
    let topic = mns
        .received()
        .into_iter()
        .find(|r| r.kind == "topics")
        .unwrap();
    assert_eq!(topic.tag.as_deref(), Some("critical"));
    let alert: Value = serde_json::from_str(&topic.body).unwrap();
    assert_eq!(alert["kind"], "metric_alarm");
    let delivered = mns.received().len();

    // Forged events and every other door: refused, nothing published, nothing revealed.
    let forged = event("alibaba/key-actual-deletion.json");
    let refused: Vec<(&str, String, &str, Vec<u8>, u16)> = vec![
        (
            "POST",
            "/invoke".into(),
            "application/json",
            forged.clone(),
            404,
        ),
        ("POST", "/invoke".into(), FORM, alarm.clone(), 404),
        ("POST", "/alarm".into(), FORM, alarm.clone(), 404),
        ("POST", "/alarm/".into(), FORM, alarm.clone(), 404),
        (
            "POST",
            "/alarm/wrong-token-0123456789".into(),
            FORM,
            alarm.clone(),
            404,
        ),
        (
            "POST",
            format!("/alarm/{}", &TOKEN[..TOKEN.len() - 1]),
            FORM,
            alarm.clone(),
            404,
        ),
        (
            "POST",
            format!("/alarm/{TOKEN}/x"),
            FORM,
            alarm.clone(),
            404,
        ),
        ("GET", path.clone(), FORM, vec![], 404),
        ("POST", "/initialize".into(), FORM, vec![], 404),
        (
            "POST",
            path.clone(),
            "application/json",
            forged.clone(),
            415,
        ),
        ("POST", path.clone(), FORM, forged.clone(), 400),
        (
            "POST",
            path.clone(),
            FORM,
            b"alertState=OK&foo=bar".to_vec(),
            400,
        ),
        ("POST", path.clone(), FORM, vec![b'a'; 100 * 1024], 413),
    ];
    for (method, p, ct, body, want) in refused {
        let (status, text) = http_call(&fc, method, &p, ct, &body);
        assert_eq!(status, want, "{method} {p} {ct}: {text}");
        assert!(text.len() < 40, "a short reason only: {text}");
        for secret in ["mns:", "127.0.0.1", "kms-alerts", "alibaba:", TOKEN] {
            assert!(!text.contains(secret), "{p}: {text} reveals {secret}");
        }
    }
    assert_eq!(
        mns.received().len(),
        delivered,
        "nothing forged was published"
    );

    // A 30 MB body is cut off at the limit and the function still serves.
    let (status, _, body) = oversized(&fc.addr, &path, 30 * 1024 * 1024);
    assert_eq!((status, body.as_str()), (413, "body too large"));
    let (status, _) = http_call(
        &fc,
        "POST",
        &path,
        FORM,
        &event("alibaba/metric-alarm-4xx-unencoded-nulls.form"),
    );
    assert_eq!(status, 200);

    let logs = fc.proc_.logs();
    assert!(!logs.contains(TOKEN), "the token was logged");
    assert!(!logs.contains("wrong-token"), "a guessed token was logged");
    assert_no_secrets(&logs);
}

#[test]
fn a_failed_callback_delivery_is_503_without_details() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let fc = callback_fn(&mns, "missing-topic");
    let (status, body) = http_call(
        &fc,
        "POST",
        &format!("/alarm/{TOKEN}"),
        FORM,
        &event("alibaba/metric-alarm-5xx-firing.form"),
    );
    assert_eq!((status, body.as_str()), (503, "not delivered, retry later"));
    assert!(
        fc.proc_.logs().contains("TopicNotExist"),
        "the operator's log has the cause"
    );
}

#[test]
fn the_alarm_callback_function_will_not_start_without_a_good_token() {
    for (token, want) in [
        (None, "KMS_ALERTS_ALARM_TOKEN is missing or empty"),
        (Some(""), "KMS_ALERTS_ALARM_TOKEN is missing or empty"),
        (Some("short"), "use at least 16"),
    ] {
        let mut env = vec![
            ("FC_FUNCTION_NAME", "kms-alarm-callback".to_string()),
            (
                "FC_CUSTOM_LISTEN_PORT",
                kms_alerts_testkit::free_port().to_string(),
            ),
            (
                "KMS_ALERTS_TARGETS",
                "mns:https://1.mns.cn-hangzhou.aliyuncs.com/topics/t".to_string(),
            ),
        ];
        if let Some(t) = token {
            env.push(("KMS_ALERTS_ALARM_TOKEN", t.to_string()));
        }
        let mut p = Proc::spawn(env!("CARGO_BIN_EXE_kms-alarm-callback"), &env);
        let end = Instant::now() + Duration::from_secs(10);
        while p.is_running() {
            assert!(Instant::now() < end, "it started without a good token");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(p.logs().contains(want), "{token:?}: {}", p.logs());
    }
}

#[test]
fn event_functions_refuse_http_trigger_calls_and_have_no_alarm_route() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let fc = Fc::start(
        env!("CARGO_BIN_EXE_kms-instance-health"),
        &mns_targets(&mns, "kms-alerts"),
        &[],
    );
    let forged = event("alibaba/qps-reminder.json");
    assert_eq!(
        http_call(&fc, "POST", "/invoke", "application/json", &forged).0,
        404
    );
    assert_eq!(
        http_call(
            &fc,
            "POST",
            "/alarm",
            FORM,
            &event("alibaba/metric-alarm-5xx-firing.form")
        )
        .0,
        404
    );
    assert!(mns.received().is_empty(), "nothing published");
    // FC's own event invocation (control path /invoke, or none) still works.
    let (status, _, resp) = fc.invoke("ok-1", &forged);
    assert_eq!(status, 200, "{resp}");
}

/// Reads an HTTP/1.1 answer: status, headers (lower-case names) and body.
fn read_response(s: std::net::TcpStream) -> (u16, HashMap<String, String>, String) {
    let (status, headers, body) = kms_alerts_testkit::http::read_response(s).unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Declares `declared` bytes and sends them from another thread while reading the answer, as
/// a client pushing a huge body would: the answer's status, headers and body.
fn oversized(addr: &str, path: &str, declared: usize) -> (u16, HashMap<String, String>, String) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {FORM}\r\ncontent-length: {declared}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'a'; 1024 * 1024];
        for _ in 0..declared / chunk.len() {
            if w.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let answer = read_response(s);
    let _ = writer.join();
    answer
}

#[test]
fn fc_handler_publishes_to_aws_sqs_too() {
    let moto = kms_alerts_testkit::moto::Moto::start();
    let common::Aws { rt, sqs, .. } = common::moto_clients(&moto);
    let url = rt
        .block_on(sqs.create_queue().queue_name("central").send())
        .unwrap()
        .queue_url
        .unwrap();
    let fc = Fc::start(
        env!("CARGO_BIN_EXE_kms-key-lifecycle"),
        &format!("sqs:{url}"),
        &moto.env().into_iter().collect::<Vec<_>>(),
    );
    let (status, _, resp) = fc.invoke("x-1", &event("alibaba/cloudevents-batch.json"));
    assert_eq!(status, 200, "{resp}");
    let msgs = rt
        .block_on(
            sqs.receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .send(),
        )
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(msgs.len(), 2);
}

#[test]
fn a_hostile_array_is_refused_with_bounded_memory_and_the_next_event_still_delivered() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let fc = Fc::start(
        env!("CARGO_BIN_EXE_kms-secret-lifecycle"),
        &mns_targets(&mns, "kms-alerts"),
        &[],
    );
    // 1 MB of `[0,0,...]`: 500,000 records in one request.
    let zeros = format!("[{}0]", "0,".repeat(499_999));
    let (status, headers, resp) = fc.invoke("hostile-1", zeros.as_bytes());
    assert_eq!(status, 404, "{resp}");
    assert_eq!(headers.get("x-fc-status").map(String::as_str), Some("404"));
    let text = resp.to_string();
    assert!(text.contains("more than 1000 records"), "{text}");
    assert!(mns.received().is_empty(), "nothing of it was published");
    let rss_mib = fc.proc_.peak_rss_kib().unwrap() / 1024;
    eprintln!("peak RSS after 500,000 records: {rss_mib} MiB");
    assert!(rss_mib < 100, "peak RSS {rss_mib} MiB for one request");

    // A 30 MB event: refused at the declared length, memory still bounded.
    let (status, headers, body) = oversized(&fc.addr, "/invoke", 30 * 1024 * 1024);
    assert_eq!(status, 404, "{body}");
    assert_eq!(headers.get("x-fc-status").map(String::as_str), Some("404"));
    let resp: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(resp["errorType"], "PayloadTooLarge", "{resp}");
    let rss_mib = fc.proc_.peak_rss_kib().unwrap() / 1024;
    eprintln!("peak RSS after a 30 MB request: {rss_mib} MiB");
    assert!(
        rss_mib < 100,
        "peak RSS {rss_mib} MiB after a 30 MB request"
    );

    let (status, _, resp) = fc.invoke("next-1", &event("alibaba/secret-rotation-failure.json"));
    assert_eq!(status, 200, "{resp}");
    assert_eq!(mns.received().len(), 2, "topic and audit queue");
}

#[test]
fn concurrent_copies_of_one_event_send_once() {
    // The topic answers after 300 ms: both copies are in flight together.
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let fc = Fc::start(
        env!("CARGO_BIN_EXE_kms-secret-lifecycle"),
        &format!("mns:{}/topics/slow-alerts", mns.endpoint()),
        &[],
    );
    let body = event("alibaba/secret-rotation-failure.json");
    let answers: Vec<Value> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..4)
            .map(|i| {
                let (fc, body) = (&fc, &body);
                s.spawn(move || fc.invoke(&format!("dup-{i}"), body))
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap().2).collect()
    });
    assert_eq!(
        mns.received().len(),
        1,
        "one message for four concurrent copies"
    );
    let sent = answers
        .iter()
        .filter(|a| !a["alerts"][0]["sent"].as_array().unwrap().is_empty())
        .count();
    let duplicate = answers
        .iter()
        .filter(|a| !a["alerts"][0]["duplicate"].as_array().unwrap().is_empty())
        .count();
    assert_eq!((sent, duplicate), (1, 3), "{answers:?}");
}

#[test]
fn fc_timeout_bounds_a_stalled_target() {
    let (stalled, seen) = kms_alerts_testkit::stalled_endpoint_seen();
    let fc = Fc::start(
        env!("CARGO_BIN_EXE_kms-secret-lifecycle"),
        &format!("mns:{stalled}/topics/alerts"),
        &[
            ("KMS_ALERTS_TIMEOUT_SECONDS", "3".to_string()),
            // Only the function's deadline can stop it: the publish timeout and the attempts
            // would keep it going for a minute.
            ("KMS_ALERTS_PUBLISH_TIMEOUT_MS", "60000".to_string()),
            ("KMS_ALERTS_MAX_ATTEMPTS", "10".to_string()),
        ],
    );
    let (status, headers, resp) =
        fc.invoke("slow-1", &event("alibaba/secret-rotation-failure.json"));
    seen.recv_timeout(Duration::from_secs(30))
        .expect("the stalled target was reached");
    assert_eq!(status, 404, "{resp}");
    assert_eq!(headers.get("x-fc-status").map(String::as_str), Some("404"));
    assert_eq!(resp["errorType"], "PublishFailed", "{resp}");
    assert!(
        resp["errorMessage"].as_str().unwrap().contains("deadline"),
        "stopped by the deadline: {resp}"
    );
}

/// A request to an event function as FC sends it, with FC's credentials, and the given
/// `x-fc-control-path` headers (none, one, or several).
fn with_control_paths(
    fc: &Fc,
    path: &str,
    control: &[&str],
    body: &[u8],
) -> (u16, HashMap<String, String>, Value) {
    let mut headers = vec![
        ("x-fc-request-id", "cp-1"),
        ("x-fc-access-key-id", "STS.FAKEid"),
        ("x-fc-access-key-secret", FAKE_ALIBABA_SECRET),
        ("x-fc-security-token", FAKE_STS_TOKEN),
    ];
    headers.extend(control.iter().map(|c| ("x-fc-control-path", *c)));
    let (status, headers, body) = request(&fc.addr, "POST", path, &headers, body).unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

#[test]
fn only_one_readable_invoke_control_path_makes_an_event_call() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let fc = Fc::start(
        env!("CARGO_BIN_EXE_kms-instance-health"),
        &mns_targets(&mns, "kms-alerts"),
        &[],
    );
    let event_body = event("alibaba/qps-reminder.json");
    // Empty, blank, repeated (alike or not), non-ASCII: 400 with a clear error that FC would
    // count as a failure, and nothing published.
    let unreadable: [&[&str]; 7] = [
        &[""],
        &["   "],
        &["/invoke", "/invoke"],
        &["/invoke", "/http-invoke"],
        &["/http-invoke", "/invoke"],
        &["/ínvoke"],
        &["/invoke\u{a0}"],
    ];
    for control in unreadable {
        let (status, headers, resp) = with_control_paths(&fc, "/invoke", control, &event_body);
        assert_eq!(status, 400, "{control:?}: {resp}");
        assert_eq!(
            headers.get("x-fc-status").map(String::as_str),
            Some("404"),
            "{control:?}: FC would count a failure, never a success"
        );
        assert_eq!(resp["errorType"], "InvalidControlPath", "{control:?}");
        let msg = resp["errorMessage"].as_str().unwrap();
        assert!(
            msg.contains("x-fc-control-path") && msg.contains("Nothing was published"),
            "{control:?}: {msg}"
        );
        // The lifecycle routes refuse it too.
        let (status, _, _) = with_control_paths(&fc, "/initialize", control, b"");
        assert_eq!(status, 400, "{control:?} on /initialize");
    }
    // A readable value other than /invoke is an HTTP trigger's call or another control request.
    for control in ["/http-invoke", "/Invoke", "/invoke/", "/initialize"] {
        let (status, _, resp) = with_control_paths(&fc, "/invoke", &[control], &event_body);
        assert_eq!(status, 404, "{control}: {resp}");
    }
    assert!(
        mns.received().is_empty(),
        "nothing was published: {:?}",
        mns.received()
    );

    // FC's own event call: exactly /invoke once, or no control path at all.
    let (status, _, resp) = with_control_paths(&fc, "/invoke", &["/invoke"], &event_body);
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["alerts"][0]["sent"].as_array().unwrap().len(), 2);
    let (status, _, resp) = with_control_paths(&fc, "/invoke", &[], &event_body);
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["alerts"][0]["duplicate"].as_array().unwrap().len(), 2);
    // One alert, to the topic and the audit queue; the second call was a duplicate.
    assert_eq!(mns.received().len(), 2);
    let logs = fc.proc_.logs();
    assert_eq!(
        fc.proc_
            .json_lines("refused: x-fc-control-path is not one readable value")
            .len(),
        2 * unreadable.len(),
        "{logs}"
    );
    assert_no_secrets(&logs);
}

/// The 5xx alarm sample, made a different alarm (its own rule) by `n`.
fn alarm_number(n: usize) -> Vec<u8> {
    String::from_utf8(event("alibaba/metric-alarm-5xx-firing.form"))
        .unwrap()
        .replace(
            "ruleId=putNewAlarm_user_",
            &format!("ruleId=putNewAlarm_user_{n}"),
        )
        .into_bytes()
}

const CALLER_SECRET: &str = "caller-SECRET-0123456789";

#[test]
fn the_alarm_callback_signs_with_the_roles_credentials_never_a_callers() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let fc = callback_fn(&mns, "kms-alerts");
    let path = format!("/alarm/{TOKEN}");
    // A caller's credential headers with every control path they might come with, each on
    // its own alarm so that each is published: never used.
    let controls = [
        Some("/http-invoke"),
        None,
        Some("/invoke"),
        Some("/initialize"),
    ];
    for (n, control) in controls.iter().enumerate() {
        let mut headers = vec![
            ("x-fc-request-id", "cb-creds"),
            ("x-fc-access-key-id", "LTAIcallerKEY"),
            ("x-fc-access-key-secret", CALLER_SECRET),
            ("x-fc-security-token", "caller-token"),
            ("content-type", FORM),
        ];
        headers.extend(control.map(|c| ("x-fc-control-path", c)));
        let (status, _, body) =
            request(&fc.addr, "POST", &path, &headers, &alarm_number(n)).unwrap();
        assert_eq!(
            (status, String::from_utf8_lossy(&body).as_ref()),
            (200, "accepted"),
            "{control:?}: {}",
            fc.proc_.logs()
        );
    }
    // Nor kept for later: a call with no credential headers still signs with the role's.
    let (status, _, body) = request(
        &fc.addr,
        "POST",
        &path,
        &[("content-type", FORM)],
        &alarm_number(controls.len()),
    )
    .unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"accepted"[..]));

    assert!(mns.rejected().is_empty(), "{:?}", mns.rejected());
    let got = mns.received();
    assert_eq!(
        got.len(),
        2 * (controls.len() + 1),
        "each alarm to topic and queue"
    );
    for r in &got {
        assert_eq!(r.access_key_id, ROLE_KEY_ID, "signed with the role's key");
        assert_eq!(r.security_token.as_deref(), Some(FAKE_STS_TOKEN));
    }
    let logs = fc.proc_.logs();
    assert!(!logs.contains(CALLER_SECRET), "{logs}");
    assert_no_secrets(&logs);
}

#[test]
fn the_alarm_callback_refuses_an_unreadable_control_path() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let fc = callback_fn(&mns, "kms-alerts");
    let path = format!("/alarm/{TOKEN}");
    let alarm = event("alibaba/metric-alarm-5xx-firing.form");
    for control in [
        &["/http-invoke", "/http-invoke"][..],
        &["/http-invoke", "/invoke"],
        &[""],
        &["/http-ïnvoke"],
    ] {
        let mut headers = vec![("content-type", FORM)];
        headers.extend(control.iter().map(|c| ("x-fc-control-path", *c)));
        let (status, _, body) = request(&fc.addr, "POST", &path, &headers, &alarm).unwrap();
        assert_eq!(
            (status, String::from_utf8_lossy(&body).as_ref()),
            (400, "invalid x-fc-control-path"),
            "{control:?}"
        );
    }
    assert!(mns.received().is_empty(), "nothing was published");
    // Without the secret path it is 404 whatever the header: no hint for a guesser.
    let (status, _, _) = request(
        &fc.addr,
        "POST",
        "/alarm/wrong-token-0123456789",
        &[("x-fc-control-path", ""), ("content-type", FORM)],
        &alarm,
    )
    .unwrap();
    assert_eq!(status, 404);
}

/// Sends a request head declaring a `declared`-byte body, then the body one byte at a time
/// every `every` (never, with `None`) from another thread, until the server answers: the
/// answer, and how many body bytes had been sent when it came.
fn trickled(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    declared: usize,
    every: Option<Duration>,
) -> ((u16, HashMap<String, String>, String), usize) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    // A guard against a hang, not a measure: the answer is expected long before.
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {declared}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let answered = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let writer = every.map(|every| {
        let (answered, sent) = (answered.clone(), sent.clone());
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            while !answered.load(Ordering::SeqCst) && sent.load(Ordering::SeqCst) < declared {
                if w.write_all(b"a").is_err() {
                    return;
                }
                sent.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(every);
            }
        })
    });
    let answer = read_response(s);
    answered.store(true, Ordering::SeqCst);
    let sent_then = sent.load(Ordering::SeqCst);
    if let Some(w) = writer {
        let _ = w.join();
    }
    (answer, sent_then)
}

#[test]
fn a_body_that_does_not_arrive_in_time_is_refused_and_the_server_keeps_serving() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let timeout = [("KMS_ALERTS_BODY_TIMEOUT_MS", "300".to_string())];
    let fc = Fc::start(
        env!("CARGO_BIN_EXE_kms-secret-lifecycle"),
        &mns_targets(&mns, "kms-alerts"),
        &timeout,
    );
    let fc_headers = [
        ("x-fc-request-id", "slow-body-1"),
        ("x-fc-control-path", "/invoke"),
        ("x-fc-access-key-id", "STS.FAKEid"),
        ("x-fc-access-key-secret", FAKE_ALIBABA_SECRET),
    ];
    // Headers then nothing, and headers then a byte every 20 ms (the whole body would take
    // 200 s): each answered with the timeout before the body is complete.
    for every in [None, Some(Duration::from_millis(20))] {
        let ((status, headers, body), sent) =
            trickled(&fc.addr, "/invoke", &fc_headers, 10_000, every);
        assert_eq!(status, 408, "{every:?}: {body}");
        assert!(sent < 10_000, "answered while the body was still coming");
        assert_eq!(headers.get("x-fc-status").map(String::as_str), Some("404"));
        let resp: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(resp["errorType"], "RequestTimeout", "{resp}");
        assert!(
            resp["errorMessage"]
                .as_str()
                .unwrap()
                .contains("within 300 ms"),
            "{resp}"
        );
    }
    assert!(mns.received().is_empty(), "nothing was published");
    // Still serving.
    let (status, _, resp) = fc.invoke("after-1", &event("alibaba/secret-rotation-failure.json"));
    assert_eq!(status, 200, "{resp}");
    assert_eq!(mns.received().len(), 2);

    let callback = callback_fn_with(&mns, "kms-alerts", &timeout);
    let path = format!("/alarm/{TOKEN}");
    for every in [None, Some(Duration::from_millis(20))] {
        let ((status, _, body), sent) = trickled(
            &callback.addr,
            &path,
            &[
                ("x-fc-control-path", "/http-invoke"),
                ("content-type", FORM),
            ],
            10_000,
            every,
        );
        assert_eq!(
            (status, body.as_str()),
            (408, "body not received in time"),
            "{every:?}"
        );
        assert!(sent < 10_000, "answered while the body was still coming");
    }
    assert_eq!(mns.received().len(), 2, "nothing more was published");
    let (status, body) = http_call(
        &callback,
        "POST",
        &path,
        FORM,
        &event("alibaba/metric-alarm-5xx-firing.form"),
    );
    assert_eq!((status, body.as_str()), (200, "accepted"));
    assert_no_secrets(&fc.proc_.logs());
    assert_no_secrets(&callback.proc_.logs());
}

#[test]
fn a_bad_body_timeout_or_a_callback_without_role_credentials_stops_the_function() {
    let base = |bin: &str| {
        let mut env = vec![
            ("FC_FUNCTION_NAME", bin.to_string()),
            (
                "FC_CUSTOM_LISTEN_PORT",
                kms_alerts_testkit::free_port().to_string(),
            ),
            (
                "KMS_ALERTS_TARGETS",
                "mns:https://1.mns.cn-hangzhou.aliyuncs.com/topics/t".to_string(),
            ),
            ("KMS_ALERTS_ALARM_TOKEN", TOKEN.to_string()),
            ("KMS_ALERTS_LOG_FORMAT", "json".to_string()),
        ];
        env.push(("ALIBABA_CLOUD_ACCESS_KEY_ID", ROLE_KEY_ID.to_string()));
        env.push((
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            FAKE_ALIBABA_SECRET.to_string(),
        ));
        env
    };
    let bins = [
        env!("CARGO_BIN_EXE_kms-key-lifecycle"),
        env!("CARGO_BIN_EXE_kms-alarm-callback"),
    ];
    for bin in bins {
        for value in ["0", "ten", "900001", "-5"] {
            let mut env = base(bin);
            env.push(("KMS_ALERTS_BODY_TIMEOUT_MS", value.to_string()));
            let mut p = Proc::spawn(bin, &env);
            assert_eq!(p.exit_code(Duration::from_secs(20)), Some(2), "{value}");
            let errors = p.json_lines("invalid configuration");
            assert_eq!(errors.len(), 1, "{bin} {value}: {}", p.logs());
            let error = errors[0]["error"].as_str().unwrap();
            assert!(
                error.starts_with(&format!(
                    "KMS_ALERTS_BODY_TIMEOUT_MS={value:?}: expected a whole number"
                )),
                "{bin}: {error}"
            );
            assert_no_secrets(&p.logs());
        }
    }
    // The callback takes credentials only from its environment: without them it cannot
    // publish to MNS, so it does not start.
    let env: Vec<_> = base(bins[1])
        .into_iter()
        .filter(|(k, _)| !k.starts_with("ALIBABA_CLOUD_"))
        .collect();
    let mut p = Proc::spawn(bins[1], &env);
    assert_eq!(p.exit_code(Duration::from_secs(20)), Some(2));
    let errors = p.json_lines("invalid configuration");
    assert_eq!(errors.len(), 1, "{}", p.logs());
    let error = errors[0]["error"].as_str().unwrap();
    assert!(
        error.contains("ALIBABA_CLOUD_ACCESS_KEY_ID")
            && error.contains("never takes credentials from request headers"),
        "{error}"
    );
}

#[test]
fn failed_accepts_back_off_log_once_per_step_and_the_server_recovers() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let port = kms_alerts_testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    // At most 40 open files: a handful for the runtime, the rest for connections.
    let mut p = Proc::spawn_with_nofile(
        env!("CARGO_BIN_EXE_kms-key-lifecycle"),
        40,
        &[
            ("FC_FUNCTION_NAME", "kms-alerts".to_string()),
            ("FC_CUSTOM_LISTEN_PORT", port.to_string()),
            ("KMS_ALERTS_TARGETS", mns_targets(&mns, "kms-alerts")),
            ("KMS_ALERTS_LOG_FORMAT", "json".to_string()),
        ],
    );
    let wait_for = |p: &mut Proc, what: &str, done: &dyn Fn(&Proc) -> bool| {
        // A guard against a hang, not a measure.
        let end = Instant::now() + Duration::from_secs(60);
        while !done(p) {
            assert!(p.is_running(), "the handler exited: {}", p.logs());
            assert!(Instant::now() < end, "{what}: {}", p.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Its log says it listens (no probe connection, whose close could free a file later).
    wait_for(&mut p, "the server did not start", &|p| {
        !p.json_lines("Function Compute custom runtime listening")
            .is_empty()
    });

    // More idle connections than the process may open files: once its table is full,
    // accepting fails (EMFILE) while the rest wait in the kernel's queue.
    let held: Vec<std::net::TcpStream> = (0..100)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    wait_for(&mut p, "the wait never reached its longest step", &|p| {
        p.json_lines("accept failed")
            .iter()
            .any(|l| l["retry_in_ms"] == 1000)
    });
    drop(held);

    // Serving again: an event goes through.
    let (status, _, body) = request(
        &addr,
        "POST",
        "/invoke",
        &[
            ("x-fc-request-id", "after-emfile"),
            ("x-fc-access-key-id", "STS.FAKEid"),
            ("x-fc-access-key-secret", FAKE_ALIBABA_SECRET),
        ],
        &event("alibaba/key-actual-deletion.json"),
    )
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(mns.received().len(), 2);
    wait_for(&mut p, "no recovery logged", &|p| {
        !p.json_lines("accepting connections again").is_empty()
    });

    // One warning per step of the wait, in order, none twice; each counts the failures so
    // far (one per step, more if a connection closing freed a file for one accept between).
    let warnings = p.json_lines("accept failed");
    let waits: Vec<u64> = warnings
        .iter()
        .take(9)
        .map(|w| w["retry_in_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(
        waits,
        [5, 10, 20, 40, 80, 160, 320, 640, 1000],
        "{}",
        p.logs()
    );
    let counts: Vec<u64> = warnings
        .iter()
        .take(9)
        .map(|w| w["failures"].as_u64().unwrap())
        .collect();
    assert!(
        counts.first() == Some(&1) && counts.windows(2).all(|c| c[0] < c[1]),
        "{counts:?}"
    );
    for w in &warnings {
        assert_eq!(w["level"], "WARN", "{w}");
        assert!(w["error"].as_str().unwrap().contains("open files"), "{w}");
    }
    // A recovery line only after a warning (queued connections accepted after it may fill
    // the table again for a moment: the same episode, not logged again). Past the nine
    // steps, at most one reminder per 60 failures at the longest wait; a loop that retried
    // at once writes a line per failure, thousands a second.
    let recovered = p.json_lines("accepting connections again");
    assert!(
        (1..=warnings.len()).contains(&recovered.len()),
        "{}",
        p.logs()
    );
    let failures = recovered.last().unwrap()["failures"].as_u64().unwrap();
    assert!(failures >= 9, "{failures}");
    assert!(
        warnings.len() as u64 - 9 <= failures / 60,
        "{} warnings for {failures} failures",
        warnings.len()
    );
    let lines = p.logs().lines().count();
    assert!(lines < 20, "{lines} log lines:\n{}", p.logs());
}
