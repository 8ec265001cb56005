//! Where a target's secret (webhook URL, signing secret, routing key) comes from: inline (for
//! local use), an environment variable, AWS Secrets Manager or SSM Parameter Store. Stored
//! secrets are read once per process, cached, and read again after an authentication failure
//! (the secret was rotated). Secrets never appear in names, logs or errors.

use std::fmt;

use tokio::sync::Mutex;

use crate::error::ConfigError;
use crate::failure::SinkError;

/// A reference to a secret value.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// The value itself (`slack:https://hooks.slack.com/...`).
    Inline(String),
    /// `env:NAME`: read at start-up.
    Env(String),
    /// `secretsmanager:<name or ARN>`: the secret's string value.
    SecretsManager(String),
    /// `ssm:<parameter name>`: decrypted.
    Ssm(String),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl SecretRef {
    /// Reads a target address: `env:`, `secretsmanager:` and `ssm:` are references, anything
    /// else is the value itself.
    pub fn parse(address: &str) -> SecretRef {
        let reference = |p: &str| address.strip_prefix(p).map(str::to_string);
        if let Some(name) = reference("env:") {
            SecretRef::Env(name)
        } else if let Some(id) = reference("secretsmanager:") {
            SecretRef::SecretsManager(id)
        } else if let Some(name) = reference("ssm:") {
            SecretRef::Ssm(name)
        } else {
            SecretRef::Inline(address.to_string())
        }
    }

    /// How logs and names show it: references by name (not secret), inline values masked.
    pub fn describe(&self) -> String {
        match self {
            SecretRef::Inline(v) => mask(v),
            SecretRef::Env(n) => format!("env:{n}"),
            SecretRef::SecretsManager(id) => format!("secretsmanager:{id}"),
            SecretRef::Ssm(n) => format!("ssm:{n}"),
        }
    }

    /// Whether the value is read from a store at the first send.
    pub fn is_stored(&self) -> bool {
        matches!(self, SecretRef::SecretsManager(_) | SecretRef::Ssm(_))
    }
}

pub use crate::address::mask;

/// A secret with its cached value.
pub struct Secret {
    reference: SecretRef,
    cached: Mutex<Option<String>>,
    aws: Option<aws_config::SdkConfig>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.reference.describe())
    }
}

impl Secret {
    /// Resolves inline and environment values now (a missing variable is a start-up error);
    /// stored ones are read at the first use with `aws`.
    pub fn new(
        reference: SecretRef,
        aws: Option<aws_config::SdkConfig>,
    ) -> Result<Secret, ConfigError> {
        let now = match &reference {
            SecretRef::Inline(v) => Some(v.clone()),
            SecretRef::Env(name) => Some(
                std::env::var(name)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| {
                        ConfigError(format!(
                            "KMS_ALERTS_TARGETS: env:{name}: the environment variable is not set"
                        ))
                    })?
                    .trim()
                    .to_string(),
            ),
            _ => None,
        };
        if reference.is_stored() && aws.is_none() {
            return Err(ConfigError(format!(
                "{}: no AWS configuration to read it with",
                reference.describe()
            )));
        }
        Ok(Secret {
            reference,
            cached: Mutex::new(now),
            aws,
        })
    }

    /// The value if it is already known (inline, environment, or read before).
    pub fn cached_now(&self) -> Option<String> {
        self.cached.try_lock().ok().and_then(|c| c.clone())
    }

    /// The value, from the cache or the store.
    pub async fn get(&self) -> Result<String, SinkError> {
        let mut cached = self.cached.lock().await;
        if let Some(v) = cached.as_ref() {
            return Ok(v.clone());
        }
        let value = self.fetch().await?;
        *cached = Some(value.clone());
        Ok(value)
    }

    /// Forgets a stored value, so the next use reads it again (after an authentication
    /// failure: the secret may have been rotated). Returns whether anything was forgotten.
    pub async fn invalidate(&self) -> bool {
        if !self.reference.is_stored() {
            return false;
        }
        self.cached.lock().await.take().is_some()
    }

    async fn fetch(&self) -> Result<String, SinkError> {
        let err = |m: String| SinkError::transient(m);
        let conf = self
            .aws
            .as_ref()
            .ok_or_else(|| err("no AWS configuration".into()))?;
        let value = match &self.reference {
            SecretRef::SecretsManager(id) => aws_sdk_secretsmanager::Client::new(conf)
                .get_secret_value()
                .secret_id(id)
                .send()
                .await
                .map_err(|e| {
                    err(format!(
                        "cannot read secretsmanager:{id}: {}",
                        aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                    ))
                })?
                .secret_string()
                .map(str::to_string),
            SecretRef::Ssm(name) => aws_sdk_ssm::Client::new(conf)
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| {
                    err(format!(
                        "cannot read ssm:{name}: {}",
                        aws_sdk_ssm::error::DisplayErrorContext(&e)
                    ))
                })?
                .parameter()
                .and_then(|p| p.value())
                .map(str::to_string),
            _ => None,
        };
        value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                err(format!(
                    "{} holds no string value",
                    self.reference.describe()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_masks() {
        assert_eq!(
            SecretRef::parse("env:SLACK_URL"),
            SecretRef::Env("SLACK_URL".into())
        );
        assert_eq!(
            SecretRef::parse("secretsmanager:arn:aws:secretsmanager:us-east-1:1:secret:x"),
            SecretRef::SecretsManager("arn:aws:secretsmanager:us-east-1:1:secret:x".into())
        );
        assert_eq!(
            SecretRef::parse("ssm:/kms-alerts/slack"),
            SecretRef::Ssm("/kms-alerts/slack".into())
        );
        let inline = SecretRef::parse("https://hooks.slack.com/services/T0/B0/secretpart");
        assert_eq!(inline.describe(), "https://hooks.slack.com/****");
        assert!(!format!("{inline:?}").contains("secretpart"));
        assert_eq!(mask("0123456789abcdef0123456789abcdef"), "****cdef");
        assert_eq!(mask("short"), "****");
    }
}
