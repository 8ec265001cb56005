//! AWS SQS queues (standard and FIFO) via `aws-sdk-sqs`.

use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sdk_sqs::Client;
use kms_alerts_core::Alert;

use crate::aws_error::sink_error;
use crate::error::SinkError;
use crate::message::{fifo_dedup_id, fifo_group_id, sqs_body, typed_attributes};

/// Sends the JSON alert to one queue, with the same attributes as SNS; FIFO queues get group
/// and deduplication ids.
#[derive(Debug, Clone)]
pub struct SqsSink {
    client: Client,
    queue_url: String,
    name: String,
}

impl SqsSink {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        let queue_url = queue_url.into();
        SqsSink {
            client,
            name: format!("sqs:{queue_url}"),
            queue_url,
        }
    }

    pub async fn send(&self, alert: &Alert) -> Result<(), SinkError> {
        let mut req = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(sqs_body(alert));
        let attrs = typed_attributes(alert, &self.name, |v| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
        })?;
        for (name, attr) in attrs {
            req = req.message_attributes(name, attr);
        }
        if self.queue_url.ends_with(".fifo") {
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
