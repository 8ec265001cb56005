//! One failure type and one classifier. Every sink maps a service's answer (an HTTP status and
//! headers, an error code in a 200 body, an AWS or MNS error code) into [`Failure`] here, and
//! the one retry loop ([`crate::retry`]) decides from it alone.

use std::fmt;
use std::time::{Duration, SystemTime};

/// What kind of failure one attempt ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Worth trying again (5xx, network, timeout); the service may say when.
    Transient { retry_after: Option<Duration> },
    /// The service is throttling this caller (429, a throttling code); retried like a transient
    /// failure, after `retry_after` when given.
    RateLimited { retry_after: Option<Duration> },
    /// The address or credential was refused (or no longer exists): a stored secret is read
    /// again, once; otherwise it is final.
    Auth,
    /// Retrying cannot help (a malformed request, a missing topic).
    Permanent,
}

impl Failure {
    /// A transient failure without a hint.
    pub const TRANSIENT: Failure = Failure::Transient { retry_after: None };

    /// Whether another attempt may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Failure::Transient { .. } | Failure::RateLimited { .. }
        )
    }

    /// How long the service asked to wait.
    pub fn retry_after(self) -> Option<Duration> {
        match self {
            Failure::Transient { retry_after } | Failure::RateLimited { retry_after } => {
                retry_after
            }
            _ => None,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Failure::Transient { .. } => "transient",
            Failure::RateLimited { .. } => "rate limited",
            Failure::Auth => "address or credential refused",
            Failure::Permanent => "permanent",
        }
    }
}

/// One target failed to take one alert.
#[derive(Debug, Clone)]
pub struct SinkError {
    /// The target's label (masked name and identity suffix); never a credential. Sinks leave it
    /// empty, the notifier fills it in.
    pub target: String,
    pub failure: Failure,
    pub message: String,
}

impl SinkError {
    pub fn new(failure: Failure, message: impl Into<String>) -> SinkError {
        SinkError {
            target: String::new(),
            failure,
            message: message.into(),
        }
    }

    /// A transient failure (network, timeout, an unavailable dependency).
    pub fn transient(message: impl Into<String>) -> SinkError {
        SinkError::new(Failure::TRANSIENT, message)
    }

    /// A permanent failure.
    pub fn permanent(message: impl Into<String>) -> SinkError {
        SinkError::new(Failure::Permanent, message)
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        self.failure.is_retryable()
    }

    /// The same error, naming `target`.
    pub fn for_target(mut self, target: &str) -> SinkError {
        self.target = target.to_string();
        self
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} failure: {}",
            self.target,
            self.failure.word(),
            self.message
        )
    }
}

impl std::error::Error for SinkError {}

/// The class of an HTTP status; `None` for success (2xx). 408, 5xx are transient, 429 rate
/// limited (both with `retry_after`), 401/403/404/410 mean the address or credential is not
/// (or no longer) valid, anything else is permanent.
pub fn from_status(status: u16, retry_after: Option<Duration>) -> Option<Failure> {
    Some(match status {
        200..=299 => return None,
        429 => Failure::RateLimited { retry_after },
        408 | 500..=599 => Failure::Transient { retry_after },
        401 | 403 | 404 | 410 => Failure::Auth,
        _ => Failure::Permanent,
    })
}

/// Error codes of AWS and Alibaba Cloud (MNS) services that mean "slow down".
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "TooManyRequestsException",
    "KMSThrottling",
    "QpsLimitExceeded",
    "TooManyRequests",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
];

/// Error codes that mean "try again".
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceBusy",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Error codes that mean the credential was refused.
const AUTH_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "InvalidSecurityToken",
];

/// The class of a service error with a status (when the answer had one) and an error code
/// (AWS query and JSON errors, MNS XML errors): the code decides where it is known, else the
/// status. Without either (no answer at all) it is transient.
pub fn from_code(
    status: Option<u16>,
    code: Option<&str>,
    retry_after: Option<Duration>,
) -> Failure {
    if let Some(code) = code {
        if THROTTLING_CODES.contains(&code) {
            return Failure::RateLimited { retry_after };
        }
        if TRANSIENT_CODES.contains(&code) {
            return Failure::Transient { retry_after };
        }
        if AUTH_CODES.contains(&code) {
            return Failure::Auth;
        }
    }
    match status {
        Some(s) => from_status(s, retry_after).unwrap_or(Failure::Permanent),
        None => Failure::Transient { retry_after },
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP date. Huge values saturate; a date in the
/// past is no wait. Callers cap it by their own time budget.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let when = SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(u64::try_from(when.timestamp()).ok()?))?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The `Retry-After` of a response's headers; several or unreadable ones are ignored.
pub fn retry_after_header(headers: &http::HeaderMap) -> Option<Duration> {
    let mut values = headers.get_all(http::header::RETRY_AFTER).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    parse_retry_after(first.to_str().ok()?, SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes_classify_once() {
        assert_eq!(from_status(202, None), None);
        assert_eq!(
            from_status(429, Some(Duration::from_secs(2))),
            Some(Failure::RateLimited {
                retry_after: Some(Duration::from_secs(2))
            })
        );
        assert_eq!(from_status(503, None), Some(Failure::TRANSIENT));
        assert_eq!(from_status(404, None), Some(Failure::Auth));
        assert_eq!(from_status(400, None), Some(Failure::Permanent));
        assert_eq!(
            from_code(Some(400), Some("Throttling"), None),
            Failure::RateLimited { retry_after: None }
        );
        assert_eq!(
            from_code(Some(404), Some("TopicNotExist"), None),
            Failure::Auth
        );
        assert_eq!(
            from_code(Some(400), Some("NotFound"), None),
            Failure::Permanent
        );
        assert_eq!(from_code(None, None, None), Failure::TRANSIENT);
        assert_eq!(
            from_code(Some(403), Some("InvalidClientTokenId"), None),
            Failure::Auth
        );
        assert!(Failure::RateLimited { retry_after: None }.is_retryable());
        assert!(!Failure::Auth.is_retryable());
    }

    #[test]
    fn retry_after_as_seconds_or_date_and_saturating() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        let mut h = http::HeaderMap::new();
        h.append("retry-after", "1".parse().unwrap());
        assert_eq!(retry_after_header(&h), Some(Duration::from_secs(1)));
        h.append("retry-after", "9".parse().unwrap());
        assert_eq!(retry_after_header(&h), None, "duplicated: ignored");
    }
}
