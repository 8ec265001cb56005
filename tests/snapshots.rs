//! Snapshots of the rendered text and Markdown of every sample event.
//! Run with `UPDATE_SNAPSHOTS=1` to rewrite them after an intended change, then review the diff.

mod common;

use kms_alerts_core::{render, Format};

#[test]
fn rendered_messages_match_snapshots() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut mismatches = Vec::new();
    for path in common::sample_events() {
        let rel = path.to_str().unwrap();
        let alerts = common::alerts(rel);
        for (format, ext) in [(Format::Text, "txt"), (Format::Markdown, "md")] {
            let rendered: Vec<String> = alerts.iter().map(|a| render(a, format)).collect();
            let rendered = rendered.join("\n----\n\n");
            let stem = path.strip_prefix("events").unwrap().with_extension("");
            let snap = common::root()
                .join("tests/snapshots")
                .join(format!("{}.{ext}", stem.display()));
            if update {
                std::fs::create_dir_all(snap.parent().unwrap()).unwrap();
                std::fs::write(&snap, &rendered).unwrap();
                continue;
            }
            match std::fs::read_to_string(&snap) {
                Ok(want) if want == rendered => {}
                Ok(want) => mismatches.push(format!(
                    "{}:\n--- want\n{want}\n--- got\n{rendered}",
                    snap.display()
                )),
                Err(_) => mismatches.push(format!(
                    "{}: missing (run with UPDATE_SNAPSHOTS=1)",
                    snap.display()
                )),
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} snapshot(s) differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
