//! Golden tests of the rules language: valid files with their compiled plans, invalid files
//! with the exact error text (line, column, reason, source line and caret).
//!
//! `TROPA_BLESS=1 cargo test --test rules_golden` rewrites the expected files; read the diff.

use std::path::{Path, PathBuf};

fn files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tropa"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no rules files in {dir}");
    v
}

fn check_golden(got: &str, expected: &Path) {
    if std::env::var_os("TROPA_BLESS").is_some() {
        std::fs::write(expected, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(expected)
        .unwrap_or_else(|_| panic!("missing {}; run with TROPA_BLESS=1", expected.display()));
    assert_eq!(got, want, "{} differs", expected.display());
}

#[test]
fn valid_files_compile_to_their_plans() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["examples/rules", "tests/rules/valid"] {
        for path in files(dir) {
            let src = std::fs::read_to_string(&path).unwrap();
            let plan =
                tropa::rules::compile(&src).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
            let name = path.file_stem().unwrap().to_str().unwrap();
            check_golden(
                &plan.to_string(),
                &root.join(format!("tests/rules/plans/{name}.plan")),
            );
        }
    }
}

#[test]
fn invalid_files_give_their_errors() {
    for path in files("tests/rules/invalid") {
        let src = std::fs::read_to_string(&path).unwrap();
        let errors = tropa::rules::compile(&src).expect_err("must not compile");
        check_golden(&format!("{errors}\n"), &path.with_extension("err"));
    }
}
