//! The S3 notification reader of `kms-trail-objects`: which log objects a notification (an
//! SQS or SNS delivery, an EventBridge event, CloudTrail's own notification) names.

use kms_alerts_core::sources::trail_objects::not_a_log;
use kms_alerts_core::{object_notices, object_notices_in};
use serde_json::Value;

/// Only log objects are named (by either spelling of their key), each once per delivery; raw bytes and decoded JSON name the
/// same objects; a `Records` list of deliveries gives one notice per delivery.
pub fn s3_notices(data: &[u8]) {
    let Ok(notices) = object_notices(data, "notification") else {
        return;
    };
    assert!(!notices.is_empty(), "a notification with no delivery");
    for notice in &notices {
        let Ok(objects) = &notice.objects else {
            continue;
        };
        for (n, object) in objects.iter().enumerate() {
            assert_eq!(not_a_log(&object.key), None, "not a log object: {object:?}");
            assert!(
                !objects[..n].contains(object),
                "named twice in one delivery: {object:?}"
            );
            if let Some(alternative) = &object.alternative_key {
                assert_ne!(alternative, &object.key, "the same key twice: {object:?}");
                assert_eq!(
                    not_a_log(alternative),
                    None,
                    "the other spelling is not a log object: {object:?}"
                );
            }
        }
    }
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        assert_eq!(
            object_notices_in(&value, "notification"),
            notices,
            "bytes and decoded JSON name different objects"
        );
        if let Some(records) = value.get("Records").and_then(Value::as_array) {
            if records
                .iter()
                .any(|r| r.get("body").is_some() || r.get("Sns").is_some())
            {
                assert_eq!(notices.len(), records.len(), "one notice per delivery");
            }
        }
    }
}
