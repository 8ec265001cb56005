//! template.yaml: valid by cfn-lint, one function per handler binary, every target with a
//! dead-letter queue, and no IAM wildcard.

mod common;

use std::process::Command;

fn cfn_lint() -> String {
    std::env::var("CFN_LINT").unwrap_or_else(|_| common::root().join(".venv/bin/cfn-lint").to_string_lossy().into_owned())
}

#[test]
fn template_passes_cfn_lint() {
    let out = Command::new(cfn_lint())
        .arg(common::root().join("template.yaml"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run cfn-lint ({e}); ./tests/run.sh installs it into .venv"));
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn template_wires_every_handler_with_least_privilege() {
    let t = std::fs::read_to_string(common::root().join("template.yaml")).unwrap();
    for bin in ["kms-key-lifecycle", "kms-secret-lifecycle", "kms-instance-health", "kms-api-activity"] {
        assert!(t.contains(&format!("Binary: {bin}")), "{bin} is deployed");
        assert!(
            std::path::Path::new(&common::root().join(format!("crates/handlers/src/bin/{bin}.rs"))).exists(),
            "{bin} exists"
        );
    }
    assert_eq!(t.matches("BuildMethod: rust-cargolambda").count(), 4);
    assert!(!t.contains("Resource: \"*\"") && !t.contains("Resource: '*'") && !t.contains("Resource: *"), "no IAM wildcard");
    assert!(!t.contains("sns:*") && !t.contains("sqs:*"), "no service wildcard");
    // Every rule target has a retry policy and a dead-letter queue.
    let targets = t.matches("\n        - Id: ").count();
    assert_eq!(targets, t.matches("RetryPolicy:").count());
    assert_eq!(targets, t.matches("DeadLetterConfig:").count());
    // Every queue the functions read redrives to the dead-letter queue.
    assert_eq!(t.matches("RedrivePolicy:").count(), 3);
    assert_eq!(t.matches("FunctionResponseTypes: [ReportBatchItemFailures]").count(), 3);
}
