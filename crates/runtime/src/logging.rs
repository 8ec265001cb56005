//! Structured logs: JSON lines on Lambda when `AWS_LAMBDA_LOG_FORMAT=JSON` (and on FC or
//! anywhere with `KMS_ALERTS_LOG_FORMAT=json`), plain text otherwise; to stderr locally so
//! stdout stays the alerts. Credentials are never logged: no event or header carrying them
//! is ever passed to a log call.
//!
//! JSON lines carry what Lambda's log filtering reads: an RFC 3339 `timestamp`, `level`
//! (`INFO`, `WARN`, `ERROR`), `message` and `requestId`; a line without them is taken as INFO
//! and dropped when the function's application log level is WARN or ERROR. The level
//! (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, default info) applies to this project's crates;
//! dependencies log warnings and errors only.

use tracing_subscriber::EnvFilter;

use crate::Platform;

pub fn init(platform: Platform) {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"))
        || std::env::var("KMS_ALERTS_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string())
        .to_ascii_lowercase();
    let filter = EnvFilter::try_new(directives(&level))
        .unwrap_or_else(|_| EnvFilter::new(directives("info")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false);
    let result = match (json, platform) {
        (true, Platform::Local) => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .try_init(),
        (true, _) => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        (false, Platform::Local) => builder.with_writer(std::io::stderr).try_init(),
        (false, _) => builder.without_time().try_init(),
    };
    let _ = result;
}

/// The filter for a level: the level for this project's crates, at most `warn` for the rest.
/// A value that already holds directives (`kms_alerts_notify=debug,...`) is used as it is.
fn directives(level: &str) -> String {
    if level.contains('=') || level.contains(',') {
        return level.to_string();
    }
    let level = match level {
        "warning" => "warn",
        "fatal" | "critical" => "error",
        l => l,
    };
    let others = if matches!(level, "error" | "off") {
        level
    } else {
        "warn"
    };
    let ours = ["core", "notify", "runtime", "handlers"]
        .map(|c| format!("kms_alerts_{c}={level}"))
        .join(",");
    format!("{others},{ours},kms_key_lifecycle={level},kms_secret_lifecycle={level},kms_instance_health={level},kms_api_activity={level}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn level_applies_to_this_projects_crates() {
        let d = super::directives("WARN".to_ascii_lowercase().as_str());
        assert!(d.starts_with("warn,kms_alerts_core=warn"), "{d}");
        assert!(super::directives("debug").starts_with("warn,kms_alerts_core=debug"));
        assert!(super::directives("error").starts_with("error,"));
        assert_eq!(super::directives("hyper=debug"), "hyper=debug");
        tracing_subscriber::EnvFilter::try_new(super::directives("info")).unwrap();
    }
}
