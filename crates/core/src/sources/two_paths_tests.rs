//! The fast path ([`parse_known`], a borrowed `Doc`) and the general path (a `serde_json::Value`)
//! give the same records, dedup keys and raw events included, on every sample event and on
//! drifted variants of them.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::Value;

use super::{parse_known, parse_value_with, trim_input, Options};

fn sample_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut out = Vec::new();
    for cloud in ["aws", "alibaba"] {
        for entry in std::fs::read_dir(root.join(cloud)).expect("events/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Runs both paths; returns whether the fast path took the input. Panics on any difference.
fn same_on_both_paths(input: &[u8]) -> bool {
    let mut taken = false;
    for display_only in [false, true] {
        let options = Options {
            display_only,
            ..Options::default()
        };
        let Some(fast) = parse_known(input, options) else {
            continue;
        };
        taken = true;
        let value: Value =
            serde_json::from_slice(trim_input(input)).expect("the fast path took valid JSON");
        let slow = parse_value_with(value, Options::default());
        assert_eq!(fast.records.len(), slow.records.len());
        assert_eq!(fast.skipped, slow.skipped);
        assert_eq!(fast.over_limit, slow.over_limit);
        for (f, s) in fast.records.into_iter().zip(slow.records) {
            assert_eq!(f.delivery_id, s.delivery_id);
            let (mut f, s) = (f.result.expect("an alert"), s.result.expect("an alert"));
            if display_only {
                assert_eq!(f.raw, Value::Null);
                assert_eq!(f.dedup_key, "");
                assert_eq!(f.incident_key, None);
                f.raw = s.raw.clone();
                f.dedup_key = s.dedup_key.clone();
                f.incident_key = s.incident_key.clone();
            }
            assert_eq!(f, s, "{}", String::from_utf8_lossy(input));
        }
    }
    taken
}

#[test]
fn every_sample_reads_the_same_on_both_paths() {
    let mut taken = Vec::new();
    for path in sample_files() {
        let input = std::fs::read(&path).expect("a readable sample");
        if same_on_both_paths(&input) {
            taken.push(path.file_name().unwrap().to_string_lossy().to_string());
        }
    }
    // Every bare EventBridge KMS event and CloudMonitor system event takes the fast path.
    for expected in [
        "kms-cmk-deletion.json",
        "kms-cmk-rotation.json",
        "kms-imported-key-material-expiration.json",
        "secret-rotation-failure.json",
        "key-schedule-deletion.json",
        "qps-reminder.json",
        "clientkey-expire-reminder.json",
        "secret-rotation-failure-field-drift.json",
    ] {
        assert!(
            taken.iter().any(|t| t == expected),
            "{expected} not taken: {taken:?}"
        );
    }
    // Envelopes and trail records do not.
    for general in [
        "sqs-batch.json",
        "cloudtrail-log-file.json",
        "cloudevents-batch.json",
    ] {
        assert!(!taken.iter().any(|t| t == general), "{general} taken");
    }
}

/// Samples the fast path takes, as values to drift.
fn fast_samples() -> Vec<Value> {
    sample_files()
        .into_iter()
        .filter_map(|p| {
            let input = std::fs::read(p).ok()?;
            parse_known(&input, Options::default())?;
            serde_json::from_slice(&input).ok()
        })
        .collect()
}

/// One change to an event, as drift and hostile senders make them.
#[derive(Debug, Clone)]
enum Drift {
    /// A key in another case or with other separators.
    Rename(usize, u8),
    /// A value replaced: null, empty, "null", a number, a stringified object, a list.
    Replace(usize, u8),
    /// The key written twice, the second time with another value.
    Repeat(usize),
    /// An extra member.
    Extra(String),
}

fn drift() -> impl Strategy<Value = Drift> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, w)| Drift::Rename(i, w)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, w)| Drift::Replace(i, w)),
        any::<usize>().prop_map(Drift::Repeat),
        prop::sample::select(vec![
            "Records",
            "eventName",
            "Type",
            "id",
            "keyId",
            "name",
            "x-y"
        ])
        .prop_map(|k| Drift::Extra(k.to_string())),
    ]
}

/// Every object in `v`, depth first, as paths of keys.
fn object_paths(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(m) = v {
        out.push(path.clone());
        for (k, child) in m {
            path.push(k.clone());
            object_paths(child, path, out);
            path.pop();
        }
    }
}

fn at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| &mut v[k.as_str()])
}

/// Applies `d` to one object of `v` (chosen by `which`); returns the JSON text.
fn apply(mut v: Value, which: usize, d: &Drift) -> String {
    let mut paths = Vec::new();
    object_paths(&v, &mut Vec::new(), &mut paths);
    let path = paths[which % paths.len()].clone();
    let obj = at(&mut v, &path);
    let Value::Object(map) = obj else {
        return v.to_string();
    };
    let keys: Vec<String> = map.keys().cloned().collect();
    let mut repeat = None;
    match d {
        Drift::Rename(i, how) if !keys.is_empty() => {
            let k = &keys[i % keys.len()];
            let renamed = match how % 4 {
                0 => k.to_ascii_uppercase(),
                1 => k.replace('-', "_"),
                2 => format!("{}{}", k[..1].to_ascii_uppercase(), &k[1..]),
                _ => format!("_{k}"),
            };
            if let Some(value) = map.remove(k) {
                map.insert(renamed, value);
            }
        }
        Drift::Replace(i, how) if !keys.is_empty() => {
            let k = &keys[i % keys.len()];
            map[k] = match how % 6 {
                0 => Value::Null,
                1 => Value::from(""),
                2 => Value::from(" null "),
                3 => Value::from(1_725_000_000_000u64),
                4 => Value::from(r#"{"secretName": "s", "errorCode": "E"}"#),
                _ => serde_json::json!(["x", 1]),
            };
        }
        Drift::Repeat(i) if !keys.is_empty() => repeat = Some(keys[i % keys.len()].clone()),
        Drift::Extra(k) => {
            map.insert(k.clone(), Value::from("extra"));
        }
        _ => {}
    }
    let text = v.to_string();
    match repeat {
        // Written again at the front of the whole event: the first occurrence, a string,
        // then the original later in the text (last value wins in both readers).
        Some(k) if path.is_empty() => format!("{{{}: \"first\", {}", Value::from(k), &text[1..]),
        _ => text,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn drifted_samples_read_the_same_on_both_paths(
        pick in any::<usize>(),
        which in any::<usize>(),
        drifts in prop::collection::vec(drift(), 1..4),
    ) {
        let samples = fast_samples();
        let mut v = samples[pick % samples.len()].clone();
        let mut text = v.to_string();
        for d in &drifts {
            text = apply(v, which, d);
            v = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(_) => break,
            };
        }
        same_on_both_paths(text.as_bytes());
    }
}
