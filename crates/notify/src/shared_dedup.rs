//! Deduplication shared by every instance, in a DynamoDB table (`KMS_ALERTS_DEDUP_TABLE`):
//! the first instance to claim a (target, alert) pair sends it, the others do not.
//!
//! The table has a string partition key `pk` and a TTL attribute `expires_at` (epoch seconds).
//! An item is either a claim (`status` `sending`, expiring after the claim time, so a sender
//! that crashed between claim and send does not block the retry for long) or a delivery
//! (`status` `sent`, expiring after the dedup TTL). DynamoDB deletes expired items late (up
//! to days), so every condition and every read compares `expires_at` with the clock itself.
//! Claiming is one conditional `PutItem` (`attribute_not_exists(pk) OR expires_at < :now`), as
//! AWS Lambda Powertools' idempotency utility does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::aws::sdk_failure;
use crate::failure::SinkError;
use crate::target::TargetId;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

const SENDING: &str = "sending";
const SENT: &str = "sent";

/// The shared table and how long its entries last.
#[derive(Debug, Clone)]
pub struct SharedDedup {
    client: Client,
    table: String,
    /// How long a delivery is remembered.
    ttl: Duration,
    /// How long a claim blocks other senders when it is never confirmed.
    claim: Duration,
}

/// What a claim attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This instance holds the claim (the token) and must send, then confirm or release.
    Claimed(String),
    /// Another instance already delivered the alert to this target.
    Delivered,
    /// Another instance claimed it and has not finished; its claim lapses at this epoch second.
    InProgress(u64),
}

impl SharedDedup {
    pub fn new(client: Client, table: impl Into<String>, ttl: Duration, claim: Duration) -> Self {
        SharedDedup {
            client,
            table: table.into(),
            ttl,
            claim,
        }
    }

    /// The item key of a target and an alert: the dedup key, readable, and a hash of the
    /// target's identity (addresses of webhook targets are secrets; two targets on one host
    /// have different identities).
    pub fn item_key(target: &TargetId, dedup_key: &str) -> String {
        format!("{dedup_key}#{}", &target.scoped("")[..16])
    }

    /// Tries to claim `key` for this instance.
    pub async fn claim(&self, key: &str) -> Result<ClaimOutcome, SinkError> {
        let now = epoch_seconds();
        let token = new_token();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key.to_string()))
            .item("status", AttributeValue::S(SENDING.into()))
            .item("token", AttributeValue::S(token.clone()))
            .item("expires_at", number(now + self.claim.as_secs().max(1)))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", number(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(ClaimOutcome::Claimed(token)),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(held)) => match held.item() {
                    Some(item) => Ok(state_of(item, now)),
                    // Older servers do not return the item: read it.
                    None => self.state(key).await,
                },
                _ => Err(self.error("claim", sdk_failure(e))),
            },
        }
    }

    /// Reads where `key` stands now (consistent read); a missing or lapsed item is free to
    /// claim, reported as `InProgress(0)`.
    pub async fn state(&self, key: &str) -> Result<ClaimOutcome, SinkError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("read", sdk_failure(e)))?;
        Ok(match out.item() {
            Some(item) => state_of(item, epoch_seconds()),
            None => ClaimOutcome::InProgress(0),
        })
    }

    /// Records that this instance delivered `key`: remembered for the dedup TTL.
    pub async fn confirm(&self, key: &str, token: &str) -> Result<(), SinkError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key.to_string()))
            .item("status", AttributeValue::S(SENT.into()))
            .item("token", AttributeValue::S(token.to_string()))
            .item(
                "expires_at",
                number(epoch_seconds() + self.ttl.as_secs().max(1)),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.error("confirm", sdk_failure(e)))
    }

    /// Gives up this instance's claim on `key` (the send failed), so a retry need not wait
    /// for it to lapse. Only the holder's own claim is removed.
    pub async fn release(&self, key: &str, token: &str) -> Result<(), SinkError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_string()))
            .condition_expression("#t = :token AND #s = :sending")
            .expression_attribute_names("#t", "token")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":token", AttributeValue::S(token.to_string()))
            .expression_attribute_values(":sending", AttributeValue::S(SENDING.into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Not ours any more (it lapsed and another instance claimed it): nothing to release.
            Err(SdkError::ServiceError(se)) if se.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(self.error("release", sdk_failure(e))),
        }
    }

    fn error(&self, what: &str, e: SinkError) -> SinkError {
        // The alert is unsent and the table may answer later: retry, never drop.
        SinkError::transient(format!(
            "dedup table {} ({what}) unavailable, not sent: {}",
            self.table, e.message
        ))
    }
}

fn state_of(item: &std::collections::HashMap<String, AttributeValue>, now: u64) -> ClaimOutcome {
    let expires_at = item
        .get("expires_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<f64>().ok())
        .map_or(0, |n| n.max(0.0) as u64);
    if expires_at < now {
        // Lapsed (DynamoDB has not deleted it yet): free to claim.
        return ClaimOutcome::InProgress(0);
    }
    match item
        .get("status")
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
    {
        Some(SENT) => ClaimOutcome::Delivered,
        _ => ClaimOutcome::InProgress(expires_at),
    }
}

fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// Seconds since the Unix epoch.
pub fn epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A token unique to this claim: process, time and a counter.
fn new_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn item(status: &str, expires_at: u64) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("status".to_string(), AttributeValue::S(status.into())),
            ("expires_at".to_string(), number(expires_at)),
        ])
    }

    #[test]
    fn reads_compare_the_expiry_themselves() {
        assert_eq!(state_of(&item(SENT, 200), 100), ClaimOutcome::Delivered);
        assert_eq!(
            state_of(&item(SENDING, 200), 100),
            ClaimOutcome::InProgress(200)
        );
        // Expired but not yet deleted by DynamoDB: free.
        assert_eq!(state_of(&item(SENT, 99), 100), ClaimOutcome::InProgress(0));
        assert_eq!(
            state_of(&item(SENDING, 99), 100),
            ClaimOutcome::InProgress(0)
        );
    }

    #[test]
    fn item_keys_hide_the_target_and_keep_the_alert() {
        let slack_a = TargetId::new(0, "slack:https://hooks.slack.com/services/T/B/secret");
        let slack_b = TargetId::new(1, "slack:https://hooks.slack.com/services/T/B/other");
        let k = SharedDedup::item_key(&slack_a, "aws:key_deleted:abc");
        assert!(k.starts_with("aws:key_deleted:abc#"));
        assert!(!k.contains("secret"));
        assert_eq!(k.len(), "aws:key_deleted:abc#".len() + 16);
        assert_ne!(k, SharedDedup::item_key(&slack_b, "aws:key_deleted:abc"));
        assert_ne!(new_token(), new_token());
    }
}
