//! AWS SNS topics (standard and FIFO) via `aws-sdk-sns`.

use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use kms_alerts_core::render::subject;
use kms_alerts_core::Alert;

use crate::aws_error::sink_error;
use crate::error::SinkError;
use crate::message::{
    chatbot_sns_message, fifo_dedup_id, fifo_group_id, sns_message, typed_attributes,
};

/// Publishes to one topic with `MessageStructure=json`: email gets text, SQS/Lambda/HTTP(S)
/// subscribers get the JSON alert. FIFO topics get the resource as group id and the dedup key as deduplication id.
#[derive(Debug, Clone)]
pub struct SnsSink {
    client: Client,
    topic_arn: String,
    name: String,
    chatbot: bool,
}

impl SnsSink {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        let topic_arn = topic_arn.into();
        SnsSink {
            client,
            name: format!("sns:{topic_arn}"),
            topic_arn,
            chatbot: false,
        }
    }

    /// Publishes in the AWS Chatbot custom notification schema instead (`format=chatbot`).
    pub fn chatbot(mut self, on: bool) -> Self {
        self.chatbot = on;
        self
    }

    pub async fn send(&self, alert: &Alert) -> Result<(), SinkError> {
        let mut req = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject(alert));
        req = if self.chatbot {
            req.message(chatbot_sns_message(alert))
        } else {
            req.message_structure("json").message(sns_message(alert))
        };
        let attrs = typed_attributes(alert, &self.name, |v| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
        })?;
        for (name, attr) in attrs {
            req = req.message_attributes(name, attr);
        }
        if self.topic_arn.ends_with(".fifo") {
            req = req
                .message_group_id(fifo_group_id(alert))
                .message_deduplication_id(fifo_dedup_id(alert));
        }
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| sink_error(&self.name, e))
    }
}
