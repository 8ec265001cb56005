//! Handler for KMS API activity (CloudTrail records of KMS calls) events, on AWS Lambda,
//! Alibaba Cloud Function Compute, or locally (stdin). Configuration and wiring only.

fn main() -> std::process::ExitCode {
    kms_alerts_runtime::main(kms_alerts_core::Family::ApiActivity)
}
