//! Bounded retries with exponential backoff and jitter, for sinks whose client has none
//! (the AWS SDK clients retry by themselves with the same settings).

use std::future::Future;
use std::time::Duration;

use crate::error::SinkError;

/// How often and how patiently to retry a transient failure.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max_delay: Duration,
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

    /// Runs `op` until it succeeds, fails permanently, or attempts run out.
    pub async fn run<T, F, Fut>(&self, mut op: F) -> Result<T, SinkError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, SinkError>>,
    {
        let mut attempt = 1;
        loop {
            match op(attempt).await {
                Ok(v) => return Ok(v),
                Err(e) if e.transient && attempt < self.max_attempts => {
                    tracing::warn!(target_name = %e.target, attempt, error = %e.message, "transient publish failure, retrying");
                    tokio::time::sleep(self.delay(attempt)).await;
                    attempt += 1;
                }
                Err(mut e) => {
                    if e.transient {
                        e.message = format!("{} (gave up after {attempt} attempts)", e.message);
                    }
                    return Err(e);
                }
            }
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
            .run(|_| async {
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
            .run(|_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(fail(true))
            })
            .await;
        assert!(r.unwrap_err().message.contains("gave up after 3 attempts"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = policy()
            .run(|_| async {
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
        };
        assert!(
            p.delay(1) <= Duration::from_millis(100) && p.delay(1) >= Duration::from_millis(50)
        );
        assert!(
            p.delay(2) <= Duration::from_millis(200) && p.delay(2) >= Duration::from_millis(100)
        );
        assert!(p.delay(9) <= Duration::from_millis(300));
    }
}
