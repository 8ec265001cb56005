//! One conformance suite over every HTTP sink (the chat and pager services, Google Chat and
//! MNS), built from target strings through the registry as a deployment builds them, against a
//! scripted loopback server: every failure is classified by the one classifier, no secret
//! reaches a name, a log line's error or a publish error even when the service echoes the
//! request, a retry repeats the request exactly (idempotency keys included), and a hostile
//! alert stays within the service's limit in bytes with its text made inert.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kms_alerts_core::{Alert, Fact};
use kms_alerts_notify::{
    parse_targets, AlibabaCredentials, BuildContext, CredentialSource, Failure, Notifier,
    RetryPolicy, Settings, Target,
};
use kms_alerts_testkit::http::{Request, Response, Server};

/// The secret part of every address (a webhook token, a routing key).
const SECRET: &str = "S3CRETt0kenNeverShown0123456789ab";
/// The Alibaba Cloud AccessKey secret MNS signs with.
const ALIBABA_SECRET: &str = "FAKEaliyunSECRETneverShown98765";

/// A loopback server answering from a script (then with the service's success), recording
/// every request.
struct Scripted {
    server: Server,
    script: Arc<Mutex<VecDeque<Response>>>,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Scripted {
    fn start(success: Response) -> Scripted {
        let script: Arc<Mutex<VecDeque<Response>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let (sc, se) = (script.clone(), seen.clone());
        let server = Server::start(move |req| {
            se.lock().unwrap().push(req.clone());
            let next = sc.lock().unwrap().pop_front();
            // An answer that echoes the request, as some proxies and vendors do.
            next.map(|mut r| {
                if r.body == b"ECHO" {
                    r.body = format!(
                        "bad request {} {}",
                        req.path,
                        String::from_utf8_lossy(&req.body)
                    )
                    .into_bytes();
                }
                r
            })
            .unwrap_or_else(|| success.clone())
        });
        Scripted {
            server,
            script,
            seen,
        }
    }

    fn then(&self, r: Response) {
        self.script.lock().unwrap().push_back(r);
    }

    fn seen(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

/// Every HTTP sink: its target string over `base`, its success answer, its limit in bytes.
fn sinks(base: &str) -> Vec<(&'static str, String, Response, usize)> {
    let ok = |status: u16, body: &str| Response::new(status, body.to_string());
    vec![
        ("slack", format!("slack:{base}/services/T0/B0/{SECRET}"), ok(200, "ok"), 40_000),
        (
            "teams",
            format!("teams:{base}/workflows/1/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&sig={SECRET}"),
            ok(202, ""),
            28 * 1024,
        ),
        (
            "dingtalk",
            format!("dingtalk:{base}/robot/send?access_token={SECRET}"),
            ok(200, r#"{"errcode":0,"errmsg":"ok"}"#),
            20_000,
        ),
        (
            "lark",
            format!("lark:{base}/open-apis/bot/v2/hook/{SECRET}"),
            ok(200, r#"{"code":0,"msg":"success"}"#),
            20 * 1024,
        ),
        (
            "wecom",
            format!("wecom:{base}/cgi-bin/webhook/send?key={SECRET}"),
            ok(200, r#"{"errcode":0,"errmsg":"ok"}"#),
            4096 + 256,
        ),
        (
            "pagerduty",
            format!("pagerduty:{SECRET}?endpoint={base}/v2/enqueue"),
            ok(202, r#"{"status":"success"}"#),
            512 * 1024,
        ),
        (
            "googlechat",
            format!("googlechat:{base}/v1/spaces/AAAA/messages?key=K&token={SECRET}"),
            ok(200, "{}"),
            32_000,
        ),
        ("mns", format!("mns:{base}/topics/kms-alerts"), ok(201, "<Message/>"), 65_536),
    ]
}

/// Runs `check` for every HTTP sink, each against a scripted server of its own:
/// `check(name, server, target string, limit in bytes)`.
fn for_each_sink(mut check: impl FnMut(&'static str, &Scripted, &str, usize)) {
    for (name, _, success, _) in sinks("http://x") {
        let server = Scripted::start(success);
        let (_, spec, _, limit) = sinks(&server.server.url())
            .into_iter()
            .find(|(n, ..)| *n == name)
            .unwrap();
        check(name, &server, &spec, limit);
    }
}

fn settings(max_attempts: u32) -> Settings {
    Settings {
        max_attempts,
        retry_base: Duration::from_millis(1),
        attempt_timeout: Duration::from_secs(5),
        publish_timeout: Duration::from_secs(10),
        ..Settings::default()
    }
}

/// The target built from `spec` through the registry, as a deployment builds it.
fn target(spec: &str, max_attempts: u32) -> Target {
    let spec = parse_targets(spec).unwrap().remove(0);
    let alibaba = CredentialSource::default();
    alibaba.set(AlibabaCredentials {
        access_key_id: "LTAI5tFAKEid".into(),
        access_key_secret: ALIBABA_SECRET.into(),
        security_token: None,
    });
    let ctx = BuildContext {
        aws_sinks: None,
        aws: None,
        alibaba,
        retry: settings(max_attempts).retry(),
    };
    let mut t = Target::new(
        0,
        &spec.config.display(),
        &spec.config.identity(),
        spec.config.build(&ctx).unwrap(),
    );
    t.min_severity = spec.min_severity;
    t
}

fn plain_alert() -> Alert {
    kms_alerts_testkit::alert("aws/kms-cmk-deletion.json")
}

/// What must never reach a person's message from event text.
const LIVE: [&str; 8] = [
    "<!channel>",
    "@all",
    "<at id=all>",
    "<users/all>",
    "http://evil",
    "https://evil",
    "<b>",
    "\u{202e}",
];

/// An alert whose every field carries mentions, links, markup and bidi text, far over every limit.
fn hostile_alert() -> Alert {
    let mut a = kms_alerts_testkit::alert("alibaba/secret-rotation-failure.json");
    let nasty = "<!channel> @all <at id=all></at> <users/all> http://evil.example/x [x](https://evil.example) <b>b</b> \u{202e}gnp.exe 密钥";
    a.title = nasty.repeat(50);
    a.summary = nasty.repeat(500);
    a.resource = Some(nasty.to_string());
    a.facts.extend((0..200).map(|i| Fact {
        label: format!("{nasty} {i}").into(),
        value: nasty.repeat(40),
    }));
    a
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_failure_is_classified_by_the_one_classifier() {
    let rt = rt();
    for (status, retry_after, want) in [
        (
            429,
            Some("7"),
            Failure::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
            },
        ),
        (503, None, Failure::Transient { retry_after: None }),
        (
            500,
            Some("Wed, 21 Oct 2015 07:28:00 GMT"),
            Failure::Transient {
                retry_after: Some(Duration::ZERO),
            },
        ),
        (401, None, Failure::Auth),
        (403, None, Failure::Auth),
        (400, None, Failure::Permanent),
    ] {
        for_each_sink(|name, server, spec, _| {
            let mut r = Response::new(status, "{}");
            if let Some(v) = retry_after {
                r = r.header("retry-after", v);
            }
            server.then(r);
            let policy = RetryPolicy {
                max_attempts: 1,
                ..settings(1).retry()
            };
            let err = rt
                .block_on(target(spec, 1).send(&plain_alert(), &policy))
                .unwrap_err();
            assert_eq!(err.failure, want, "{name} HTTP {status}: {err}");
        });
    }
}

#[test]
fn no_secret_reaches_a_name_or_an_error_even_when_the_service_echoes_the_request() {
    let rt = rt();
    for_each_sink(|name, server, spec, _| {
        for status in [400, 500] {
            server.then(Response::new(status, "ECHO"));
        }
        let t = target(spec, 2);
        let notifier = Notifier::with_targets(vec![t.clone()], &settings(2));
        let err = rt.block_on(notifier.publish(&plain_alert())).unwrap_err();
        let shown = format!("{err} {err:?} {} {:?}", t.label, notifier.target_names());
        assert!(!server.seen().is_empty(), "{name}: nothing was sent");
        for secret in [SECRET, ALIBABA_SECRET] {
            assert!(!shown.contains(secret), "{name}: {shown}");
        }
        assert!(shown.contains("****") || name == "mns", "{name}: {shown}");
    });
}

#[test]
fn a_retry_repeats_the_request_exactly() {
    let rt = rt();
    for_each_sink(|name, server, spec, _| {
        server.then(Response::new(503, "busy"));
        server.then(Response::new(429, "slow down").header("retry-after", "0"));
        rt.block_on(target(spec, 3).send(&plain_alert(), &settings(3).retry()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let seen = server.seen();
        assert_eq!(seen.len(), 3, "{name}");
        for r in &seen[1..] {
            assert_eq!(r.path, seen[0].path, "{name}");
            assert_eq!(
                r.body, seen[0].body,
                "{name}: the idempotency key and body change on a retry"
            );
        }
    });
}

#[test]
fn a_hostile_alert_stays_within_every_limit_in_bytes_and_inert() {
    let rt = rt();
    for_each_sink(|name, server, spec, limit| {
        let t = target(spec, 1);
        rt.block_on(t.send(&hostile_alert(), &settings(1).retry()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let seen = server.seen();
        let body = &seen[0].body;
        assert!(
            body.len() <= limit,
            "{name}: {} bytes over {limit}",
            body.len()
        );
        let text = if name == "mns" {
            // The MNS body is Base64 inside XML: look at what subscribers read.
            let xml = String::from_utf8_lossy(body);
            let b64 = xml
                .split("<MessageBody>")
                .nth(1)
                .and_then(|s| s.split("</MessageBody>").next())
                .unwrap_or_default()
                .to_string();
            use base64::Engine as _;
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap(),
            )
            .unwrap()
        } else {
            String::from_utf8_lossy(body).into_owned()
        };
        let shown = if name == "mns" {
            // The JSON alert keeps the event verbatim (`raw`) for machines; people read the rest.
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let mut v = v;
            v.as_object_mut().unwrap().remove("raw");
            v.to_string()
        } else {
            text
        };
        if name != "mns" {
            for bad in LIVE {
                assert!(!shown.contains(bad), "{name}: {bad:?} reached the message");
            }
        }
    });
}

/// The SDK sinks (SNS, SQS) answer through the same classifier: statuses without a code, and
/// AWS error codes, with the SDK's own retries off so the notifier's loop is the only one.
#[test]
fn sdk_sinks_are_classified_by_the_same_classifier() {
    use aws_sdk_sns::config::retry::RetryConfig;
    use aws_sdk_sns::operation::publish::PublishOutput;
    use aws_sdk_sqs::operation::send_message::SendMessageOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use kms_alerts_notify::{SnsConfig, SnsSink, SqsConfig, SqsSink};
    let rt = rt();
    for (status, want) in [
        (429, Failure::RateLimited { retry_after: None }),
        (503, Failure::Transient { retry_after: None }),
        (403, Failure::Auth),
        (400, Failure::Permanent),
    ] {
        let sns_rule = mock!(aws_sdk_sns::Client::publish)
            .sequence()
            .http_status(status, None)
            .times(2)
            .output(|| PublishOutput::builder().build())
            .build();
        let sqs_rule = mock!(aws_sdk_sqs::Client::send_message)
            .sequence()
            .http_status(status, None)
            .times(2)
            .output(|| SendMessageOutput::builder().build())
            .build();
        let sns = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&sns_rule], |b| b
            .retry_config(RetryConfig::disabled()));
        let sqs = mock_client!(aws_sdk_sqs, RuleMode::Sequential, [&sqs_rule], |b| b
            .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled()));
        let targets = [
            Target::new(
                0,
                "sns",
                "sns",
                Arc::new(SnsSink::new(
                    sns,
                    SnsConfig {
                        topic_arn: "arn:aws:sns:us-east-1:1:t".into(),
                        chatbot: false,
                    },
                )),
            ),
            Target::new(
                1,
                "sqs",
                "sqs",
                Arc::new(SqsSink::new(
                    sqs,
                    SqsConfig {
                        queue_url: "https://sqs.us-east-1.amazonaws.com/1/q".into(),
                        region: None,
                    },
                )),
            ),
        ];
        for t in &targets {
            let one = RetryPolicy {
                max_attempts: 1,
                ..settings(1).retry()
            };
            let err = rt.block_on(t.send(&plain_alert(), &one)).unwrap_err();
            assert_eq!(err.failure, want, "{} HTTP {status}: {err}", t.label);
            // Retryable failures are retried by the notifier's loop, once per attempt.
            if want.is_retryable() {
                rt.block_on(t.send(&plain_alert(), &settings(2).retry()))
                    .unwrap_or_else(|e| panic!("{}: {e}", t.label));
            }
        }
        assert_eq!(
            sns_rule.num_calls(),
            if want.is_retryable() { 3 } else { 1 }
        );
    }
}

/// The AWS Chatbot schema (`sns:...?format=chatbot`) shows event text too: every field inert.
#[test]
fn the_chatbot_schema_is_inert_in_every_field() {
    let m = kms_alerts_notify::chatbot_message(&hostile_alert(), 262_144);
    assert!(m.len() <= 262_144);
    for bad in LIVE {
        assert!(!m.contains(bad), "{bad:?} reached the Chatbot message");
    }
}
