//! AWS SNS and SQS, which share everything but the request: addresses checked here, clients
//! built per region from the SDK configuration whose own retries are off (the notifier's loop
//! is the only one), the message attributes and FIFO ids ([`crate::message`]), and SDK errors
//! classified by the one classifier ([`crate::failure::from_code`]).

pub mod sns;
pub mod sqs;

use aws_sdk_sns::config::http::HttpResponse;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error::ConfigError;
use crate::failure::{from_code, retry_after_header, SinkError};
use crate::sink::BuildContext;

/// An SDK error as a classified failure: a service error by its code and status (with any
/// `Retry-After`), no answer at all (timeout, connection) as transient.
pub(crate) fn sdk_failure<E>(err: SdkError<E, HttpResponse>) -> SinkError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = match &err {
        SdkError::ServiceError(se) => {
            let raw = se.raw();
            let mut headers = http::HeaderMap::new();
            for (k, v) in raw.headers() {
                if let (Ok(k), Ok(v)) = (
                    http::HeaderName::from_bytes(k.as_bytes()),
                    http::HeaderValue::from_str(v),
                ) {
                    headers.append(k, v);
                }
            }
            from_code(
                Some(raw.status().as_u16()),
                se.err().code(),
                retry_after_header(&headers),
            )
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            crate::Failure::TRANSIENT
        }
        _ => crate::Failure::Permanent,
    };
    let message = match err.code() {
        Some(code) => format!("{code}: {}", err.message().unwrap_or("no message")),
        None => DisplayErrorContext(&err).to_string(),
    };
    SinkError::new(failure, message)
}

/// The SDK configuration for sinks, or the start-up error of a target that needs it.
pub(crate) fn sdk_config<'a>(
    ctx: &'a BuildContext,
    name: &str,
) -> Result<&'a aws_config::SdkConfig, ConfigError> {
    ctx.aws_sinks
        .as_ref()
        .ok_or_else(|| ConfigError(format!("{name}: no AWS configuration")))
}

/// Whether `s` looks like an AWS region code (`us-east-1`, `cn-north-1`).
fn is_region(s: &str) -> bool {
    kms_alerts_core::fields::is_region_code(s)
}
