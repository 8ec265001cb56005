//! PagerDuty Events API v2: `trigger` with the alert as payload (summary at most 1,024
//! characters, severity, source, component, group, class, facts as custom details, the console
//! link), or `resolve` for an alert that closes its incident. The incident key (else the dedup
//! key) is the `dedup_key`, so a retry or a redelivery updates one PagerDuty alert and the
//! closing alert resolves it. 202 is accepted; 400 is permanent; 429 and 5xx are retried.

use kms_alerts_core::{Alert, Severity};
use serde_json::{json, Map, Value};

use super::{fitted, plain, Options, Outgoing, Service, Verdict};

/// The Events API's address.
pub const EVENTS_API: &str = "https://events.pagerduty.com/v2/enqueue";
/// PagerDuty refuses payloads over 512 KB.
const BODY_MAX: usize = 500_000;

/// The service.
pub(crate) struct PagerDuty;

impl Service for PagerDuty {
    fn name(&self) -> &'static str {
        "pagerduty"
    }
    fn address_is_url(&self) -> bool {
        false
    }
    fn takes_keyword(&self) -> bool {
        false
    }
    fn takes_endpoint(&self) -> bool {
        true
    }
    fn check_address(&self, address: &str) -> Result<(), String> {
        let key = address.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err("expected pagerduty:<routing key> (32 characters from the service's Events API v2 integration)".into());
        }
        Ok(())
    }
    fn request(&self, alert: &Alert, routing_key: &str, o: &Options) -> Result<Outgoing, String> {
        let url = o
            .api_endpoint
            .clone()
            .unwrap_or_else(|| EVENTS_API.to_string());
        let dedup_key = alert.incident_key.as_deref().unwrap_or(&alert.dedup_key);
        if alert.resolved {
            let body = json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key});
            return Ok(Outgoing {
                url,
                body: body.to_string().into_bytes(),
            });
        }
        let body = fitted(alert, o, plain, BODY_MAX, |v| {
            let mut details = Map::new();
            for (l, val) in &v.facts {
                details.insert(l.clone(), Value::String(val.clone()));
            }
            details.insert("dedup_key".into(), alert.dedup_key.clone().into());
            let summary: String = format!("{}: {}", v.title, v.summary)
                .chars()
                .take(1024)
                .collect();
            let mut m = json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "client": "kms-alerts",
                "payload": {
                    "summary": summary,
                    "source": plain(alert.resource.as_deref().or(alert.account.as_deref()).unwrap_or(alert.cloud.as_str()), 255),
                    "severity": match alert.severity { Severity::Critical => "critical", Severity::Warning => "warning", Severity::Info => "info" },
                    "class": alert.kind.as_str(),
                    "custom_details": details,
                },
            });
            // Fields without a value are left out: the Events API types them as strings.
            for (field, value) in [
                ("component", &alert.resource_name),
                ("group", &alert.account),
            ] {
                if let Some(v) = value {
                    m["payload"][field] = plain(v, 255).into();
                }
            }
            if let Some(t) = &alert.occurred_at {
                m["payload"]["timestamp"] = t.clone().into();
            }
            if let Some(link) = &v.link {
                m["links"] = json!([{"href": link, "text": "Open in console"}]);
            }
            m
        });
        Ok(Outgoing { url, body })
    }
    /// 202 `{"status":"success"}`; 400 names the problem (an invalid routing key is the
    /// credential); 429 and 5xx are worth retrying.
    fn verdict(&self, status: u16, body: &[u8]) -> Verdict {
        match status {
            400 if super::body_text(body)
                .to_ascii_lowercase()
                .contains("routing key") =>
            {
                Verdict::Auth(format!("HTTP 400 {}", super::body_text(body)))
            }
            _ => super::by_status(status, body),
        }
    }
}
