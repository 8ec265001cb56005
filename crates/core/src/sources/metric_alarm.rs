//! CloudMonitor threshold alarm callbacks on the KMS metrics (form-encoded, or the same fields
//! as JSON).

use serde_json::{Map, Value};

use super::Envelope;
use crate::alert::{Cloud, Kind, Severity};
use crate::draft::Draft;
use crate::fields::{field, text, time_field};
use crate::{ids, links, Alert};

/// Decodes a form-encoded callback body; `None` unless it has the alarm's fields.
pub(super) fn from_form(body: &[u8]) -> Option<Value> {
    let s = std::str::from_utf8(body).ok()?;
    if !s.contains('=') || s.trim_start().starts_with(['{', '[']) {
        return None;
    }
    let map: Map<String, Value> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let v = Value::Object(map);
    is_alarm(&v).then_some(v)
}

pub(super) fn is_alarm(v: &Value) -> bool {
    field(v, &["alertName"]).is_some()
        || (field(v, &["metricName"]).is_some()
            && field(v, &["namespace", "metricProject", "alertState"]).is_some())
}

/// `{userId=123, instanceId=kst-1}` (CloudMonitor's map text), JSON text, or an object.
fn dimensions(v: &Value) -> Vec<(String, String)> {
    let obj = match field(v, &["dimensions"]) {
        Some(Value::Object(m)) => Some(m.clone()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Some(m),
            _ => {
                return s
                    .trim()
                    .trim_start_matches('{')
                    .trim_end_matches('}')
                    .split(',')
                    .filter_map(|kv| kv.split_once(['=', ':']))
                    .map(|(k, v)| {
                        (
                            k.trim().trim_matches('"').to_string(),
                            v.trim().trim_matches('"').to_string(),
                        )
                    })
                    .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                    .collect()
            }
        },
        _ => None,
    };
    obj.into_iter()
        .flatten()
        .filter_map(|(k, v)| crate::fields::scalar_text(&v).map(|v| (k, v)))
        .collect()
}

pub(super) fn normalize(event: Value, env: Option<&Envelope>) -> Alert {
    let dims = dimensions(&event);
    let dim = |names: &[&str]| {
        dims.iter()
            .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
            .map(|(_, v)| v.clone())
    };
    let state = text(&event, &["alertState"]).unwrap_or_else(|| "ALERT".to_string());
    let resolved = state.eq_ignore_ascii_case("OK");
    let state_word = if resolved {
        "resolved"
    } else if state.eq_ignore_ascii_case("INSUFFICIENT_DATA") {
        "no data"
    } else {
        "firing"
    };
    let alert_name = text(&event, &["alertName", "ruleName"]);
    let metric = text(&event, &["metricName", "rawMetricName"]);
    let instance = dim(&["instanceId", "instance_id"]).or_else(|| text(&event, &["instanceName"]));

    let mut d = Draft::new(Kind::MetricAlarm, Cloud::Alibaba);
    d.event_type = Some(format!("CloudMonitor alarm {state}"));
    d.severity = if resolved {
        Some(Severity::Info)
    } else {
        text(&event, &["triggerLevel", "level"]).and_then(|l| Severity::from_level(&l))
    };
    d.account = text(&event, &["userId"])
        .or_else(|| dim(&["userId", "user_id"]))
        .or_else(|| env.and_then(|e| e.account.clone()));
    d.region = text(&event, &["regionId"])
        .or_else(|| dim(&["regionId"]))
        .or_else(|| env.and_then(|e| e.region.clone()));
    d.occurred_at = time_field(&event, &["timestamp", "lastTime", "time"])
        .or_else(|| env.and_then(|e| e.time.clone()));
    d.event_id = text(&event, &["ruleId"])
        .map(|r| format!("{r}:{}", text(&event, &["timestamp"]).unwrap_or_default()));
    d.resource_name = instance.clone();
    // Only from a real region and account: both are the sender's text.
    d.build_resource("instance", instance.as_deref());
    // The alarm rule on its instance is the condition; back to OK closes it.
    let rule_id = text(&event, &["ruleId"])
        .or_else(|| alert_name.clone())
        .unwrap_or_default();
    d.condition = Some(ids::metric_alarm_condition(&rule_id));
    d.resolves = resolved;
    d.dedup_discriminator = Some(ids::metric_alarm_occurrence(
        &rule_id,
        &state,
        d.occurred_at.as_deref().unwrap_or_default(),
    ));

    let value = text(&event, &["curValue"]);
    let unit = match text(&event, &["unit"]) {
        Some(u) if u.starts_with(|c: char| c.is_alphanumeric()) => format!(" {u}"),
        Some(u) => u,
        None => String::new(),
    };
    d.fact("Alert rule", alert_name.clone());
    d.fact("State", Some(format!("{state_word} ({state})")));
    d.fact("Metric", metric.clone());
    d.fact("Namespace", text(&event, &["namespace", "metricProject"]));
    d.fact("Current value", value.clone().map(|v| format!("{v}{unit}")));
    d.fact(
        "Condition",
        text(&event, &["expression", "escalationsExpression"]),
    );
    d.fact("Level", text(&event, &["triggerLevel"]));
    d.fact("KMS instance", instance.clone());
    let dim_text: Vec<String> = dims.iter().map(|(k, v)| format!("{k}={v}")).collect();
    d.fact(
        "Dimensions",
        (!dim_text.is_empty()).then(|| dim_text.join(", ")),
    );

    let rule = alert_name
        .as_deref()
        .or(metric.as_deref())
        .unwrap_or("(unnamed alarm)");
    let on_instance = instance
        .as_deref()
        .map(|i| format!(" on KMS instance {i}"))
        .unwrap_or_default();
    let metric_txt = metric.as_deref().unwrap_or("a KMS metric");
    let value_txt = value
        .as_deref()
        .map(|v| format!(" (current value {v}{unit})"))
        .unwrap_or_default();
    d.summary = if resolved {
        format!(
            "CloudMonitor alarm {rule} on {metric_txt}{on_instance} is back to normal{value_txt}."
        )
    } else {
        format!(
            "CloudMonitor alarm {rule} on {metric_txt}{on_instance} is {state_word}{value_txt}."
        )
    };
    d.title = Some(format!(
        "{} {state_word}: {}",
        Kind::MetricAlarm.headline(),
        crate::text::one_line(rule, 80)
    ));
    d.console_url = Some(links::alibaba_cloudmonitor_alarms());
    d.finish(event)
}
