//! Hostile content end to end: control sequences, mentions, links, markup, very long and
//! non-ASCII names, and huge events. Every one is published, the subject stays valid, the
//! text is inert, and sizes stay within the targets' limits.

mod common;

use std::time::{Duration, Instant};

use common::{Proc, FAKE_ALIBABA_SECRET};
use kms_alerts_testkit::http::request;
use kms_alerts_testkit::lambda_api::RuntimeApi;
use kms_alerts_testkit::mns::MnsServer;
use kms_alerts_testkit::moto::Moto;
use serde_json::{json, Value};

const HOSTILE: &str = "prod\n\r<!channel> <!here> @all @here [click me](http://evil.example/x) <script>alert(1)</script> \
    <http://evil.example|totally safe> www.evil.example ünïcødé 密钥 \u{202E}txt.exe\u{0007}\u{0000}";

fn hostile_secret_event(name: &str) -> Vec<u8> {
    json!({"product": "kms", "name": "Secret:RotateSecret:Failure", "level": "CRITICAL", "regionId": "cn-hangzhou",
        "resourceId": "acs:kms:cn-hangzhou:1192850000000060:secret/x",
        "content": {"secretName": name, "failureInfo": {"errorCode": "E<b>", "errorMessage": HOSTILE}, "eventId": name}})
    .to_string()
    .into_bytes()
}

