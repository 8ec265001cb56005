//! AWS SNS topics (standard and FIFO): `sns:arn:<partition>:sns:<region>:<account>:<topic>`,
//! optionally `?format=chatbot`.

use std::sync::Arc;

use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use kms_alerts_core::render::subject;
use kms_alerts_core::Alert;

use crate::error::ConfigError;
use crate::failure::SinkError;
use crate::message::{chatbot_sns_message, sns_message};
use crate::sink::{Attempt, BoxFuture, BuildContext, Sink, SinkConfig, SinkOptions};

/// One topic, as configured.
#[derive(Debug, Clone)]
pub struct SnsConfig {
    pub topic_arn: String,
    /// `format=chatbot`: the AWS Chatbot (Amazon Q Developer in chat applications) custom
    /// notification schema.
    pub chatbot: bool,
}

pub(crate) fn config(
    _scheme: &str,
    address: &str,
    options: &mut SinkOptions,
) -> Result<Box<dyn SinkConfig>, String> {
    let parts: Vec<&str> = address.split(':').collect();
    if parts.len() != 6
        || parts[0] != "arn"
        || parts[2] != "sns"
        || parts[5].is_empty()
        || !(parts[3].is_empty() || super::is_region(parts[3]))
    {
        return Err("expected sns:arn:<partition>:sns:<region>:<account>:<topic>".into());
    }
    let chatbot = match options.take("format").as_deref() {
        None => false,
        Some("chatbot") => true,
        Some(other) => {
            return Err(format!(
                "format {other:?}: an SNS target takes only format=chatbot"
            ))
        }
    };
    Ok(Box::new(SnsConfig {
        topic_arn: address.to_string(),
        chatbot,
    }))
}

impl SinkConfig for SnsConfig {
    fn display(&self) -> String {
        format!("sns:{}", self.topic_arn)
    }

    fn identity(&self) -> String {
        self.display()
    }

    fn needs_aws(&self) -> bool {
        true
    }

    fn build(&self, ctx: &BuildContext) -> Result<Arc<dyn Sink>, ConfigError> {
        let region = self.topic_arn.split(':').nth(3).filter(|r| !r.is_empty());
        let conf = super::sdk_config(ctx, &self.display(), region)?;
        Ok(Arc::new(SnsSink::new(Client::new(&conf), self.clone())))
    }
}

/// Publishes to one topic with `MessageStructure=json`: email gets text, SQS/Lambda/HTTP(S)
/// subscribers get the JSON alert. FIFO topics get the resource as group id and the dedup key
/// as deduplication id.
#[derive(Debug, Clone)]
pub struct SnsSink {
    client: Client,
    config: SnsConfig,
}

impl SnsSink {
    pub fn new(client: Client, config: SnsConfig) -> Self {
        SnsSink { client, config }
    }

    async fn publish(&self, alert: &Alert) -> Result<(), SinkError> {
        let topic_arn = &self.config.topic_arn;
        let mut req = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .subject(subject(alert));
        req = if self.config.chatbot {
            req.message(chatbot_sns_message(alert))
        } else {
            req.message_structure("json").message(sns_message(alert))
        };
        let req = super::shared_fields!(req, alert, topic_arn, MessageAttributeValue);
        req.send().await.map(|_| ()).map_err(super::sdk_failure)
    }
}

impl Sink for SnsSink {
    fn send<'a>(
        &'a self,
        alert: &'a Alert,
        _: Attempt<'a>,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.publish(alert))
    }
}
