//! Handler for CloudTrail log objects in S3 (an organization trail's bucket): S3 notifications
//! through SQS, SNS or EventBridge name the objects; every KMS record in them becomes an alert.
//! On AWS Lambda, or locally (one notification from stdin). Configuration and wiring only.

fn main() -> std::process::ExitCode {
    kms_alerts_runtime::trail_objects_main()
}
