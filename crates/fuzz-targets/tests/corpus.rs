//! Runs every fuzz target over its seed corpus on stable: the samples of `events/` (for the
//! targets that read bodies) and the committed seeds and regression inputs of
//! `fuzz/seeds/<target>/`, as `fuzz/seed.sh` lays them out for cargo-fuzz. A target whose
//! invariants a seed breaks panics here, naming the file.

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.expect("a readable directory").path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn seeds(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = files(&root.join("fuzz/seeds").join(target));
    if target != "http_head" {
        out.extend(files(&root.join("events")));
    }
    out
}

#[test]
fn every_target_keeps_its_invariants_over_its_seed_corpus() {
    for (target, run) in kms_alerts_fuzz_targets::TARGETS {
        let inputs = seeds(target);
        assert!(
            inputs.len() >= 3,
            "{target}: only {} seed inputs",
            inputs.len()
        );
        for path in inputs {
            let data = std::fs::read(&path).expect("a readable seed");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(
                outcome.is_ok(),
                "fuzz target {target} fails on {}",
                path.display()
            );
        }
    }
}

#[test]
fn every_target_has_a_binary_and_a_seed_directory() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let seed_script = std::fs::read_to_string(root.join("seed.sh")).expect("fuzz/seed.sh");
    for (target, _) in kms_alerts_fuzz_targets::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "{target}: no [[bin]] in fuzz/Cargo.toml"
        );
        let body = std::fs::read_to_string(root.join(format!("fuzz_targets/{target}.rs")))
            .unwrap_or_else(|e| panic!("{target}: fuzz_targets/{target}.rs: {e}"));
        assert!(
            body.contains(&format!("kms_alerts_fuzz_targets::{target}(")),
            "{target}: the binary does not call its body"
        );
        assert!(
            seed_script.contains(target),
            "{target}: not seeded by seed.sh"
        );
        assert!(
            root.join("seeds").join(target).is_dir(),
            "{target}: no seeds directory"
        );
    }
}
