//! Where the CLI reads from: files, directories (recursively, in name order) and stdin, each
//! opened as a buffered stream, gunzipped when it starts with gzip's magic bytes.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Read buffer per input.
const BUFFER: usize = 256 * 1024;

/// One input to read: a file path, or stdin (`-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    /// How messages name it.
    pub fn label(&self) -> String {
        match self {
            Source::Stdin => "stdin".to_string(),
            Source::File(p) => p.display().to_string(),
        }
    }
}

/// Expands the arguments: `-` is stdin, a directory is every file under it (sorted), a file
/// is itself. Unreadable directories are errors naming them.
pub fn expand(args: &[String]) -> (Vec<Source>, Vec<String>) {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for a in args {
        if a == "-" {
            sources.push(Source::Stdin);
            continue;
        }
        let path = Path::new(a);
        if path.is_dir() {
            walk(path, &mut sources, &mut errors);
        } else {
            sources.push(Source::File(path.to_path_buf()));
        }
    }
    (sources, errors)
}

fn walk(dir: &Path, out: &mut Vec<Source>, errors: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out, errors);
        } else {
            out.push(Source::File(p));
        }
    }
}

/// Counts the bytes read through it (compressed bytes, for a gzip file).
pub struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens `source` for streaming; `count` grows with the bytes read from it.
pub fn open(source: &Source, count: Arc<AtomicU64>) -> std::io::Result<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = match source {
        Source::Stdin => Box::new(std::io::stdin()),
        Source::File(p) => Box::new(std::fs::File::open(p)?),
    };
    kms_alerts_core::maybe_gunzip(BufReader::with_capacity(
        BUFFER,
        Counting { inner: raw, count },
    ))
}
