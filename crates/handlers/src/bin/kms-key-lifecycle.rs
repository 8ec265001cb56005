//! Handler for KMS key lifecycle (rotation, material expiry, scheduled deletion, deletion) events, on AWS Lambda,
//! Alibaba Cloud Function Compute, or locally (stdin). Configuration and wiring only.

fn main() -> std::process::ExitCode {
    kms_alerts_runtime::main(kms_alerts_core::Family::KeyLifecycle)
}
