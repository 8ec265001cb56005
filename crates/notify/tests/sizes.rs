//! Every message fits its target's limit in bytes, whatever the event holds: property tests
//! with multibyte, control, bidi and quote-heavy text in every field.

use base64::Engine as _;
use kms_alerts_core::render::subject;
use kms_alerts_core::{Alert, Fact, Format};
use kms_alerts_notify::message::{attributes_size, sns_message, sqs_body, AWS_MESSAGE_MAX};
use kms_alerts_notify::{CredentialSource, MnsConfig, MnsResource, MnsSink};

fn mns(resource: MnsResource, format: Format) -> MnsSink {
    let config = MnsConfig {
        endpoint: "https://1.mns.cn-hangzhou.aliyuncs.com".into(),
        resource,
        name: "q".into(),
        tag: None,
        format,
    };
    MnsSink::new(config, CredentialSource::default()).unwrap()
}
use proptest::prelude::*;

fn nasty() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("密钥轮转".to_string()),
            Just("\u{1}\u{1b}[31m".to_string()),
            Just("\u{202E}\u{9B}".to_string()),
            Just("\"\\<>&".to_string()),
            Just("😀".to_string()),
            "[a-zA-Z0-9 ]{1,12}",
        ],
        0..700,
    )
    .prop_map(|p| p.concat())
}

fn alert(title: String, facts: Vec<(String, String)>, raw: String, region: String) -> Alert {
    let ev = serde_json::json!({"product": "kms", "name": "Secret:RotateSecret:Failure", "level": "CRITICAL",
        "regionId": region, "resourceId": "acs:kms:cn-hangzhou:1192850000000060:secret/s",
        "content": {"secretName": "s", "failureInfo": {"errorCode": "E", "errorMessage": raw}}});
    let mut a = kms_alerts_core::parse(ev.to_string().as_bytes())
        .unwrap()
        .remove(0)
        .result
        .unwrap();
    a.title = title;
    a.facts.extend(facts.into_iter().map(|(label, value)| Fact {
        label: label.into(),
        value,
    }));
    a
}

fn mns_body_len(sink: &MnsSink, a: &Alert) -> usize {
    let xml = sink.request_body(a);
    let start = xml.find("<MessageBody>").unwrap() + "<MessageBody>".len();
    let end = xml.find("</MessageBody>").unwrap();
    let b64 = &xml[start..end];
    let payload = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert!(
        String::from_utf8(payload).is_ok(),
        "cut on a character boundary"
    );
    b64.len()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn every_target_gets_a_message_within_its_byte_limit(
        title in nasty(),
        facts in proptest::collection::vec((nasty(), nasty()), 0..16),
        raw in nasty(),
        region in nasty(),
    ) {
        let a = alert(title, facts, raw, region);
        let subj = subject(&a);
        prop_assert!(subj.len() <= 100 && subj.bytes().all(|b| (b' '..=b'~').contains(&b)), "{subj:?}");
        let sns = sns_message(&a);
        prop_assert!(sns.len() + attributes_size(&a) + subj.len() <= AWS_MESSAGE_MAX, "SNS {}", sns.len());
        let outer: serde_json::Value = serde_json::from_str(&sns).unwrap();
        let inner: serde_json::Value = serde_json::from_str(outer["default"].as_str().unwrap()).unwrap();
        prop_assert!(!inner.get("raw").is_some_and(|r| r != &a.raw));
        let sqs = sqs_body(&a);
        prop_assert!(sqs.len() + attributes_size(&a) <= AWS_MESSAGE_MAX, "SQS {}", sqs.len());
        let inner: serde_json::Value = serde_json::from_str(&sqs).unwrap();
        prop_assert!(!inner.get("raw").is_some_and(|r| r != &a.raw));
        for format in [Format::Json, Format::Text, Format::Markdown] {
            let sink = mns(MnsResource::Queue, format);
            let n = mns_body_len(&sink, &a);
            prop_assert!(n <= 65_536, "MNS {format:?} {n}");
        }
    }
}

/// The case from the review: twelve long Chinese fields made an 86,916-byte MNS body.
#[test]
fn twelve_long_chinese_fields_fit_mns() {
    let facts = (0..12)
        .map(|i| {
            (
                format!("字段{i}"),
                "凭据轮转失败，请检查数据库账号权限。".repeat(200),
            )
        })
        .collect();
    let a = alert(
        "密钥".repeat(100),
        facts,
        "错误".repeat(5000),
        "cn-hangzhou".into(),
    );
    let sink = mns(MnsResource::Topic, Format::Json);
    let n = mns_body_len(&sink, &a);
    assert!(n <= 65_536, "{n}");
}
