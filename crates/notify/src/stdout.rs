//! The embedded default sink: the rendered alert on standard output.

use std::io::Write;

use kms_alerts_core::{render, Alert, Format};

use crate::error::SinkError;

/// Writes each alert to stdout in one format (text for people, JSON for log pipelines).
#[derive(Debug, Clone)]
pub struct StdoutSink {
    pub format: Format,
}

impl StdoutSink {
    pub fn send(&self, alert: &Alert) -> Result<(), SinkError> {
        let mut s = render(alert, self.format);
        if !s.ends_with('\n') {
            s.push('\n');
        }
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        lock.write_all(s.as_bytes())
            .and_then(|_| lock.flush())
            .map_err(|e| SinkError {
                target: "stdout".into(),
                transient: false,
                message: e.to_string(),
            })
    }
}
