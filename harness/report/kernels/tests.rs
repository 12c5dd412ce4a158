use std::path::{Path, PathBuf};

use super::*;
use crate::report::results::{self, CaseResult};

pub(super) fn scratch(what: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/tmp")
        .join(format!("kernels-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

const UNIT_OK: &str = "running 3 tests
test a::one ... ok
test a::two ... ok
test a::slow ... ignored

test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 1.00s
";

pub(super) const UNIT_FAILED: &str = "running 2 tests
test a::one ... ok
test sysctl::tests::rto_min ... FAILED

failures:

---- sysctl::tests::rto_min stdout ----

thread 'sysctl::tests::rto_min' (9) panicked at harness/sysctl.rs:202:42:
net.ipv4.tcp_rto_min_us: ENOENT

failures:
    sysctl::tests::rto_min

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s
";

const CASES_612: &str = "running 4 tests
test teardown ... ok
test closing ... ok
test syn-retries ... ok
test selftest::fails::x ... ok

test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 61.00s
";

const CASES_61: &str = "running 4 tests
test teardown ... ok
test closing ... FAILED
test syn-retries ... ignored
test selftest::fails::x ... ok

failures:

---- closing ----
cases/closing.case:3: not the libtest text

failures:
    closing

test result: FAILED. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 66.00s
";

/// A run folder as ci/kernels leaves it.
pub(super) fn boot(
    root: &Path,
    id: &str,
    k: &KernelInfo,
    outputs: &[(&str, &str, i32)],
) -> PathBuf {
    let dir = root.join(id);
    std::fs::create_dir_all(dir.join(LIBTEST_DIR)).unwrap();
    std::fs::write(dir.join(KERNEL_FILE), serde_json::to_vec(k).unwrap()).unwrap();
    for (name, text, rc) in outputs {
        std::fs::write(dir.join(LIBTEST_DIR).join(format!("{name}.txt")), text).unwrap();
        std::fs::write(
            dir.join(LIBTEST_DIR).join(format!("{name}.rc")),
            format!("{rc}\n"),
        )
        .unwrap();
    }
    dir
}

pub(super) fn kernel(label: &str, release: &str) -> KernelInfo {
    KernelInfo {
        label: label.into(),
        spec: label.into(),
        release: release.into(),
        source: format!("linux-image-{release} (cached)"),
        accel: Some("TCG".into()),
        accel_note: Some("KVM could not boot it: qemu: failed to set MSR 0x10a".into()),
        booted: true,
        finished: true,
        boot_seconds: Some(9.3),
        seconds: Some(120.5),
        note: None,
        retry_of: None,
    }
}

pub(super) fn result(name: &str, passed: bool, failure: Option<&str>) -> CaseResult {
    CaseResult {
        name: name.into(),
        file: format!("cases/{name}.case"),
        cases_dir: "cases".into(),
        passed,
        failure: failure.map(String::from),
        kernel: "6.1.0-57-cloud-amd64".into(),
        ..CaseResult::default()
    }
}

/// 6.1 with a failed case, a skipped one and a failed unit test; 6.12
/// clean; a third kernel that never booted.
fn three(root: &Path) -> Vec<PathBuf> {
    let d61 = boot(
        root,
        "6.1.0-57-cloud-amd64",
        &kernel("6.1", "6.1.0-57-cloud-amd64"),
        &[("unit-tcplab", UNIT_FAILED, 101), ("cases", CASES_61, 101)],
    );
    let whole = "cases/closing.case:7: packets differ at packet 2 | of the block\n  more";
    results::write(&d61, &result("closing", false, Some(whole))).unwrap();
    results::write(&d61, &result("teardown", true, None)).unwrap();
    // The runner leaves a skipped case out as an ignored trial, its
    // reason in the result file.
    let mut skipped = result("syn-retries", false, None);
    skipped.skipped = Some("needs sysctl net.ipv4.tcp_syn_linear_timeouts: 6.5".into());
    results::write(&d61, &skipped).unwrap();
    std::fs::write(
        d61.join(LIBTEST_DIR).join("unit-tcplab.skipped"),
        "output::tests::fast\tTCG: bounds the harness's own speed\n",
    )
    .unwrap();
    let d612 = boot(
        root,
        "6.12.118_deb12-cloud-amd64",
        &kernel("6.12", "6.12.118+deb12-cloud-amd64"),
        &[("unit-tcplab", UNIT_OK, 0), ("cases", CASES_612, 0)],
    );
    let mut dead = kernel("5.10", "5.10.0-33-cloud-amd64");
    dead.booted = false;
    dead.finished = false;
    dead.note = Some("no sign of a boot within 300 s".into());
    let d510 = boot(root, "5.10.0-33-cloud-amd64", &dead, &[]);
    vec![d61, d612, d510]
}

#[test]
fn rows_are_the_cases_then_the_selftests_then_each_unit_binary() {
    let root = scratch("rows");
    let m = Matrix::read(&three(&root)).unwrap().unwrap();
    assert_eq!(
        m.rows,
        vec![
            Row::Case("closing".into()),
            Row::Case("syn-retries".into()),
            Row::Case("teardown".into()),
            Row::Selftests,
            Row::Unit("unit-tcplab".into()),
        ]
    );
    assert_eq!(m.rows[4].title(), "unit tests: tcplab");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn each_crossing_says_pass_fail_at_its_line_skipped_with_its_reason_or_not_run() {
    let root = scratch("cells");
    let m = Matrix::read(&three(&root)).unwrap().unwrap();
    let (c61, c612, c510) = (&m.columns[0], &m.columns[1], &m.columns[2]);
    let at = |row: Row, c: &Column| {
        let cell = m.cell(&row, c);
        (cell.verdict, cell.text)
    };
    // The result file's failure text wins over the runner's summary of it.
    assert_eq!(
        at(Row::Case("closing".into()), c61),
        (Verdict::Failed, "FAIL cases/closing.case:7".into())
    );
    assert_eq!(
        at(Row::Case("syn-retries".into()), c61),
        (
            Verdict::Skipped,
            "skipped: needs sysctl net.ipv4.tcp_syn_linear_timeouts: 6.5".into()
        )
    );
    assert_eq!(
        at(Row::Case("closing".into()), c612),
        (Verdict::Passed, "pass".into())
    );
    assert_eq!(
        at(Row::Selftests, c61),
        (Verdict::Passed, "1 passed".into())
    );
    assert_eq!(
        at(Row::Unit("unit-tcplab".into()), c61),
        (Verdict::Failed, "FAIL 1 failed, 1 passed, 1 skipped".into())
    );
    assert_eq!(
        at(Row::Unit("unit-tcplab".into()), c612),
        (Verdict::Passed, "2 passed, 1 ignored".into())
    );
    assert_eq!(
        at(Row::Case("teardown".into()), c510),
        (Verdict::Absent, "not run".into())
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn failures_name_kernel_test_and_file_line_and_a_dead_kernel_is_one() {
    let root = scratch("failures");
    let m = Matrix::read(&three(&root)).unwrap().unwrap();
    let f = m.failures();
    let got: Vec<(&str, &str, Option<&str>)> = f
        .iter()
        .map(|f| (f.kernel.as_str(), f.test.as_str(), f.at.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("6.1", "closing", Some("cases/closing.case:7")),
            (
                "6.1",
                "unit tests: tcplab: sysctl::tests::rto_min",
                Some("harness/sysctl.rs:202")
            ),
            ("5.10", "the VM", None),
        ]
    );
    assert_eq!(f[0].why, "packets differ at packet 2 | of the block");
    assert_eq!(f[2].why, "did not boot: no sign of a boot within 300 s");
    // Passed: 6.1 teardown, self-test, unit one; 6.12 all 4 + 2 units.
    assert_eq!(
        m.totals(),
        Totals {
            passed: 3 + 6,
            failed: 3,
            skipped: 2,
            flaky: 0
        }
    );
    assert_eq!(
        m.skipped()[1],
        (
            "6.1".to_string(),
            "unit tests: tcplab: output::tests::fast".to_string(),
            "TCG: bounds the harness's own speed".to_string()
        )
    );
    assert!(m.failed());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_binary_that_ended_early_is_a_failure_of_its_own() {
    let root = scratch("early");
    let d = boot(
        &root,
        "r",
        &kernel("6.12", "6.12.118+deb12-cloud-amd64"),
        &[("unit-tcplab", "running 2 tests\ntest a::one ... ok\n", 137)],
    );
    let m = Matrix::read(&[d]).unwrap().unwrap();
    let cell = m.cell(&Row::Unit("unit-tcplab".into()), &m.columns[0]);
    assert_eq!(cell.verdict, Verdict::Failed);
    assert_eq!(cell.text, "FAIL (did not finish) 1 passed");
    let f = m.failures();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].test, "unit tests: tcplab");
    assert_eq!(f[0].why, "ended before its summary line, exit status 137");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn folders_without_kernel_json_are_no_matrix() {
    let root = scratch("none");
    std::fs::create_dir_all(root.join("plain/results")).unwrap();
    assert_eq!(Matrix::read(&[root.join("plain")]).unwrap(), None);
    std::fs::write(root.join("plain").join(KERNEL_FILE), "{ not json").unwrap();
    let e = Matrix::read(&[root.join("plain")]).unwrap_err().to_string();
    assert!(e.contains("kernel.json: not a kernel record"), "{e}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_text_table_has_a_column_per_kernel_and_a_closing_totals_line() {
    let root = scratch("text");
    let m = Matrix::read(&three(&root)).unwrap().unwrap();
    let t = render::text(&m);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines[0],
        "== kernel matrix, 3 kernels: 9 passed, 3 failed, 2 skipped"
    );
    let head: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(head, ["case", "6.1", "6.12", "5.10"], "{t}");
    let closing = lines.iter().find(|l| l.starts_with("closing")).unwrap();
    let words: Vec<&str> = closing.split_whitespace().collect();
    assert_eq!(
        words,
        [
            "closing",
            "FAIL",
            "cases/closing.case:7",
            "pass",
            "not",
            "run"
        ]
    );
    assert!(t.contains("6.1: 6.1.0-57-cloud-amd64, linux-image-6.1.0-57-cloud-amd64 (cached), TCG (KVM could not boot it: qemu: failed to set MSR 0x10a), booted in 9.3 s, 120.5 s in all\n"), "{t}");
    assert!(
        t.contains("\nskipped:\n  6.1  syn-retries: needs sysctl"),
        "{t}"
    );
    assert!(t.contains("  6.1  unit tests: tcplab: sysctl::tests::rto_min harness/sysctl.rs:202: net.ipv4.tcp_rto_min_us: ENOENT\n"), "{t}");
    assert!(
        t.contains("  5.10  the VM: did not boot: no sign of a boot within 300 s\n"),
        "{t}"
    );
    assert_eq!(
        lines.last(),
        Some(&"kernels: 9 passed, 3 failed, 2 skipped")
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn markdown_and_html_hold_the_table_escaped() {
    let root = scratch("pages");
    let mut m = Matrix::read(&three(&root)).unwrap().unwrap();
    m.columns[1].kernel.label = "<6.12|x>".into();
    let md = render::markdown(&m);
    assert!(
        md.starts_with("## \u{274c} tcplab kernel matrix: 3 kernels:"),
        "{md}"
    );
    assert!(
        md.contains(
            "| case | 6.1 (TCG) | <6.12\\|x> (TCG) | 5.10 (TCG) |\n| --- | --- | --- | --- |\n"
        ),
        "{md}"
    );
    assert!(
        md.contains("| `closing` | \u{274c} FAIL cases/closing.case:7 |"),
        "{md}"
    );
    assert!(
        md.contains("at `cases/closing.case:7`: packets differ at packet 2 \\| of the block"),
        "{md}"
    );
    let h = render::html(&m);
    assert!(
        h.contains(
            "<th>&lt;6.12|x&gt;<br><small>6.12.118+deb12-cloud-amd64 \u{b7} TCG</small></th>"
        ),
        "{h}"
    );
    assert!(
        h.contains("<td class=\"mono fail\">FAIL cases/closing.case:7</td>"),
        "{h}"
    );
    assert!(
        h.contains("<td class=\"mono skip\">skipped: needs sysctl"),
        "{h}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn merging_kernel_runs_puts_the_table_first_and_keeps_a_run_that_did_not_boot() {
    let root = scratch("merge");
    let dirs = three(&root);
    let out = root.join("report");
    let merged = crate::report::runs::merge(&out, &dirs).unwrap();
    let m = merged.matrix.unwrap();
    assert_eq!(m.columns.len(), 3);
    let page = std::fs::read_to_string(&merged.page).unwrap();
    let table = page.find("<section class=\"kernels\"").unwrap();
    assert!(
        table < page.find("<section class=\"runs\"").unwrap(),
        "the matrix comes first"
    );
    assert!(
        page.contains("6.1.0-57-cloud-amd64 (TCG)"),
        "the runs table says kernel and VM"
    );
    assert!(out
        .join("runs/6.1.0-57-cloud-amd64/libtest/cases.txt")
        .is_file());
    assert!(out.join("runs/5.10.0-33-cloud-amd64/kernel.json").is_file());
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.starts_with("## \u{274c} tcplab kernel matrix"), "{md}");
    let _ = std::fs::remove_dir_all(&root);
}
