//! Cold-start benchmark of a handler binary, as the platforms see it:
//! - binary size (the Lambda `bootstrap`; release builds are stripped),
//! - process start to ready: until it first polls the Lambda runtime API for an event, and
//!   until the Function Compute HTTP server accepts connections,
//! - peak RSS after handling a 10-record SQS batch.
//!
//! `cargo bench -p kms-alerts-handlers --bench cold_start` (release profile). Targets are
//! stdout (sent to /dev/null) so only the handler itself is measured.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test: this bench's own build, or `BENCH_BIN` (e.g. the deployed
/// `target/release/kms-key-lifecycle`, built with the size-optimized release profile).
fn bin() -> String {
    std::env::var("BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_kms-key-lifecycle").to_string())
}
const RUNS: usize = 30;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p90(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() * 9 / 10]
}

/// Time from spawn until the first `GET .../invocation/next` reaches a fake runtime API.
fn lambda_ready() -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let start = Instant::now();
    let mut child = Command::new(bin())
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("KMS_ALERTS_TARGETS", "stdout?format=json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (stream, _) = listener.accept().unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    let elapsed = start.elapsed();
    assert!(line.contains("/runtime/invocation/next"), "{line}");
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

/// Time from spawn until the FC server accepts a connection.
fn fc_ready() -> Duration {
    let port = kms_alerts_testkit::free_port();
    let start = Instant::now();
    let mut child = Command::new(bin())
        .env_clear()
        .env("FC_FUNCTION_NAME", "bench")
        .env("FC_CUSTOM_LISTEN_PORT", port.to_string())
        .env("KMS_ALERTS_TARGETS", "stdout?format=json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
        assert!(start.elapsed() < Duration::from_secs(10));
    }
    let elapsed = start.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

/// Peak RSS (KiB) of the process after one 10-record SQS batch through the runtime API.
fn peak_rss_after_batch() -> u64 {
    let api = kms_alerts_testkit::lambda_api::RuntimeApi::start();
    let mut child = Command::new(bin())
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.host())
        .env("KMS_ALERTS_TARGETS", "stdout?format=json")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let root = kms_alerts_testkit::events_dir();
    let bodies: Vec<String> = [
        "aws/kms-cmk-deletion.json",
        "aws/cloudtrail-schedule-key-deletion.json",
        "alibaba/secret-rotation-failure.json",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(root.join(f)).unwrap())
    .collect();
    let records: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            let mut v: serde_json::Value = serde_json::from_str(&bodies[i % bodies.len()]).unwrap();
            v["id"] = format!("bench-{i}").into();
            serde_json::json!({"messageId": format!("m-{i}"), "eventSource": "aws:sqs", "body": v.to_string()})
        })
        .collect();
    let batch = serde_json::json!({"Records": records}).to_string();
    let resp = api.invoke(batch.as_bytes()).unwrap();
    assert_eq!(resp, "{\"batchItemFailures\":[]}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    hwm
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not: keep that run quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 2 } else { RUNS };
    let bin = bin();
    let size = std::fs::metadata(&bin).unwrap().len();
    let lambda: Vec<Duration> = (0..runs).map(|_| lambda_ready()).collect();
    let fc: Vec<Duration> = (0..runs).map(|_| fc_ready()).collect();
    let rss = peak_rss_after_batch();
    let lm = median(lambda.clone());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "handler binary: {bin}");
    let _ = writeln!(
        out,
        "size:                         {:.1} MB ({size} bytes)",
        size as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "start -> polling runtime API: median {:.1} ms, p90 {:.1} ms ({runs} runs)",
        lm.as_secs_f64() * 1e3,
        p90(lambda).as_secs_f64() * 1e3
    );
    let _ = writeln!(
        out,
        "start -> FC server accepting: median {:.1} ms, p90 {:.1} ms ({runs} runs)",
        median(fc.clone()).as_secs_f64() * 1e3,
        p90(fc).as_secs_f64() * 1e3
    );
    let _ = writeln!(
        out,
        "peak RSS after a 10-record SQS batch: {:.1} MB",
        rss as f64 / 1024.0
    );
    let _ = writeln!(
        out,
        "published Lambda init durations for comparison: Rust ~15 ms, Python ~80 ms, Node.js ~125 ms; this handler's local start is {:.2}x the Rust figure",
        lm.as_secs_f64() * 1e3 / 15.0
    );
}
