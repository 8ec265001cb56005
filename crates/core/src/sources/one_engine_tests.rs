//! One input engine: the same bytes give the same records, dedup and incident keys included,
//! and the same skipped counts, read whole ([`parse_with`], the handlers), as a stream
//! ([`Pieces`] and [`parse_piece`] over a reader with a tiny buffer, the CLI and the S3 trail
//! reader) and, for one JSON value, decoded first ([`parse_value_with`], Lambda).

use std::path::Path;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::stream::{parse_piece, Pieces};
use super::{parse_value_with, parse_with, Options, Parsed, Skipped};

/// The samples: every JSON event under events/, then the records, deliveries and events the
/// batch samples hold (trail records of several services, read-only calls, SQS records,
/// CloudEvents), so that mixes put them beside each other.
fn units() -> &'static [Value] {
    static UNITS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    UNITS.get_or_init(|| {
        let mut out: Vec<Value> = Vec::new();
        for (path, bytes) in samples() {
            if path.ends_with(".json") {
                out.push(serde_json::from_slice(bytes).expect("a JSON sample"));
            }
        }
        let inner: Vec<Value> = out
            .iter()
            .flat_map(|v| {
                let items = v.get("Records").unwrap_or(v);
                items.as_array().cloned().unwrap_or_default()
            })
            .collect();
        out.extend(inner);
        out
    })
}

/// Every sample file, by name.
fn samples() -> &'static [(String, Vec<u8>)] {
    static SAMPLES: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    SAMPLES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        let mut out = Vec::new();
        for cloud in ["aws", "alibaba"] {
            for entry in std::fs::read_dir(root.join(cloud)).expect("events/ is readable") {
                let path = entry.expect("a directory entry").path();
                let bytes = std::fs::read(&path).expect("a readable sample");
                out.push((path.to_string_lossy().into_owned(), bytes));
            }
        }
        out.sort();
        out
    })
}

fn forms() -> Vec<&'static [u8]> {
    samples()
        .iter()
        .filter(|(p, _)| p.ends_with(".form"))
        .map(|(_, b)| &b[..])
        .collect()
}

/// A value built from the samples.
#[derive(Debug, Clone)]
enum Mix {
    Unit(usize),
    Array(Vec<Mix>),
    /// `{"Records": [...]}`, with a member before `Records` (so the splitter does not split
    /// it) or after it (which the splitter drops).
    Records {
        items: Vec<Mix>,
        before: bool,
        after: bool,
    },
}

impl Mix {
    fn value(&self) -> Value {
        match self {
            Mix::Unit(i) => units()[i % units().len()].clone(),
            Mix::Array(items) => Value::Array(items.iter().map(Mix::value).collect()),
            Mix::Records {
                items,
                before,
                after,
            } => {
                let records = Value::Array(items.iter().map(Mix::value).collect());
                let mut text = String::from("{");
                if *before {
                    text.push_str(r#""note": {"Records": "not this one"}, "#);
                }
                text.push_str(r#""Records": "#);
                text.push_str(&records.to_string());
                if *after {
                    text.push_str(r#", "trailer": [1, {"x": "]"}]"#);
                }
                text.push('}');
                serde_json::from_str(&text).expect("valid JSON")
            }
        }
    }

    /// The JSON text: members in the order written (`Value` may sort them), compact or pretty.
    fn text(&self, pretty: bool) -> String {
        let sep = if pretty { ",\n  " } else { "," };
        let list = |items: &[Mix]| {
            items
                .iter()
                .map(|m| m.text(pretty))
                .collect::<Vec<_>>()
                .join(sep)
        };
        match self {
            Mix::Unit(_) if pretty => serde_json::to_string_pretty(&self.value()).unwrap(),
            Mix::Unit(_) => self.value().to_string(),
            Mix::Array(items) => format!("[{}]", list(items)),
            Mix::Records {
                items,
                before,
                after,
            } => format!(
                "{{{}\"Records\" : [{}]{}}}",
                if *before {
                    r#""note": {"Records": "not this one"}, "#
                } else {
                    ""
                },
                list(items),
                if *after {
                    r#", "trailer": [1, {"x": "]"}]"#
                } else {
                    ""
                }
            ),
        }
    }
}

fn mix() -> impl Strategy<Value = Mix> {
    let unit = any::<usize>().prop_map(Mix::Unit);
    unit.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Mix::Array),
            (
                prop::collection::vec(inner, 0..6),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(items, before, after)| Mix::Records {
                    items,
                    before,
                    after
                }),
        ]
    })
}

