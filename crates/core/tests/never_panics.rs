//! Property tests: no input, however malformed, makes the core panic; every valid JSON value
//! becomes at least one record; every alert renders in every format.

use kms_alerts_core::{
    object_notices, parse, parse_piece, render, render::subject, Format, Options, Pieces,
};
use proptest::prelude::*;
use serde_json::Value;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        // Strings that look like the fields the parsers care about.
        prop::sample::select(vec![
            "aws.kms",
            "KMS CMK Deletion",
            "KMS CMK Rotation",
            "AWS API Call via CloudTrail",
            "kms",
            "1.0",
            "Key:DeleteKey:ScheduleDeletion",
            "Secret:RotateSecret:Failure",
            "Instance:QPS:Reminder",
            "2025-08-26 05:43:00",
            "20180816T135935.689+0800",
            "1756106122000",
            "***",
            "OK",
            "ALERT",
            "acs:kms:cn-hangzhou:1:key/k",
            "arn:aws:kms:us-east-1:1:key/k",
            "{\"a\":1}",
            "[1,2]",
            "",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        let keys = prop::sample::select(vec![
            "source",
            "detail-type",
            "detail",
            "key-id",
            "Records",
            "body",
            "messageId",
            "Sns",
            "Message",
            "Type",
            "specversion",
            "data",
            "type",
            "name",
            "product",
            "content",
            "level",
            "time",
            "eventTime",
            "resourceId",
            "eventName",
            "eventSource",
            "userIdentity",
            "requestParameters",
            "failureInfo",
            "alertName",
            "metricName",
            "namespace",
            "dimensions",
            "timestamp",
            "s3",
            "bucket",
            "object",
            "key",
            "s3Bucket",
            "s3ObjectKey",
            "Event",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys.prop_map(str::to_string), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn check_all_formats(input: &[u8]) {
    // The streaming reader and the S3 notification reader take the same bytes.
    let _ = object_notices(input, "fuzz");
    for piece in Pieces::new(input, "fuzz").take(1000).flatten() {
        let _ = parse_piece(&piece, "fuzz", Options::default());
    }
    if let Ok(records) = parse(input) {
        for r in records {
            if let Ok(alert) = r.result {
                for f in [Format::Text, Format::Markdown, Format::Json] {
                    let _ = render(&alert, f);
                }
                let s = subject(&alert);
                assert!(s.len() <= 100 && s.bytes().all(|b| (b' '..=b'~').contains(&b)));
                assert!(!alert.title.contains('\n'));
            }
        }
    }
}

/// The sample events, the seed corpus for mutation.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        let mut out = Vec::new();
        for cloud in ["aws", "alibaba"] {
            for entry in std::fs::read_dir(root.join(cloud)).unwrap() {
                out.push(std::fs::read(entry.unwrap().path()).unwrap());
            }
        }
        out
    })
}

/// 2000 cases per property by default; `PROPTEST_CASES=1000000` for a long fuzzing run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Mutation fuzzing with the sample events as seed corpus: byte flips, insertions and
    /// deletions anywhere.
    #[test]
    fn mutated_samples_never_panic(
        seed in 0usize..1000,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..12),
    ) {
        let seeds = seeds();
        let mut bytes = seeds[seed % seeds.len()].clone();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                bytes.push(byte);
                continue;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        check_all_formats(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_all_formats(&bytes);
    }

    #[test]
    fn arbitrary_json_always_becomes_records(v in arb_json()) {
        let text = v.to_string();
        let records = parse(text.as_bytes()).expect("valid JSON is never an input error");
        // An empty array is the only valid JSON that may hold no event; it is itself an event.
        prop_assert!(!records.is_empty());
        check_all_formats(text.as_bytes());
    }

    #[test]
    fn arbitrary_json_inside_envelopes_never_panics(v in arb_json(), id in "[a-z0-9-]{0,12}") {
        let body = v.to_string();
        let sqs = serde_json::json!({"Records": [{"messageId": id, "eventSource": "aws:sqs", "body": body}]});
        let records = parse(sqs.to_string().as_bytes()).unwrap();
        prop_assert!(!records.is_empty());
        let ce = serde_json::json!([{"specversion": "1.0", "id": id, "type": "kms:Key:DeleteKey:ScheduleDeletion", "data": v}]);
        check_all_formats(ce.to_string().as_bytes());
    }
}

#[test]
fn sample_events_with_every_byte_truncation_never_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    for cloud in ["aws", "alibaba"] {
        for entry in std::fs::read_dir(root.join(cloud)).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            for cut in 0..bytes.len() {
                check_all_formats(&bytes[..cut]);
            }
        }
    }
}
