//! Sources: the input engine. Every entry point reads through the same two steps: the
//! splitter ([`Pieces`]) cuts the input into pieces, bounded in size, and one routing rule sends
//! each piece, and each envelope and batch inside it, to the normalizer of its family (AWS KMS
//! on EventBridge, CloudTrail and ActionTrail KMS calls, CloudMonitor system events and metric
//! alarms, anything else as `unknown`). [`parse_with`] (the handlers' raw bodies),
//! [`parse_piece`](stream::parse_piece) (the CLI and the S3 trail reader, piece by piece) and
//! [`parse_value_with`] (Lambda's decoded JSON) all route by it, so the same bytes give the
//! same alerts everywhere.
//!
//! # The routing rule
//!
//! A value is routed by its shape and by where it stands, nothing else:
//! - an **item** (an element of an array, an entry of a `Records` list) that is a CloudTrail or
//!   ActionTrail record is a log record: a KMS call becomes an alert, another service's call
//!   and (unless [`Options::include_read_only`]) a successful read-only call are counted as
//!   skipped. An entry of a `Records` list with a `body` or `Sns` member (or the event source
//!   `aws:sqs` or `aws:sns`) is an SQS or SNS delivery, unwrapped. Any other item is routed as
//!   an event.
//! - an **event** (a top-level value, an SQS body, an SNS message, a CloudEvent's data, and any
//!   item that is neither of the above) is never skipped: a non-empty array is a list of items;
//!   an object with a non-empty `Records` list is a batch of items (its other members are not
//!   read); an SNS notification or a CloudEvent is unwrapped; any other object goes to the
//!   normalizer that recognises it; anything else (a scalar, `[]`, `{"Records": []}`) is an
//!   `unknown` alert.
//!
//! So an array that mixes trail records with other things gives, for each trail record, what a
//! log file gives for it, and for everything else what that thing gives on its own, whatever
//! else the array holds; the same for a `Records` list that mixes trail records with SQS or SNS
//! records.

mod alibaba;
mod api_call;
mod aws_kms;
mod evidence;
mod metric_alarm;
mod policy;
mod route;
pub(crate) mod stream;
pub mod trail_objects;
mod unknown;

#[cfg(test)]
mod one_engine_tests;
#[cfg(test)]
mod two_paths_tests;

use serde_json::Value;

use crate::alert::{Alert, Cloud};
use crate::doc::Doc;
use crate::error::ParseError;
use crate::fields::{scalar_text, Node};
pub use policy::{Level, PolicyRow, Rule, KEY_USE_CALLS, SEVERITY_POLICY};
use route::{Ctx, Place, Walker};
use stream::{Piece, Pieces, MAX_PIECE_BYTES};

/// One event out of an input, tagged with the delivery it came in.
#[derive(Debug, Clone)]
pub struct Record {
    /// The id to report back when this record fails: the SQS `messageId` (for
    /// `batchItemFailures`), else the SNS `MessageId`, else the event's own id.
    pub delivery_id: Option<String>,
    pub result: Result<Alert, ParseError>,
}

/// How to read trail log files.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    /// Keep successful read-only calls (Decrypt, Encrypt, GenerateDataKey*, Describe*, List*,
    /// Get*) found in CloudTrail/ActionTrail log files; by default they are counted and skipped,
    /// since they are most of a trail's volume. A single delivered event is never skipped.
    pub include_read_only: bool,
    /// The most records one input may give; past it the walk stops and the input is refused
    /// (`Parsed::over_limit`), so a hostile array costs no more than this many alerts.
    pub max_records: Option<usize>,
    /// The most bytes one piece of an input (one event, one record of a batch or log file) may
    /// have in [`parse_with`]; `None` is [`MAX_PIECE_BYTES`]. A longer piece is unreadable.
    pub max_piece_bytes: Option<usize>,
    /// Alerts need carry only what text and Markdown messages show: [`Alert::raw`] may be
    /// `Null` and the dedup and incident keys empty (the fast path skips building them). For
    /// output that shows neither (the CLI's text and Markdown); anything that deduplicates,
    /// pages or writes JSON needs them.
    pub display_only: bool,
}

/// What a trail log file held that was deliberately not turned into alerts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// Records of other services' calls.
    pub other_service: usize,
    /// Successful read-only KMS calls (see [`Options::include_read_only`]).
    pub read_only: usize,
}

