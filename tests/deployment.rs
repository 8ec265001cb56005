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
        .arg(common::root().join("deploy/aws/member-forwarder.yaml"))
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
        "kms-trail-objects",
    ] {
        assert!(t.contains(&format!("Binary: {bin}")), "{bin} is deployed");
        assert!(
            std::path::Path::new(&common::root().join(format!("crates/handlers/src/bin/{bin}.rs")))
                .exists(),
            "{bin} exists"
        );
    }
    assert_eq!(t.matches("BuildMethod: rust-cargolambda").count(), 5);
    // KMS's own actions arrive as CloudTrail service events and map to lifecycle kinds.
    assert!(t.contains("detail-type: [AWS Service Event via CloudTrail]"));
    assert!(t.contains("eventName: [DeleteKey, RotateKey, DeleteExpiredKeyMaterial]"));
    // A key policy's Resource is always "*" (the key itself); IAM policies never use one.
    let key_start = t
        .find("  AlertsTopicKey:\n")
        .expect("the topic has its own key");
    let key_end = key_start + t[key_start..].find("\n\n").unwrap();
    let key_policy = &t[key_start..key_end];
    let iam = format!("{}{}", &t[..key_start], &t[key_end..]);
    assert!(
        !iam.contains("Resource: \"*\"")
            && !iam.contains("Resource: '*'")
            && !iam.contains("Resource: *"),
        "no IAM wildcard"
    );
    assert!(
        key_policy.contains("events.amazonaws.com")
            && key_policy.contains("cloudwatch.amazonaws.com")
    );
    assert!(
        key_policy.contains("aws:SourceAccount"),
        "services only for this account"
    );
    assert_eq!(
        t.matches("KmsMasterKeyId: !Ref AlertsTopicKey").count(),
        2,
        "both topics encrypted"
    );
    // Every function may use the key to publish to the encrypted topic.
    assert_eq!(t.matches("Resource: !GetAtt AlertsTopicKey.Arn").count(), 5);
    // Every function shares one dedup table, with the item actions it uses and no others.
    assert!(t.contains("KMS_ALERTS_DEDUP_TABLE: !Ref DedupTable"));
    assert!(t.contains("AttributeName: expires_at") && t.contains("BillingMode: PAY_PER_REQUEST"));
    assert_eq!(
        t.matches("Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:DeleteItem]\n                Resource: !GetAtt DedupTable.Arn").count(),
        5
    );
    assert!(!t.contains("dynamodb:*") && !t.contains("s3:*"));
    // The trail reader may read the trail's log files and nothing else of the bucket.
    assert!(t.contains(
        "Action: s3:GetObject\n                Resource: !Sub \"arn:${AWS::Partition}:s3:::${TrailBucketName}/${TrailKeyPrefix}AWSLogs/*\""
    ));
    // The central bus admits the organization only.
    assert!(t.contains("aws:PrincipalOrgID: !Ref OrganizationId"));
    // Alarms: dead letters waiting, and each function's errors.
    assert!(t.contains("Value: !GetAtt EventsDeadLetterQueue.QueueName"));
    for f in [
        "KeyLifecycle",
        "ApiActivity",
        "SecretLifecycle",
        "InstanceHealth",
        "TrailObjects",
    ] {
        assert!(
            t.contains(&format!("  {f}ErrorsAlarm:\n")),
            "{f} errors alarm"
        );
        assert!(
            t.contains(&format!("Value: !Ref {f}Function")),
            "{f} errors alarm"
        );
    }
    assert!(
        !t.contains("sns:*") && !t.contains("sqs:*"),
        "no service wildcard"
    );
    // Every rule target has a retry policy and a dead-letter queue.
    let targets = t.matches("\n        - Id: ").count();
    assert_eq!(targets, t.matches("RetryPolicy:").count());
    assert_eq!(targets, t.matches("DeadLetterConfig:").count());
    // Every queue the functions read redrives to the dead-letter queue.
    assert_eq!(t.matches("RedrivePolicy:").count(), 4);
    assert_eq!(
        t.matches("FunctionResponseTypes: [ReportBatchItemFailures]")
            .count(),
        4
    );
}

