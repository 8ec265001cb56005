//! The render pipeline over many inputs, on every core: the calling thread reads the inputs
//! and splits them into pieces, worker threads parse, filter and render batches of pieces, and
//! a writer thread puts the results out in input order. Memory stays bounded: only a few
//! batches are in flight at any time, whatever the size of the input.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kms_alerts_core::{
    parse_piece, render_to, Format, Kind, Options, Piece, Pieces, Severity, Skipped,
};

use crate::input::{self, Source};

/// A batch is cut at this many pieces...
const BATCH_PIECES: usize = 512;
/// ...or at this many bytes of pieces, so large trail records do not pile up in memory.
const BATCH_BYTES: usize = 1 << 20;
/// Separator between two alerts in text and Markdown output.
const SEPARATOR: &str = "\n----\n\n";

/// What to render and which alerts to keep.
pub struct Settings {
    pub format: Format,
    pub options: Options,
    pub min_severity: Severity,
    pub kinds: Vec<Kind>,
}

/// What one run saw, for the summary.
#[derive(Default)]
pub struct Tally {
    pub events: u64,
    pub alerts: u64,
    pub filtered: u64,
    pub unreadable: u64,
    pub by_kind: BTreeMap<&'static str, u64>,
    pub by_severity: BTreeMap<Severity, u64>,
    pub skipped: Skipped,
    /// Some input or record could not be read.
    pub failed: bool,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.events += other.events;
        self.alerts += other.alerts;
        self.filtered += other.filtered;
        self.unreadable += other.unreadable;
        for (k, n) in other.by_kind {
            *self.by_kind.entry(k).or_default() += n;
        }
        for (s, n) in other.by_severity {
            *self.by_severity.entry(s).or_default() += n;
        }
        self.skipped.add(other.skipped);
        self.failed |= other.failed;
    }
}

/// One unit of reading.
enum Item {
    /// A piece, its input's index in the list of inputs and its number in that input (see
    /// [`Piece::describe`]).
    Piece(Piece, usize, usize),
    /// An input that could not be opened or read further: the message, and whether it counts
    /// as an unreadable record.
    Failure(String, bool),
}

/// The result of one batch: rendered alerts (each preceded by the separator in text and
/// Markdown), messages for stderr, and the counts.
struct Done {
    seq: u64,
    out: String,
    messages: Vec<String>,
    tally: Tally,
}

/// Renders every input in `sources` to stdout; returns the tally, or `None` when stdout went
/// away (a closed pipe).
pub fn run(sources: &[Source], settings: &Settings) -> Option<Tally> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Vec<Item>)>(workers * 2);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let bytes = Arc::new(AtomicU64::new(0));
    let buffers = Buffers::default();
    // How messages name each input, shared by reference (no counter touched per piece).
    let labels: Vec<String> = sources.iter().map(Source::label).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let (buffers, labels) = (&buffers, &labels[..]);
            scope.spawn(move || worker(&job_rx, &done_tx, settings, buffers, labels));
        }
        // The workers hold the only handles on both ends: once the writer stops (a closed
        // pipe), they stop, the job queue closes and the reader's next send fails.
        drop(done_tx);
        drop(job_rx);
        let writer = {
            let bytes = Arc::clone(&bytes);
            let buffers = &buffers;
            scope.spawn(move || write_in_order(done_rx, settings.format, &bytes, buffers))
        };
        read(sources, &labels, &job_tx, &bytes);
        drop(job_tx);
        writer.join().unwrap_or(None)
    })
}

/// Splits every input into batches of pieces and hands them to the workers. Stops early when
/// the workers are gone (the writer stopped).
fn read(
    sources: &[Source],
    labels: &[String],
    jobs: &SyncSender<(u64, Vec<Item>)>,
    bytes: &Arc<AtomicU64>,
) {
    let mut seq = 0u64;
    let mut batch = Vec::new();
    let mut batch_bytes = 0usize;
    let mut send = |batch: &mut Vec<Item>, batch_bytes: &mut usize| {
        *batch_bytes = 0;
        let ok = jobs.send((seq, std::mem::take(batch))).is_ok();
        seq += 1;
        ok
    };
    for (index, (source, label)) in sources.iter().zip(labels).enumerate() {
        let reader = match input::open(source, Arc::clone(bytes)) {
            Ok(r) => r,
            Err(e) => {
                batch.push(Item::Failure(format!("{label}: {e}"), false));
                continue;
            }
        };
        for (n, piece) in Pieces::new(reader, label).enumerate() {
            match piece {
                Ok(piece) => {
                    batch_bytes += piece.bytes().len();
                    batch.push(Item::Piece(piece, index, n));
                }
                Err(e) => {
                    batch.push(Item::Failure(e.to_string(), true));
                    break;
                }
            }
            if (batch.len() >= BATCH_PIECES || batch_bytes >= BATCH_BYTES)
                && !send(&mut batch, &mut batch_bytes)
            {
                return;
            }
        }
    }
    if !batch.is_empty() {
        send(&mut batch, &mut batch_bytes);
    }
}

/// Output buffers the writer hands back for the next batches: a new batch's half a megabyte
/// would otherwise come fresh from the system (and be zeroed) each time.
#[derive(Default)]
struct Buffers(Mutex<Vec<String>>);