impl Skipped {
    /// Both counts together.
    pub fn total(&self) -> usize {
        self.other_service + self.read_only
    }

    /// Adds another input's counts.
    pub fn add(&mut self, other: Skipped) {
        self.other_service += other.other_service;
        self.read_only += other.read_only;
    }
}

/// The records of one input and what was skipped in it.
#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Vec<Record>,
    pub skipped: Skipped,
    /// The input held more than [`Options::max_records`]; `records` is cut short.
    pub over_limit: bool,
}

/// What the delivery around an event says about it; used where the event itself is silent.
/// CloudEvents fill every field; an SQS or SNS delivery says only that the event came through AWS.
#[derive(Debug, Default, Clone)]
pub(crate) struct Envelope {
    pub id: Option<String>,
    pub event_type: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub time: Option<String>,
    pub cloud: Option<Cloud>,
}

/// Parses raw input bytes: JSON of any supported shape, or a form-encoded CloudMonitor alarm
/// callback. Invalid input is an error naming where it broke; valid JSON of any other shape
/// still becomes an `unknown` alert.
pub fn parse(input: &[u8]) -> Result<Vec<Record>, ParseError> {
    parse_labelled(input, "input")
}

/// Like [`parse`], with a label for error messages (a file name, a request id).
pub fn parse_labelled(input: &[u8], what: &str) -> Result<Vec<Record>, ParseError> {
    Ok(parse_with(input, what, Options::default())?.records)
}

/// Like [`parse_labelled`], with options, also returning what trail log files held that was
/// skipped.
///
/// The input is read as the streaming reader reads it ([`Pieces`] over the slice, each piece
/// routed by [`parse_piece`](stream::parse_piece)), so a handler and the CLI give the same alerts for the
/// same bytes: one value, concatenated or newline-delimited values, an array, a
/// `{"Records": [...]}` batch or log file, or a form-encoded alarm callback. Items of an array
/// or a `Records` list are routed each on its own (see
/// [the routing rule](crate::sources#the-routing-rule)): a trail record among them is a log
/// record, skipped when it is another service's call or a successful read-only call, whatever
/// else the list holds.
///
/// Refused whole, so that the platform's retry and dead-letter queue see it: an empty input,
/// a piece that is not JSON (nor a form callback) or is over [`Options::max_piece_bytes`], a
/// broken framing, and more records than [`Options::max_records`] (counted while reading:
/// nothing past the limit is read or built).
pub fn parse_with(input: &[u8], what: &str, options: Options) -> Result<Parsed, ParseError> {
    let max_piece = options.max_piece_bytes.unwrap_or(MAX_PIECE_BYTES);
    let mut out = Parsed::default();
    let mut pieces = 0;
    for (n, piece) in Pieces::new(input, what)
        .max_piece_bytes(max_piece)
        .enumerate()
    {
        let piece = piece?;
        pieces += 1;
        let within = Options {
            max_records: options
                .max_records
                .map(|max| max.saturating_sub(out.records.len())),
            ..options
        };
        let parsed =
            read_piece(&piece, "", within).map_err(|e| e.named(piece.describe(what, n)))?;
        out.records.extend(parsed.records);
        out.skipped.add(parsed.skipped);
        if parsed.over_limit {
            return Err(ParseError::TooManyRecords {
                what: what.to_string(),
                max: options.max_records.unwrap_or_default(),
            });
        }
    }
    if pieces == 0 {
        return Err(ParseError::Empty {
            what: what.to_string(),
        });
    }
    Ok(out)
}

/// Parses a CloudMonitor threshold alarm callback and nothing else: a form-encoded body with
/// the alarm's fields (`alertName`, or `metricName` with `namespace`/`metricProject`/`alertState`).
/// JSON, or a form without those fields, is an error: an HTTP endpoint open to the internet takes
/// only this one shape.
pub fn parse_alarm_callback(input: &[u8], what: &str) -> Result<Alert, ParseError> {
    let trimmed = input.trim_ascii();
    if trimmed.is_empty() {
        return Err(ParseError::Empty {
            what: what.to_string(),
        });
    }
    let event = metric_alarm::from_form(trimmed).ok_or_else(|| {
        ParseError::field(
            what,
            "body",
            "not a form-encoded CloudMonitor alarm callback (alertName or metricName missing)",
        )
    })?;
    Ok(metric_alarm::normalize(event, None))
}

