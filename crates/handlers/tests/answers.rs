//! Hostile answers from a target, through the real handler binary: a `Retry-After` of
//! u64::MAX seconds after a slow 429, an HTTP date far in the future, and an error that echoes
//! the request (webhook path, token and body) back. The handler fails the alert with a clear
//! error: no panic, no wait past its publish timeout, no secret in its output.

mod common;

use kms_alerts_testkit::http::{Response, Server};

const SECRET: &str = "T0KENneverInLogs0123456789abcdef";

fn run(targets: &str) -> (bool, String) {
    common::run_local(
        env!("CARGO_BIN_EXE_kms-key-lifecycle"),
        &[
            ("KMS_ALERTS_TARGETS", targets),
            ("KMS_ALERTS_RETRY_BASE_MS", "10"),
            ("KMS_ALERTS_PUBLISH_TIMEOUT_MS", "3000"),
        ],
        &kms_alerts_testkit::event("aws/kms-cmk-deletion.json"),
    )
}

#[test]
fn an_endless_retry_after_fails_the_alert_without_a_panic() {
    for retry_after in [
        "18446744073709551615",
        "99999999999999999999999",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        let server = Server::start(move |_| {
            // A slow answer first, so the elapsed time is not zero when the wait is added.
            std::thread::sleep(std::time::Duration::from_millis(200));
            Response::new(429, "rate_limited").header("retry-after", retry_after)
        });
        let (ok, text) = run(&format!("slack:{}/services/T/B/{SECRET}", server.url()));
        assert!(!ok, "{retry_after}: {text}");
        assert!(!text.contains("panicked"), "{retry_after}: {text}");
        assert!(
            text.contains("longer than the publish timeout allows"),
            "{retry_after}: {text}"
        );
        assert!(!text.contains(SECRET), "{text}");
    }
}

#[test]
fn an_answer_that_echoes_the_request_leaks_no_secret() {
    let server = Server::start(|req| {
        Response::new(
            400,
            format!(
                "invalid_payload for {} {}",
                req.path,
                String::from_utf8_lossy(&req.body)
            ),
        )
    });
    let base = server.url();
    for targets in [
        format!("slack:{base}/services/T/B/{SECRET}"),
        format!("dingtalk:{base}/robot/send?access_token={SECRET}&secret=SEC{SECRET}"),
        format!("wecom:{base}/cgi-bin/webhook/send?key={SECRET}"),
        format!("teams:{base}/workflows/1/invoke?api-version=1&sig={SECRET}"),
        format!("googlechat:{base}/v1/spaces/S/messages?key=K&token={SECRET}"),
    ] {
        let (ok, text) = run(&targets);
        assert!(!ok, "{text}");
        assert!(text.contains("invalid_payload"), "{text}");
        assert!(!text.contains(SECRET), "{targets}: {text}");
    }
}
