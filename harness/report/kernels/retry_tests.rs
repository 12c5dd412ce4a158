//! `ci/kernels --retries`: a retry's run folded into the run it retries.

use std::path::{Path, PathBuf};

use super::retry::ToRetry;
use super::tests::{boot, kernel, result, scratch, UNIT_FAILED};
use super::*;
use crate::report::results;

const ORIGINAL: &str = "6.1.0-57-cloud-amd64";
const RETRY: &str = "6.1.0-57-cloud-amd64-retry1";
const RTO: &str = "cases/rto-backoff.case:15: rto 316ms not in 200ms..260ms";

const CASES_FAILED: &str = "running 2 tests
test teardown ... ok
test rto-backoff ... FAILED

failures:

---- rto-backoff ----
cases/rto-backoff.case:15: rto 316ms not in 200ms..260ms

failures:
    rto-backoff

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 70.00s
";

/// The retry ran only what failed (`--only`): the rest is filtered out.
const CASES_RETRIED: &str = "running 1 test
test rto-backoff ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out; finished in 5.00s
";

const UNIT_RETRIED_FAILED: &str = "running 1 test
test sysctl::tests::rto_min ... FAILED

failures:

---- sysctl::tests::rto_min stdout ----

thread 'sysctl::tests::rto_min' (7) panicked at harness/sysctl.rs:202:42:
net.ipv4.tcp_rto_min_us: EACCES

failures:
    sysctl::tests::rto_min

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 1 filtered out; finished in 1.00s
";

const UNIT_RETRIED_OK: &str = "running 1 test
test sysctl::tests::rto_min ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out; finished in 1.00s
";

/// 6.1 with a failed case and a failed unit test, and its retry with
/// `unit` as the unit tests' output there: the case passed.
fn retried(root: &Path, unit: &str, unit_rc: i32) -> Vec<PathBuf> {
    let first = boot(
        root,
        ORIGINAL,
        &kernel("6.1", ORIGINAL),
        &[
            ("unit-tcplab", UNIT_FAILED, 101),
            ("cases", CASES_FAILED, 101),
        ],
    );
    results::write(&first, &result("rto-backoff", false, Some(RTO))).unwrap();
    results::write(&first, &result("teardown", true, None)).unwrap();
    let mut again = kernel("6.1 (retry 1)", ORIGINAL);
    again.retry_of = Some(ORIGINAL.into());
    let second = boot(
        root,
        RETRY,
        &again,
        &[("unit-tcplab", unit, unit_rc), ("cases", CASES_RETRIED, 0)],
    );
    results::write(&second, &result("rto-backoff", true, None)).unwrap();
    // The guest lists TCG's skips in every boot, a retry's too.
    std::fs::write(
        second.join(LIBTEST_DIR).join("unit-tcplab.skipped"),
        "output::tests::fast\tTCG: bounds the harness's own speed\n",
    )
    .unwrap();
    vec![first, second]
}

