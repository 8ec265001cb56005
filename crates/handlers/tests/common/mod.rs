//! Shared by the handler integration tests: run a handler binary as a child process with a
//! chosen environment, and read the sample events.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use aws_sdk_sqs::types::QueueAttributeName;
use kms_alerts_testkit::moto::Moto;
use serde_json::Value;

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

/// The handler binary to run for `built` (a `CARGO_BIN_EXE_*` path): the same name under
/// `KMS_ALERTS_TEST_BIN_DIR` when that is set (tests/run.sh sets it to the release build, so
/// the deployed binaries are the ones tested for memory bounds), else `built` itself.
pub fn binary(built: &str) -> String {
    match std::env::var_os("KMS_ALERTS_TEST_BIN_DIR") {
        Some(dir) => PathBuf::from(dir)
            .join(PathBuf::from(built).file_name().unwrap())
            .to_string_lossy()
            .into_owned(),
        None => built.to_string(),
    }
}

/// Whether the binaries under test are the release build (`KMS_ALERTS_TEST_BIN_DIR`): hostile
/// inputs are then full size, as an attacker would send them.
pub fn full_size() -> bool {
    std::env::var_os("KMS_ALERTS_TEST_BIN_DIR").is_some()
}

/// Runs `bin` locally (one event on stdin) with only `env` set besides `PATH`: whether it
/// succeeded, and its stdout and stderr together.
pub fn run_local(bin: &str, env: &[(&str, &str)], stdin: &[u8]) -> (bool, String) {
    use std::io::Write;
    let bin = &binary(bin);
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{bin}: {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A handler binary running as a child process; its output goes to a log file.
pub struct Proc {
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(bin: &str, env: &[(&str, String)]) -> Proc {
        let bin = &binary(bin);
        Proc::spawn_cmd(Command::new(bin), bin, env)
    }

    /// `bin` started through `sh` with at most `nofile` open files (`ulimit -n`).
    pub fn spawn_with_nofile(bin: &str, nofile: u32, env: &[(&str, String)]) -> Proc {
        let bin = &binary(bin);
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &format!("ulimit -n {nofile} && exec \"$0\""), bin]);
        Proc::spawn_cmd(cmd, bin, env)
    }

    fn spawn_cmd(mut cmd: Command, bin: &str, env: &[(&str, String)]) -> Proc {
        let log = std::env::temp_dir().join(format!(
            "kms-alerts-{}-{}.log",
            std::process::id(),
            rand_suffix()
        ));
        let file = std::fs::File::create(&log).unwrap();
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

    /// Waits for the process to exit (it must, within `limit`): its exit code.
    pub fn exit_code(&mut self, limit: std::time::Duration) -> Option<i32> {
        let end = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                std::time::Instant::now() < end,
                "still running: {}",
                self.logs()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The JSON log lines whose `message` starts with `message`.
    pub fn json_lines(&self, message: &str) -> Vec<Value> {
        self.logs()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| {
                v["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(message))
            })
            .collect()
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

/// A tokio runtime and AWS clients talking to `moto`, for setting up and reading back.
pub fn moto_clients(moto: &Moto) -> Aws {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let conf = rt.block_on(
        kms_alerts_notify::aws_defaults()
            .endpoint_url(moto.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sns::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load(),
    );
    let s3 = aws_sdk_s3::config::Builder::from(&conf)
        .force_path_style(true)
        .build();
    Aws {
        sns: aws_sdk_sns::Client::new(&conf),
        sqs: aws_sdk_sqs::Client::new(&conf),
        s3: aws_sdk_s3::Client::from_conf(s3),
        dynamodb: aws_sdk_dynamodb::Client::new(&conf),
        rt,
    }
}

/// SNS, SQS, S3 and DynamoDB clients on moto, with a runtime to drive them from a test.
pub struct Aws {
    pub rt: tokio::runtime::Runtime,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Aws {
    pub fn new(moto: &Moto) -> Aws {
        moto_clients(moto)
    }

    /// Creates a queue (FIFO when the name ends in `.fifo`): its URL and ARN.
    pub fn queue(&self, name: &str) -> (String, String) {
        let fifo = name.ends_with(".fifo");
        self.rt.block_on(async {
            let mut req = self.sqs.create_queue().queue_name(name);
            if fifo {
                req = req.attributes(QueueAttributeName::FifoQueue, "true");
            }
            let url = req.send().await.unwrap().queue_url.unwrap();
            let attrs = self
                .sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .unwrap();
            let arn = attrs.attributes.unwrap()[&QueueAttributeName::QueueArn].clone();
            (url, arn)
        })
    }

    /// Creates a topic and a queue subscribed to it: the topic ARN and the queue URL.
    pub fn topic_to_queue(&self, topic: &str, queue: &str) -> (String, String) {
        let (url, queue_arn) = self.queue(queue);
        self.rt.block_on(async {
            let mut req = self.sns.create_topic().name(topic);
            if topic.ends_with(".fifo") {
                req = req.attributes("FifoTopic", "true");
            }
            let arn = req.send().await.unwrap().topic_arn.unwrap();
            self.sns
                .subscribe()
                .topic_arn(&arn)
                .protocol("sqs")
                .endpoint(queue_arn)
                .send()
                .await
                .unwrap();
            (arn, url)
        })
    }

    /// Creates a dedup table as `KMS_ALERTS_DEDUP_TABLE` expects one: string partition key
    /// `pk`, on demand, TTL on `expires_at`.
    pub fn dedup_table(&self, name: &str) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            TimeToLiveSpecification,
        };
        self.rt.block_on(async {
            self.dynamodb
                .create_table()
                .table_name(name)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("pk")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("pk")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
            self.dynamodb
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name("expires_at")
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        });
    }

    /// Drains a queue: message bodies with their attributes.
    pub fn drain(&self, url: &str) -> Vec<(String, Value)> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            loop {
                let r = self
                    .sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .message_attribute_names("All")
                    .wait_time_seconds(0)
                    .send()
                    .await
                    .unwrap();
                let msgs = r.messages.unwrap_or_default();
                if msgs.is_empty() {
                    return out;
                }
                for m in msgs {
                    let attrs: serde_json::Map<String, Value> = m
                        .message_attributes
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, Value::String(v.string_value.unwrap_or_default())))
                        .collect();
                    out.push((m.body.unwrap(), Value::Object(attrs)));
                    self.sqs
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(m.receipt_handle.unwrap())
                        .send()
                        .await
                        .unwrap();
                }
            }
        })
    }
}
