//! Helpers shared by the workspace-level integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every sample under events/, sorted, as paths relative to the root.
pub fn sample_events() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for cloud in ["aws", "alibaba"] {
        let dir = root().join("events").join(cloud);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_file() {
                out.push(path.strip_prefix(root()).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

pub fn read(rel: &Path) -> Vec<u8> {
    std::fs::read(root().join(rel)).unwrap_or_else(|e| panic!("{}: {e}", rel.display()))
}

/// Parses a sample and returns its alerts, failing the test on any error record.
pub fn alerts(rel: &str) -> Vec<kms_alerts_core::Alert> {
    let bytes = read(Path::new(rel));
    kms_alerts_core::parse_labelled(&bytes, rel)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|r| r.result.unwrap_or_else(|e| panic!("{rel}: {e}")))
        .collect()
}
