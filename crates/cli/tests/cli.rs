//! The `kms-alerts` binary, run as a user would.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kms-alerts"))
        .args(args)
        .current_dir(root())
        .env_remove("KMS_ALERTS_TARGETS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}
fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn render_text_is_the_readme_command() {
    let o = run(&["render", "events/aws/kms-cmk-deletion.json"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("[WARNING] KMS key deleted: 1234abcd-12ab-34cd-56ef-1234567890ab\n"),
        "{out}"
    );
    assert!(out.contains("Open in console: https://us-west-2.console.aws.amazon.com/kms/home?region=us-west-2#/kms/keys/1234abcd-12ab-34cd-56ef-1234567890ab"));
}

#[test]
fn render_json_is_one_object_per_line() {
    let o = run(
        &[
            "render",
            "--format",
            "json",
            "events/aws/sqs-batch.json",
            "events/alibaba/cloudevents-batch.json",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let kinds: Vec<&str> = lines.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "key_deleted",
            "api_call",
            "key_deletion_scheduled",
            "qps_near_quota"
        ]
    );
    for v in &lines {
        for field in [
            "kind",
            "family",
            "severity",
            "cloud",
            "title",
            "summary",
            "facts",
            "dedup_key",
            "raw",
        ] {
            assert!(!v[field].is_null(), "{field} in {v}");
        }
    }
}

#[test]
fn render_markdown_from_stdin() {
    let input = std::fs::read(root().join("events/alibaba/secret-rotation-failure.json")).unwrap();
    let o = run(&["render", "--format=markdown", "-"], Some(&input));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("**[CRITICAL] Secret rotation failed: acs/ecs/secret\\_rotator**")
    );
}

#[test]
fn bad_input_exits_non_zero_with_a_clear_message_and_renders_the_rest() {
    let o = run(
        &["render", "-", "events/aws/kms-cmk-rotation.json"],
        Some(b"{\"source\": \"aws.kms\",\n \"detail\": [}"),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("kms-alerts: stdin: invalid JSON at line 2, column 13"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    assert!(
        stdout(&o).contains("KMS key rotated"),
        "the good file is still rendered"
    );

    let o = run(&["render", "does/not/exist.json"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("does/not/exist.json: No such file"),
        "{}",
        stderr(&o)
    );

    let bad_record = br#"{"Records":[{"messageId":"m-9","eventSource":"aws:sqs","body":"nope"}]}"#;
    let o = run(&["render", "-"], Some(bad_record));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("SQS record \"m-9\" body: invalid JSON"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["render"][..],
        &["render", "--format", "xml", "x"],
        &["frobnicate"],
        &[],
        &["render", "--nope", "x"],
    ] {
        let o = run(args, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains("usage:"), "{args:?}");
    }
    let o = run(&["--help"], None);
    assert!(o.status.success());
}

#[test]
fn unknown_json_is_still_rendered() {
    let o = run(
        &["render", "-"],
        Some(br#"{"hello": "world", "level": "CRITICAL"}"#),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("[CRITICAL] Unrecognized event"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn trail_log_file_alerts_on_kms_records_and_reports_what_it_skipped() {
    let file = root().join("events/aws/cloudtrail-log-file.json");
    let file = file.to_str().unwrap();
    let o = run(&["render", "--format", "json", file], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));
    assert!(
        stderr(&o).contains(
            "skipped 1 trail records of other services and 2 successful read-only KMS calls"
        ),
        "{}",
        stderr(&o)
    );
    let o = run(
        &["render", "--format", "json", "--include-read-only", file],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 4);
    assert!(
        stderr(&o).contains("and 0 successful read-only"),
        "{}",
        stderr(&o)
    );
}

/// A scratch directory of its own for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kms-alerts-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    dir
}

#[test]
fn streams_ndjson_gzip_and_directories_with_a_summary() {
    let dir = scratch("stream");
    let deletion =
        std::fs::read_to_string(root().join("events/aws/kms-cmk-deletion.json")).unwrap();
    let rotation =
        std::fs::read_to_string(root().join("events/aws/kms-cmk-rotation.json")).unwrap();
    let one_line = |s: &str| {
        serde_json::from_str::<serde_json::Value>(s)
            .unwrap()
            .to_string()
    };
    // Newline-delimited, and concatenated without newlines.
    let ndjson = format!(
        "{}\n{}{}\n",
        one_line(&deletion),
        one_line(&rotation),
        one_line(&rotation)
    );
    std::fs::write(dir.join("a.ndjson"), &ndjson).unwrap();
    // The same log file, gzipped (detected by its magic bytes, whatever the name).
    let trail = std::fs::read(root().join("events/aws/cloudtrail-log-file.json")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&trail).unwrap();
    std::fs::write(dir.join("nested/trail.bin"), gz.finish().unwrap()).unwrap();

    let o = run(&["render", "--format", "json", dir.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let kinds: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds.len(),
        5,
        "3 events + 2 KMS calls of the log file: {kinds:?}"
    );
    assert_eq!(&kinds[..3], ["key_deleted", "key_rotated", "key_rotated"]);
    let err = stderr(&o);
    assert!(
        err.contains("kms-alerts: 2 inputs, 5 events: 5 alerts")
            && err.contains("key_rotated 2")
            && err.contains("3 skipped, 0 unreadable"),
        "{err}"
    );

    // Filters: only critical, or only some kinds; the rest is counted as filtered out.
    let o = run(
        &[
            "render",
            "--format",
            "json",
            "--kind",
            "key_deleted,key_rotated",
            "--min-severity",
            "warning",
            dir.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    assert!(
        stderr(&o).contains("1 alerts (warning 1) [key_deleted 1], 4 filtered out"),
        "{}",
        stderr(&o)
    );
    for bad in [
        &["render", "--kind", "nope", "x"][..],
        &["render", "--min-severity", "loud", "x"],
    ] {
        let o = run(bad, None);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_record_in_a_stream_is_reported_and_the_rest_rendered() {
    let input = format!(
        "[{}, {{\"broken\": ]}}, {}]",
        std::fs::read_to_string(root().join("events/aws/kms-cmk-deletion.json")).unwrap(),
        std::fs::read_to_string(root().join("events/aws/kms-cmk-rotation.json")).unwrap()
    );
    let o = run(&["render", "--format", "json", "-"], Some(input.as_bytes()));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("key_deleted"),
        "the event before the break: {}",
        stdout(&o)
    );
    let err = stderr(&o);
    assert!(
        err.contains("stdin piece 2") || err.contains("stdin record 2"),
        "{err}"
    );
    assert!(
        err.contains("2 events: 2 alerts") && err.contains("1 unreadable"),
        "only the broken record is lost: {err}"
    );

    // A cut-off stream: what came before is rendered, the break is named.
    let o = run(
        &["render", "--format", "json", "-"],
        Some(&input.as_bytes()[..input.len() / 2 + 5]),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("end of input"), "{}", stderr(&o));
}

/// Many batches go through the worker threads: the output keeps the input's order, errors name
/// their record, text alerts are separated once each, and the counts add up.
#[test]
fn large_inputs_keep_their_order_across_worker_threads() {
    let n = 3000;
    let mut lines = Vec::new();
    for i in 0..n {
        if i == 1777 {
            lines.push("{\"broken\": ]}".to_string());
            continue;
        }
        lines.push(format!(
            r#"{{"detail-type":"KMS CMK Deletion","source":"aws.kms","account":"111122223333","region":"us-west-2","time":"2022-08-10T16:37:50Z","id":"e-{i}","detail":{{"key-id":"{i:08}-12ab-34cd-56ef-1234567890ab"}}}}"#
        ));
    }
    let input = lines.join("\n");
    let o = run(&["render", "--format", "json", "-"], Some(input.as_bytes()));
    assert_eq!(o.status.code(), Some(1), "one record is unreadable");
    let ids: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let want: Vec<String> = (0..n)
        .filter(|i| *i != 1777)
        .map(|i| format!("e-{i}"))
        .collect();
    assert_eq!(ids, want);
    let err = stderr(&o);
    assert!(err.contains("stdin value 1778"), "{err}");
    assert!(
        err.contains(&format!("{} events: {} alerts", n - 1, n - 1))
            && err.contains("1 unreadable"),
        "{err}"
    );

    let o = run(&["render", "-"], Some(input.as_bytes()));
    let text = stdout(&o);
    assert!(
        text.starts_with("[WARNING] KMS key deleted: 00000000-"),
        "{}",
        &text[..80]
    );
    assert_eq!(text.matches("\n----\n\n").count(), n - 2);
}

#[test]
fn a_closed_pipe_ends_the_run() {
    // `kms-alerts render big.json | head`: the reader stops, whatever is still queued.
    let dir = scratch("closed-pipe");
    let event = std::fs::read_to_string(root().join("events/aws/kms-cmk-deletion.json")).unwrap();
    let one_line: serde_json::Value = serde_json::from_str(&event).unwrap();
    let file = dir.join("big.ndjson");
    let line = format!("{one_line}\n");
    std::fs::write(&file, line.repeat(200_000)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kms-alerts"))
        .args(["render", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 4096];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    drop(out);
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("kms-alerts kept running after its stdout closed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// One record over the 8 MiB cap of a piece is one unreadable record: read past, never held,
/// and the records after it are still rendered.
#[test]
fn a_record_over_the_piece_cap_is_one_unreadable_record() {
    let deletion =
        std::fs::read_to_string(root().join("events/aws/kms-cmk-deletion.json")).unwrap();
    let big = format!(r#"{{"detail": "{}"}}"#, "x".repeat(9 << 20));
    let input = format!("[{big}, {deletion}]");
    let o = run(&["render", "--format", "json", "-"], Some(input.as_bytes()));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "stdin record 1: {} bytes, over the limit of 8388608 bytes",
            big.len()
        )),
        "{err}"
    );
    assert!(err.contains("1 unreadable"), "{err}");
    assert!(stdout(&o).contains("key_deleted"), "{}", stdout(&o));
}