/// Turns already-decoded JSON into records.
pub fn parse_value(value: Value) -> Vec<Record> {
    parse_value_with(value, Options::default()).records
}

/// Turns already-decoded JSON into records, with options: the value is routed as a whole
/// input holding it is (see [`parse_with`]); over [`Options::max_records`], `over_limit` is set
/// and the records are cut short.
pub fn parse_value_with(value: Value, options: Options) -> Parsed {
    let mut w = Walker::new(options);
    w.walk(value, Place::Event, &Ctx::default(), 0);
    w.finish()
}

/// Reads one piece of the splitter by the routing rule; `what` names it in a piece-level error.
pub(crate) fn read_piece(
    piece: &Piece,
    what: &str,
    options: Options,
) -> Result<Parsed, ParseError> {
    let (bytes, place) = match piece {
        Piece::Whole(b) => (b, Place::Event),
        Piece::Element(b) => (b, Place::Element),
        Piece::Record(b) => (b, Place::Record),
        Piece::TooLarge { len, max, .. } => {
            return Err(ParseError::TooLarge {
                what: what.to_string(),
                len: *len,
                max: *max,
            })
        }
    };
    // What a piece costs to build is per value, not per byte (`[{},{},...]` is 80 bytes of
    // `Value` for each 3 bytes of input): count them first where there can be too many.
    if bytes.len() / 2 + 1 > MAX_VALUES_PER_PIECE && count_values(bytes) > MAX_VALUES_PER_PIECE {
        return Err(ParseError::TooComplex {
            what: what.to_string(),
            counted: "JSON values",
            max: MAX_VALUES_PER_PIECE,
        });
    }
    // A `Records` entry may be a delivery, which the fast path does not know.
    if place != Place::Record {
        if let Some(parsed) = parse_known(bytes, options) {
            return Ok(parsed);
        }
    }
    let value = decode(bytes, what)?;
    // No more records out of one piece than MAX_RECORDS_PER_PIECE, whatever the input's own
    // limit: the walk stops there, and a piece that would give more is refused.
    let piece_limit = options
        .max_records
        .is_none_or(|max| max > MAX_RECORDS_PER_PIECE);
    let mut w = Walker::new(Options {
        max_records: Some(
            options
                .max_records
                .map_or(MAX_RECORDS_PER_PIECE, |max| max.min(MAX_RECORDS_PER_PIECE)),
        ),
        ..options
    });
    w.walk(value, place, &Ctx::default(), place.depth());
    let parsed = w.finish();
    if parsed.over_limit && piece_limit {
        return Err(ParseError::TooComplex {
            what: what.to_string(),
            counted: "records",
            max: MAX_RECORDS_PER_PIECE,
        });
    }
    Ok(parsed)
}

/// The most JSON values (objects, arrays, members and elements) one piece may hold; a KMS
/// event holds a few hundred, a large CloudTrail record a few thousand. A piece with more is
/// unreadable, and is never built: its `Value` would cost about 80 bytes per value.
pub const MAX_VALUES_PER_PIECE: usize = 100_000;

/// The most records one piece may give (an SQS batch gives 10, a nested array one per item);
/// a piece that would give more is unreadable, and the walk stops at this many.
pub const MAX_RECORDS_PER_PIECE: usize = 10_000;

/// An upper bound of how many JSON values `bytes` holds (a member counts as one), at most
/// twice the true count: one, plus one per `{`, `[` and `,` outside strings. It reads the bytes
/// once, jumping over string contents.
fn count_values(bytes: &[u8]) -> usize {
    let mut count = 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // To the closing quote, stepping over escapes.
                i += 1;
                loop {
                    match stream::string_stop(&bytes[i.min(bytes.len())..], false) {
                        None => return count,
                        Some(j) if bytes[i + j] == b'\\' => i += j + 2,
                        Some(j) => {
                            i += j + 1;
                            break;
                        }
                    }
                }
                continue;
            }
            b'{' | b'[' | b',' => count += 1,
            _ => {}
        }
        i += 1;
    }
    count
}

/// The input without a UTF-8 byte order mark and surrounding whitespace.
fn trim_input(input: &[u8]) -> &[u8] {
    input
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(input)
        .trim_ascii()
}