/// Records as comparable text: delivery id, then the whole alert as JSON (dedup and incident
/// keys, raw event and all) or the error.
fn outcome(p: &Parsed) -> (Vec<String>, Skipped, bool) {
    let records = p
        .records
        .iter()
        .map(|r| {
            let result = match &r.result {
                Ok(a) => serde_json::to_string(a).expect("an alert serializes"),
                Err(e) => format!("error: {e}"),
            };
            format!("{:?} {result}", r.delivery_id)
        })
        .collect();
    (records, p.skipped, p.over_limit)
}

/// The input read as a stream through a `buffer`-byte reader.
fn streamed(input: &[u8], buffer: usize, options: Options) -> Parsed {
    let reader = std::io::BufReader::with_capacity(buffer, input);
    let mut out = Parsed::default();
    for (n, piece) in Pieces::new(reader, "t").enumerate() {
        let piece = piece.expect("a valid framing");
        let parsed =
            parse_piece(&piece, &piece.describe("t", n), options).expect("a readable piece");
        out.records.extend(parsed.records);
        out.skipped.add(parsed.skipped);
        out.over_limit |= parsed.over_limit;
    }
    out
}

/// Reads `input` every way; panics on any difference. `one_value` when it is one JSON value
/// (decoded JSON has no fast path to leave the keys out: compared unless `display_only`).
fn same_every_way(input: &[u8], one_value: bool, options: Options, buffer: usize) {
    let whole = parse_with(input, "t", options).expect("a readable input");
    let want = outcome(&whole);
    assert_eq!(
        outcome(&streamed(input, buffer, options)),
        want,
        "streamed: {}",
        String::from_utf8_lossy(input)
    );
    if one_value && !options.display_only {
        let value: Value = serde_json::from_slice(input).expect("one JSON value");
        assert_eq!(
            outcome(&parse_value_with(value, options)),
            want,
            "decoded: {}",
            String::from_utf8_lossy(input)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random mixes of the samples (arrays, `Records` batches, concatenations and NDJSON, a
    /// form callback at the end) give identical alerts and skipped counts every way.
    #[test]
    fn the_same_bytes_give_the_same_alerts_every_way(
        mixes in prop::collection::vec((mix(), any::<bool>()), 1..4),
        separators in prop::collection::vec(prop::sample::select(vec!["\n", "", " ", "\r\n\t", "\n\n"]), 4),
        form in prop::option::weighted(0.2, any::<prop::sample::Index>()),
        include_read_only in any::<bool>(),
        display_only in any::<bool>(),
        buffer in 1usize..24,
    ) {
        let mut input = String::new();
        for (i, (m, pretty)) in mixes.iter().enumerate() {
            if i > 0 {
                input.push_str(separators[i % separators.len()]);
            }
            input.push_str(&m.text(*pretty));
        }
        let mut input = input.into_bytes();
        if let Some(f) = form {
            let forms = forms();
            input.push(b'\n');
            input.extend_from_slice(forms[f.index(forms.len())]);
        }
        let one_value = mixes.len() == 1 && form.is_none();
        let options = Options { include_read_only, display_only, ..Options::default() };
        same_every_way(&input, one_value, options, buffer);
    }
}

fn trail(name: &str) -> Value {
    let log: Value = serde_json::from_slice(
        &samples()
            .iter()
            .find(|(p, _)| p.ends_with("cloudtrail-log-file.json"))
            .expect("the log file sample")
            .1,
    )
    .unwrap();
    log["Records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["eventName"] == name && r.get("errorCode").is_none())
        .cloned()
        .unwrap_or_else(|| panic!("{name} in the log file sample"))
}

fn sample(name: &str) -> Value {
    let bytes = &samples()
        .iter()
        .find(|(p, _)| p.ends_with(name))
        .unwrap_or_else(|| panic!("{name}"))
        .1;
    serde_json::from_slice(bytes).unwrap()
}

fn kinds(p: &Parsed) -> Vec<String> {
    p.records
        .iter()
        .map(|r| match &r.result {
            Ok(a) => format!(
                "{}:{}",
                a.kind.as_str(),
                a.event_type.as_deref().unwrap_or("")
            ),
            Err(e) => format!("error: {e}"),
        })
        .collect()
}

/// The rule for arrays that mix trail records with other things: each trail record is what a
/// log file makes of it (other services and successful read-only calls skipped), everything
/// else what it is on its own; the same in a `Records` batch, whole, streamed and decoded.
#[test]
fn mixed_lists_route_each_item_on_its_own() {
    let deletion = sample("aws/kms-cmk-deletion.json");
    let items = vec![
        trail("DisableKey"),
        trail("RunInstances"),
        trail("Decrypt"),
        deletion.clone(),
        trail("GenerateDataKey"),
    ];
    let sqs = sample("aws/sqs-batch.json")["Records"][0].clone();
    for input in [
        Value::Array(items.clone()),
        json!({"Records": items}),
        json!({"Records": [trail("DisableKey"), sqs, trail("Decrypt")]}),
    ] {
        let bytes = input.to_string().into_bytes();
        for options in [
            Options::default(),
            Options {
                include_read_only: true,
                ..Options::default()
            },
        ] {
            same_every_way(&bytes, true, options, 3);
        }
        let parsed = parse_with(&bytes, "t", Options::default()).unwrap();
        let deliveries = input["Records"].as_array().is_some_and(|r| r.len() == 3);
        if deliveries {
            // The SQS record is a delivery, the trail records log records, side by side.
            assert_eq!(
                kinds(&parsed),
                ["api_call:DisableKey", "key_deleted:KMS CMK Deletion"]
            );
            assert_eq!(
                parsed.records[1].delivery_id.as_deref(),
                Some("059f36b4-87a3-44ab-83d2-661975830a7d")
            );
            assert_eq!(
                parsed.skipped,
                Skipped {
                    other_service: 0,
                    read_only: 1
                }
            );
        } else {
            assert_eq!(
                kinds(&parsed),
                ["api_call:DisableKey", "key_deleted:KMS CMK Deletion"]
            );
            assert_eq!(
                parsed.skipped,
                Skipped {
                    other_service: 1,
                    read_only: 2
                }
            );
        }
    }
    // One trail record on its own is a delivered event: never skipped.
    let single = parse_with(
        trail("Decrypt").to_string().as_bytes(),
        "t",
        Options::default(),
    )
    .unwrap();
    assert_eq!(kinds(&single), ["api_call:Decrypt"]);
}

/// The record limit counts while reading, across pieces: past it the input is refused and
/// nothing more is read.
#[test]
fn the_record_limit_spans_pieces() {
    let deletion = sample("aws/kms-cmk-deletion.json").to_string();
    let ndjson = [deletion.as_str(); 3].join("\n");
    let options = |max| Options {
        max_records: Some(max),
        ..Options::default()
    };
    assert_eq!(
        parse_with(ndjson.as_bytes(), "t", options(3))
            .unwrap()
            .records
            .len(),
        3
    );
    let e = parse_with(ndjson.as_bytes(), "t", options(2)).unwrap_err();
    assert!(e.to_string().starts_with("t: more than 2 records"), "{e}");
    // A broken tail past the limit is never read: the limit is what refuses the input.
    let broken = format!("{ndjson}\n{{\"broken\": ");
    let e = parse_with(broken.as_bytes(), "t", options(2)).unwrap_err();
    assert!(e.to_string().starts_with("t: more than 2 records"), "{e}");
}
