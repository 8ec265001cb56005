//! The routing rule (written out in the documentation of [`crate::sources`]), in code: every
//! entry point ends in [`Walker::walk`], so the same bytes give the same alerts in the CLI, the
//! S3 trail reader and every handler.

use serde_json::Value;

use super::{
    alibaba, api_call, aws_kms, evidence, metric_alarm, record, unknown, Envelope, Options, Parsed,
};
use crate::alert::{Alert, Cloud};
use crate::error::ParseError;
use crate::fields::{field, text};

/// Nested envelopes deeper than this are taken as the event itself.
const MAX_DEPTH: usize = 8;

/// Where a value stands in its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// A value on its own: a top-level value, an SQS body, an SNS message, a CloudEvent's data.
    Event,
    /// An element of an array.
    Element,
    /// An entry of a `Records` list.
    Record,
}

impl Place {
    /// How deep a value of this place is when it is the top of what is read: items of a
    /// top-level array or `Records` list are one level down, wherever they were split off.
    pub fn depth(self) -> usize {
        match self {
            Place::Event => 0,
            Place::Element | Place::Record => 1,
        }
    }
}

/// Where an event is in its delivery: the id to report it by and what the envelopes said.
#[derive(Default)]
pub(super) struct Ctx<'a> {
    delivery_id: Option<&'a str>,
    /// Set once an SQS or SNS envelope was unwrapped: the event came through AWS.
    via_aws: bool,
}

impl<'a> Ctx<'a> {
    fn with_id<'b>(&self, id: Option<&'b str>) -> Ctx<'b>
    where
        'a: 'b,
    {
        Ctx {
            delivery_id: self.delivery_id.or(id),
            via_aws: self.via_aws,
        }
    }
}

impl<'b> Ctx<'b> {
    /// The context inside an SQS or SNS envelope: reported by `id`, come through AWS.
    fn via_aws(id: Option<&'b str>) -> Ctx<'b> {
        Ctx {
            delivery_id: id,
            via_aws: true,
        }
    }

    fn envelope(&self) -> Option<Envelope> {
        self.via_aws.then(|| Envelope {
            cloud: Some(Cloud::Aws),
            ..Envelope::default()
        })
    }
}

/// Routes values into records, counting what it skips, up to the record limit.
pub(super) struct Walker {
    options: Options,
    out: Parsed,
}

impl Walker {
    pub fn new(options: Options) -> Self {
        Walker {
            options,
            out: Parsed::default(),
        }
    }

    pub fn finish(self) -> Parsed {
        self.out
    }

    /// Adds a record; past the record limit, marks the input over it instead. Only a record
    /// marks it: an input of exactly the limit, followed by skipped trail records, is within it.
    fn push(&mut self, ctx: &Ctx, result: Result<Alert, ParseError>) {
        if self
            .options
            .max_records
            .is_some_and(|max| self.out.records.len() >= max)
        {
            self.out.over_limit = true;
            return;
        }
        self.out.records.push(record(ctx.delivery_id, result));
    }

    /// Routes `value`, found at `place`, `depth` levels into its input (see the module rule).
    /// Once the input is over the record limit, nothing more is routed.
    pub fn walk(&mut self, value: Value, place: Place, ctx: &Ctx, depth: usize) {
        if self.out.over_limit {
            return;
        }
        if depth >= MAX_DEPTH {
            let env = ctx.envelope();
            return self.push(ctx, Ok(unknown::normalize(value, env.as_ref())));
        }
        if place == Place::Record && is_delivery_record(&value) {
            return self.delivery(value, depth);
        }
        if place != Place::Event && api_call::is_trail_record(&value) {
            return self.trail_record(value, ctx);
        }
        match value {
            Value::Array(items) if !items.is_empty() => {
                for item in items {
                    self.walk(item, Place::Element, ctx, depth + 1);
                }
            }
            Value::Object(_) => self.object(value, ctx, depth),
            other => {
                let env = ctx.envelope();
                self.push(ctx, Ok(unknown::normalize(other, env.as_ref())))
            }
        }
    }

    fn object(&mut self, mut value: Value, ctx: &Ctx, depth: usize) {
        // A batch: a Lambda SQS or SNS event, a trail log file as written to S3.
        if let Some(Value::Array(entries)) = value.get_mut("Records") {
            if !entries.is_empty() {
                for entry in std::mem::take(entries) {
                    self.walk(entry, Place::Record, ctx, depth + 1);
                }
                return;
            }
        }
        // SNS notification delivered as JSON (SNS -> SQS without raw delivery, SNS -> HTTPS).
        if value.get("Type").and_then(Value::as_str) == Some("Notification") {
            if let Some(Value::String(message)) = value.get("Message") {
                let id = text(&value, &["MessageId"]);
                let inner = Ctx::via_aws(ctx.delivery_id.or(id.as_deref()));
                return self.embedded(message, "SNS notification Message", &inner, depth);
            }
        }
        // CloudEvents 1.0 (Alibaba EventBridge).
        if value.get("specversion").is_some()
            && (value.get("data").is_some() || value.get("data_base64").is_some())
        {
            return self.cloudevent(value, ctx, depth);
        }
        let env = ctx.envelope();
        self.push(ctx, Ok(normalize(value, env.as_ref())));
    }

