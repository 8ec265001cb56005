//! Deployment files. template.yaml: valid by cfn-lint, one function per handler binary, every
//! target with a dead-letter queue, and no IAM wildcard. s.yaml: one FC custom-runtime function
//! per handler binary, EventBridge triggers on acs.kms, dead letters, glibc 2.28 build.

mod common;

use std::process::Command;

fn cfn_lint() -> String {
    std::env::var("CFN_LINT").unwrap_or_else(|_| {
        common::root()
            .join(".venv/bin/cfn-lint")
            .to_string_lossy()
            .into_owned()
    })
}

#[test]
fn template_passes_cfn_lint() {
    let out = Command::new(cfn_lint())
        .arg(common::root().join("template.yaml"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run cfn-lint ({e}); ./tests/run.sh installs it into .venv")
        });
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
    for bin in [
        "kms-key-lifecycle",
        "kms-secret-lifecycle",
        "kms-instance-health",
        "kms-api-activity",
    ] {
        assert!(t.contains(&format!("Binary: {bin}")), "{bin} is deployed");
        assert!(
            std::path::Path::new(&common::root().join(format!("crates/handlers/src/bin/{bin}.rs")))
                .exists(),
            "{bin} exists"
        );
    }
    assert_eq!(t.matches("BuildMethod: rust-cargolambda").count(), 4);
    assert!(
        !t.contains("Resource: \"*\"")
            && !t.contains("Resource: '*'")
            && !t.contains("Resource: *"),
        "no IAM wildcard"
    );
    assert!(
        !t.contains("sns:*") && !t.contains("sqs:*"),
        "no service wildcard"
    );
    // Every rule target has a retry policy and a dead-letter queue.
    let targets = t.matches("\n        - Id: ").count();
    assert_eq!(targets, t.matches("RetryPolicy:").count());
    assert_eq!(targets, t.matches("DeadLetterConfig:").count());
    // Every queue the functions read redrives to the dead-letter queue.
    assert_eq!(t.matches("RedrivePolicy:").count(), 3);
    assert_eq!(
        t.matches("FunctionResponseTypes: [ReportBatchItemFailures]")
            .count(),
        3
    );
}

/// s.yaml parsed by PyYAML (installed with cfn-lint) into JSON.
fn s_yaml() -> serde_json::Value {
    let python = common::root().join(".venv/bin/python");
    let out = Command::new(&python)
        .args([
            "-c",
            "import sys, yaml, json; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(common::root().join("s.yaml"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); ./tests/run.sh creates it",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "s.yaml is not valid YAML: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn s_yaml_deploys_every_handler_as_an_fc3_custom_runtime() {
    let s = s_yaml();
    assert_eq!(s["edition"], "3.0.0");
    let resources = s["resources"].as_object().unwrap();
    assert_eq!(resources.len(), 4);
    let mut prefixes = Vec::new();
    for (name, r) in resources {
        let p = &r["props"];
        assert_eq!(r["component"], "fc3", "{name}");
        assert_eq!(p["runtime"], "custom.debian10", "{name}");
        assert_eq!(p["functionName"], format!("kms-{name}"), "{name}");
        assert!(
            common::root()
                .join(format!("crates/handlers/src/bin/kms-{name}.rs"))
                .exists(),
            "{name}"
        );
        assert_eq!(p["code"], format!("./target/fc/{name}"), "{name}");
        assert_eq!(p["customRuntimeConfig"]["port"], 9000, "{name}");
        assert_eq!(
            p["customRuntimeConfig"]["command"][0], "./bootstrap",
            "{name}"
        );
        assert_eq!(
            p["environmentVariables"]["KMS_ALERTS_TARGETS"], "${vars.targets}",
            "{name}"
        );
        assert!(
            p["asyncInvokeConfig"]["destinationConfig"]["onFailure"]["destination"].is_string(),
            "{name} has a dead letter"
        );
        for t in p["triggers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["triggerType"] == "eventbridge")
        {
            let c = &t["triggerConfig"];
            assert_eq!(c["asyncInvocationType"], true);
            assert_eq!(
                c["eventSinkConfig"]["deliveryOption"]["eventSchema"],
                "CloudEvents"
            );
            assert!(c["runOptions"]["deadLetterQueue"]["Arn"].is_string());
            let pattern: serde_json::Value =
                serde_json::from_str(c["eventRuleFilterPattern"].as_str().unwrap()).unwrap();
            if pattern["source"][0] == "acs.kms" {
                prefixes.push(pattern["type"][0]["prefix"].as_str().unwrap().to_string());
            }
        }
    }
    prefixes.sort();
    assert_eq!(prefixes, ["kms:Instance:", "kms:Key:", "kms:Secret:"]);
    let targets = s["vars"]["targets"].as_str().unwrap();
    assert!(
        targets.contains("/topics/kms-alerts") && targets.contains("/queues/kms-alerts-audit"),
        "{targets}"
    );
    let build = s["vars"]["build"].as_str().unwrap();
    assert!(
        build.contains("x86_64-unknown-linux-gnu.2.28"),
        "binaries must run on Debian 10's glibc 2.28"
    );
    for bin in [
        "key-lifecycle",
        "secret-lifecycle",
        "instance-health",
        "api-activity",
    ] {
        assert!(build.contains(bin));
    }
}
