//! The one retry loop: bounded attempts with exponential backoff and jitter, each attempt and
//! the whole operation under a timeout, `Retry-After` honoured while the budget allows, and one
//! more attempt after a refused credential when the sink could read it again. The AWS SDK's own
//! retries are switched off for sinks, so this is the only loop.

use std::future::Future;
use std::time::Duration;

use crate::failure::SinkError;

/// How often and how patiently to retry a transient failure.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max_delay: Duration,
    /// The longest one attempt may take (request sent, response read).
    pub attempt_timeout: Duration,
    /// The longest all attempts and the waits between them may take together.
    pub operation_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `n + 1` (n >= 1): base * 2^(n-1), capped, with up to 50% jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        let capped = exp.min(self.max_delay);
        let jitter = capped.mul_f64(jitter_fraction() * 0.5);
        capped.saturating_sub(jitter)
    }

    /// Runs `op` until it succeeds, fails without a retry, attempts run out, or the operation
    /// timeout passes. An attempt over the attempt timeout is a transient failure.
    pub async fn run<T, F, Fut>(&self, label: &str, op: F) -> Result<T, SinkError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, SinkError>>,
    {
        self.run_refreshing(label, op, || async { false }).await
    }

    /// [`RetryPolicy::run`], where a refused credential (`Failure::Auth`) calls `refresh`
    /// once; when it read something new, the operation is tried once more. `label` names the
    /// target in logs.
    pub async fn run_refreshing<T, F, Fut, R, RFut>(
        &self,
        label: &str,
        mut op: F,
        mut refresh: R,
    ) -> Result<T, SinkError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, SinkError>>,
        R: FnMut() -> RFut,
        RFut: Future<Output = bool>,
    {
        let mut last: Option<String> = None;
        let started = tokio::time::Instant::now();
        let attempts = async {
            let mut attempt = 1;
            let mut refreshed = false;
            loop {
                let result = match tokio::time::timeout(self.attempt_timeout, op(attempt)).await {
                    Ok(r) => r,
                    Err(_) => Err(SinkError::transient(format!(
                        "no answer within {} ms",
                        self.attempt_timeout.as_millis()
                    ))),
                };
                let e = match result {
                    Ok(v) => return Ok(v),
                    Err(e) => e,
                };
                if e.failure == crate::Failure::Auth && !refreshed && refresh().await {
                    tracing::warn!(target_name = %label, attempt, error = %e.message, "credential refused; reading the secret again");
                    refreshed = true;
                    continue;
                }
                if !e.is_retryable() || attempt >= self.max_attempts {
                    let mut e = e;
                    if e.is_retryable() {
                        e.message = format!("{} (gave up after {attempt} attempts)", e.message);
                    }
                    return Err(e);
                }
                let wait = match e.failure.retry_after() {
                    Some(after) => after,
                    None => self.delay(attempt),
                };
                // Saturating: a Retry-After of u64::MAX seconds is simply too long.
                if started.elapsed().saturating_add(wait) >= self.operation_timeout {
                    let mut e = e;
                    if e.failure.retry_after().is_some() {
                        e.message = format!(
                            "{} (the service asked to wait longer than the publish timeout allows)",
                            e.message
                        );
                    }
                    return Err(e);
                }
                tracing::warn!(target_name = %label, attempt, error = %e.message, wait_ms = wait.as_millis() as u64, "transient publish failure, retrying");
                last = Some(e.message);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        };
        match tokio::time::timeout(self.operation_timeout, attempts).await {
            Ok(r) => r,
            Err(_) => Err(SinkError::transient(format!(
                "not delivered within {} ms{}",
                self.operation_timeout.as_millis(),
                last.map(|m| format!(" (last error: {m})"))
                    .unwrap_or_default()
            ))),
        }
    }
}

fn jitter_fraction() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    // xorshift over a shared counter: cheap, good enough to spread retries.
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Failure;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            attempt_timeout: Duration::from_millis(200),
            operation_timeout: Duration::from_secs(2),
        }
    }

    #[tokio::test]
    async fn retries_transient_then_succeeds() {
        let calls = AtomicU32::new(0);
        let r = policy()
            .run("t", |_| async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(SinkError::transient("boom"))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_and_never_retries_permanent() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = policy()
            .run("t", |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(SinkError::transient("boom"))
            })
            .await;
        assert!(r.unwrap_err().message.contains("gave up after 3 attempts"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        for failure in [Failure::Permanent, Failure::Auth] {
            let calls = AtomicU32::new(0);
            let r: Result<(), _> = policy()
                .run("t", |_| async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(SinkError::new(failure, "no"))
                })
                .await;
            assert_eq!(r.unwrap_err().failure, failure);
            assert_eq!(calls.load(Ordering::SeqCst), 1);
        }
    }

    #[tokio::test]
    async fn a_refused_credential_is_read_again_once() {
        let calls = AtomicU32::new(0);
        let refreshes = AtomicU32::new(0);
        let r: Result<(), _> = policy()
            .run_refreshing(
                "t",
                |_| async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(SinkError::new(Failure::Auth, "invalid_auth"))
                },
                || async {
                    refreshes.fetch_add(1, Ordering::SeqCst);
                    true
                },
            )
            .await;
        assert_eq!(r.unwrap_err().failure, Failure::Auth);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_huge_retry_after_ends_the_operation_without_overflow() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = policy()
            .run("t", |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(SinkError::new(
                    Failure::RateLimited {
                        retry_after: Some(Duration::from_secs(u64::MAX)),
                    },
                    "429",
                ))
            })
            .await;
        let e = r.unwrap_err();
        assert!(e.message.contains("longer than the publish timeout"), "{e}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn delays_grow_and_are_capped() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            ..RetryPolicy::default()
        };
        assert!(
            p.delay(1) <= Duration::from_millis(100) && p.delay(1) >= Duration::from_millis(50)
        );
        assert!(
            p.delay(2) <= Duration::from_millis(200) && p.delay(2) >= Duration::from_millis(100)
        );
        assert!(p.delay(9) <= Duration::from_millis(300));
        assert!(p.delay(u32::MAX) <= Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_attempt_times_out_and_the_operation_is_bounded() {
        let calls = AtomicU32::new(0);
        let p = RetryPolicy {
            max_attempts: 10,
            attempt_timeout: Duration::from_millis(50),
            operation_timeout: Duration::from_millis(300),
            ..policy()
        };
        let r: Result<(), _> = p
            .run("t", |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Result<(), SinkError>>().await
            })
            .await;
        let e = r.unwrap_err();
        assert!(e.is_retryable(), "{e:?}");
        assert!(
            e.message.contains("not delivered within 300 ms")
                && e.message.contains("no answer within 50 ms"),
            "{}",
            e.message
        );
        assert!(
            calls.load(Ordering::SeqCst) >= 2,
            "stalled attempts are retried"
        );
    }
}
