//! AWS SQS queues (standard and FIFO): `sqs:https://sqs.<region>.amazonaws.com/<account>/<queue>`.

use std::sync::Arc;

use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sdk_sqs::Client;
use kms_alerts_core::Alert;

use crate::error::ConfigError;
use crate::failure::SinkError;
use crate::message::sqs_body;
use crate::sink::{Attempt, BoxFuture, BuildContext, Sink, SinkConfig, SinkOptions};

/// One queue, as configured.
#[derive(Debug, Clone)]
pub struct SqsConfig {
    pub queue_url: String,
    /// From the host (`sqs.<region>.amazonaws.com`); other hosts use the default region.
    pub region: Option<String>,
}

pub(crate) fn config(
    _scheme: &str,
    address: &str,
    _options: &mut SinkOptions,
) -> Result<Box<dyn SinkConfig>, String> {
    let expected = "expected sqs:https://<host>/<account>/<queue>";
    let url = crate::address::checked_url(address).map_err(|e| format!("{expected}: {e}"))?;
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if segments.len() != 2 || url.query().is_some() {
        return Err(expected.into());
    }
    let host = url.host_str().unwrap_or("");
    let mut labels = host.split('.');
    let region = match (labels.next(), labels.next()) {
        (Some("sqs"), Some(r)) if super::is_region(r) => Some(r.to_string()),
        _ => None,
    };
    Ok(Box::new(SqsConfig {
        queue_url: address.trim_end_matches('/').to_string(),
        region,
    }))
}

impl SinkConfig for SqsConfig {
    fn display(&self) -> String {
        format!("sqs:{}", self.queue_url)
    }

    fn identity(&self) -> String {
        self.display()
    }

    fn needs_aws(&self) -> bool {
        true
    }

    fn build(&self, ctx: &BuildContext) -> Result<Arc<dyn Sink>, ConfigError> {
        let conf = super::sdk_config(ctx, &self.display(), self.region.as_deref())?;
        Ok(Arc::new(SqsSink::new(Client::new(&conf), self.clone())))
    }
}

/// Sends the JSON alert to one queue, with the same attributes as SNS; FIFO queues get group
/// and deduplication ids.
#[derive(Debug, Clone)]
pub struct SqsSink {
    client: Client,
    config: SqsConfig,
}

impl SqsSink {
    pub fn new(client: Client, config: SqsConfig) -> Self {
        SqsSink { client, config }
    }

    async fn send_message(&self, alert: &Alert) -> Result<(), SinkError> {
        let queue_url = &self.config.queue_url;
        let req = self
            .client
            .send_message()
            .queue_url(queue_url)
            .message_body(sqs_body(alert));
        let req = super::shared_fields!(req, alert, queue_url, MessageAttributeValue);
        req.send().await.map(|_| ()).map_err(super::sdk_failure)
    }
}

impl Sink for SqsSink {
    fn send<'a>(
        &'a self,
        alert: &'a Alert,
        _: Attempt<'a>,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.send_message(alert))
    }
}
