//! kms-alerts runtime: runs one handler (one event family) on AWS Lambda, on Alibaba Cloud
//! Function Compute, or locally, chosen at start-up from the environment.
//!
//! - `AWS_LAMBDA_RUNTIME_API` set: AWS Lambda, through `lambda_runtime`.
//! - `FC_FUNCTION_NAME`, `FC_CUSTOM_LISTEN_PORT` or `FC_SERVER_PORT` set: Function Compute
//!   custom runtime, an HTTP server on `0.0.0.0:$FC_CUSTOM_LISTEN_PORT`.
//! - otherwise: local, one event (or batch) from stdin, published to the configured targets.
//!
//! `KMS_ALERTS_PLATFORM=lambda|fc|local` overrides the detection.
//!
//! [`alarm_callback_main`] is the CloudMonitor alarm callback function: an HTTP server on
//! Function Compute (or locally), never on Lambda. [`trail_objects_main`] reads CloudTrail log
//! objects from S3: on Lambda (or locally), never on Function Compute.

pub mod alarm_callback;
pub mod fc;
pub mod handler;
mod http_server;
pub mod lambda;
pub mod local;
pub mod logging;
pub mod trail_objects;

use std::process::ExitCode;

use kms_alerts_core::Family;

pub use handler::{AlertOutcome, Handler, Outcome};

/// Where the process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Lambda,
    FunctionCompute,
    Local,
}

impl Platform {
    /// Detects the platform from the environment.
    pub fn detect() -> Platform {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        match std::env::var("KMS_ALERTS_PLATFORM").ok().as_deref() {
            Some("lambda") => return Platform::Lambda,
            Some("fc") => return Platform::FunctionCompute,
            Some("local") => return Platform::Local,
            _ => {}
        }
        if set("AWS_LAMBDA_RUNTIME_API") {
            Platform::Lambda
        } else if set("FC_FUNCTION_NAME") || set("FC_CUSTOM_LISTEN_PORT") || set("FC_SERVER_PORT") {
            Platform::FunctionCompute
        } else {
            Platform::Local
        }
    }
}

/// The whole `main` of a handler binary: logging, configuration, then the platform's loop.
pub fn main(family: Family) -> ExitCode {
    let platform = Platform::detect();
    start(platform, family, move |handler| async move {
        match platform {
            Platform::Lambda => lambda::run(handler).await,
            Platform::FunctionCompute => fc::run(handler).await,
            Platform::Local => local::run(handler).await,
        }
    })
}

/// The whole `main` of `kms-alarm-callback`: the alarm callback endpoint on Function Compute
/// (or locally, on `FC_CUSTOM_LISTEN_PORT`, else 9000). `KMS_ALERTS_ALARM_TOKEN` is required.
pub fn alarm_callback_main() -> ExitCode {
    let platform = Platform::detect();
    start(
        platform,
        Family::InstanceHealth,
        move |handler| async move {
            if platform == Platform::Lambda {
                return Err("kms-alarm-callback serves CloudMonitor's HTTP callbacks on Function Compute; it has no Lambda mode".into());
            }
            let token = alarm_callback::AlarmToken::from_env()?;
            alarm_callback::run(handler, token).await
        },
    )
}

/// The whole `main` of `kms-trail-objects`: S3 notifications of CloudTrail log objects on
/// Lambda, or one notification from stdin locally.
pub fn trail_objects_main() -> ExitCode {
    let platform = Platform::detect();
    start(platform, Family::ApiActivity, move |handler| async move {
        let reader = trail_objects::TrailReader::from_env(handler).await?;
        match platform {
            Platform::Lambda => trail_objects::run_lambda(reader).await,
            Platform::Local => trail_objects::run_local(reader).await,
            Platform::FunctionCompute => Err("kms-trail-objects reads CloudTrail log objects from Amazon S3; it has no Function Compute mode".into()),
        }
    })
}

/// Logging, the async runtime, the targets check and the handler, then `serve`. Exit 2 for
/// configuration errors (a [`kms_alerts_notify::ConfigError`] from `serve` too), 1 when
/// serving stops with another error.
fn start<F, Fut>(platform: Platform, family: Family, serve: F) -> ExitCode
where
    F: FnOnce(Handler) -> Fut,
    Fut: std::future::Future<Output = Result<(), lambda_runtime::Error>>,
{
    if platform == Platform::Lambda {
        lambda::fill_missing_env();
    }
    logging::init(platform);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kms-alerts: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // Deployed, alerts must go somewhere a person sees them: printing to the function's log and
    // reporting success would lose them silently. stdout is only the local default.
    if platform != Platform::Local
        && std::env::var("KMS_ALERTS_TARGETS").map_or(true, |t| t.trim().is_empty())
    {
        tracing::error!(
            ?platform,
            "KMS_ALERTS_TARGETS is missing or empty: set it to the SNS/SQS/MNS targets alerts go to"
        );
        return ExitCode::from(2);
    }
    rt.block_on(async move {
        let handler = match Handler::from_env(family).await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "invalid configuration");
                return ExitCode::from(2);
            }
        };
        tracing::info!(family = family.as_str(), ?platform, targets = ?handler.notifier().target_names(), "handler ready");
        match serve(handler).await {
            Ok(()) => ExitCode::SUCCESS,
            // A setting the platform's loop reads before it serves.
            Err(e) if e.is::<kms_alerts_notify::ConfigError>() => {
                tracing::error!(error = %e, "invalid configuration");
                ExitCode::from(2)
            }
            Err(e) => {
                tracing::error!(error = %e, "handler stopped");
                ExitCode::from(1)
            }
        }
    })
}