/// The fast path for the shapes nearly every input has: a bare EventBridge KMS event or a
/// bare CloudMonitor system event, read into a borrowed [`Doc`] and normalized by the same
/// code as the general path, without building a `serde_json::Value` unless the alert keeps
/// it. `None` for anything else (an envelope, a trail record, another family, invalid JSON),
/// which the general path then reads; on what it takes, both give the same records.
pub(crate) fn parse_known(input: &[u8], options: Options) -> Option<Parsed> {
    if options.max_records == Some(0) {
        return None;
    }
    let doc = Doc::parse(trim_input(input)).ok()?;
    // The general path looks for envelopes first, trail and API-call records next: leave
    // anything that might be one to it.
    let envelope = doc.member("Records").is_some()
        || doc.member("Type").is_some()
        || doc.member("specversion").is_some()
        || doc.member("eventName").is_some()
        || doc
            .member("detail-type")
            .and_then(Node::str_value)
            .is_some_and(|t| t.ends_with("via CloudTrail"));
    if !doc.is_object_node() || envelope {
        return None;
    }
    let draft = if aws_kms::is_kms_event(&doc) {
        aws_kms::draft(&doc)
    } else if alibaba::is_system_event(&doc, None) {
        alibaba::draft(&doc, None)
    } else {
        return None;
    };
    let alert = if options.display_only {
        draft.finish_for_display()
    } else {
        draft.finish(doc.to_value())
    };
    Some(Parsed {
        records: vec![record(None, Ok(alert))],
        ..Parsed::default()
    })
}

fn decode(input: &[u8], what: &str) -> Result<Value, ParseError> {
    let trimmed = trim_input(input);
    if trimmed.is_empty() {
        return Err(ParseError::Empty {
            what: what.to_string(),
        });
    }
    match serde_json::from_slice::<Value>(trimmed) {
        Ok(v) => Ok(v),
        Err(err) => metric_alarm::from_form(trimmed).ok_or_else(|| ParseError::json(what, &err)),
    }
}

pub(crate) fn record(delivery_id: Option<&str>, result: Result<Alert, ParseError>) -> Record {
    Record {
        delivery_id: delivery_id.map(str::to_string),
        result,
    }
}

