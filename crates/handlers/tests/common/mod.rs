//! Shared by the handler integration tests: run a handler binary as a child process with a
//! chosen environment, and read the sample events.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Fake credentials that must never show up in logs or responses.
pub const FAKE_AWS_SECRET: &str = "FAKEawsSECRETkeyDoNotLog0123456789abcdef";
pub const FAKE_ALIBABA_SECRET: &str = "FAKEaliyunSECRETdoNotLog987654";
pub const FAKE_STS_TOKEN: &str = "FAKEstsTOKENdoNotLog-CAIS0000";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[allow(unused_imports)]
pub use kms_alerts_testkit::event;

/// Every sample of one cloud, by file name.
pub fn samples(cloud: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> =
        std::fs::read_dir(kms_alerts_testkit::events_dir().join(cloud))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
    out.sort();
    out
}

/// A handler binary running as a child process; its output goes to a log file.
pub struct Proc {
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(bin: &str, env: &[(&str, String)]) -> Proc {
        let log = std::env::temp_dir().join(format!(
            "kms-alerts-{}-{}.log",
            std::process::id(),
            rand_suffix()
        ));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Proc {
            child: cmd.spawn().unwrap_or_else(|e| panic!("{bin}: {e}")),
            log,
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Peak resident set size so far, from /proc (Linux), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Asserts that no fake secret leaked into `text`.
pub fn assert_no_secrets(text: &str) {
    for s in [FAKE_AWS_SECRET, FAKE_ALIBABA_SECRET, FAKE_STS_TOKEN] {
        assert!(!text.contains(s), "a credential leaked: {s}");
    }
}

/// A tokio runtime and SNS/SQS clients talking to `moto`, for setting up and reading back.
pub fn moto_clients(
    moto: &kms_alerts_testkit::moto::Moto,
) -> (
    tokio::runtime::Runtime,
    aws_sdk_sns::Client,
    aws_sdk_sqs::Client,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let conf = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(moto.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sns::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load(),
    );
    let (sns, sqs) = (
        aws_sdk_sns::Client::new(&conf),
        aws_sdk_sqs::Client::new(&conf),
    );
    (rt, sns, sqs)
}
