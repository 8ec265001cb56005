//! kms-alerts notify: the sinks normalized alerts are delivered to, configured from
//! `KMS_ALERTS_TARGETS`.
//!
//! The pieces, in the order an alert meets them:
//! - [`target`]: the target list read into specs; each target's identity ([`TargetId`],
//!   position and keyed hash of its address) is separate from the masked name people see.
//! - [`registry`](crate::registry): one line per sink, from scheme to [`SinkConfig`] reader.
//! - [`Sink`]: one delivery attempt, classified into one [`Failure`] type.
//! - [`Notifier`]: severity and routing filters, in-process and shared deduplication keyed by
//!   identity, and the one retry loop ([`RetryPolicy`]).
//!
//! [`Notifier::publish`] either delivers an alert to every target it is meant for, or returns
//! an error: a caller never reports success for an alert that was not published. Every request
//! is bounded by the attempt and publish timeouts, and [`Notifier::publish_until`] by the
//! caller's deadline too.

mod address;
mod aws;
mod chat;
mod config;
mod dedup;
mod error;
mod failure;
mod https;
pub mod message;
mod mns;
mod notifier;
mod registry;
mod retry;
mod route;
mod secrets;
mod shared_dedup;
mod sink;
mod stdout;
pub mod target;

use aws_config::BehaviorVersion;

pub use address::{checked_url, is_loopback, mask};
pub use aws::{sns::SnsConfig, sns::SnsSink, sqs::SqsConfig, sqs::SqsSink};
pub use chat::chatbot_message;
pub use config::{env_number, Settings};
pub use dedup::DedupCache;
pub use error::{ConfigError, PublishError};
pub use failure::{parse_retry_after, Failure, SinkError};
pub use mns::{
    sign as mns_sign, AlibabaCredentials, CredentialSource, MnsConfig, MnsResource, MnsSink,
    MNS_VERSION,
};
pub use notifier::{Delivery, Notifier};
pub use retry::RetryPolicy;
pub use route::Route;
pub use shared_dedup::{ClaimOutcome, SharedDedup};
pub use sink::{Attempt, BoxFuture, BuildContext, Sink, SinkConfig, SinkOptions};
pub use stdout::StdoutSink;
pub use target::{parse_targets, Target, TargetId, TargetSpec};

/// The AWS SDK configuration loader every client here starts from: the standard environment
/// (credentials, region, endpoints), over an HTTPS client on rustls with ring.
pub fn aws_defaults() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(https)
}
