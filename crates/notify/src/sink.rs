//! The seam every destination plugs into: a [`SinkConfig`] read from one target's address and
//! options at start-up, built into a [`Sink`] that makes one delivery attempt at a time. Which
//! scheme names which sink is one table, [`crate::registry`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use kms_alerts_core::Alert;

use crate::error::ConfigError;
use crate::failure::SinkError;
use crate::mns::CredentialSource;
use crate::retry::RetryPolicy;
use crate::target::TargetId;

/// A boxed future, for object-safe async methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one attempt knows besides the alert.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The target's identity: idempotency keys derive from it and the alert's dedup key, so a
    /// retry in any process repeats them and two targets never share them.
    pub target: &'a TargetId,
}

impl Attempt<'_> {
    /// 32 hex digits from the target identity and `dedup_key`: the same for every retry of one
    /// alert to one target, in every process.
    pub fn idempotency_key(&self, dedup_key: &str) -> String {
        self.target.scoped(dedup_key)
    }
}

/// One destination, built: delivers one alert per call, once (the notifier retries).
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// One attempt to deliver `alert`. Failures are classified ([`crate::Failure`]).
    fn send<'a>(
        &'a self,
        alert: &'a Alert,
        attempt: Attempt<'a>,
    ) -> BoxFuture<'a, Result<(), SinkError>>;

    /// After a refused credential: read a stored one again. `true` when there was something to
    /// read again, so one more attempt is worth it.
    fn refresh(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
}

/// What building a sink may use: the AWS configuration (loaded only when some target or the
/// dedup table needs it), the Alibaba Cloud credentials and the retry settings.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// For SDK sinks: the SDK's own retries off (the notifier's loop is the only one).
    pub aws_sinks: Option<aws_config::SdkConfig>,
    /// For reading stored secrets: the SDK's standard retries.
    pub aws: Option<aws_config::SdkConfig>,
    pub alibaba: CredentialSource,
    pub retry: RetryPolicy,
}

/// One target's sink-specific configuration, checked when the target list is read.
pub trait SinkConfig: Send + Sync + std::fmt::Debug {
    /// The name people see: the scheme and address, secrets masked (`slack:https://hooks.slack.com/****`).
    fn display(&self) -> String;
    /// What tells this destination apart from every other: the full address, or a secret
    /// reference's name. Never shown; hashed into the target identity.
    fn identity(&self) -> String;
    /// Whether building needs the AWS configuration (SDK sinks, stored secrets).
    fn needs_aws(&self) -> bool {
        false
    }
    /// Builds the sink.
    fn build(&self, ctx: &BuildContext) -> Result<Arc<dyn Sink>, ConfigError>;
}

/// A target's options past the ones every target takes: each sink takes what it knows, and
/// whatever is left is an unknown option, a start-up error naming it.
#[derive(Debug)]
pub struct SinkOptions {
    pairs: Vec<(String, String, bool)>,
}

impl SinkOptions {
    pub(crate) fn new(pairs: Vec<(String, String)>) -> SinkOptions {
        SinkOptions {
            pairs: pairs.into_iter().map(|(k, v)| (k, v, false)).collect(),
        }
    }

    /// The value of `key` (the last one when repeated), taken.
    pub fn take(&mut self, key: &str) -> Option<String> {
        let mut out = None;
        for (k, v, used) in &mut self.pairs {
            if k == key {
                *used = true;
                out = Some(v.clone());
            }
        }
        out
    }

    /// Every pair whose key is in `keys`, in the order given, taken: a webhook URL's own
    /// parameters (`access_token`, `sig`, ...), put back into its URL.
    pub fn take_raw(&mut self, keys: &[&str]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, v, used) in &mut self.pairs {
            if keys.contains(&k.as_str()) {
                *used = true;
                out.push((k.clone(), v.clone()));
            }
        }
        out
    }

    /// The first option no one took.
    pub fn unknown(&self) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(_, _, used)| !used)
            .map(|(k, _, _)| k.as_str())
    }
}
