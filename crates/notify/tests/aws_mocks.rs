//! SNS and SQS sinks against aws-smithy-mocks: request shape, retry of transient errors by the
//! notifier's one retry loop (the SDK's own retries are off), and permanent errors failing the
//! publish.

use aws_sdk_sns::config::retry::RetryConfig;
use aws_sdk_sns::operation::publish::{PublishError, PublishOutput};
use aws_sdk_sns::types::error::NotFoundException;
use aws_sdk_sqs::operation::send_message::SendMessageOutput;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use kms_alerts_core::Severity;
use std::sync::Arc;

use kms_alerts_notify::{
    Notifier, RetryPolicy, Settings, Sink, SnsConfig, SnsSink, SqsConfig, SqsSink, Target,
};
use kms_alerts_testkit::alert;

/// The SDK's own retries off, as the notifier builds its sink clients.
fn no_sdk_retries() -> RetryConfig {
    RetryConfig::disabled()
}

fn settings() -> Settings {
    Settings {
        retry_base: std::time::Duration::from_millis(1),
        ..Settings::default()
    }
}

fn retry() -> RetryPolicy {
    settings().retry()
}

fn sns(client: aws_sdk_sns::Client, topic_arn: &str) -> Arc<dyn Sink> {
    Arc::new(SnsSink::new(
        client,
        SnsConfig {
            topic_arn: topic_arn.into(),
            chatbot: false,
        },
    ))
}

fn sqs(client: aws_sdk_sqs::Client, queue_url: &str) -> Arc<dyn Sink> {
    Arc::new(SqsSink::new(
        client,
        SqsConfig {
            queue_url: queue_url.into(),
            region: None,
        },
    ))
}

fn target(index: usize, name: &str, sink: Arc<dyn Sink>, min: Severity) -> Target {
    let mut t = Target::new(index, name, name, sink);
    t.min_severity = min;
    t
}

/// Target labels without their identity suffix.
fn names(labels: &[String]) -> Vec<&str> {
    labels
        .iter()
        .map(|l| l.split(" [#").next().unwrap_or(l))
        .collect()
}

#[tokio::test]
async fn sns_publish_has_subject_structure_attributes_and_fifo_ids() {
    let rule = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| {
            let attrs = r.message_attributes().unwrap();
            r.topic_arn() == Some("arn:aws:sns:us-east-1:111122223333:alerts.fifo")
                && r.subject()
                    == Some("[WARNING] KMS key deleted: 1234abcd-12ab-34cd-56ef-1234567890ab")
                && r.message_structure() == Some("json")
                && attrs["severity"].string_value() == Some("warning")
                && attrs["kind"].string_value() == Some("key_deleted")
                && attrs["cloud"].string_value() == Some("aws")
                && attrs["region"].string_value() == Some("us-west-2")
                && attrs["account"].string_value() == Some("111122223333")
                && r.message_group_id()
                    == Some("arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
                && r.message_deduplication_id()
                    .is_some_and(|d| d.starts_with("aws:key_deleted:"))
                && serde_json::from_str::<serde_json::Value>(r.message().unwrap()).unwrap()["email"]
                    .as_str()
                    .unwrap()
                    .starts_with("[WARNING] KMS key deleted")
        })
        .then_output(|| PublishOutput::builder().message_id("m-1").build());
    let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&rule]);
    let sink = target(
        0,
        "t",
        sns(client, "arn:aws:sns:us-east-1:111122223333:alerts.fifo"),
        Severity::Info,
    );
    sink.send(&alert("aws/kms-cmk-deletion.json"), &retry())
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn sns_transient_errors_are_retried_then_succeed() {
    let rule = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(503, None)
        .times(2)
        .output(|| PublishOutput::builder().message_id("m-2").build())
        .build();
    let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&rule], |b| b
        .retry_config(no_sdk_retries()));
    let sink = target(
        0,
        "t",
        sns(client, "arn:aws:sns:us-east-1:111122223333:alerts"),
        Severity::Info,
    );
    sink.send(&alert("aws/kms-cmk-rotation.json"), &retry())
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn sns_gives_up_after_bounded_retries_and_fails_the_publish() {
    let rule = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(500, None)
        .times(5)
        .build();
    let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&rule], |b| b
        .retry_config(no_sdk_retries()));
    let notifier = Notifier::with_targets(
        vec![target(
            0,
            "sns:t",
            sns(client, "arn:aws:sns:us-east-1:1:t"),
            Severity::Info,
        )],
        &settings(),
    );
    let err = notifier
        .publish(&alert("aws/kms-cmk-rotation.json"))
        .await
        .unwrap_err();
    assert_eq!(rule.num_calls(), 3, "max_attempts bounds the retries");
    assert_eq!(err.failures.len(), 1);
    assert!(err.failures[0].is_retryable());
    assert!(
        err.to_string().contains("was not published to 1 target(s)"),
        "{err}"
    );
}

