//! The MNS sink against a loopback MNS that re-verifies signatures and answers with MNS's
//! documented success and error responses.

use kms_alerts_core::Format;
use std::sync::Arc;

use kms_alerts_core::Alert;
use kms_alerts_notify::{
    AlibabaCredentials, CredentialSource, MnsConfig, MnsResource, MnsSink, RetryPolicy, SinkError,
    Target,
};
use kms_alerts_testkit::alert;
use kms_alerts_testkit::mns::MnsServer;

const SECRET: &str = "FAKEaliyunSECRETdoNotLog987654";

fn creds(token: Option<&str>) -> CredentialSource {
    let c = CredentialSource::default();
    c.set(AlibabaCredentials {
        access_key_id: "LTAI5tFAKEid".into(),
        access_key_secret: SECRET.into(),
        security_token: token.map(str::to_string),
    });
    c
}

/// An MNS target and the retry policy it is delivered with.
struct TestSink {
    target: Target,
    retry: RetryPolicy,
}

impl TestSink {
    async fn send(&self, alert: &Alert) -> Result<(), SinkError> {
        self.target.send(alert, &self.retry).await
    }
}

fn mns(
    endpoint: &str,
    resource: MnsResource,
    name: &str,
    creds: CredentialSource,
    retry: RetryPolicy,
) -> TestSink {
    let config = MnsConfig {
        endpoint: endpoint.to_string(),
        resource,
        name: name.to_string(),
        tag: None,
        format: Format::Json,
    };
    let sink = MnsSink::new(config, creds).unwrap();
    TestSink {
        target: Target::new(0, &format!("mns:{endpoint}/{name}"), name, Arc::new(sink)),
        retry,
    }
}

fn sink(
    server: &MnsServer,
    resource: MnsResource,
    name: &str,
    creds: CredentialSource,
) -> TestSink {
    let retry = RetryPolicy {
        max_attempts: 3,
        base: std::time::Duration::from_millis(5),
        max_delay: std::time::Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    mns(&server.endpoint(), resource, name, creds, retry)
}

#[tokio::test]
async fn topic_publish_is_signed_tagged_and_base64() {
    let server = MnsServer::start(SECRET, 0);
    let s = sink(
        &server,
        MnsResource::Topic,
        "kms-alerts",
        creds(Some("FAKEstsTOKEN")),
    );
    s.send(&alert("alibaba/secret-rotation-failure.json"))
        .await
        .unwrap();
    assert!(server.rejected().is_empty(), "{:?}", server.rejected());
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].kind.as_str(), got[0].name.as_str()),
        ("topics", "kms-alerts")
    );
    assert_eq!(got[0].tag.as_deref(), Some("critical"));
    assert_eq!(got[0].security_token.as_deref(), Some("FAKEstsTOKEN"));
    assert_eq!(got[0].access_key_id, "LTAI5tFAKEid");
    let body: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["kind"], "secret_rotation_failed");
}

#[tokio::test]
async fn queue_send_sets_priority_from_severity() {
    let server = MnsServer::start(SECRET, 0);
    let s = sink(&server, MnsResource::Queue, "kms-audit", creds(None));
    s.send(&alert("alibaba/key-sync-success.json"))
        .await
        .unwrap();
    s.send(&alert("alibaba/key-sync-failure.json"))
        .await
        .unwrap();
    let got = server.received();
    assert_eq!(
        got.iter()
            .map(|r| r.priority.clone().unwrap())
            .collect::<Vec<_>>(),
        ["8", "1"]
    );
    assert!(got
        .iter()
        .all(|r| r.security_token.is_none() && r.tag.is_none()));
}

#[tokio::test]
async fn internal_errors_are_retried_then_delivered_once() {
    let server = MnsServer::start(SECRET, 2);
    let s = sink(&server, MnsResource::Topic, "flaky-topic", creds(None));
    s.send(&alert("alibaba/qps-reminder.json")).await.unwrap();
    assert_eq!(server.requests(), 3);
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = MnsServer::start(SECRET, 10);
    let s = sink(&server, MnsResource::Topic, "flaky-topic", creds(None));
    let err = s
        .send(&alert("alibaba/qps-reminder.json"))
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert!(
        err.message.contains("InternalError") && err.message.contains("gave up after 3 attempts"),
        "{}",
        err.message
    );
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn permanent_errors_are_surfaced_and_not_retried() {
    let server = MnsServer::start(SECRET, 0);
    let err = sink(&server, MnsResource::Topic, "missing-topic", creds(None))
        .send(&alert("alibaba/qps-reminder.json"))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.message.contains("TopicNotExist")
            && err.message.contains("RequestId 5C7B4E2A3F1D6E0B8A9C0D1E"),
        "{}",
        err.message
    );
    assert_eq!(server.requests(), 1);

    // A wrong secret: SignatureDoesNotMatch, permanent, and the secret is not in the message.
    let wrong = CredentialSource::default();
    wrong.set(AlibabaCredentials {
        access_key_id: "LTAI5tFAKEid".into(),
        access_key_secret: "FAKEwrongSECRET".into(),
        security_token: None,
    });
    let err = sink(&server, MnsResource::Queue, "q", wrong)
        .send(&alert("alibaba/qps-reminder.json"))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.message.contains("SignatureDoesNotMatch"),
        "{}",
        err.message
    );
    assert!(!err.to_string().contains("FAKEwrongSECRET"));
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn missing_credentials_fail_clearly() {
    let server = MnsServer::start(SECRET, 0);
    let err = sink(
        &server,
        MnsResource::Topic,
        "t",
        CredentialSource::default(),
    )
    .send(&alert("alibaba/qps-reminder.json"))
    .await
    .unwrap_err();
    assert!(
        err.message.contains("no Alibaba Cloud credentials"),
        "{}",
        err.message
    );
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn unreachable_endpoint_is_transient_and_bounded() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let retry = RetryPolicy {
        max_attempts: 2,
        base: std::time::Duration::from_millis(5),
        max_delay: std::time::Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    let s = mns(
        &format!("http://127.0.0.1:{port}"),
        MnsResource::Topic,
        "t",
        creds(None),
        retry,
    );
    let err = s
        .send(&alert("alibaba/qps-reminder.json"))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn a_stalled_endpoint_is_bounded_by_the_attempt_and_publish_timeouts() {
    // Accepts connections and never answers: the case a connect timeout alone does not bound.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            keep.lock().unwrap().push(stream);
        }
    });
    let retry = RetryPolicy {
        max_attempts: 5,
        base: std::time::Duration::from_millis(5),
        max_delay: std::time::Duration::from_millis(10),
        attempt_timeout: std::time::Duration::from_millis(150),
        operation_timeout: std::time::Duration::from_millis(400),
    };
    let s = mns(
        &format!("http://127.0.0.1:{port}"),
        MnsResource::Queue,
        "q",
        creds(None),
        retry,
    );
    let err = s
        .send(&alert("alibaba/qps-reminder.json"))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        err.message.contains("not delivered within 400 ms")
            && err.message.contains("no answer within 150 ms"),
        "{}",
        err.message
    );
    assert!(
        held.lock().unwrap().len() >= 2,
        "the stalled attempt was retried"
    );
}