/// A CloudFormation template parsed by PyYAML into JSON, its intrinsic functions (`!Ref`,
/// `!If`, ...) read as null.
fn cfn_yaml(rel: &str) -> serde_json::Value {
    yaml_as_json(
        rel,
        "import sys, yaml, json\n\
         yaml.SafeLoader.add_multi_constructor('!', lambda loader, suffix, node: None)\n\
         json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
    )
}

/// `rel` read by `script` (PyYAML, installed with cfn-lint) and printed as JSON.
fn yaml_as_json(rel: &str, script: &str) -> serde_json::Value {
    let python = common::root().join(".venv/bin/python");
    let out = Command::new(&python)
        .args(["-c", script])
        .arg(common::root().join(rel))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); ./tests/run.sh creates it",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "{rel} is not valid YAML: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The rules that receive a use of a key pending deletion or disabled: read-only management
/// events, so in the state that receives them, and narrow: the documented refusals, nothing else.
#[test]
fn unusable_key_use_rules_receive_read_only_refusals_only() {
    let template = cfn_yaml("template.yaml");
    let forwarder = cfn_yaml("deploy/aws/member-forwarder.yaml");
    let rules = [
        &template["Resources"]["UnusableKeyUseRule"],
        &template["Resources"]["ForwardUnusableKeyUseToCentralBusRule"],
        &forwarder["Resources"]["ForwardUnusableKeyUseRule"],
    ];
    let sample = |rel: &str| -> serde_json::Value {
        serde_json::from_slice(&common::read(rel.as_ref())).unwrap()
    };
    let pending = sample("events/aws/cloudtrail-decrypt-pending-deletion-key.json");
    // The log file's refused GenerateDataKey, as EventBridge would deliver it.
    let log = sample("events/aws/cloudtrail-log-file-disabled-key-use.json");
    let disabled = serde_json::json!({"source": "aws.kms", "detail-type": "AWS API Call via CloudTrail",
        "detail": log["Records"][0]});
    let succeeded = serde_json::json!({"source": "aws.kms", "detail-type": "AWS API Call via CloudTrail",
        "detail": log["Records"][1]});
    let mut importing = pending.clone();
    importing["detail"]["errorMessage"] = "arn:aws:kms:eu-central-1:111122223333:key/3f9a1c2e-8b7d-4e6f-9a0b-c1d2e3f4a5b6 is pending import.".into();
    for rule in rules {
        let p = &rule["Properties"];
        assert_eq!(
            p["State"], "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
            "{rule}"
        );
        let pattern = &p["EventPattern"];
        assert_eq!(
            pattern["detail"]["errorCode"],
            serde_json::json!(["KMSInvalidStateException", "DisabledException"])
        );
        assert!(matches(pattern, &pending), "pending deletion");
        assert!(matches(pattern, &disabled), "disabled");
        assert!(!matches(pattern, &succeeded), "a successful call");
        assert!(!matches(pattern, &importing), "another key state");
        assert!(p["Targets"][0]["DeadLetterConfig"].is_object());
    }
    // To the API-activity function's queue, which admits this rule.
    let t = std::fs::read_to_string(common::root().join("template.yaml")).unwrap();
    let rule = &t[t.find("  UnusableKeyUseRule:\n").unwrap()..];
    let rule = &rule[..rule.find("\n\n").unwrap()];
    assert!(rule.contains("Arn: !GetAtt ApiEventsQueue.Arn"), "{rule}");
    assert_eq!(
        t.matches("- !GetAtt UnusableKeyUseRule.Arn").count(),
        2,
        "queue and dead letters"
    );
}

/// s.yaml parsed by PyYAML (installed with cfn-lint) into JSON.
fn s_yaml() -> serde_json::Value {
    yaml_as_json(
        "s.yaml",
        "import sys, yaml, json; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
    )
}

