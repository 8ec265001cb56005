//! Which scheme names which sink: one line per sink. A new sink is its own module and one line
//! here.

use crate::sink::{SinkConfig, SinkOptions};
use crate::{aws, chat, mns, stdout};

/// Reads one target's address and its own options into its configuration.
pub(crate) type Parse = fn(
    scheme: &str,
    address: &str,
    options: &mut SinkOptions,
) -> Result<Box<dyn SinkConfig>, String>;

/// One sink's entry.
pub(crate) struct Scheme {
    /// The schemes that name it (the first is its name).
    pub names: &'static [&'static str],
    /// The address is a secret (a webhook URL, a routing key): errors show it masked.
    pub secret_address: bool,
    pub parse: Parse,
}

/// Every sink.
#[rustfmt::skip]
pub(crate) static SCHEMES: &[Scheme] = &[
    Scheme { names: &["stdout"], secret_address: false, parse: stdout::config },
    Scheme { names: &["sns"], secret_address: false, parse: aws::sns::config },
    Scheme { names: &["sqs"], secret_address: false, parse: aws::sqs::config },
    Scheme { names: &["mns"], secret_address: false, parse: mns::config },
    Scheme { names: &["slack"], secret_address: true, parse: |s, a, o| chat::config(&chat::slack::Slack, s, a, o) },
    Scheme { names: &["teams"], secret_address: true, parse: |s, a, o| chat::config(&chat::teams::Teams, s, a, o) },
    Scheme { names: &["dingtalk"], secret_address: true, parse: |s, a, o| chat::config(&chat::dingtalk::DingTalk, s, a, o) },
    Scheme { names: &["lark", "feishu"], secret_address: true, parse: |s, a, o| chat::config(&chat::lark::Lark, s, a, o) },
    Scheme { names: &["wecom"], secret_address: true, parse: |s, a, o| chat::config(&chat::wecom::WeCom, s, a, o) },
    Scheme { names: &["pagerduty"], secret_address: true, parse: |s, a, o| chat::config(&chat::pagerduty::PagerDuty, s, a, o) },
    Scheme { names: &["googlechat"], secret_address: true, parse: |s, a, o| chat::config(&chat::googlechat::GoogleChat, s, a, o) },
];

/// The entry for `scheme`.
pub(crate) fn lookup(scheme: &str) -> Option<&'static Scheme> {
    SCHEMES.iter().find(|s| s.names.contains(&scheme))
}

/// The error for a scheme no entry names, listing the ones there are.
pub(crate) fn unknown_scheme() -> String {
    let names: Vec<&str> = SCHEMES
        .iter()
        .flat_map(|s| s.names.iter().copied())
        .collect();
    format!("unknown target: expected one of {}", names.join(", "))
}
