//! Handler for KMS instance health (QPS near quota, cross-region key sync, ClientKey expiry, metric alarms) events, on AWS Lambda,
//! Alibaba Cloud Function Compute, or locally (stdin). Configuration and wiring only.

fn main() -> std::process::ExitCode {
    kms_alerts_runtime::main(kms_alerts_core::Family::InstanceHealth)
}
