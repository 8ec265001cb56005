//! The embedded default sink: the rendered alert on standard output.

use std::io::Write;
use std::sync::Arc;

use kms_alerts_core::{render, Alert, Format};

use crate::error::ConfigError;
use crate::failure::SinkError;
use crate::sink::{Attempt, BoxFuture, BuildContext, Sink, SinkConfig, SinkOptions};

/// Writes each alert to stdout in one format (text for people, JSON for log pipelines).
#[derive(Debug, Clone)]
pub struct StdoutSink {
    pub format: Format,
}

/// `stdout[?format=text|markdown|json]`.
pub(crate) fn config(
    _scheme: &str,
    address: &str,
    options: &mut SinkOptions,
) -> Result<Box<dyn SinkConfig>, String> {
    if !address.is_empty() {
        return Err("stdout takes no address".into());
    }
    let format = match options.take("format") {
        Some(f) => f.parse::<Format>()?,
        None => Format::Text,
    };
    Ok(Box::new(StdoutSink { format }))
}

impl SinkConfig for StdoutSink {
    fn display(&self) -> String {
        "stdout".into()
    }

    fn identity(&self) -> String {
        "stdout".into()
    }

    fn build(&self, _ctx: &BuildContext) -> Result<Arc<dyn Sink>, ConfigError> {
        Ok(Arc::new(self.clone()))
    }
}

impl Sink for StdoutSink {
    fn send<'a>(
        &'a self,
        alert: &'a Alert,
        _: Attempt<'a>,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        let mut s = render(alert, self.format);
        if !s.ends_with('\n') {
            s.push('\n');
        }
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        let result = lock
            .write_all(s.as_bytes())
            .and_then(|_| lock.flush())
            .map_err(|e| SinkError::permanent(e.to_string()));
        Box::pin(async move { result })
    }
}
