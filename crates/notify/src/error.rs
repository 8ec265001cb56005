//! Publish and configuration errors. Messages never carry credentials.

use std::fmt;

use crate::failure::SinkError;

/// The alert reached some targets but not all (or none): the invocation must fail.
#[derive(Debug, Clone)]
pub struct PublishError {
    pub dedup_key: String,
    pub failures: Vec<SinkError>,
    /// Targets that did take the alert (they will skip it on the platform's retry while the
    /// container is warm).
    pub sent: Vec<String>,
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "alert {} was not published to {} target(s): ",
            self.dedup_key,
            self.failures.len()
        )?;
        for (i, e) in self.failures.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PublishError {}

/// A target specification that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}
