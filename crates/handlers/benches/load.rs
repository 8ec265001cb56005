//! Load test on loopback, bounded in count and time: 10,000 distinct events through one
//! Function Compute handler process over HTTP (8 concurrent clients), and 10,000 through the
//! Lambda runtime-API path (one at a time, as Lambda does), each publishing to a loopback MNS
//! that verifies signatures. Reports throughput, p50/p99 handler latency, peak RSS, and checks
//! that every event produced exactly one message. The Lambda path runs a second time with the
//! shared dedup table (`KMS_ALERTS_DEDUP_TABLE`) on moto's DynamoDB, to show what the claim and
//! confirm round trips add per alert (on loopback; real DynamoDB adds network latency).
//!
//! `cargo bench -p kms-alerts-handlers --bench load` (`LOAD_EVENTS=N` to change the count).

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_alerts_testkit::http::request;
use kms_alerts_testkit::lambda_api::RuntimeApi;
use kms_alerts_testkit::mns::MnsServer;
use kms_alerts_testkit::moto::Moto;
use serde_json::Value;

const SECRET: &str = "FAKEloadSECRET";
const TIME_LIMIT: Duration = Duration::from_secs(300);

use kms_alerts_testkit::events_dir;

#[path = "../tests/common/mod.rs"]
mod common;

fn spawn(bin: &str, env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn peak_rss_mib(child: &Child) -> f64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

/// Reports one run; returns the median latency in milliseconds.
fn report(
    name: &str,
    n: usize,
    wall: Duration,
    mut lat: Vec<Duration>,
    rss: f64,
    mns: &MnsServer,
) -> f64 {
    lat.sort();
    let got = mns.received();
    let distinct: HashSet<&str> = got.iter().map(|r| r.body.as_str()).collect();
    println!(
        "{name}: {n} events in {:.2} s = {:.0} events/s; latency p50 {:.2} ms, p99 {:.2} ms; peak RSS {rss:.1} MiB; {} messages, {} distinct, {} rejected",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        got.len(),
        distinct.len(),
        mns.rejected().len(),
    );
    assert_eq!(
        got.len(),
        n,
        "{name}: every event produced exactly one message"
    );
    assert_eq!(distinct.len(), n, "{name}: no message twice");
    assert!(mns.rejected().is_empty());
    percentile(&lat, 0.50)
}

fn fc_load(n: usize) {
    let mns = MnsServer::start(SECRET, 0);
    let port = kms_alerts_testkit::free_port();
    let mut child = spawn(
        env!("CARGO_BIN_EXE_kms-secret-lifecycle"),
        &[
            ("FC_FUNCTION_NAME", "load".into()),
            ("FC_CUSTOM_LISTEN_PORT", port.to_string()),
            (
                "KMS_ALERTS_TARGETS",
                format!("mns:{}/queues/load", mns.endpoint()),
            ),
            ("RUST_LOG", "warn".into()),
        ],
    );
    let addr = format!("127.0.0.1:{port}");
    while std::net::TcpStream::connect(&addr).is_err() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let template: Value = serde_json::from_slice(
        &std::fs::read(events_dir().join("alibaba/secret-rotation-failure.json")).unwrap(),
    )
    .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (next, template, addr) = (next.clone(), template.clone(), addr.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n || start.elapsed() > TIME_LIMIT {
                        return lat;
                    }
                    let mut ev = template.clone();
                    ev["content"]["eventId"] = format!("load-{i}").into();
                    let body = ev.to_string();
                    let t = Instant::now();
                    let headers = [
                        ("x-fc-request-id", "load"),
                        ("x-fc-access-key-id", "id"),
                        ("x-fc-access-key-secret", SECRET),
                    ];
                    let (status, _, _) =
                        request(&addr, "POST", "/invoke", &headers, body.as_bytes()).unwrap();
                    lat.push(t.elapsed());
                    assert_eq!(status, 200);
                }
            })
        })
        .collect();
    let lat: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let wall = start.elapsed();
    let rss = peak_rss_mib(&child);
    let _ = child.kill();
    let _ = child.wait();
    report("FC over HTTP (8 clients)", lat.len(), wall, lat, rss, &mns);
}

/// A DynamoDB dedup table on a fresh moto: the environment that points a handler at it.
fn dedup_table(moto: &Moto) -> Vec<(&'static str, String)> {
    common::Aws::new(moto).dedup_table("dedup");
    let mut env = moto.env();
    env.push(("KMS_ALERTS_DEDUP_TABLE", "dedup".into()));
    env
}

fn lambda_load(n: usize, extra: &[(&'static str, String)]) -> f64 {
    let mns = MnsServer::start(SECRET, 0);
    let api = RuntimeApi::start();
    let mut env = vec![
        ("AWS_LAMBDA_RUNTIME_API", api.host()),
        (
            "KMS_ALERTS_TARGETS",
            format!("mns:{}/queues/load", mns.endpoint()),
        ),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "id".into()),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET.into()),
        ("RUST_LOG", "warn".into()),
    ];
    env.extend(extra.iter().cloned());
    let mut child = spawn(env!("CARGO_BIN_EXE_kms-key-lifecycle"), &env);
    let template: Value = serde_json::from_slice(
        &std::fs::read(events_dir().join("aws/kms-cmk-rotation.json")).unwrap(),
    )
    .unwrap();
    let start = Instant::now();
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        if start.elapsed() > TIME_LIMIT {
            break;
        }
        // A distinct key each time: rotations of one key on one day are one occurrence.
        let mut ev = template.clone();
        ev["id"] = format!("load-{i}").into();
        ev["detail"]["key-id"] = format!("1234abcd-12ab-34cd-56ef-{i:012}").into();
        ev["resources"] = serde_json::json!([]);
        let t = Instant::now();
        api.invoke(ev.to_string().as_bytes()).unwrap();
        lat.push(t.elapsed());
    }
    let wall = start.elapsed();
    let rss = peak_rss_mib(&child);
    let _ = child.kill();
    let _ = child.wait();
    let name = if extra.is_empty() {
        "Lambda runtime API (sequential)"
    } else {
        "Lambda runtime API (sequential), shared dedup table on moto"
    };
    report(name, lat.len(), wall, lat, rss, &mns)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = std::env::var("LOAD_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 200 } else { 10_000 });
    println!(
        "load test: {n} events per path, {} cores",
        std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(1)
    );
    fc_load(n);
    let alone = lambda_load(n, &[]);
    let moto = Moto::start();
    let shared = lambda_load(n, &dedup_table(&moto));
    println!(
        "shared dedup table: +{:.2} ms per alert at the median (a claim and a confirm; {alone:.2} -> {shared:.2} ms)",
        shared - alone
    );
}
