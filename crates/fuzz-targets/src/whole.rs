//! The whole-input parser ([`parse_with`]): what every handler reads a raw body with, against
//! the other two ways the project reads the same bytes.

use kms_alerts_core::{
    parse_piece, parse_value_with, parse_with, Alert, Options, Parsed, Pieces, Record,
};
use serde_json::Value;

use crate::checks;

/// The same bytes give the same alerts by every path:
/// - whole input ([`parse_with`], the FC handlers) and streaming (the splitter and
///   [`parse_piece`] piece by piece, the CLI and `kms-trail-objects`): the same records and
///   skipped counts, and the whole input is refused exactly when a piece is;
/// - decoded JSON ([`parse_value_with`], Lambda, which never takes the fast path): the same
///   records;
/// - `display_only` (the CLI's text output): the same alerts but for the raw event and keys;
/// - a record limit or a piece cap either refuses the input or changes nothing.
///
/// Every alert keeps the message bounds of [`checks::alert`].
pub fn whole_input(data: &[u8]) {
    let options = Options::default();
    let whole = parse_with(data, "input", options);

    // Streaming, as the CLI reads a file.
    let mut streamed = Parsed::default();
    let mut refused = false;
    let mut pieces = 0;
    for (n, piece) in Pieces::new(data, "input").enumerate() {
        let Ok(piece) = piece else {
            refused = true;
            break;
        };
        pieces += 1;
        match parse_piece(&piece, &piece.describe("input", n), options) {
            Ok(parsed) => {
                streamed.records.extend(parsed.records);
                streamed.skipped.add(parsed.skipped);
            }
            Err(_) => refused = true,
        }
    }
    let whole = match whole {
        Ok(whole) => {
            assert!(!refused, "whole input taken, a piece of it refused");
            checks::same_records(&whole.records, &streamed.records, "whole against streamed");
            assert_eq!(whole.skipped, streamed.skipped, "skipped counts differ");
            assert!(!whole.over_limit);
            whole
        }
        Err(e) => {
            assert!(
                refused || pieces == 0,
                "whole input refused ({e}), every piece taken"
            );
            return;
        }
    };
    checks::parsed(&whole, true);

    // Decoded JSON, as Lambda hands it over.
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        let decoded = parse_value_with(value, options);
        checks::same_records(
            &whole.records,
            &decoded.records,
            "bytes against decoded JSON",
        );
        assert_eq!(whole.skipped, decoded.skipped, "skipped counts differ");
    }

    // Display only: the same alerts, less what text and Markdown do not show.
    let display = parse_with(
        data,
        "input",
        Options {
            display_only: true,
            ..options
        },
    )
    .expect("display_only refuses what the full read takes");
    checks::parsed(&display, false);
    let shown = |records: &[Record]| -> Vec<Option<Alert>> {
        records
            .iter()
            .map(|r| {
                r.result.as_ref().ok().map(|a| Alert {
                    raw: Value::Null,
                    dedup_key: String::new(),
                    incident_key: None,
                    ..a.clone()
                })
            })
            .collect()
    };
    assert_eq!(
        shown(&display.records),
        shown(&whole.records),
        "display_only reads other alerts"
    );

    // A record limit: refused when over it, else the same.
    for max in [1, 3] {
        let limited = parse_with(
            data,
            "input",
            Options {
                max_records: Some(max),
                ..options
            },
        );
        match limited {
            Ok(limited) => {
                assert!(whole.records.len() <= max);
                checks::same_records(&limited.records, &whole.records, "within a record limit");
            }
            Err(e) => assert!(
                whole.records.len() > max,
                "refused under a limit of {max} with {} records: {e}",
                whole.records.len()
            ),
        }
    }

    // A piece cap: refused when a piece is over it, else the same.
    let cap = 64 + data.len() % 256;
    if let Ok(capped) = parse_with(
        data,
        "input",
        Options {
            max_piece_bytes: Some(cap),
            ..options
        },
    ) {
        checks::same_records(&capped.records, &whole.records, "within a piece cap");
    }
}