#[test]
fn a_case_that_passed_on_retry_is_flaky_and_a_unit_test_that_failed_again_stays_failed() {
    let root = scratch("retry-fold");
    let m = Matrix::read(&retried(&root, UNIT_RETRIED_FAILED, 101))
        .unwrap()
        .unwrap();
    assert_eq!(m.columns.len(), 1, "the retry is no column of its own");
    let col = &m.columns[0];
    assert_eq!(col.retries.len(), 1);
    let at = |row: Row| {
        let cell = m.cell(&row, col);
        (cell.verdict, cell.text)
    };
    assert_eq!(
        at(Row::Case("rto-backoff".into())),
        (
            Verdict::Flaky,
            "pass on retry (FAIL cases/rto-backoff.case:15 first)".into()
        )
    );
    assert_eq!(
        at(Row::Case("teardown".into())),
        (Verdict::Passed, "pass".into())
    );
    assert_eq!(
        at(Row::Unit("unit-tcplab".into())),
        (Verdict::Failed, "FAIL 1 failed, 1 passed".into())
    );
    let f = m.failures();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].kernel, "6.1");
    assert_eq!(f[0].test, "unit tests: tcplab: sysctl::tests::rto_min");
    assert_eq!(f[0].why, "net.ipv4.tcp_rto_min_us: ENOENT");
    assert_eq!(f[0].again.len(), 1);
    assert_eq!(f[0].again[0].kernel, "6.1 (retry 1)");
    assert_eq!(f[0].again[0].why, "net.ipv4.tcp_rto_min_us: EACCES");
    let flaky = m.flaky();
    assert_eq!(flaky.len(), 1);
    assert_eq!(flaky[0].passed_in, "6.1 (retry 1)");
    assert_eq!(
        (flaky[0].first.kernel.as_str(), flaky[0].first.test.as_str()),
        ("6.1", "rto-backoff")
    );
    assert_eq!(
        flaky[0].first.at.as_deref(),
        Some("cases/rto-backoff.case:15")
    );
    assert_eq!(flaky[0].first.why, "rto 316ms not in 200ms..260ms");
    // Passed the first time: teardown and a::one; the retry's passes are
    // the flaky one's, its skips the original's again.
    let totals = Totals {
        passed: 2,
        failed: 1,
        skipped: 0,
        flaky: 1,
    };
    assert_eq!(m.totals(), totals);
    assert_eq!(totals.to_string(), "2 passed, 1 failed, 0 skipped, 1 flaky");
    assert!(m.failed());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_text_report_lists_flaky_tests_under_their_heading_and_counts_them() {
    let root = scratch("retry-text");
    let m = Matrix::read(&retried(&root, UNIT_RETRIED_FAILED, 101))
        .unwrap()
        .unwrap();
    let t = render::text(&m);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines[0],
        "== kernel matrix, 1 kernel: 2 passed, 1 failed, 0 skipped, 1 flaky"
    );
    let head: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(head, ["case", "6.1"], "{t}");
    assert!(
        t.contains("\nrto-backoff         pass on retry (FAIL cases/rto-bac\u{2026}\n"),
        "{t}"
    );
    assert!(
        t.contains("\nunit tests: tcplab  FAIL 1 failed, 1 passed\n"),
        "{t}"
    );
    assert!(t.contains(
        "\nfailures:\n  6.1  unit tests: tcplab: sysctl::tests::rto_min harness/sysctl.rs:202: net.ipv4.tcp_rto_min_us: ENOENT\n      again in 6.1 (retry 1): harness/sysctl.rs:202: net.ipv4.tcp_rto_min_us: EACCES\n"
    ), "{t}");
    assert!(t.contains(
        "\nflaky: failed, then passed on retry:\n  6.1  rto-backoff cases/rto-backoff.case:15: rto 316ms not in 200ms..260ms (passed in 6.1 (retry 1))\n"
    ), "{t}");
    assert_eq!(
        lines.last(),
        Some(&"kernels: 2 passed, 1 failed, 0 skipped, 1 flaky")
    );
    let md = render::markdown(&m);
    assert!(
        md.contains("| `rto-backoff` | \u{26a0}\u{fe0f} pass on retry (FAIL cases/rto-backoff.case:15 first) |"),
        "{md}"
    );
    assert!(md.contains("### \u{26a0}\u{fe0f} Flaky: failed, then passed on retry\n\n- **6.1** `rto-backoff` at `cases/rto-backoff.case:15`: rto 316ms not in 200ms..260ms (passed in 6.1 (retry 1))\n"), "{md}");
    assert!(md.contains("  - again in **6.1 (retry 1)** at `harness/sysctl.rs:202`: net.ipv4.tcp_rto_min_us: EACCES\n"), "{md}");
    let h = render::html(&m);
    assert!(
        h.contains(
            "<td class=\"mono flaky\">pass on retry (FAIL cases/rto-backoff.case:15 first)</td>"
        ),
        "{h}"
    );
    assert!(h.contains("<h3>Flaky: failed, then passed on retry</h3>\n<ul>\n<li>6.1: <code>rto-backoff</code>: cases/rto-backoff.case:15: rto 316ms not in 200ms..260ms (passed in 6.1 (retry 1))</li>"), "{h}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn when_every_failure_passed_on_retry_the_matrix_passes_and_says_flaky() {
    let root = scratch("retry-green");
    let m = Matrix::read(&retried(&root, UNIT_RETRIED_OK, 0))
        .unwrap()
        .unwrap();
    let cell = m.cell(&Row::Unit("unit-tcplab".into()), &m.columns[0]);
    assert_eq!(
        (cell.verdict, cell.text.as_str()),
        (Verdict::Flaky, "1 passed, 1 flaky")
    );
    assert_eq!(m.failures(), vec![]);
    assert_eq!(m.flaky().len(), 2);
    assert_eq!(
        m.totals().to_string(),
        "2 passed, 0 failed, 0 skipped, 2 flaky"
    );
    assert!(!m.failed(), "a flaky test fails nothing");
    assert!(render::markdown(&m).starts_with("## \u{2705} tcplab kernel matrix"));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_retry_whose_vm_did_not_finish_keeps_its_tests_failed_and_is_a_failure_itself() {
    let root = scratch("retry-dead");
    let dirs = retried(&root, "running 1 test\n", 137);
    let mut k: KernelInfo =
        serde_json::from_slice(&std::fs::read(dirs[1].join(KERNEL_FILE)).unwrap()).unwrap();
    k.finished = false;
    k.note = Some("the VM ended before the guest was done".into());
    std::fs::write(dirs[1].join(KERNEL_FILE), serde_json::to_vec(&k).unwrap()).unwrap();
    let m = Matrix::read(&dirs).unwrap().unwrap();
    let got: Vec<(String, String)> = m
        .failures()
        .into_iter()
        .map(|f| (f.kernel, f.test))
        .collect();
    let pair = |k: &str, t: &str| (k.to_string(), t.to_string());
    assert_eq!(
        got,
        [
            pair("6.1", "unit tests: tcplab: sysctl::tests::rto_min"),
            pair("6.1 (retry 1)", "unit tests: tcplab"),
            pair("6.1 (retry 1)", "the VM"),
        ]
    );
    assert_eq!(m.flaky().len(), 1, "the case passed before the VM ended");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_tests_to_retry_are_the_failed_ones_and_none_when_the_vm_failed() {
    let root = scratch("retry-names");
    let dirs = retried(&root, UNIT_RETRIED_FAILED, 101);
    let col = Column::read(&dirs[0]).unwrap().unwrap();
    assert_eq!(
        retry::to_retry(&col),
        ToRetry::Tests(vec![
            "rto-backoff".to_string(),
            "sysctl::tests::rto_min".to_string()
        ])
    );
    let col = Column::read(&dirs[1]).unwrap().unwrap();
    assert_eq!(
        retry::to_retry(&col),
        ToRetry::Tests(vec!["sysctl::tests::rto_min".to_string()])
    );
    let mut dead = kernel("6.12", "6.12.118+deb12-cloud-amd64");
    dead.booted = false;
    dead.note = Some("no sign of a boot within 300 s".into());
    let col = Column::read(&boot(&root, "dead", &dead, &[]))
        .unwrap()
        .unwrap();
    assert_eq!(
        retry::to_retry(&col),
        ToRetry::Not("did not boot: no sign of a boot within 300 s".to_string())
    );
    let early = boot(
        &root,
        "early",
        &kernel("6.12", "6.12.118+deb12-cloud-amd64"),
        &[
            ("cases", CASES_FAILED, 0),
            ("unit-nc", "running 3 tests\n", 139),
        ],
    );
    let col = Column::read(&early).unwrap().unwrap();
    assert_eq!(
        retry::to_retry(&col),
        ToRetry::Not("unit tests: nc: ended before its summary line, exit status 139".to_string())
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_kernel_json_without_retry_of_still_reads_and_a_lone_retry_is_a_column() {
    let root = scratch("retry-old");
    let dir = root.join("old");
    std::fs::create_dir_all(&dir).unwrap();
    // As ci/kernels wrote it before --retries.
    std::fs::write(
        dir.join(KERNEL_FILE),
        r#"{"label": "6.12", "spec": "6.12", "release": "6.12.118+deb12-cloud-amd64",
            "source": "x (cached)", "accel": "TCG", "accel_note": null, "booted": true,
            "finished": true, "boot_seconds": 9.1, "seconds": 300.2, "note": null}"#,
    )
    .unwrap();
    let col = Column::read(&dir).unwrap().unwrap();
    assert_eq!(col.kernel.retry_of, None);
    assert_eq!(col.kernel.label, "6.12");
    // The retry of a run not among the inputs is shown as it is.
    let dirs = retried(&root, UNIT_RETRIED_OK, 0);
    let m = Matrix::read(&dirs[1..]).unwrap().unwrap();
    assert_eq!(m.columns.len(), 1);
    assert_eq!(m.columns[0].kernel.label, "6.1 (retry 1)");
    assert!(m.flaky().is_empty());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn merging_a_retried_matrix_gives_junit_one_testcase_with_its_flaky_failure() {
    let root = scratch("retry-junit");
    let dirs = retried(&root, UNIT_RETRIED_OK, 0);
    let out = root.join("report");
    let merged = crate::report::runs::merge(&out, &dirs).unwrap();
    assert!(!merged.matrix.unwrap().failed());
    let x = std::fs::read_to_string(out.join(crate::report::runs::JUNIT)).unwrap();
    assert!(x.contains("tests=\"2\" failures=\"0\""), "{x}");
    assert_eq!(
        x.matches("<testcase name=\"rto-backoff\"").count(),
        1,
        "{x}"
    );
    assert!(
        x.contains(&format!("<flakyFailure message=\"{RTO}\" type=\"tcplab\">")),
        "{x}"
    );
    assert!(x.contains(&format!("value=\"{RETRY}\"")), "{x}");
    // The pages' own verdict agrees with the table: the case's last
    // attempt passed, and its steps log says it failed first.
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("all 2 cases passed"), "{md}");
    assert!(!md.contains("cases failed"), "{md}");
    let page = std::fs::read_to_string(&merged.page).unwrap();
    assert!(page.contains("All 2 cases passed"), "{page}");
    assert!(
        page.contains(&format!("flaky: failed in run {ORIGINAL} (")),
        "{page}"
    );
    // Merged again from the merge's own folders, it folds the same.
    let again = Matrix::read(&[
        out.join("runs").join(ORIGINAL),
        out.join("runs").join(RETRY),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(again.flaky().len(), 2);
    let _ = std::fs::remove_dir_all(&root);
}
