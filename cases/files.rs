//! rstest's `#[files]` over case files, as a user's plain test target
//! would do it (README, "Use it in your repository"): one test per file,
//! named after it, each `tcplab::run_case(..).assert_passed()`; and a
//! wrong case's failure, which must carry `file:line` and the ladder.
//!
//! Its runs go to an output root of their own (target/tmp/tcplab-files),
//! whatever TCPLAB_OUT says, so the suite's report (target/tcplab,
//! nextest's run folder, a kernel's run in ci/kernels) holds the suite's
//! cases only.

use std::path::{Path, PathBuf};

use rstest::rstest;

fn own_output() {
    tcplab::suite::run_case_out(Path::new(env!("CARGO_TARGET_TMPDIR")).join("tcplab-files"));
}

#[rstest]
fn case_file(
    #[files("cases/handshake.case")]
    #[files("cases/data.case")]
    #[files("cases/server-close.case")]
    case: PathBuf,
) {
    own_output();
    tcplab::run_case(&case).assert_passed();
}

#[test]
fn a_wrong_case_fails_with_file_line_and_the_ladder() {
    own_output();
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/selftest/teardown-rst-expected.case");
    let outcome = tcplab::run_case(&file);
    assert!(!outcome.passed(), "a wrong case passed");
    assert_eq!(outcome.name(), "teardown-rst-expected");
    let text = outcome.failure().unwrap_or_default();
    assert!(
        text.starts_with("cases/selftest/teardown-rst-expected.case:")
            && text.contains("packets differ")
            && text.contains(">>")
            && text.contains("expected")
            && text.contains("observed"),
        "{text}"
    );
    let report = outcome.report().expect("a report");
    assert!(report.is_file(), "{}", report.display());
    let panic = std::panic::catch_unwind(|| outcome.assert_passed()).unwrap_err();
    let said = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        said.starts_with(text) && said.contains("report: "),
        "{said}"
    );
}