/// A list of scalars or a single scalar, as text.
pub(crate) fn list_text<N: Node>(v: Option<&N>) -> Option<String> {
    let v = v?;
    match v.items() {
        Some(items) => {
            let parts: Vec<String> = items.iter().filter_map(scalar_text).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        None => scalar_text(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Kind, Severity};
    use serde_json::json;

    fn one(input: &str) -> Alert {
        let mut r = parse(input.as_bytes()).unwrap();
        assert_eq!(r.len(), 1);
        r.remove(0).result.unwrap()
    }

    #[test]
    fn invalid_json_says_where_it_broke() {
        let err = parse(b"{\"detail-type\": \"KMS CMK Deletion\",\n  \"source\": }").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("input: invalid JSON at line 2, column 13"),
            "{msg}"
        );
        let err = parse_labelled(b"  \n ", "events/x.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "events/x.json: empty input, expected a JSON event"
        );
        assert!(parse(b"not json at all").is_err());
    }

    #[test]
    fn any_valid_json_becomes_an_unknown_alert() {
        for input in [
            "42",
            "\"hello\"",
            "null",
            "[]",
            "{}",
            "{\"level\":\"CRITICAL\",\"foo\":1}",
            "true",
        ] {
            let a = one(input);
            assert_eq!(a.kind, Kind::Unknown, "{input}");
        }
        assert_eq!(one("{\"level\":\"CRITICAL\"}").severity, Severity::Critical);
        assert_eq!(one("{\"foo\":1}").severity, Severity::Warning);
        assert_eq!(
            one("{\"level\":\"INFO\",\"name\":\"Thing\"}").severity,
            Severity::Info
        );
    }

    #[test]
    fn bad_sqs_record_fails_alone_and_names_the_message() {
        let input = json!({"Records": [
            {"messageId": "m-1", "eventSource": "aws:sqs", "body": "{\"detail-type\":\"KMS CMK Deletion\",\"source\":\"aws.kms\",\"detail\":{\"key-id\":\"k\"}}"},
            {"messageId": "m-2", "eventSource": "aws:sqs", "body": "{oops"},
            {"messageId": "m-3", "eventSource": "aws:sqs", "body": 7},
            {"messageId": "m-4", "eventSource": "aws:sqs"}
        ]});
        let records = parse(input.to_string().as_bytes()).unwrap();
        assert_eq!(records.len(), 4);
        assert_eq!(records[0].result.as_ref().unwrap().kind, Kind::KeyDeleted);
        let errs: Vec<String> = records[1..]
            .iter()
            .map(|r| r.result.as_ref().unwrap_err().to_string())
            .collect();
        assert!(
            errs[0].starts_with("SQS record \"m-2\" body: invalid JSON at line 1, column 2"),
            "{}",
            errs[0]
        );
        assert_eq!(
            errs[1],
            "SQS record \"m-3\": field `body` must be a string, found a number"
        );
        assert_eq!(errs[2], "SQS record \"m-4\": field `body` is missing");
        let ids: Vec<_> = records
            .iter()
            .map(|r| r.delivery_id.as_deref().unwrap())
            .collect();
        assert_eq!(ids, ["m-1", "m-2", "m-3", "m-4"]);
    }

    #[test]
    fn sns_notification_inside_sqs_is_unwrapped() {
        let event = json!({"detail-type": "KMS CMK Rotation", "source": "aws.kms", "region": "us-east-1", "account": "1", "detail": {"key-id": "k-1"}});
        let sns =
            json!({"Type": "Notification", "MessageId": "sns-1", "Message": event.to_string()});
        let sqs = json!({"Records": [{"messageId": "sqs-1", "eventSource": "aws:sqs", "body": sns.to_string()}]});
        let records = parse(sqs.to_string().as_bytes()).unwrap();
        assert_eq!(records[0].delivery_id.as_deref(), Some("sqs-1"));
        assert_eq!(records[0].result.as_ref().unwrap().kind, Kind::KeyRotated);
    }

    #[test]
    fn record_limit_stops_the_walk_and_refuses_the_input() {
        let zeros = format!("[{}0]", "0,".repeat(500_000));
        let opts = Options {
            max_records: Some(100),
            ..Options::default()
        };
        let parsed = parse_value_with(serde_json::from_str(&zeros).unwrap(), opts);
        assert!(parsed.over_limit);
        assert_eq!(parsed.records.len(), 100);
        let err = parse_with(zeros.as_bytes(), "request r-1", opts).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("request r-1: more than 100 records in one input"),
            "{err}"
        );
        let ok = parse_with(b"[1,2,3]", "x", opts).unwrap();
        assert_eq!((ok.records.len(), ok.over_limit), (3, false));
    }

    #[test]
    fn skipped_trail_records_after_the_last_allowed_record_are_within_the_limit() {
        // The whole_input fuzz target's seed events/aws/cloudtrail-log-file-disabled-key-use.json
        // (one alert, then a routine read) was refused under a limit of 1: reaching the limit,
        // not passing it, marked the input over it.
        let call = |name: &str, error: Option<&str>| {
            let mut r = json!({"eventVersion": "1.08", "eventSource": "kms.amazonaws.com",
                "eventName": name, "readOnly": true, "awsRegion": "us-east-1",
                "requestParameters": {"keyId": "k"}});
            if let Some(e) = error {
                r["errorCode"] = json!(e);
            }
            r
        };
        let log = json!({"Records": [
            call("GenerateDataKey", Some("DisabledException")),
            call("GenerateDataKey", None),
            {"eventVersion": "1.08", "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances"},
        ]});
        let one = Options {
            max_records: Some(1),
            ..Options::default()
        };
        let parsed = parse_with(log.to_string().as_bytes(), "log", one).unwrap();
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.skipped.total(), 2);
        let decoded = parse_value_with(log.clone(), one);
        assert_eq!((decoded.records.len(), decoded.over_limit), (1, false));
        // One more alert is over it, by either path.
        let mut two = log;
        let mut disable = call("DisableKey", None);
        disable["readOnly"] = json!(false);
        two["Records"].as_array_mut().unwrap().push(disable);
        assert!(parse_with(two.to_string().as_bytes(), "log", one).is_err());
        assert!(parse_value_with(two, one).over_limit);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut s = json!({"detail-type": "KMS CMK Deletion", "source": "aws.kms", "detail": {"key-id": "k"}}).to_string();
        for _ in 0..12 {
            s = json!({"Type": "Notification", "Message": s}).to_string();
        }
        let records = parse(s.as_bytes()).unwrap();
        assert_eq!(records.len(), 1);
        assert!(records[0].result.is_ok());
    }

    #[test]
    fn cloudevent_type_names_the_event_when_data_does_not() {
        let ce = json!({"specversion": "1.0", "id": "ce-1", "source": "acs.kms", "type": "kms:Secret:RotateSecret:Success",
            "aliyunaccountid": "123", "aliyunregionid": "cn-beijing", "time": "2025-01-02T03:04:05Z",
            "data": {"content": {"secretName": "db/app"}}});
        let a = one(&ce.to_string());
        assert_eq!(a.kind, Kind::SecretRotationSucceeded);
        assert_eq!(a.region.as_deref(), Some("cn-beijing"));
        assert_eq!(a.account.as_deref(), Some("123"));
        assert_eq!(a.occurred_at.as_deref(), Some("2025-01-02T03:04:05Z"));
        assert_eq!(a.resource_name.as_deref(), Some("db/app"));
    }

    #[test]
    fn deletion_kind_follows_the_content() {
        let ev = |name: &str, field: &str| {
            json!({"product": "kms", "name": name, "level": "WARN", "content": {"secretName": "s", field: "2025-01-01T00:00:00Z"}}).to_string()
        };
        assert_eq!(
            one(&ev("Secret:DeleteSecret:ScheduleDeletion", "deleteTime")).kind,
            Kind::SecretDeleted
        );
        assert_eq!(
            one(&ev(
                "Secret:DeleteSecret:ActualDeletion",
                "plannedDeleteTime"
            ))
            .kind,
            Kind::SecretDeletionScheduled
        );
        assert_eq!(
            one(&ev("Secret:DeleteSecret:ActualDeletion", "other")).kind,
            Kind::SecretDeleted
        );
    }

    #[test]
    fn missing_fields_still_make_an_alert() {
        let a = one(r#"{"source":"aws.kms","detail-type":"KMS CMK Deletion"}"#);
        assert_eq!(a.kind, Kind::KeyDeleted);
        assert!(a.summary.contains("(unknown key)"));
        assert_eq!(a.console_url, None);
        let a = one(
            r#"{"detail-type":"AWS API Call via CloudTrail","source":"aws.kms","detail":{"eventName":"DisableKey"}}"#,
        );
        assert_eq!(a.kind, Kind::ApiCall);
        assert!(a.summary.starts_with("An unknown caller called DisableKey"));
        let a = one(
            r#"{"product":"kms","name":"Secret:RotateSecret:Failure","content":"not an object"}"#,
        );
        assert_eq!(a.kind, Kind::SecretRotationFailed);
        assert_eq!(a.severity, Severity::Critical);
    }

    #[test]
    fn values_are_counted_outside_strings_only() {
        // At most twice the true count (4 values here), never less.
        assert_eq!(count_values(br#"{}"#), 2);
        assert_eq!(count_values(br#"[{},{},[]]"#), 7);
        assert_eq!(count_values(br#"{"a,[{": "x\",[", "b": [1, 2]}"#), 5);
        // An unterminated string ends the count where it starts.
        assert_eq!(count_values(br#"[1, "abc\"#), 3);
    }

    #[test]
    fn a_piece_of_too_many_values_or_records_is_refused_unbuilt() {
        // 100,001 empty objects in one record of an array: refused before it is built.
        let many = format!("[[{}{{}}]]", "{},".repeat(MAX_VALUES_PER_PIECE));
        let e = parse_with(many.as_bytes(), "t", Options::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t record 1: more than 100000 JSON values in one event or record (a KMS event holds a few hundred); skipped unbuilt"
        );
        // 10,001 items in one record: few values, but more records than one piece may give.
        let items = format!("[[{}{{}}]]", "{},".repeat(MAX_RECORDS_PER_PIECE));
        let e = parse_with(items.as_bytes(), "t", Options::default()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t record 1: more than 10000 records in one event or record"),
            "{e}"
        );
        // Exactly the limit is read.
        let items = format!("[[{}{{}}]]", "{},".repeat(MAX_RECORDS_PER_PIECE - 1));
        let parsed = parse_with(items.as_bytes(), "t", Options::default()).unwrap();
        assert_eq!(parsed.records.len(), MAX_RECORDS_PER_PIECE);
        // An input limit below the piece's keeps its own error.
        let options = Options {
            max_records: Some(100),
            ..Options::default()
        };
        let e = parse_with(items.as_bytes(), "t", options).unwrap_err();
        assert!(
            e.to_string().contains("more than 100 records in one input"),
            "{e}"
        );
    }
}
