//! Start-up errors through the real binary: a target that would send in clear to a remote host,
//! an unknown option, credentials in a URL, and settings that contradict each other stop the
//! handler before it takes an event, with a message that names the problem and no secret.

mod common;

fn start(env: &[(&str, &str)]) -> (bool, String) {
    let mut env = env.to_vec();
    env.push(("AWS_REGION", "us-east-1"));
    common::run_local(
        env!("CARGO_BIN_EXE_kms-key-lifecycle"),
        &env,
        &kms_alerts_testkit::event("aws/kms-cmk-deletion.json"),
    )
}

#[test]
fn unsafe_or_unknown_targets_stop_the_handler_at_start_up() {
    for (targets, want) in [
        ("mns:http://127.evil.example/topics/t", "in clear"),
        ("mns:http://localhost.evil.example/topics/t", "in clear"),
        ("mns:http://127.0.0.1@evil.example/topics/t", "credentials"),
        (
            "slack:http://127.evil.example/services/T/B/SECRETPART",
            "loopback",
        ),
        (
            "slack:https://user:SECRETPART@hooks.slack.com/services/T/B/X",
            "credentials",
        ),
        (
            "slack:https://hooks.slack.com/services/T/B/SECRETPART?channel=x",
            "unknown option \"channel\"",
        ),
        (
            "sqs:https://sqs.us-east-1.amazonaws.com/1/q?colour=red",
            "unknown option \"colour\"",
        ),
    ] {
        let (ok, text) = start(&[("KMS_ALERTS_TARGETS", targets)]);
        assert!(!ok, "{targets}: started");
        assert!(text.contains(want), "{targets}: {text}");
        assert!(!text.contains("SECRETPART"), "{targets}: {text}");
        assert!(
            !text.contains("\"sent\""),
            "{targets}: an event was taken: {text}"
        );
    }
}

#[test]
fn a_dedup_claim_that_could_lapse_during_a_publish_is_refused() {
    let (ok, text) = start(&[
        ("KMS_ALERTS_TARGETS", "stdout"),
        ("KMS_ALERTS_DEDUP_TABLE", "kms-alerts-dedup"),
        ("KMS_ALERTS_DEDUP_CLAIM_SECONDS", "10"),
        ("KMS_ALERTS_PUBLISH_TIMEOUT_MS", "15000"),
    ]);
    assert!(!ok, "{text}");
    assert!(text.contains("must outlast"), "{text}");
}
