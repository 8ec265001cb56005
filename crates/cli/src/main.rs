//! `kms-alerts`: render KMS alert events locally, from single events up to whole CloudTrail
//! and ActionTrail archives, streamed in constant memory. (To publish from a shell, run a
//! handler binary: it reads stdin and sends to `KMS_ALERTS_TARGETS`.)

mod input;
mod pipeline;

use std::process::ExitCode;

use kms_alerts_core::{from_name, Format, Kind, Options, Severity};

use pipeline::Tally;

const USAGE: &str = "\
usage:
  kms-alerts render [--format text|markdown|json] [--include-read-only]
                    [--min-severity info|warning|critical] [--kind KIND[,KIND...]]... PATH...
      print one alert per event; PATH is a file, a directory (every file under it) or - (stdin)
  kms-alerts --help | --version

Inputs: any AWS KMS EventBridge event, CloudTrail KMS call or service event, Alibaba Cloud KMS
CloudMonitor event (raw or CloudEvents, single or array), ActionTrail KMS record, CloudMonitor
alarm callback (JSON or form), SQS/SNS Lambda records of those, and CloudTrail/ActionTrail log
files ({\"Records\": [...]} or an array of records); one value, a JSON array, concatenated or
newline-delimited JSON, each optionally gzipped (detected by its magic bytes). Input is read as
a stream: memory does not grow with the number of events. In log files, other services'
records and successful read-only KMS calls (Decrypt, Encrypt, GenerateDataKey*, Describe*,
List*, Get*) are skipped and counted; --include-read-only keeps the read-only calls.
A summary goes to stderr at the end (and progress while running, when stderr is a terminal).
Kinds: key_rotated key_material_expired key_deleted key_deletion_scheduled
secret_deletion_scheduled secret_deleted secret_rotation_failed secret_rotation_succeeded
key_sync_failed key_sync_succeeded qps_near_quota client_key_expiring metric_alarm api_call
pending_deletion_key_used disabled_key_used unknown
Exit status: 0 all rendered, 1 some input or record was unreadable (the rest is still
rendered), 2 usage.
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

/// What `render` was asked to do.
struct RenderArgs {
    format: Format,
    options: Options,
    min_severity: Severity,
    kinds: Vec<Kind>,
    paths: Vec<String>,
}

fn parse_kind(name: &str) -> Result<Kind, String> {
    from_name(name.trim()).ok_or(format!(
        "unknown kind {name:?} (see the list of kinds below)"
    ))
}

fn parse_severity(name: &str) -> Result<Severity, String> {
    from_name(&name.trim().to_ascii_lowercase()).ok_or(format!(
        "unknown severity {name:?}: expected info, warning or critical"
    ))
}

/// Splits the `render` arguments.
fn parse_render_args(args: &[String]) -> Result<RenderArgs, String> {
    let mut r = RenderArgs {
        format: Format::Text,
        options: Options::default(),
        min_severity: Severity::Info,
        kinds: Vec::new(),
        paths: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{flag} needs a value: {what}"))
        };
        match flag {
            "--include-read-only" => r.options.include_read_only = true,
            "--format" | "-f" => r.format = value("text, markdown or json")?.parse()?,
            "--min-severity" => {
                r.min_severity = parse_severity(&value("info, warning or critical")?)?
            }
            "--kind" => {
                for k in value("a kind, or several separated by commas")?.split(',') {
                    r.kinds.push(parse_kind(k)?);
                }
            }
            _ if a.starts_with('-') && a != "-" => return Err(format!("unknown option {a:?}")),
            _ => r.paths.push(a.clone()),
        }
    }
    if r.paths.is_empty() {
        return Err("no input: give one or more files or directories, or - for stdin".to_string());
    }
    // Only JSON output shows the raw event and the keys.
    r.options.display_only = r.format != Format::Json;
    Ok(r)
}

fn render_cmd(args: &[String]) -> ExitCode {
    let r = match parse_render_args(args) {
        Ok(x) => x,
        Err(e) => return usage_error(&e),
    };
    let (sources, errors) = input::expand(&r.paths);
    let failed = !errors.is_empty();
    for e in errors {
        eprintln!("kms-alerts: {e}");
    }
    let settings = pipeline::Settings {
        format: r.format,
        options: r.options,
        min_severity: r.min_severity,
        kinds: r.kinds,
    };
    let Some(tally) = pipeline::run(&sources, &settings) else {
        // The reader went away (a closed pipe): nothing more to do.
        return ExitCode::from(1);
    };
    summary(&tally, sources.len());
    if failed || tally.failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The end-of-run summary on stderr.
fn summary(t: &Tally, inputs: usize) {
    let skipped = &t.skipped;
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
    let list = |m: Vec<(String, u64)>| {
        m.into_iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kinds = list(t.by_kind.iter().map(|(k, n)| (k.to_string(), *n)).collect());
    let severities = list(
        t.by_severity
            .iter()
            .rev()
            .map(|(s, n)| (s.as_str().to_string(), *n))
            .collect(),
    );
    eprintln!(
        "kms-alerts: {} inputs, {} events: {} alerts{}{}, {} filtered out, {} skipped, {} unreadable",
        inputs,
        t.events,
        t.alerts,
        if severities.is_empty() { String::new() } else { format!(" ({severities})") },
        if kinds.is_empty() { String::new() } else { format!(" [{kinds}]") },
        t.filtered,
        t.skipped.total(),
        t.unreadable,
    );
}

/// The CLI allocates and frees many small values per event, on several threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
