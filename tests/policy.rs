//! README's "Severity policy" table states the policy the code applies
//! (`kms_alerts_core::SEVERITY_POLICY`): the same rules in the same order, each with its
//! level and the calls it names.

mod common;

use kms_alerts_core::{Level, SEVERITY_POLICY};

/// The rows of the table under README's "### Severity policy", as cells.
fn readme_rows() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let start = readme
        .find("\n### Severity policy\n")
        .expect("README has a Severity policy section");
    let section = &readme[start + 1..];
    let end = section[4..].find("\n#").map_or(section.len(), |i| i + 4);
    section[..end]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn readme_states_the_policy_the_code_applies() {
    let rows = readme_rows();
    assert_eq!(rows.len(), SEVERITY_POLICY.len(), "{rows:?}");
    for (n, (row, policy)) in rows.iter().zip(SEVERITY_POLICY).enumerate() {
        assert_eq!(row.len(), 5, "{row:?}");
        assert_eq!(row[0], (n + 1).to_string());
        assert_eq!(row[1], format!("`{}`", policy.name), "row {}", n + 1);
        for call in policy.calls {
            assert!(
                row[3].contains(&format!("`{call}`")),
                "{}: README does not name {call}",
                policy.name
            );
        }
        match policy.level {
            Level::Fixed(s) => assert_eq!(row[4], s.as_str(), "{}", policy.name),
            Level::OfKind => assert!(row[4].starts_with("the kind's"), "{}", policy.name),
        }
    }
}