#[test]
fn s_yaml_deploys_every_handler_as_an_fc3_custom_runtime() {
    let s = s_yaml();
    assert_eq!(s["edition"], "3.0.0");
    let resources = s["resources"].as_object().unwrap();
    assert_eq!(resources.len(), 6, "five functions and the role");
    assert_eq!(resources["fc-role"]["component"], "ram");
    let mut patterns = Vec::new();
    let mut http_functions = Vec::new();
    for (name, r) in resources.iter().filter(|(n, _)| *n != "fc-role") {
        let p = &r["props"];
        assert_eq!(r["component"], "fc3", "{name}");
        assert_eq!(p["role"], "${vars.role}", "{name} runs as the defined role");
        assert_eq!(p["logConfig"]["project"], "${vars.logProject}", "{name}");
        let timeout = p["timeout"].as_u64().unwrap();
        assert_eq!(
            p["environmentVariables"]["KMS_ALERTS_TIMEOUT_SECONDS"],
            timeout.to_string(),
            "{name}: the handler knows its deadline"
        );
        if p["triggers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["triggerType"] == "http")
        {
            http_functions.push(name.clone());
        }
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
        if name == "alarm-callback" {
            assert_eq!(
                p["environmentVariables"]["KMS_ALERTS_ALARM_TOKEN"],
                "${vars.alarmToken}"
            );
            continue;
        }
        assert!(
            p["asyncInvokeConfig"]["destinationConfig"]["onFailure"]["destination"].is_string(),
            "{name} has a dead letter"
        );
        assert!(p["environmentVariables"]
            .get("KMS_ALERTS_ALARM_TOKEN")
            .is_none());
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
            // An EventBridge dead-letter ARN has no /messages suffix (FC async destinations do).
            let dlq = c["runOptions"]["deadLetterQueue"]["Arn"].as_str().unwrap();
            assert!(
                dlq.starts_with("${vars.") || !dlq.ends_with("/messages"),
                "{dlq}"
            );
            let pattern: serde_json::Value =
                serde_json::from_str(c["eventRuleFilterPattern"].as_str().unwrap()).unwrap();
            patterns.push((name.clone(), pattern));
        }
    }
    assert_eq!(
        http_functions,
        ["alarm-callback"],
        "only the alarm callback function can be reached over HTTP"
    );
    let vars = &s["vars"];
    assert_eq!(vars["alarmToken"], "${env('KMS_ALERTS_ALARM_TOKEN')}");
    // The role may publish to the targets, send to the dead-letter queue, write its logstore.
    let role = &resources["fc-role"]["props"];
    assert_eq!(role["service"], "fc.aliyuncs.com");
    let statements = role["policies"][0]["statement"].as_array().unwrap();
    let grants: Vec<(String, String)> = statements
        .iter()
        .flat_map(|st| {
            assert_eq!(st["Effect"], "Allow");
            let actions = st["Action"].as_array().unwrap().clone();
            let resources = st["Resource"].as_array().unwrap().clone();
            actions.into_iter().flat_map(move |a| {
                resources.clone().into_iter().map(move |r| {
                    (
                        a.as_str().unwrap().to_string(),
                        r.as_str().unwrap().to_string(),
                    )
                })
            })
        })
        .collect();
    for (action, resource) in &grants {
        assert!(
            !action.contains('*') && !resource.contains('*'),
            "{action} {resource}"
        );
    }
    let granted = |action: &str, suffix: &str| {
        grants
            .iter()
            .any(|(a, r)| a == action && r.ends_with(suffix))
    };
    assert!(granted(
        "mns:PublishMessage",
        ":/topics/kms-alerts/messages"
    ));
    assert!(granted(
        "mns:SendMessage",
        ":/queues/kms-alerts-audit/messages"
    ));
    assert!(granted("mns:SendMessage", "${vars.deadLetterQueue}"));
    assert!(granted(
        "log:PostLogStoreLogs",
        ":project/${vars.logProject}/logstore/${vars.logstore}"
    ));
    assert_eq!(grants.len(), 4, "nothing more: {grants:?}");
    // The same policy as a file, for `aliyun ram CreatePolicy`.
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("deploy/alibaba/ram-policy.json")).unwrap(),
    )
    .unwrap();
    let text = file.to_string();
    for needle in [
        "/topics/kms-alerts/messages",
        "/queues/kms-alerts-audit/messages",
        "/queues/kms-alerts-dlq/messages",
        "project/kms-alerts-logs/logstore/functions",
    ] {
        assert!(text.contains(needle), "ram-policy.json lacks {needle}");
    }
    assert_eq!(
        file["Statement"].as_array().unwrap().len(),
        statements.len()
    );
    assert!(vars["deadLetterQueue"]
        .as_str()
        .unwrap()
        .ends_with("/queues/kms-alerts-dlq/messages"));
    assert!(vars["eventBridgeDeadLetterQueue"]
        .as_str()
        .unwrap()
        .ends_with("/queues/kms-alerts-dlq"));
    for (_, p) in &patterns {
        let text = p.to_string();
        for guessed in [
            "acs.actiontrail",
            "\"kms:Key:",
            "\"kms:Secret:",
            "\"kms:Instance:",
        ] {
            assert!(!text.contains(guessed), "guessed form {guessed} in {text}");
        }
    }
    // The documented KMS types on EventBridge (notes/alibaba-cloud-side.md §1.2, source acs.kms)
    // reach the function of their family; ActionTrail write calls by name.
    let route = |ty: &str, data: serde_json::Value| -> Vec<String> {
        let event = serde_json::json!({"source": "acs.kms", "type": ty, "data": data});
        patterns
            .iter()
            .filter(|(_, p)| matches(p, &event))
            .map(|(n, _)| n.clone())
            .collect()
    };
    let none = serde_json::json!({});
    let call = |n: &str| serde_json::json!({"eventName": n, "serviceName": "Kms"});
    assert_eq!(
        route(
            "kms:CloudMonitor:Secret[RotateSecret:Failure]",
            none.clone()
        ),
        ["secret-lifecycle"]
    );
    assert_eq!(
        route(
            "kms:CloudMonitor:Secret[RotateSecret:Success]",
            none.clone()
        ),
        ["secret-lifecycle"]
    );
    // Predicted by the documented naming rule (not listed for KMS): caught if ever published.
    assert_eq!(
        route(
            "kms:CloudMonitor:Key[DeleteKey:ScheduleDeletion]",
            none.clone()
        ),
        ["key-lifecycle"]
    );
    assert_eq!(
        route("kms:CloudMonitor:Instance[KeySync:Failure]", none.clone()),
        ["instance-health"]
    );
    for ty in [
        "kms:ActionTrail:ApiCall",
        "kms:ActionTrail:ConsoleOperation",
        "kms:ActionTrail:AliyunServiceEvent",
    ] {
        assert_eq!(
            route(ty, call("ScheduleKeyDeletion")),
            ["key-lifecycle"],
            "{ty}"
        );
        assert_eq!(
            route(ty, call("DeleteSecret")),
            ["secret-lifecycle"],
            "{ty}"
        );
        assert_eq!(route(ty, call("DisableKey")), ["api-activity"], "{ty}");
        // Not on the allow-list: creating things is not alerted on.
        assert!(route(ty, call("CreateKey")).is_empty(), "{ty}");
    }
    assert!(route("kms:Config:NonCompliantNotification", none.clone()).is_empty());
    assert!(
        route("kms:Secret:RotateSecret:Failure", none).is_empty(),
        "the guessed type is not a real one"
    );
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
        "alarm-callback",
    ] {
        assert!(build.contains(bin));
    }
}

