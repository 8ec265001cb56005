//! Markdown for chat (Slack, DingTalk, Teams, Mattermost, GitHub-flavoured clients).

use super::context_facts;
use super::escape::{markdown as md, VALUE_MAX};
use crate::alert::Alert;

/// The alert as Markdown: bold headline, summary, a bullet per fact, console link.
pub fn markdown(alert: &Alert) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str(&format!(
        "**[{}] {}**\n\n{}\n\n",
        alert.severity.upper(),
        md(&alert.title, 200),
        md(&alert.summary, 2 * VALUE_MAX)
    ));
    for f in &alert.facts {
        out.push_str(&format!(
            "- **{}:** {}\n",
            md(&f.label, 64),
            md(&f.value, VALUE_MAX)
        ));
    }
    for (label, value) in context_facts(alert) {
        out.push_str(&format!("- **{label}:** {}\n", md(value, VALUE_MAX)));
    }
    if let Some(url) = &alert.console_url {
        out.push_str(&format!("\n[Open in console]({url})\n"));
    }
    out
}
