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

/// The SDK configuration for a sink in `region` (from its ARN or URL; else the default
/// region), or the start-up error of a target that needs one.
pub(crate) fn sdk_config(
    ctx: &BuildContext,
    name: &str,
    region: Option<&str>,
) -> Result<aws_config::SdkConfig, ConfigError> {
    let conf = ctx
        .aws_sinks
        .as_ref()
        .ok_or_else(|| ConfigError(format!("{name}: no AWS configuration")))?;
    Ok(match region {
        Some(r) => conf
            .to_builder()
            .region(aws_config::Region::new(r.to_string()))
            .build(),
        None => conf.clone(),
    })
}

/// Adds what SNS and SQS requests share: the message attributes and, for a FIFO topic or
/// queue, the group and deduplication ids. The two SDKs have their own (same-shaped) types,
/// hence a macro.
macro_rules! shared_fields {
    ($req:expr, $alert:expr, $address:expr, $attribute:ty) => {{
        let mut req = $req;
        let attrs = $crate::message::typed_attributes($alert, |v| {
            <$attribute>::builder()
                .data_type("String")
                .string_value(v)
                .build()
        })?;
        for (name, attr) in attrs {
            req = req.message_attributes(name, attr);
        }
        if $address.ends_with(".fifo") {
            req = req
                .message_group_id($crate::message::fifo_group_id($alert))
                .message_deduplication_id($crate::message::fifo_dedup_id($alert));
        }
        req
    }};
}
pub(crate) use shared_fields;

/// Whether `s` looks like an AWS region code (`us-east-1`, `cn-north-1`).
fn is_region(s: &str) -> bool {
    kms_alerts_core::is_region_code(s)
}
