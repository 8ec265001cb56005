//! Handler for KMS secret lifecycle (scheduled deletion, deletion, rotation failed/succeeded) events, on AWS Lambda,
//! Alibaba Cloud Function Compute, or locally (stdin). Configuration and wiring only.

fn main() -> std::process::ExitCode {
    kms_alerts_runtime::main(kms_alerts_core::Family::SecretLifecycle)
}