/// Alibaba EventBridge pattern matching as documented (exact, `prefix`, `anything-but`; arrays
/// are OR, keys are AND, nested objects match nested fields), enough for s.yaml's patterns.
fn matches(pattern: &serde_json::Value, event: &serde_json::Value) -> bool {
    let Some(p) = pattern.as_object() else {
        return false;
    };
    p.iter().all(|(key, want)| {
        let got = &event[key.as_str()];
        match want {
            serde_json::Value::Object(_) => matches(want, got),
            serde_json::Value::Array(options) => options.iter().any(|o| matches_one(o, got)),
            _ => false,
        }
    })
}

fn matches_one(option: &serde_json::Value, got: &serde_json::Value) -> bool {
    match option {
        serde_json::Value::Object(op) => {
            if let Some(prefix) = op.get("prefix").and_then(|p| p.as_str()) {
                got.as_str().is_some_and(|g| g.starts_with(prefix))
            } else if let Some(suffix) = op.get("suffix").and_then(|p| p.as_str()) {
                got.as_str().is_some_and(|g| g.ends_with(suffix))
            } else if let Some(not) = op.get("anything-but").and_then(|a| a.as_array()) {
                got.is_string() && !not.contains(got)
            } else {
                false
            }
        }
        exact => exact == got,
    }
}
