//! Bounded retries with exponential backoff and jitter, each attempt and the whole operation
//! under a timeout, for sinks whose client has none (the AWS SDK clients retry and time out by
//! themselves with the same settings).

use std::future::Future;
use std::time::Duration;

use crate::error::SinkError;

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

    /// Runs `op` until it succeeds, fails permanently, attempts run out, or the operation
    /// timeout passes. An attempt over the attempt timeout counts as a transient failure.
    pub async fn run<T, F, Fut>(&self, target: &str, mut op: F) -> Result<T, SinkError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, SinkError>>,
    {
        self.run_hinted(target, |attempt| {
            let fut = op(attempt);
            async move { fut.await.map_err(Hinted::from) }
        })
        .await
        .map_err(|h| h.error)
    }

    /// [`RetryPolicy::run`] for operations that know more about a failure: how long the
    /// service asked to wait (`Retry-After`, honoured while the operation timeout allows) and
    /// whether it was an authentication failure.
    pub async fn run_hinted<T, F, Fut>(&self, target: &str, mut op: F) -> Result<T, Hinted>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Hinted>>,
    {
        let mut last: Option<String> = None;
        let started = tokio::time::Instant::now();
        let attempts = async {
            let mut attempt = 1;
            loop {
                let result = match tokio::time::timeout(self.attempt_timeout, op(attempt)).await {
                    Ok(r) => r,
                    Err(_) => Err(Hinted::from(SinkError {
                        target: target.to_string(),
                        transient: true,
                        message: format!(
                            "no answer within {} ms",
                            self.attempt_timeout.as_millis()
                        ),
                    })),
                };
                match result {
                    Ok(v) => return Ok(v),
                    Err(h) if h.error.transient && attempt < self.max_attempts => {
                        let wait = match h.retry_after {
                            // The service said when: wait that long if the budget allows.
                            Some(after) if started.elapsed() + after < self.operation_timeout => {
                                after
                            }
                            Some(_) => {
                                let mut h = h;
                                h.error.message = format!(
                                    "{} (the service asked to wait longer than the publish timeout allows)",
                                    h.error.message
                                );
                                return Err(h);
                            }
                            None => self.delay(attempt),
                        };
                        tracing::warn!(target_name = %h.error.target, attempt, error = %h.error.message, wait_ms = wait.as_millis() as u64, "transient publish failure, retrying");
                        last = Some(h.error.message);
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                    Err(mut h) => {
                        if h.error.transient {
                            h.error.message =
                                format!("{} (gave up after {attempt} attempts)", h.error.message);
                        }
                        return Err(h);
                    }
                }
            }
        };
        let result = tokio::time::timeout(self.operation_timeout, attempts).await;
        result.unwrap_or_else(|_| {
            Err(Hinted::from(SinkError {
                target: target.to_string(),
                transient: true,
                message: format!(
                    "not delivered within {} ms{}",
                    self.operation_timeout.as_millis(),
                    last.map(|m| format!(" (last error: {m})"))
                        .unwrap_or_default()
                ),
            }))
        })
    }
}

/// A failure with what the service said about it.
#[derive(Debug, Clone)]
pub struct Hinted {
    pub error: SinkError,
    /// How long the service asked to wait before the next attempt.
    pub retry_after: Option<Duration>,
    /// The credential or address was refused.
    pub auth: bool,
}

impl From<SinkError> for Hinted {
    fn from(error: SinkError) -> Self {
        Hinted {
            error,
            retry_after: None,
            auth: false,
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

    fn fail(transient: bool) -> SinkError {
        SinkError {
            target: "t".into(),
            transient,
            message: "boom".into(),
        }
    }

    #[tokio::test]
    async fn retries_transient_then_succeeds() {
        let calls = AtomicU32::new(0);
        let r = policy()
            .run("t", |_| async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(fail(true))
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
                Err(fail(true))
            })
            .await;
        assert!(r.unwrap_err().message.contains("gave up after 3 attempts"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = policy()
            .run("t", |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(fail(false))
            })
            .await;
        assert!(!r.unwrap_err().transient);
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
    }

    #[tokio::test]
    async fn a_stalled_attempt_times_out_and_the_operation_is_bounded() {
        let calls = AtomicU32::new(0);
        let p = RetryPolicy {
            max_attempts: 10,
            attempt_timeout: Duration::from_millis(50),
            operation_timeout: Duration::from_millis(300),
            ..policy()
        };
        let started = std::time::Instant::now();
        let r: Result<(), _> = p
            .run("t", |_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Result<(), SinkError>>().await
            })
            .await;
        let e = r.unwrap_err();
        assert!(e.transient, "{e:?}");
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
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
