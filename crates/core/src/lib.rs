//! kms-alerts core: turns any supported KMS alert input into normalized [`Alert`]s and renders
//! them. No I/O: bytes in, values out.
//!
//! Pipeline: [`sources`] unwrap envelopes (SQS/SNS records, SNS notifications, CloudEvents,
//! arrays) and normalize each event (AWS KMS on EventBridge, CloudTrail KMS calls, Alibaba
//! CloudMonitor system events, CloudMonitor metric alarms, anything else as `unknown`);
//! [`render`] turns an alert into text, Markdown or JSON.
//!
//! ```
//! let input = br#"{"detail-type":"KMS CMK Deletion","source":"aws.kms","region":"us-west-2",
//!   "account":"111122223333","detail":{"key-id":"1234abcd-12ab-34cd-56ef-1234567890ab"}}"#;
//! let records = kms_alerts_core::parse(input).unwrap();
//! let alert = records[0].result.as_ref().unwrap();
//! assert_eq!(alert.kind, kms_alerts_core::Kind::KeyDeleted);
//! ```

pub mod alert;
pub mod doc;
mod draft;
pub mod error;
pub mod fields;
mod ids;
pub mod links;
pub mod render;
pub mod sources;
pub mod text;

pub use alert::{from_name, Alert, Cloud, Fact, Family, Kind, Severity};
pub use error::ParseError;
pub use render::{render, render_to, Format};
pub use sources::stream::{maybe_gunzip, parse_piece, Piece, Pieces};
pub use sources::trail_objects::{object_notices, ObjectNotice, TrailObject};
pub use sources::{
    parse, parse_alarm_callback, parse_labelled, parse_value, parse_value_with, parse_with,
    Options, Parsed, Record, Skipped,
};

/// Test helper: the one alert a single JSON event becomes.
#[cfg(test)]
pub(crate) fn alert_of(event: &serde_json::Value) -> Alert {
    let mut records = parse(event.to_string().as_bytes()).expect("valid JSON");
    assert_eq!(records.len(), 1, "one event, one alert");
    records.remove(0).result.expect("an alert")
}
