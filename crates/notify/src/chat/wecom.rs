//! WeCom (WeChat Work) group robots: Markdown (content at most 4,096 bytes: CJK counts three),
//! coloured by severity, with the console link; when the target mentions everyone, a text
//! message (content at most 2,048 bytes) with `mentioned_list: ["@all"]`, since Markdown
//! messages cannot mention. Success is `errcode` 0; 45009 is the rate limit (retry); 93000
//! (invalid key) is permanent.

use kms_alerts_core::{Alert, Severity};
use serde_json::json;

use super::{markdown, plain, Options, Outgoing, Service, Verdict, View};

const MARKDOWN_MAX: usize = 4096;
const TEXT_MAX: usize = 2048;

fn markdown_content(v: &View, incident: Option<&str>) -> String {
    let color = if v.resolved {
        "info"
    } else {
        match v.severity {
            Severity::Critical | Severity::Warning => "warning",
            Severity::Info => "comment",
        }
    };
    let mut t = format!(
        "## <font color=\"{color}\">{} {}</font>\n{}\n",
        v.icon, v.title, v.summary
    );
    for (l, val) in &v.facts {
        t.push_str(&format!("> {l}: <font color=\"comment\">{val}</font>\n"));
    }
    if let Some(i) = incident {
        t.push_str(&format!("kms-alerts incident {i}\n"));
    }
    if let Some(link) = &v.link {
        t.push_str(&format!("[Open in console]({link})\n"));
    }
    t
}

fn text_content(v: &View) -> String {
    let mut t = format!("{} {}\n{}\n", v.icon, v.title, v.summary);
    for (l, val) in &v.facts {
        t.push_str(&format!("{l}: {val}\n"));
    }
    if let Some(link) = &v.link {
        t.push_str(&format!("Open in console: {link}\n"));
    }
    t
}

/// The service.
pub(crate) struct WeCom;

impl Service for WeCom {
    fn name(&self) -> &'static str {
        "wecom"
    }
    fn url_params(&self) -> &'static [&'static str] {
        &["key"]
    }
    fn can_mention(&self) -> bool {
        true
    }
    fn check_address(&self, address: &str) -> Result<(), String> {
        super::has_query_param(address, "key")
            .then_some(())
            .ok_or_else(|| "expected the robot URL with its key".into())
    }
    fn request(&self, alert: &Alert, address: &str, o: &Options) -> Result<Outgoing, String> {
        // The limits are on the content, in bytes.
        let content = super::fit(
            if o.mention { TEXT_MAX } else { MARKDOWN_MAX },
            |value_max, facts_max| {
                if o.mention {
                    text_content(&View::of(alert, o, plain, value_max, facts_max)).into_bytes()
                } else {
                    markdown_content(
                        &View::of(alert, o, markdown, value_max, facts_max),
                        alert.incident_key.as_deref(),
                    )
                    .into_bytes()
                }
            },
        );
        let mut content = String::from_utf8(content).map_err(|e| e.to_string())?;
        kms_alerts_core::text::cut_bytes(
            &mut content,
            if o.mention { TEXT_MAX } else { MARKDOWN_MAX },
        );
        let body = if o.mention {
            json!({"msgtype": "text", "text": {"content": content, "mentioned_list": ["@all"]}})
        } else {
            json!({"msgtype": "markdown", "markdown": {"content": content}})
        };
        Ok(Outgoing {
            url: address.to_string(),
            body: body.to_string().into_bytes(),
        })
    }
    fn verdict(&self, status: u16, body: &[u8]) -> Verdict {
        super::by_code(status, body, &["errcode"], &[45009], &[93000], "WeCom")
    }
}
