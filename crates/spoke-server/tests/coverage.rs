//! COVERAGE.md is generated from the operation table and must match it.

use std::path::PathBuf;

#[test]
fn coverage_table_is_current_and_every_spec_operation_is_routed() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let specs = root.join("specs");
    assert!(
        specs.is_dir(),
        "the specs are missing from {}",
        specs.display()
    );
    // The repository carries its own copy of the specs so that a clone is complete; where the
    // workspace's shared copy sits beside the repository, the two must be the same.
    let shared = root.join("../shared/specs");
    if shared.is_dir() {
        for entry in std::fs::read_dir(&shared).expect("read shared specs") {
            let path = entry.expect("entry").path();
            let ours = specs.join(path.file_name().expect("name"));
            assert_eq!(
                std::fs::read(&path).ok(),
                std::fs::read(&ours).ok(),
                "specs/ differs from {}: copy it again",
                path.display()
            );
        }
    }
    let rows = spoke_server::coverage::rows(&specs).expect("read specs");
    let unrouted: Vec<String> = rows
        .iter()
        .filter(|r| r.served_by.is_none())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        unrouted.is_empty(),
        "spec operations without a route: {unrouted:#?}"
    );
    let generated = spoke_server::coverage::markdown(&specs).expect("generate");
    let committed = std::fs::read_to_string(root.join("COVERAGE.md")).unwrap_or_default();
    assert!(
        generated == committed,
        "COVERAGE.md is stale: run `cargo run -p spoke-server -- coverage > COVERAGE.md`"
    );
}