    /// A record of a trail log file: KMS calls become alerts; other services' calls and, by
    /// default, successful read-only KMS calls are counted as skipped.
    fn trail_record(&mut self, r: Value, ctx: &Ctx) {
        if !api_call::is_api_call(&r, None) {
            self.out.skipped.other_service += 1;
        } else if !self.options.include_read_only && api_call::is_routine_read(&r) {
            self.out.skipped.read_only += 1;
        } else {
            let env = ctx.envelope();
            self.push(ctx, Ok(normalize(r, env.as_ref())));
        }
    }

    /// An SQS record (`body`) or SNS record (`Sns.Message`) of a Lambda event.
    fn delivery(&mut self, r: Value, depth: usize) {
        if let Some(sns) = r.get("Sns") {
            let id = text(sns, &["MessageId"]);
            let ctx = Ctx::via_aws(id.as_deref());
            return match sns.get("Message") {
                Some(Value::String(m)) => self.embedded(
                    m,
                    &format!("{} Message", describe("SNS record", id.as_deref())),
                    &ctx,
                    depth,
                ),
                Some(other) => self.walk(other.clone(), Place::Event, &ctx, depth + 1),
                None => self.push(
                    &ctx,
                    Err(ParseError::field(
                        describe("SNS record", id.as_deref()),
                        "Sns.Message",
                        "is missing",
                    )),
                ),
            };
        }
        let id = text(&r, &["messageId"]);
        let ctx = Ctx::via_aws(id.as_deref());
        let what = describe("SQS record", id.as_deref());
        match r.get("body") {
            Some(Value::String(body)) => self.embedded(body, &format!("{what} body"), &ctx, depth),
            Some(other) => self.push(
                &ctx,
                Err(ParseError::field(
                    what,
                    "body",
                    format!("must be a string, found {}", json_type(other)),
                )),
            ),
            None => self.push(&ctx, Err(ParseError::field(what, "body", "is missing"))),
        }
    }

    /// A message carried as a string inside an envelope: an event of its own.
    fn embedded(&mut self, s: &str, what: &str, ctx: &Ctx, depth: usize) {
        match super::decode(s.as_bytes(), what) {
            Ok(v) => self.walk(v, Place::Event, ctx, depth + 1),
            Err(e) => self.push(ctx, Err(e)),
        }
    }

    fn cloudevent(&mut self, mut value: Value, ctx: &Ctx, depth: usize) {
        let env = Envelope {
            id: text(&value, &["id"]),
            event_type: text(&value, &["type"]),
            account: text(&value, &["aliyunaccountid", "aliyunoriginalaccountid"]),
            region: text(&value, &["aliyunregionid"]),
            time: field(&value, &["time", "aliyunpublishtime"]).and_then(crate::fields::time),
            cloud: evidence::cloud_of(&value).or(ctx.envelope().and_then(|e| e.cloud)),
        };
        let id = env.id.clone();
        let ctx = ctx.with_id(id.as_deref());
        let data = value.as_object_mut().and_then(|m| m.remove("data"));
        let data = match data {
            Some(Value::String(s)) => match super::decode(
                s.as_bytes(),
                &describe("CloudEvent data", env.id.as_deref()),
            ) {
                Ok(v) => v,
                Err(e) => return self.push(&ctx, Err(e)),
            },
            Some(v) => v,
            None => {
                // data_base64 is rare for event sources; keep the envelope itself as the event.
                return self.push(&ctx, Ok(unknown::normalize(value, Some(&env))));
            }
        };
        match data {
            Value::Object(_) => self.push(&ctx, Ok(normalize(data, Some(&env)))),
            other if depth + 1 < MAX_DEPTH => self.walk(other, Place::Event, &ctx, depth + 1),
            other => self.push(&ctx, Ok(unknown::normalize(other, Some(&env)))),
        }
    }
}

/// An SQS or SNS record of a Lambda event: a `body` or `Sns` member, or the event source
/// `aws:sqs` or `aws:sns` (a record that lost its body is still a failed delivery).
fn is_delivery_record(r: &Value) -> bool {
    let source = |name: &str, want: &str| r.get(name).and_then(Value::as_str) == Some(want);
    r.get("body").is_some()
        || r.get("Sns").is_some()
        || source("eventSource", "aws:sqs")
        || source("EventSource", "aws:sns")
}

/// Routes one unwrapped event object to the normalizer that recognises it.
fn normalize(event: Value, env: Option<&Envelope>) -> Alert {
    if aws_kms::is_kms_event(&event) {
        return aws_kms::normalize(event);
    }
    if api_call::is_api_call(&event, env) {
        return api_call::normalize(event, env);
    }
    if alibaba::is_system_event(&event, env) {
        return alibaba::normalize(event, env);
    }
    if metric_alarm::is_alarm(&event) {
        return metric_alarm::normalize(event, env);
    }
    unknown::normalize(event, env)
}

fn describe(what: &str, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{what} {:?}", crate::text::one_line(id, 80)),
        None => what.to_string(),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
