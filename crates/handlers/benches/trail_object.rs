//! One large gzipped CloudTrail log object through `kms-trail-objects`, whole process, on
//! moto's S3 on loopback: decompressed MB/s (parsing included) and peak RSS. The object is
//! generated with varying ids, times and addresses so that it compresses about as well as
//! real log files: mostly routine KMS reads and other services' calls, one KMS change in a
//! thousand records. Alerts go to stdout, so the figure is reading and parsing.
//!
//! `cargo bench -p kms-alerts-handlers --bench trail_object` (100 MB gzipped; without
//! `--bench`, as in the test suite, 2 MB). `TRAIL_OBJECT_MB=N` sets the compressed size.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use kms_alerts_testkit::moto::Moto;
use serde_json::json;

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(n);
        s
    }
}

/// Writes records until the compressed output reaches `target` bytes: (gzipped, decompressed
/// bytes, records, KMS changes among them).
fn generate(target: usize) -> (Vec<u8>, usize, usize, usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut plain = 0;
    let (mut records, mut changes) = (0, 0);
    gz.write_all(b"{\"Records\":[").unwrap();
    while gz.get_ref().len() < target {
        let (source, name, read_only) = match rng.next() % 1000 {
            0 => ("kms.amazonaws.com", "DisableKey", false),
            1..=600 => ("kms.amazonaws.com", "Decrypt", true),
            601..=750 => ("kms.amazonaws.com", "GenerateDataKey", true),
            751..=850 => ("s3.amazonaws.com", "GetObject", true),
            _ => ("ec2.amazonaws.com", "DescribeInstances", true),
        };
        changes += usize::from(!read_only);
        let account = format!("{:012}", rng.next() % 1_000_000_000_000);
        let key = format!(
            "{}-{}-{}-{}-{}",
            rng.hex(8),
            rng.hex(4),
            rng.hex(4),
            rng.hex(4),
            rng.hex(12)
        );
        let r = json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "AssumedRole", "principalId": format!("AROA{}:session-{}", rng.hex(16).to_uppercase(), rng.hex(6)),
                "arn": format!("arn:aws:sts::{account}:assumed-role/app-{}/session", rng.hex(4)), "accountId": account},
            "eventTime": format!("2025-01-01T{:02}:{:02}:{:02}Z", (records / 3600) % 24, (records / 60) % 60, records % 60),
            "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
            "sourceIPAddress": format!("10.{}.{}.{}", rng.next() % 256, rng.next() % 256, rng.next() % 256),
            "userAgent": "aws-sdk-java/2.20.0 Linux/5.10 OpenJDK_64-Bit_Server_VM/17",
            "requestParameters": {"keyId": format!("arn:aws:kms:us-east-1:{account}:key/{key}"), "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
            "responseElements": null,
            "requestID": format!("{}-{}", rng.hex(8), rng.hex(12)),
            "eventID": format!("{}-{}-{}", rng.hex(8), rng.hex(4), rng.hex(12)),
            "readOnly": read_only, "eventType": "AwsApiCall", "managementEvent": true,
            "recipientAccountId": account, "eventCategory": "Management",
            "resources": [{"accountId": account, "type": "AWS::KMS::Key", "ARN": format!("arn:aws:kms:us-east-1:{account}:key/{key}")}]
        });
        let line = format!("{}{}", if records > 0 { "," } else { "" }, r);
        plain += line.len();
        gz.write_all(line.as_bytes()).unwrap();
        records += 1;
    }
    gz.write_all(b"]}").unwrap();
    (gz.finish().unwrap(), plain + 14, records, changes)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let mb: usize = std::env::var("TRAIL_OBJECT_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 100 } else { 2 });
    let (object, plain, records, changes) = generate(mb << 20);
    println!(
        "trail object: {:.1} MB gzipped, {:.1} MB decompressed, {records} records, {changes} KMS changes",
        object.len() as f64 / 1e6,
        plain as f64 / 1e6
    );

    let moto = Moto::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2025/01/01/bench.json.gz";
    let put_s = rt.block_on(async {
        let conf = kms_alerts_notify::aws_defaults()
            .endpoint_url(moto.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "bench",
            ))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket().bucket("trail").send().await.unwrap();
        let t = Instant::now();
        s3.put_object()
            .bucket("trail")
            .key(key)
            .body(object.into())
            .send()
            .await
            .unwrap();
        t.elapsed().as_secs_f64()
    });
    println!("  (moto took the object in {put_s:.1} s)");

    let notification = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "trail"}, "object": {"key": key}}}]});
    // GNU time reports the peak RSS when present; without it, only the time is measured.
    let gnu_time = std::path::Path::new("/usr/bin/time").exists();
    let mut cmd = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M"])
            .arg(env!("CARGO_BIN_EXE_kms-trail-objects"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_kms-trail-objects"))
    };
    cmd.env_clear()
        .envs(moto.env())
        // Alerts to stdout (discarded): the figure is reading and parsing, not moto's SQS.
        .env("KMS_ALERTS_TARGETS", "stdout")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let t = Instant::now();
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(notification.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let secs = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let outcome: serde_json::Value = stderr
        .lines()
        .find_map(|l| {
            serde_json::from_str(l)
                .ok()
                .filter(|v: &serde_json::Value| v.get("alerts").is_some())
        })
        .unwrap_or_else(|| panic!("no outcome: {stderr}"));
    let sent = outcome["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["error"].is_null())
        .count();
    assert_eq!(sent, changes, "one alert per KMS change: {stderr}");
    let rss = gnu_time
        .then(|| stderr.lines().last()?.trim().parse::<f64>().ok())
        .flatten()
        .map_or("n/a".to_string(), |kib| format!("{:.1} MiB", kib / 1024.0));
    println!(
        "kms-trail-objects: {secs:.2} s = {:.0} MB/s decompressed ({:.0} records/s, one core parsing), {sent} alerts sent, peak RSS {rss}",
        plain as f64 / 1e6 / secs,
        records as f64 / secs
    );
}
