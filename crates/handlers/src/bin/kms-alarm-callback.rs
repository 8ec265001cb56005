//! CloudMonitor threshold-alarm callbacks over Function Compute's HTTP trigger: the only
//! function an internet caller can reach, so it takes only `POST /alarm/<token>` with the
//! callback's form. Configuration and wiring only; see `kms_alerts_runtime::alarm_callback`.

fn main() -> std::process::ExitCode {
    kms_alerts_runtime::alarm_callback_main()
}
