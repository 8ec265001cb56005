//! Peak memory of the `kms-alerts` binary on hostile input: whatever the bytes, the process
//! stays at or under 64 MiB (the bound README states). Peak RSS is what the kernel reports for
//! the process through GNU time (`/usr/bin/time -f %M`, installed by tests/run.sh when missing).
//!
//! `KMS_ALERTS_TEST_BIN_DIR` points these tests at another build of the binary: tests/run.sh
//! runs them against the release build that README's first command makes, with the full-size
//! inputs (a 1 GiB gzip bomb, a 500 MB record). Against the debug build, which reads far
//! slower, the same shapes are smaller.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The bound README states for the CLI, in KiB.
const LIMIT_KIB: u64 = 64 * 1024;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The binary under test, and whether the inputs are full size (a build made for speed).
fn binary() -> (PathBuf, bool) {
    match std::env::var_os("KMS_ALERTS_TEST_BIN_DIR") {
        Some(dir) => (PathBuf::from(dir).join("kms-alerts"), true),
        None => (PathBuf::from(env!("CARGO_BIN_EXE_kms-alerts")), false),
    }
}

struct Run {
    code: Option<i32>,
    stdout_bytes: u64,
    stderr: String,
    peak_kib: u64,
}

/// Runs `kms-alerts ARGS` under GNU time with `feed` writing its stdin from another thread;
/// stdout is counted, not kept.
fn run_measured(args: &[&str], feed: impl FnOnce(&mut dyn Write) + Send + 'static) -> Run {
    let time = PathBuf::from("/usr/bin/time");
    assert!(
        time.exists(),
        "these tests measure peak RSS with GNU time: install it (apt-get install time)"
    );
    let dir = std::env::temp_dir().join(format!(
        "kms-alerts-bounds-{}-{}",
        std::process::id(),
        args.join("-").replace('/', "_")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("time");
    let (bin, _) = binary();
    let mut child = Command::new(&time)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(&bin)
        .args(args)
        .current_dir(root())
        .env_remove("KMS_ALERTS_TARGETS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut sink: Box<dyn Write> = Box::new(std::io::BufWriter::new(&mut stdin));
        feed(&mut *sink);
        // The binary may stop reading early (it reports the rest); a closed pipe is fine.
        let _ = sink.flush();
    });
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()).unwrap());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let status = child.wait().unwrap();
    writer.join().unwrap();
    let stdout_bytes = reader.join().unwrap();
    let peak_kib = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {}", report.display()));
    let _ = std::fs::remove_dir_all(dir);
    Run {
        code: status.code(),
        stdout_bytes,
        stderr: err,
        peak_kib,
    }
}

/// Writes `n` copies of `item` separated by commas, in blocks.
fn write_repeated(w: &mut dyn Write, item: &[u8], n: usize) {
    let block: Vec<u8> = [item, b","].concat().repeat(4096);
    let mut left = n;
    while left > 0 {
        let take = left.min(4096);
        let bytes = &block[..take * (item.len() + 1)];
        // The last item of all has no comma after it.
        let bytes = if take == left {
            &bytes[..bytes.len() - 1]
        } else {
            bytes
        };
        if w.write_all(bytes).is_err() {
            return;
        }
        left -= take;
    }
}

fn assert_bounded(what: &str, run: &Run) {
    eprintln!(
        "{what}: peak RSS {:.1} MiB, exit {:?}, {} bytes out",
        run.peak_kib as f64 / 1024.0,
        run.code,
        run.stdout_bytes
    );
    assert!(
        !run.stderr.contains("panicked"),
        "{what}: {}",
        tail(&run.stderr)
    );
    assert!(
        run.peak_kib <= LIMIT_KIB,
        "{what}: peak RSS {} KiB over {} KiB\n{}",
        run.peak_kib,
        LIMIT_KIB,
        tail(&run.stderr)
    );
}

fn tail(s: &str) -> &str {
    &s[s.len().saturating_sub(2000)..]
}

#[test]
fn nested_arrays_of_empty_objects() {
    // 9 MB of `[[{},{},...]]`: one value of three million members.
    let run = run_measured(&["render", "--format", "json", "-"], |w| {
        let _ = w.write_all(b"[[");
        write_repeated(w, b"{}", 3_000_000);
        let _ = w.write_all(b"]]");
    });
    assert_bounded("[[{},...]] 9 MB", &run);
    assert_eq!(run.code, Some(1), "one record over the cap: {}", run.stderr);
    assert!(
        run.stderr.contains("over the limit"),
        "{}",
        tail(&run.stderr)
    );
}

#[test]
fn millions_of_empty_objects() {
    // Three million empty objects (300,000 against the debug build), each its own (unknown)
    // event: every one still an alert.
    let n = if binary().1 { 3_000_000 } else { 300_000 };
    let run = run_measured(&["render", "--format", "text", "-"], move |w| {
        let _ = w.write_all(b"[");
        write_repeated(w, b"{}", n);
        let _ = w.write_all(b"]");
    });
    assert_bounded(&format!("{n} empty objects"), &run);
    assert!(
        run.stderr.contains(&format!("{n} events: {n} alerts")),
        "{}",
        tail(&run.stderr)
    );
}

#[test]
fn a_giant_record_is_reported_and_the_next_one_rendered() {
    let (_, full) = binary();
    let size: usize = if full { 500 << 20 } else { 48 << 20 };
    let deletion = std::fs::read(root().join("events/aws/kms-cmk-deletion.json")).unwrap();
    let run = run_measured(&["render", "--format", "text", "-"], move |w| {
        let _ = w.write_all(br#"[{"detail": ""#);
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..size >> 20 {
            if w.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = w.write_all(b"\"}, ");
        let _ = w.write_all(&deletion);
        let _ = w.write_all(b"]");
    });
    assert_bounded(&format!("one record of {} MiB", size >> 20), &run);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("stdin record 1") && run.stderr.contains("over the limit"),
        "{}",
        tail(&run.stderr)
    );
    assert!(run.stderr.contains(": 1 alerts"), "{}", tail(&run.stderr));
}

#[test]
fn a_gzip_bomb_of_one_unterminated_value() {
    let (_, full) = binary();
    // 16 MiB members of 'a': 64 of them inflate to 1 GiB from about 1 MB on disk.
    let members = if full { 64 } else { 8 };
    let member = |prefix: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(prefix).unwrap();
        gz.write_all(&vec![b'a'; 16 << 20]).unwrap();
        gz.finish().unwrap()
    };
    let mut bomb = member(br#"[{"eventSource": "kms.amazonaws.com", "x": ""#);
    let rest = member(b"");
    for _ in 1..members {
        bomb.extend_from_slice(&rest);
    }
    let dir = std::env::temp_dir().join(format!("kms-alerts-bomb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bomb.json.gz");
    std::fs::write(&file, &bomb).unwrap();
    let path = file.to_str().unwrap().to_string();
    let run = run_measured(&["render", "--format", "json", &path], |_| {});
    let _ = std::fs::remove_dir_all(&dir);
    assert_bounded(
        &format!(
            "gzip bomb of {} KB inflating to {} MiB",
            bomb.len() / 1000,
            members * 16
        ),
        &run,
    );
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("bomb.json.gz piece 1") && run.stderr.contains("1 unreadable"),
        "{}",
        tail(&run.stderr)
    );
}
