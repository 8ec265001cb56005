//! kms-alerts core: turns any supported KMS alert input into normalized [`Alert`]s and renders
//! them. No I/O: bytes in, values out.
//!
//! Pipeline: [`sources`] split the input into pieces ([`Pieces`], bounded in size), unwrap
//! envelopes (SQS/SNS records, SNS notifications, CloudEvents, arrays, trail log files) and
//! normalize each event (AWS KMS on EventBridge, CloudTrail and ActionTrail KMS calls, Alibaba
//! CloudMonitor system events, CloudMonitor metric alarms, anything else as `unknown`), by one
//! routing rule for every entry point ([`parse_with`], [`parse_piece`], [`parse_value_with`]);
//! [`render()`] turns an alert into text, Markdown or JSON. Resource ARNs, regions, accounts
//! and the dedup and incident keys come from one place (`ids`).
//!
//! ```
//! let input = br#"{"detail-type":"KMS CMK Deletion","source":"aws.kms","region":"us-west-2",
//!   "account":"111122223333","detail":{"key-id":"1234abcd-12ab-34cd-56ef-1234567890ab"}}"#;
//! let records = kms_alerts_core::parse(input).unwrap();
//! let alert = records[0].result.as_ref().unwrap();
//! assert_eq!(alert.kind, kms_alerts_core::Kind::KeyDeleted);
//! ```

// The modules are private; what other crates use is re-exported below. Three stay public for
// the paths the sinks and handlers name: `render` (formats and escaping), `text` (one-line and
// byte-bounded text) and `sources` (its `trail_objects` reader of S3 notifications).
mod alert;
mod doc;
mod draft;
mod error;
mod fields;
mod ids;
mod links;
pub mod render;
pub mod sources;
pub mod text;

pub use alert::{from_name, Alert, Cloud, Fact, Family, Kind, Severity};
pub use error::ParseError;
pub use ids::{is_account_id, is_region_code};
pub use render::{render, render_to, Format};
pub use sources::stream::{maybe_gunzip, parse_piece, Piece, Pieces, MAX_PIECE_BYTES};
pub use sources::trail_objects::{object_notices, object_notices_in, ObjectNotice, TrailObject};
pub use sources::{
    parse, parse_alarm_callback, parse_labelled, parse_value, parse_value_with, parse_with, Level,
    Options, Parsed, PolicyRow, Record, Rule, Skipped, KEY_USE_CALLS, MAX_RECORDS_PER_PIECE,
    MAX_VALUES_PER_PIECE, SEVERITY_POLICY,
};

/// Entry points for the fuzz targets (`crates/fuzz-targets`, `fuzz/`) into parsers that are
/// otherwise private. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::Value;

    /// The fast JSON reader alone: what it reads itself, as a `Value`, or `None` where it
    /// leaves the input to `serde_json`.
    pub fn fast_read(input: &[u8]) -> Option<Value> {
        crate::doc::Doc::fast(input).map(|doc| doc.to_value())
    }

    /// The borrowed reader as every path uses it (the fast reader, else `serde_json`).
    pub fn doc_parse(input: &[u8]) -> Result<Value, serde_json::Error> {
        crate::doc::Doc::parse(input).map(|doc| doc.to_value())
    }
}

/// Test helper: the one alert a single JSON event becomes.
#[cfg(test)]
pub(crate) fn alert_of(event: &serde_json::Value) -> Alert {
    let mut records = parse(event.to_string().as_bytes()).expect("valid JSON");
    assert_eq!(records.len(), 1, "one event, one alert");
    records.remove(0).result.expect("an alert")
}