#[tokio::test]
async fn sns_permanent_error_is_not_retried() {
    let rule = mock!(aws_sdk_sns::Client::publish).then_error(|| {
        PublishError::NotFoundException(
            NotFoundException::builder()
                .message("Topic does not exist")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&rule], |b| b
        .retry_config(no_sdk_retries()));
    let sink = target(
        0,
        "t",
        sns(client, "arn:aws:sns:us-east-1:1:missing"),
        Severity::Info,
    );
    let err = sink
        .send(&alert("aws/kms-cmk-rotation.json"), &retry())
        .await
        .unwrap_err();
    assert_eq!(rule.num_calls(), 1);
    assert!(!err.is_retryable());
    assert!(
        err.message.contains("Topic does not exist"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn sqs_send_has_json_body_attributes_and_fifo_ids() {
    let rule = mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(|r| {
            let body: serde_json::Value = serde_json::from_str(r.message_body().unwrap()).unwrap();
            let attrs = r.message_attributes().unwrap();
            body["kind"] == "secret_rotation_failed"
                && body["raw"]["name"] == "Secret:RotateSecret:Failure"
                && attrs["severity"].string_value() == Some("critical")
                && attrs["family"].string_value() == Some("secret_lifecycle")
                && r.message_group_id()
                    .is_some_and(|g| g.starts_with("acs:kms:") && g.contains(":secret/"))
                && r.message_deduplication_id()
                    .is_some_and(|d| d.starts_with("alibaba:secret_rotation_failed:"))
        })
        .then_output(|| SendMessageOutput::builder().message_id("q-1").build());
    let client = mock_client!(aws_sdk_sqs, RuleMode::Sequential, [&rule]);
    let sink = target(
        0,
        "q",
        sqs(
            client,
            "https://sqs.us-east-1.amazonaws.com/111122223333/audit.fifo",
        ),
        Severity::Info,
    );
    sink.send(&alert("alibaba/secret-rotation-failure.json"), &retry())
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn min_severity_and_dedup_decide_which_targets_are_sent_to() {
    let pager =
        mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().build());
    let audit = mock!(aws_sdk_sqs::Client::send_message)
        .then_output(|| SendMessageOutput::builder().build());
    let sns_client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&pager]);
    let sqs_client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&audit]);
    let notifier = Notifier::with_targets(
        vec![
            target(
                0,
                "pager",
                sns(sns_client, "arn:aws:sns:us-east-1:1:pager"),
                Severity::Critical,
            ),
            target(
                1,
                "audit",
                sqs(sqs_client, "https://sqs.us-east-1.amazonaws.com/1/audit"),
                Severity::Info,
            ),
        ],
        &settings(),
    );
    let info = notifier
        .publish(&alert("aws/kms-cmk-rotation.json"))
        .await
        .unwrap();
    assert_eq!(
        (names(&info.sent), names(&info.filtered)),
        (vec!["audit"], vec!["pager"])
    );
    let crit = notifier
        .publish(&alert("aws/kms-imported-key-material-expiration.json"))
        .await
        .unwrap();
    assert_eq!(crit.sent.len(), 2);
    // The same event again within the TTL: nothing is sent twice.
    let again = notifier
        .publish(&alert("aws/kms-imported-key-material-expiration.json"))
        .await
        .unwrap();
    assert!(again.sent.is_empty());
    assert_eq!(again.duplicate.len(), 2);
    assert_eq!(pager.num_calls(), 1);
    assert_eq!(audit.num_calls(), 2);
}

#[tokio::test]
async fn partial_failure_fails_the_publish_and_the_retry_reaches_only_the_failed_target() {
    let ok = mock!(aws_sdk_sqs::Client::send_message)
        .then_output(|| SendMessageOutput::builder().build());
    let flaky = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .error(|| {
            PublishError::NotFoundException(NotFoundException::builder().message("gone").build())
        })
        .output(|| PublishOutput::builder().build())
        .build();
    let sqs_client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&ok]);
    let sns_client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&flaky]);
    let notifier = Notifier::with_targets(
        vec![
            target(
                0,
                "audit",
                sqs(sqs_client, "https://sqs.us-east-1.amazonaws.com/1/audit"),
                Severity::Info,
            ),
            target(
                1,
                "sns:arn:aws:sns:us-east-1:1:pager",
                sns(sns_client, "arn:aws:sns:us-east-1:1:pager"),
                Severity::Info,
            ),
        ],
        &settings(),
    );
    let a = alert("aws/kms-cmk-deletion.json");
    let err = notifier.publish(&a).await.unwrap_err();
    assert_eq!(names(&err.sent), ["audit"]);
    assert!(err.failures[0]
        .target
        .starts_with("sns:arn:aws:sns:us-east-1:1:pager [#2 "));
    let retry = notifier.publish(&a).await.unwrap();
    assert_eq!(
        (names(&retry.sent), names(&retry.duplicate)),
        (vec!["sns:arn:aws:sns:us-east-1:1:pager"], vec!["audit"])
    );
    assert_eq!(ok.num_calls(), 1);
}