fn huge_aws_event(bytes: usize) -> Vec<u8> {
    json!({"version": "0", "id": "huge-1", "detail-type": "KMS CMK Deletion", "source": "aws.kms", "account": "111122223333",
        "time": "2025-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"key-id": "1234abcd-12ab-34cd-56ef-1234567890ab", "control": "\u{1}\u{1b}[31m", "padding": "abcd".repeat(bytes / 4)}})
    .to_string()
    .into_bytes()
}

fn assert_inert(text: &str) {
    // Our own console link is the one link a message may hold.
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("[Open in console](https://"))
        .collect::<Vec<_>>()
        .join("\n");
    for bad in [
        "<!channel>",
        "<!here>",
        "@all",
        "@here",
        "](http",
        "http://evil",
        "<script>",
        "<http",
        "www.evil",
        "\u{202E}",
        "\u{0007}",
        "\r",
    ] {
        assert!(!text.contains(bad), "{bad:?} survived in {text}");
    }
}

#[test]
fn hostile_and_huge_events_through_lambda_to_sns_and_sqs() {
    let moto = Moto::start();
    let common::Aws { rt, sns, sqs, .. } = common::moto_clients(&moto);
    let (topic, sub_url, audit_url) = rt.block_on(async {
        let topic = sns
            .create_topic()
            .name("alerts")
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let sub = sqs
            .create_queue()
            .queue_name("sub")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let audit = sqs
            .create_queue()
            .queue_name("audit")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint("arn:aws:sqs:us-east-1:123456789012:sub")
            .send()
            .await
            .unwrap();
        (topic, sub, audit)
    });
    let api = RuntimeApi::start();
    let mut env = moto.env();
    env.push(("AWS_LAMBDA_RUNTIME_API", api.host()));
    env.push(("KMS_ALERTS_TARGETS", format!("sns:{topic} sqs:{audit_url}")));
    let p = Proc::spawn(env!("CARGO_BIN_EXE_kms-secret-lifecycle"), &env);

    let long_name = format!("{HOSTILE}{}", "very-long-secret-name/".repeat(2000));
    for body in [
        hostile_secret_event(HOSTILE),
        hostile_secret_event(&long_name),
        huge_aws_event(10 * 1024 * 1024),
    ] {
        assert!(body.len() < 12 * 1024 * 1024);
        api.invoke(&body)
            .unwrap_or_else(|e| panic!("{e}\n{}", p.logs()));
    }
    let drain = |url: &str| {
        rt.block_on(async {
            let r = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            r.messages
                .unwrap_or_default()
                .into_iter()
                .map(|m| m.body.unwrap())
                .collect::<Vec<_>>()
        })
    };
    let via_topic = drain(&sub_url);
    assert_eq!(via_topic.len(), 3);
    for body in &via_topic {
        assert!(
            body.len() <= 300 * 1024,
            "SNS delivered {} bytes",
            body.len()
        );
        let env: Value = serde_json::from_str(body).unwrap();
        let subject = env["Subject"].as_str().unwrap();
        assert!(
            subject.len() <= 100 && subject.bytes().all(|b| (b' '..=b'~').contains(&b)),
            "{subject:?}"
        );
        let alert: Value = serde_json::from_str(env["Message"].as_str().unwrap()).unwrap();
        assert!(alert["title"].as_str().unwrap().len() < 400);
    }
    let audit = drain(&audit_url);
    assert_eq!(audit.len(), 3);
    for body in &audit {
        assert!(body.len() <= 256 * 1024, "SQS body {} bytes", body.len());
        let alert: Value = serde_json::from_str(body).unwrap();
        if alert["event_id"] == "huge-1" {
            assert_eq!(alert["raw_truncated"], true);
            assert_eq!(
                alert["kind"], "key_deleted",
                "the facts survive, only the raw event gives way"
            );
        }
    }
}

#[test]
fn hostile_text_is_inert_in_messages_people_read() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let targets = format!(
        "mns:{0}/topics/email?format=text mns:{0}/queues/chat?format=markdown mns:{0}/queues/machines",
        mns.endpoint()
    );
    let (_p, addr) = start_fc(targets);
    let (status, _, body) = request(
        &addr,
        "POST",
        "/invoke",
        &FC_HEADERS,
        &hostile_secret_event(HOSTILE),
    )
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // A 900 KB event (FC's body limit is 1 MiB): accepted, and the MNS message stays under
    // MNS's 64 KB after Base64.
    let (status, _, body) = request(
        &addr,
        "POST",
        "/invoke",
        &FC_HEADERS,
        &huge_aws_event(900 * 1024),
    )
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    let got = mns.received();
    assert_eq!(got.len(), 6);
    for r in &got {
        assert!(
            r.body.len().div_ceil(3) * 4 <= 64 * 1024,
            "{} bytes to MNS",
            r.body.len()
        );
        match r.name.as_str() {
            "email" | "chat" => assert_inert(&r.body),
            _ => {
                // Machines get the JSON alert: exact data, escaped by JSON itself.
                let v: Value = serde_json::from_str(&r.body).unwrap();
                assert!(v["kind"].is_string());
            }
        }
    }
    let chat = got
        .iter()
        .find(|r| r.name == "chat" && r.body.contains("Secret rotation failed"))
        .unwrap();
    assert!(chat.body.contains("\\[click me\\]"), "{}", chat.body);
    assert!(
        chat.body.contains("密钥") && chat.body.contains("ünïcødé"),
        "non-ASCII text is kept"
    );
}

/// The FC headers of an event call with the fake credentials.
const FC_HEADERS: [(&str, &str); 3] = [
    ("x-fc-request-id", "h-1"),
    ("x-fc-access-key-id", "id"),
    ("x-fc-access-key-secret", FAKE_ALIBABA_SECRET),
];

/// `kms-secret-lifecycle` as an FC event function sending to `targets`, once it accepts.
fn start_fc(targets: String) -> (Proc, String) {
    let port = kms_alerts_testkit::free_port();
    let mut p = Proc::spawn(
        env!("CARGO_BIN_EXE_kms-secret-lifecycle"),
        &[
            ("FC_FUNCTION_NAME", "t".into()),
            ("FC_CUSTOM_LISTEN_PORT", port.to_string()),
            ("KMS_ALERTS_TARGETS", targets),
        ],
    );
    let addr = format!("127.0.0.1:{port}");
    let end = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(p.is_running(), "{}", p.logs());
        assert!(Instant::now() < end, "{}", p.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    (p, addr)
}

/// The bound README states for an FC event function on any body up to its limit, in KiB.
const FC_LIMIT_KIB: u64 = 64 * 1024;

/// Bodies of up to FC's 1 MiB limit built to cost the most memory per byte: an FC event
/// function answers each (refused or published), stays at or under 64 MiB, and serves the
/// next event.
#[test]
fn hostile_bodies_up_to_the_limit_keep_an_fc_function_bounded() {
    let mns = MnsServer::start(FAKE_ALIBABA_SECRET, 0);
    let (mut p, addr) = start_fc(format!("mns:{}/queues/machines", mns.endpoint()));
    let limit: usize = 1024 * 1024;
    let fill = |open: &str, item: &str, close: &str| {
        let n = (limit - open.len() - close.len()) / (item.len() + 1);
        let mut s = String::with_capacity(limit);
        s.push_str(open);
        for i in 0..n {
            if i > 0 {
                s.push(',');
            }
            s.push_str(item);
        }
        s.push_str(close);
        assert!(s.len() <= limit);
        s.into_bytes()
    };
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("349,000 empty objects", fill("[", "{}", "]")),
        (
            "one record of 349,000 empty objects",
            fill("[[", "{}", "]]"),
        ),
        ("one event of over 100,000 members", {
            let mut s = String::from("{");
            let mut i = 0usize;
            while s.len() + 16 < limit {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&format!("\"{:x}\":0", i));
                i += 1;
            }
            s.push('}');
            s.into_bytes()
        }),
        ("nesting 500,000 deep", {
            let mut s = "[".repeat(limit / 2);
            s.push_str(&"]".repeat(limit / 2));
            s.into_bytes()
        }),
        ("one 1 MiB string", {
            let mut s = String::from(
                r#"{"product": "kms", "name": "Secret:RotateSecret:Failure", "content": {"secretName": ""#,
            );
            s.push_str(&"\\u00e9".repeat((limit - 200) / 6));
            s.push_str("\"}}");
            s.into_bytes()
        }),
    ];
    for (what, body) in &bodies {
        let (status, _, resp) = request(&addr, "POST", "/invoke", &FC_HEADERS, body)
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", p.logs()));
        let peak = p.peak_rss_kib().unwrap();
        eprintln!(
            "FC function after {what} ({} bytes): HTTP {status}, peak RSS {:.1} MiB",
            body.len(),
            peak as f64 / 1024.0
        );
        assert!(
            [200, 404].contains(&status),
            "{what}: {status} {}",
            String::from_utf8_lossy(&resp)
        );
        assert!(
            peak <= FC_LIMIT_KIB,
            "{what}: peak RSS {peak} KiB over {FC_LIMIT_KIB} KiB"
        );
        assert!(p.is_running(), "{what}: {}", p.logs());
    }
    let before = mns.received().len();
    let (status, _, resp) = request(
        &addr,
        "POST",
        "/invoke",
        &FC_HEADERS,
        &hostile_secret_event("next"),
    )
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
    assert_eq!(
        mns.received().len(),
        before + 1,
        "the next event is delivered"
    );
    assert!(!p.logs().contains("panicked"), "{}", p.logs());
}
