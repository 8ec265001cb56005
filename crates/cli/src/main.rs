//! `kms-alerts`: render KMS alert events locally. (To publish from a shell, run a handler
//! binary: it reads stdin and sends to `KMS_ALERTS_TARGETS`.)

use std::io::{Read, Write};
use std::process::ExitCode;

use kms_alerts_core::{parse_with, render, Format, Options, Skipped};

const USAGE: &str = "\
usage:
  kms-alerts render [--format text|markdown|json] [--include-read-only] FILE...
      print one alert per event (FILE `-` is stdin)
  kms-alerts --help | --version

Inputs: any AWS KMS EventBridge event, CloudTrail KMS call or service event, Alibaba Cloud KMS
CloudMonitor event (raw or CloudEvents, single or array), ActionTrail KMS record, CloudMonitor
alarm callback (JSON or form), SQS/SNS Lambda records of those, and CloudTrail/ActionTrail log
files ({\"Records\": [...]} or an array of records). In log files, other services' records and
successful read-only KMS calls (Decrypt, Encrypt, GenerateDataKey*, Describe*, List*, Get*) are
skipped and counted on stderr; --include-read-only keeps the read-only calls.
Exit status: 0 all rendered, 1 some input was bad, 2 usage.
To publish to the targets in KMS_ALERTS_TARGETS, pipe the event into a handler binary,
e.g. `kms-key-lifecycle < event.json`.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("render") => render_cmd(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("kms-alerts {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(other) => usage_error(&format!("unknown command {other:?}")),
        None => usage_error("missing command"),
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("kms-alerts: {msg}\n\n{USAGE}");
    ExitCode::from(2)
}

/// Reads a file argument (`-` is stdin) with its label for messages.
fn read_input(path: &str) -> Result<(String, Vec<u8>), String> {
    if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| format!("stdin: {e}"))?;
        Ok(("stdin".to_string(), buf))
    } else {
        std::fs::read(path)
            .map(|b| (path.to_string(), b))
            .map_err(|e| format!("{path}: {e}"))
    }
}

/// Splits `[--format F] [--include-read-only] FILE...`.
fn parse_render_args(args: &[String]) -> Result<(Format, Options, Vec<String>), String> {
    let mut format = Format::Text;
    let mut options = Options::default();
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--include-read-only" {
            options.include_read_only = true;
        } else if a == "--format" || a == "-f" {
            let v = it
                .next()
                .ok_or("--format needs a value: text, markdown or json")?;
            format = v.parse()?;
        } else if let Some(v) = a.strip_prefix("--format=") {
            format = v.parse()?;
        } else if a.starts_with('-') && a != "-" {
            return Err(format!("unknown option {a:?}"));
        } else {
            files.push(a.clone());
        }
    }
    if files.is_empty() {
        return Err("no input: give one or more files, or - for stdin".to_string());
    }
    Ok((format, options, files))
}

fn render_cmd(args: &[String]) -> ExitCode {
    let (format, options, files) = match parse_render_args(args) {
        Ok(x) => x,
        Err(e) => return usage_error(&e),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    let mut first = true;
    let mut skipped = Skipped::default();
    for path in &files {
        let parsed = read_input(path).and_then(|(label, bytes)| {
            parse_with(&bytes, &label, options).map_err(|e| e.to_string())
        });
        let records = match parsed {
            Ok(p) => {
                skipped.add(p.skipped);
                p.records
            }
            Err(e) => {
                eprintln!("kms-alerts: {e}");
                failed = true;
                continue;
            }
        };
        for record in records {
            match record.result {
                Ok(alert) => {
                    let mut s = render(&alert, format);
                    if format == Format::Json {
                        s.push('\n');
                    } else if !first {
                        s.insert_str(0, "\n----\n\n");
                    }
                    first = false;
                    if out.write_all(s.as_bytes()).is_err() {
                        return ExitCode::from(1);
                    }
                }
                Err(e) => {
                    eprintln!("kms-alerts: {path}: {e}");
                    failed = true;
                }
            }
        }
    }
    let _ = out.flush();
    if skipped.total() > 0 {
        eprintln!(
            "kms-alerts: skipped {} trail records of other services and {} successful read-only KMS calls{}",
            skipped.other_service,
            skipped.read_only,
            if skipped.read_only > 0 {
                " (--include-read-only keeps them)"
            } else {
                ""
            }
        );
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
