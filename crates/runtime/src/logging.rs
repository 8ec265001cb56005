//! Structured logs: JSON lines on Lambda when `AWS_LAMBDA_LOG_FORMAT=JSON` (and on FC or
//! anywhere with `KMS_ALERTS_LOG_FORMAT=json`), plain text otherwise; to stderr locally so
//! stdout stays the alerts. Credentials are never logged: no event or header carrying them
//! is ever passed to a log call.

use tracing_subscriber::EnvFilter;

use crate::Platform;

pub fn init(platform: Platform) {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"))
        || std::env::var("KMS_ALERTS_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string())
        .to_ascii_lowercase();
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
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
            .without_time()
            .try_init(),
        (false, Platform::Local) => builder.with_writer(std::io::stderr).try_init(),
        (false, _) => builder.without_time().try_init(),
    };
    let _ = result;
}
