use super::*;

/// A unit-test binary's output as 6.12 under QEMU printed it (shortened).
const UNIT: &str = "
running 5 tests
test sysctl::tests::names_map_to_proc_sys ... ok
test faults::tests::the_queue_adds_well_under_a_millisecond_per_packet ... FAILED
test capture::live_tests::slow_one ... ignored
test fuzz::long ... ignored, takes a minute
test case::parse::tests::panics - should panic ... ok

failures:

---- faults::tests::the_queue_adds_well_under_a_millisecond_per_packet stdout ----
faults cost: setup 37.7ms for both sides

thread 'faults::tests::the_queue_adds_well_under_a_millisecond_per_packet' (539) panicked at harness/faults/tests.rs:500:5:
+1.339057ms per packet
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    faults::tests::the_queue_adds_well_under_a_millisecond_per_packet

test result: FAILED. 2 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 24.67s

";

/// The case runner's (libtest-mimic, coloured), with a self-test whose
/// failure text holds a whole nested run of the runner.
const CASES: &str = "running 4 tests
test syn-retries                          ... \u{1b}[31mFAILED\u{1b}[0m
test teardown                             ... \u{1b}[32mok\u{1b}[0m
test closing                              ... \u{1b}[33mignored (needs sysctl net.ipv4.tcp_rto_min_us)\u{1b}[0m
test selftest::bad_case_files_fail_only_their_own_trials ... FAILED

failures:

---- syn-retries ----
cases/syn-retries.case:3: client sysctl net.ipv4.tcp_syn_linear_timeouts=0: ENOENT

---- selftest::bad_case_files_fail_only_their_own_trials ----
the good case did not pass beside the bad files:

running 2 tests
test big    ... FAILED
test good   ... ok

failures:

---- big ----
/tmp/x/big.case: 2000000 bytes

---- teardown ----
not a header of ours: teardown passed


failures:
    big

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.50s


failures:
    syn-retries
    selftest::bad_case_files_fail_only_their_own_trials

test result: FAILED. 1 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 21.46s

tcplab: states observed: 9/11
";

#[test]
fn each_test_line_gives_its_outcome_and_ignored_ones_their_reason() {
    let out = parse(UNIT);
    let got: Vec<(&str, &Outcome)> = out
        .tests
        .iter()
        .map(|t| (t.name.as_str(), &t.outcome))
        .collect();
    assert_eq!(
        got,
        vec![
            ("sysctl::tests::names_map_to_proc_sys", &Outcome::Passed),
            (
                "faults::tests::the_queue_adds_well_under_a_millisecond_per_packet",
                &Outcome::Failed
            ),
            ("capture::live_tests::slow_one", &Outcome::Ignored(None)),
            (
                "fuzz::long",
                &Outcome::Ignored(Some("takes a minute".into()))
            ),
            ("case::parse::tests::panics", &Outcome::Passed),
        ]
    );
    assert_eq!(
        out.result.as_deref(),
        Some("test result: FAILED. 2 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 24.67s")
    );
    assert_eq!(out.count(|o| matches!(o, Outcome::Ignored(_))), 2);
}

#[test]
fn a_failure_keeps_its_text_and_its_panic_location() {
    let out = parse(UNIT);
    let t = out
        .test("faults::tests::the_queue_adds_well_under_a_millisecond_per_packet")
        .unwrap();
    let text = t.failure.as_deref().unwrap();
    assert!(text.starts_with("faults cost: setup"), "{text}");
    assert!(text.ends_with("display a backtrace"), "{text}");
    assert_eq!(
        location(text).as_deref(),
        Some("harness/faults/tests.rs:500")
    );
    assert_eq!(
        out.test("sysctl::tests::names_map_to_proc_sys")
            .unwrap()
            .failure,
        None
    );
}

#[test]
fn nested_runner_output_in_a_failure_is_text_not_tests() {
    let out = parse(CASES);
    let names: Vec<&str> = out.tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "syn-retries",
            "teardown",
            "closing",
            "selftest::bad_case_files_fail_only_their_own_trials"
        ]
    );
    assert_eq!(
        out.test("closing").unwrap().outcome,
        Outcome::Ignored(Some("needs sysctl net.ipv4.tcp_rto_min_us".into()))
    );
    assert_eq!(
        out.test("syn-retries").unwrap().failure.as_deref(),
        Some("cases/syn-retries.case:3: client sysctl net.ipv4.tcp_syn_linear_timeouts=0: ENOENT")
    );
    // The self-test's text runs to the last `failures:`, nested headers and all.
    let nested = out
        .test("selftest::bad_case_files_fail_only_their_own_trials")
        .unwrap()
        .failure
        .as_deref()
        .unwrap();
    assert!(
        nested.contains("---- teardown ----\nnot a header of ours"),
        "{nested}"
    );
    assert!(nested.ends_with("finished in 0.50s"), "{nested}");
    assert_eq!(out.test("teardown").unwrap().failure, None);
    assert!(out
        .result
        .unwrap()
        .contains("1 passed; 2 failed; 1 ignored"));
}

#[test]
fn a_binary_that_never_finished_has_no_result_line() {
    let out = parse("running 3 tests\ntest a ... ok\ntest b ... FAILED\n");
    assert_eq!(out.result, None);
    assert_eq!(out.tests.len(), 2);
    assert_eq!(out.test("b").unwrap().failure, None);
    assert_eq!(parse(""), Output::default());
}

#[test]
fn location_takes_the_first_file_and_line_of_a_case_or_a_rust_file() {
    assert_eq!(
        location("cases/closing.case:12: packets differ at packet 3").as_deref(),
        Some("cases/closing.case:12")
    );
    assert_eq!(
        location("thread 'x' (7) panicked at harness/sysctl.rs:202:42:\nboom").as_deref(),
        Some("harness/sysctl.rs:202")
    );
    assert_eq!(
        location("see `cases/a.case:3`, then harness/b.rs:9").as_deref(),
        Some("cases/a.case:3")
    );
    assert_eq!(location("took 3.8s; x.rs: no line; .rs:4 no file"), None);
    assert_eq!(location("timeout: 10:30"), None);
}

#[test]
fn the_reason_is_a_panics_message_or_the_first_line() {
    let out = parse(UNIT);
    let t = out
        .test("faults::tests::the_queue_adds_well_under_a_millisecond_per_packet")
        .unwrap();
    assert_eq!(
        reason(t.failure.as_deref().unwrap()),
        "+1.339057ms per packet"
    );
    assert_eq!(
        reason("\ncases/a.case:3: differs\n  >> x"),
        "cases/a.case:3: differs"
    );
    assert_eq!(reason(""), "");
}