impl Buffers {
    fn take(&self, capacity: usize) -> String {
        let spare = self.0.lock().ok().and_then(|mut b| b.pop());
        spare.unwrap_or_else(|| String::with_capacity(capacity))
    }

    fn give(&self, mut buffer: String) {
        buffer.clear();
        if let Ok(mut spare) = self.0.lock() {
            if spare.len() < 8 {
                spare.push(buffer);
            }
        }
    }
}

fn worker(
    jobs: &Mutex<Receiver<(u64, Vec<Item>)>>,
    done: &mpsc::Sender<Done>,
    s: &Settings,
    buffers: &Buffers,
    labels: &[String],
) {
    loop {
        // The lock is held only while taking the next batch.
        let next = jobs.lock().map(|rx| rx.recv());
        let Ok(Ok((seq, items))) = next else {
            return;
        };
        if done
            .send(render_batch(seq, items, s, buffers, labels))
            .is_err()
        {
            return;
        }
    }
}

/// Parses, filters and renders one batch.
fn render_batch(
    seq: u64,
    items: Vec<Item>,
    s: &Settings,
    buffers: &Buffers,
    labels: &[String],
) -> Done {
    let mut d = Done {
        seq,
        out: buffers.take(items.len() * 1024),
        messages: Vec::new(),
        tally: Tally::default(),
    };
    for item in items {
        let (piece, label, n) = match item {
            Item::Piece(piece, index, n) => {
                (piece, labels.get(index).map_or("input", String::as_str), n)
            }
            Item::Failure(message, unreadable) => {
                d.messages.push(message);
                d.tally.unreadable += u64::from(unreadable);
                d.tally.failed = true;
                continue;
            }
        };
        // The piece's name is only for messages: made when one is needed.
        let what = || piece.describe(label, n);
        let parsed = match parse_piece(&piece, "", s.options) {
            Ok(p) => p,
            Err(unnamed) => {
                // Read again to name the piece in the message: errors are rare, reading is pure.
                let e = parse_piece(&piece, &what(), s.options)
                    .err()
                    .unwrap_or(unnamed);
                d.messages.push(e.to_string());
                d.tally.unreadable += 1;
                d.tally.failed = true;
                continue;
            }
        };
        d.tally.skipped.add(parsed.skipped);
        for record in parsed.records {
            d.tally.events += 1;
            let alert = match record.result {
                Ok(a) => a,
                Err(e) => {
                    d.messages.push(format!("{}: {e}", what()));
                    d.tally.unreadable += 1;
                    d.tally.failed = true;
                    continue;
                }
            };
            if alert.severity < s.min_severity
                || (!s.kinds.is_empty() && !s.kinds.contains(&alert.kind))
            {
                d.tally.filtered += 1;
                continue;
            }
            d.tally.alerts += 1;
            *d.tally.by_kind.entry(alert.kind.as_str()).or_default() += 1;
            *d.tally.by_severity.entry(alert.severity).or_default() += 1;
            if s.format != Format::Json {
                d.out.push_str(SEPARATOR);
            }
            render_to(&alert, s.format, &mut d.out);
            if s.format == Format::Json {
                d.out.push('\n');
            }
        }
    }
    d
}

/// Writes finished batches in input order, with their messages on stderr; the first alert of
/// the run has no separator before it.
fn write_in_order(
    done: Receiver<Done>,
    format: Format,
    bytes: &AtomicU64,
    buffers: &Buffers,
) -> Option<Tally> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut tally = Tally::default();
    let mut progress = Progress::new();
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    let mut first = true;
    for d in done {
        pending.insert(d.seq, d);
        while let Some(d) = pending.remove(&next) {
            next += 1;
            for m in &d.messages {
                eprintln!("kms-alerts: {m}");
            }
            let mut body = d.out.as_bytes();
            if first && format != Format::Json && !body.is_empty() {
                body = &body[SEPARATOR.len()..];
            }
            first &= body.is_empty();
            out.write_all(body).ok()?;
            buffers.give(d.out);
            tally.add(d.tally);
            progress.tick(&tally, bytes.load(Ordering::Relaxed));
        }
    }
    out.flush().ok()?;
    progress.finish();
    Some(tally)
}

/// Progress on stderr while a long run goes on, when stderr is a terminal.
struct Progress {
    on: bool,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new() -> Self {
        Progress {
            on: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last: Instant::now(),
        }
    }

    fn tick(&mut self, tally: &Tally, bytes: u64) {
        if !self.on || self.last.elapsed() < Duration::from_millis(250) {
            return;
        }
        self.last = Instant::now();
        if self.started.elapsed() < Duration::from_secs(1) {
            return;
        }
        let mb = bytes as f64 / 1e6;
        let secs = self.started.elapsed().as_secs_f64();
        eprint!(
            "\rkms-alerts: {} events, {} alerts, {mb:.1} MB read ({:.1} MB/s)   ",
            tally.events,
            tally.alerts,
            mb / secs
        );
    }

    fn finish(&self) {
        if self.on && self.started.elapsed() >= Duration::from_secs(1) {
            eprint!("\r\x1b[K");
        }
    }
}
