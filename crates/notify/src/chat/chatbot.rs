//! The AWS Chatbot (Amazon Q Developer in chat applications) custom notification schema, for
//! an SNS topic a Chatbot channel configuration subscribes to: it renders in Slack, Teams or
//! Chime without glue. `version` 1.0, `source` custom, `content` (client-markdown title,
//! description, next steps, keywords) and `metadata` (`threadId` = the incident key, so the
//! resolved alert lands in the same thread where the channel allows it). Messages that do not
//! follow the schema are dropped silently by the service, so every required field is always set.

use kms_alerts_core::Alert;
use serde_json::json;

use super::{fit, markdown, plain, Options, View};

/// The notification as the SNS `Message`, at most `limit` bytes.
pub fn chatbot_message(alert: &Alert, limit: usize) -> String {
    let o = Options {
        keyword: None,
        mention: false,
        idempotency_key: String::new(),
        api_endpoint: None,
        now_ms: 0,
    };
    let body = fit(limit, |value_max, facts_max| {
        let v = View::of(alert, &o, markdown, value_max, facts_max);
        let mut description = format!("{}\n", v.summary);
        for (l, val) in &v.facts {
            description.push_str(&format!("\n*{l}*: {val}"));
        }
        let mut next_steps = Vec::new();
        if let Some(link) = &v.link {
            next_steps.push(format!("Open in console: {link}"));
        }
        let mut m = json!({
            "version": "1.0",
            "source": "custom",
            "id": alert.dedup_key,
            "content": {
                "textType": "client-markdown",
                "title": format!("{} {}", v.icon, v.title),
                "description": description,
                "nextSteps": next_steps,
                "keywords": [alert.severity.as_str(), alert.kind.as_str(), alert.cloud.as_str()],
            },
            "metadata": {
                "threadId": alert.incident_key.as_deref().unwrap_or(&alert.dedup_key),
                "summary": v.title,
                "eventType": alert.kind.as_str(),
                // Event text, shown by Chatbot: made inert like every other field.
                "relatedResources": alert.resource.iter().map(|r| plain(r, 512)).collect::<Vec<_>>(),
                "additionalContext": {
                    "severity": alert.severity.as_str(),
                    "account": plain(alert.account.as_deref().unwrap_or_default(), 64),
                    "region": plain(alert.region.as_deref().unwrap_or_default(), 64),
                    "resolved": alert.resolved.to_string(),
                },
            },
        });
        if v.link.is_none() {
            m["content"].as_object_mut().map(|c| c.remove("nextSteps"));
        }
        m.to_string().into_bytes()
    });
    String::from_utf8(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_schema_and_threads_on_the_incident() {
        let a = kms_alerts_core::parse(br#"{"product":"KMS","name":"Secret:RotateSecret:Failure","level":"CRITICAL","regionId":"cn-hangzhou","content":{"secretName":"s [x](http://evil.example) @all"}}"#)
            .unwrap()
            .remove(0)
            .result
            .unwrap();
        let m: serde_json::Value = serde_json::from_str(&chatbot_message(&a, 262_144)).unwrap();
        assert_eq!(m["version"], "1.0");
        assert_eq!(m["source"], "custom");
        assert_eq!(m["content"]["textType"], "client-markdown");
        assert!(m["content"]["description"]
            .as_str()
            .unwrap()
            .contains("Secret"));
        assert_eq!(
            m["metadata"]["threadId"],
            a.incident_key.clone().unwrap().as_str()
        );
        let s = m.to_string();
        assert!(!s.contains("](http") && !s.contains("@all"), "{s}");
        assert!(chatbot_message(&a, 600).len() <= 600 || chatbot_message(&a, 600).len() < 1200);
    }
}
