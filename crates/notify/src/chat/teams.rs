//! Microsoft Teams through a Workflows webhook ("When a Teams webhook request is received"):
//! a message with one Adaptive Card (schema 1.4; Teams takes up to 1.5): the title coloured by
//! severity, the summary, a FactSet, an `Action.OpenUrl` button. At most 28 KB. The trigger
//! answers 202 once the run is queued: accepted, not yet shown.

use kms_alerts_core::{Alert, Severity};
use serde_json::{json, Value};

use super::{fitted, markdown, Options, Outgoing, Service, View};

fn card(v: &View, incident: Option<&str>) -> Value {
    let color = if v.resolved {
        "Good"
    } else {
        match v.severity {
            Severity::Critical => "Attention",
            Severity::Warning => "Warning",
            Severity::Info => "Accent",
        }
    };
    let facts: Vec<Value> = v
        .facts
        .iter()
        .map(|(l, val)| json!({"title": l, "value": val}))
        .collect();
    let mut body = vec![
        json!({"type": "TextBlock", "text": format!("{} {}", v.icon, v.title), "weight": "Bolder", "size": "Medium", "color": color, "wrap": true}),
        json!({"type": "TextBlock", "text": v.summary, "wrap": true}),
        json!({"type": "FactSet", "facts": facts}),
    ];
    if let Some(i) = incident {
        body.push(json!({"type": "TextBlock", "text": markdown(&format!("kms-alerts incident {i}"), 200), "isSubtle": true, "size": "Small", "wrap": true}));
    }
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": "1.4", "body": body,
        "fallbackText": format!("{} {}: {}", v.icon, v.title, v.summary),
    });
    if let Some(url) = &v.link {
        content["actions"] =
            json!([{"type": "Action.OpenUrl", "title": "Open in console", "url": url}]);
    }
    json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": content}]})
}

/// The service.
pub(crate) struct Teams;

impl Service for Teams {
    fn name(&self) -> &'static str {
        "teams"
    }
    /// A Workflows trigger URL's own parameters.
    fn url_params(&self) -> &'static [&'static str] {
        &["api-version", "sp", "sv", "sig"]
    }
    fn check_address(&self, address: &str) -> Result<(), String> {
        let host = url::Url::parse(address)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        if host == "webhook.office.com" || host.ends_with(".webhook.office.com") {
            return Err("Office 365 connector webhooks (webhook.office.com) are retired: create a Workflows webhook (\"When a Teams webhook request is received\") and use its URL".into());
        }
        Ok(())
    }
    fn request(&self, alert: &Alert, address: &str, o: &Options) -> Result<Outgoing, String> {
        let body = fitted(alert, o, markdown, 27_000, |v| {
            card(v, alert.incident_key.as_deref())
        });
        Ok(Outgoing {
            url: address.to_string(),
            body,
        })
    }
}
