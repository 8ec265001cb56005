//! Delivery settings, from the environment: attempts, backoff, timeouts, deduplication. The
//! targets themselves are read by [`crate::target`].

use std::time::Duration;

use crate::error::ConfigError;
use crate::retry::RetryPolicy;

/// Delivery settings, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Attempts per publish, the first included (`KMS_ALERTS_MAX_ATTEMPTS`, default 3).
    pub max_attempts: u32,
    /// First retry delay, doubled each time (`KMS_ALERTS_RETRY_BASE_MS`, default 100).
    pub retry_base: Duration,
    /// How long a delivered alert is remembered to drop redeliveries (`KMS_ALERTS_DEDUP_TTL_SECONDS`, default 600; 0 disables).
    pub dedup_ttl: Duration,
    /// How many delivered alerts are remembered at most (`KMS_ALERTS_DEDUP_CAPACITY`, default 10000).
    pub dedup_capacity: usize,
    /// The longest one request to a target may take (`KMS_ALERTS_ATTEMPT_TIMEOUT_MS`, default 5000).
    pub attempt_timeout: Duration,
    /// The longest one publish to a target may take, retries included
    /// (`KMS_ALERTS_PUBLISH_TIMEOUT_MS`, default 15000).
    pub publish_timeout: Duration,
    /// The DynamoDB table every instance shares its deliveries in (`KMS_ALERTS_DEDUP_TABLE`);
    /// without it each instance remembers only its own.
    pub dedup_table: Option<String>,
    /// How long an unconfirmed claim in the shared table blocks other senders
    /// (`KMS_ALERTS_DEDUP_CLAIM_SECONDS`, default 30: longer than a publish may take).
    pub dedup_claim: Duration,
}

impl Settings {
    /// The retry policy these settings give.
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts,
            base: self.retry_base,
            max_delay: Duration::from_secs(5),
            attempt_timeout: self.attempt_timeout,
            operation_timeout: self.publish_timeout,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_attempts: 3,
            retry_base: Duration::from_millis(100),
            dedup_ttl: Duration::from_secs(600),
            dedup_capacity: 10_000,
            attempt_timeout: Duration::from_secs(5),
            publish_timeout: Duration::from_secs(15),
            dedup_table: None,
            dedup_claim: Duration::from_secs(30),
        }
    }
}

impl Settings {
    /// Reads the settings; a malformed value is an error naming the variable.
    pub fn from_env() -> Result<Settings, ConfigError> {
        let d = Settings::default();
        let num = env_number;
        let dedup_table = std::env::var("KMS_ALERTS_DEDUP_TABLE")
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let settings = Settings {
            max_attempts: num("KMS_ALERTS_MAX_ATTEMPTS", d.max_attempts as u64, 1, 10)? as u32,
            retry_base: Duration::from_millis(num("KMS_ALERTS_RETRY_BASE_MS", 100, 1, 60_000)?),
            dedup_ttl: Duration::from_secs(num("KMS_ALERTS_DEDUP_TTL_SECONDS", 600, 0, 86_400)?),
            dedup_capacity: num("KMS_ALERTS_DEDUP_CAPACITY", 10_000, 1, 10_000_000)? as usize,
            attempt_timeout: Duration::from_millis(num(
                "KMS_ALERTS_ATTEMPT_TIMEOUT_MS",
                5_000,
                100,
                60_000,
            )?),
            publish_timeout: Duration::from_millis(num(
                "KMS_ALERTS_PUBLISH_TIMEOUT_MS",
                15_000,
                100,
                900_000,
            )?),
            dedup_table,
            dedup_claim: Duration::from_secs(num("KMS_ALERTS_DEDUP_CLAIM_SECONDS", 30, 1, 3600)?),
        };
        settings.check()?;
        Ok(settings)
    }

    /// Settings that contradict each other: a claim in the shared table that can lapse while
    /// its holder is still publishing would let a second instance send the same alert.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.dedup_table.is_some() && self.dedup_claim <= self.publish_timeout {
            return Err(ConfigError(format!(
                "KMS_ALERTS_DEDUP_CLAIM_SECONDS={} must outlast KMS_ALERTS_PUBLISH_TIMEOUT_MS={} \
                 (a claim that lapses during a publish lets a second instance send the same alert)",
                self.dedup_claim.as_secs(),
                self.publish_timeout.as_millis()
            )));
        }
        Ok(())
    }
}

/// The whole number in the environment variable `name`, `default` when it is unset or empty;
/// outside `min..=max` or not a number is an error naming the variable.
pub fn env_number(name: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ConfigError(format!(
                    "{name}={v:?}: expected a whole number from {min} to {max}"
                ))
            }),
        _ => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_retry_policy() {
        let s = Settings::default();
        let r = s.retry();
        assert_eq!(r.max_attempts, 3);
        assert_eq!(r.operation_timeout, s.publish_timeout);
        assert!(env_number("KMS_ALERTS_TEST_UNSET_VARIABLE", 7, 1, 9).unwrap() == 7);
        assert!(s.check().is_ok());
        let short_claim = Settings {
            dedup_table: Some("t".into()),
            dedup_claim: Duration::from_secs(10),
            publish_timeout: Duration::from_secs(15),
            ..Settings::default()
        };
        let e = short_claim.check().unwrap_err().to_string();
        assert!(e.contains("must outlast"), "{e}");
    }
}
