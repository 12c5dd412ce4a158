//! A run's results as JUnit XML, for CI systems that read it (GitLab,
//! Jenkins, Buildkite): one `<testcase>` per case, a failure's first line
//! (`file:line: what differs`) as its message and the whole text (the
//! side-by-side ladder) as its body, the kernel, nc and run in properties.
//!
//! Written beside every run's report (`runs/<id>/junit.xml`, and by
//! `merge`), so it holds the whole run however it ran; `--format junit`
//! prints it and TCPLAB_JUNIT=FILE copies it (`suite`). The layout is the
//! one most readers agree on (Jenkins' and GitLab's schema): `testsuites`
//! > `testsuite` > `testcase` > `failure`.

use std::fmt::Write;

use super::results::CaseResult;
use super::when::iso8601;

/// The XML of `results`, one test suite named `suite`.
pub fn xml(suite: &str, results: &[CaseResult]) -> String {
    let tests: Vec<Vec<&CaseResult>> = results.iter().map(|r| vec![r]).collect();
    xml_of_attempts(suite, &tests)
}

/// The XML of `tests`, each the attempts at one test in the order they
/// ran (the kernel matrix's retries, `kernels::retry::attempts`; one
/// attempt elsewhere): the last decides. A test that passed on a retry is
/// a passing `<testcase>` with a `<flakyFailure>` for each failed attempt
/// before; one that failed every time has its first failure as its
/// `<failure>` and each later one as a `<rerunFailure>` (Maven Surefire's
/// elements, as cargo-nextest writes them).
pub fn xml_of_attempts(suite: &str, tests: &[Vec<&CaseResult>]) -> String {
    let last: Vec<&CaseResult> = tests.iter().filter_map(|t| t.last().copied()).collect();
    let all = || tests.iter().flatten();
    let skipped = last.iter().filter(|r| r.skipped.is_some()).count();
    let failures = last
        .iter()
        .filter(|r| !r.passed && r.skipped.is_none())
        .count();
    let seconds: f64 = all().map(|r| r.seconds).sum();
    let started = all().map(|r| r.started).fold(f64::INFINITY, f64::min);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"tcplab\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{seconds:.3}\">",
        last.len()
    );
    let _ = write!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{seconds:.3}\"",
        attr(suite),
        last.len()
    );
    if started.is_finite() {
        let _ = write!(x, " timestamp=\"{}\"", iso8601(started));
    }
    x += ">\n";
    suite_properties(&mut x, &last);
    for t in tests.iter().filter(|t| !t.is_empty()) {
        testcase(&mut x, t);
    }
    x += "  </testsuite>\n</testsuites>\n";
    x
}

/// The kernels and nc the suite ran on, when all its cases agree.
fn suite_properties(x: &mut String, results: &[&CaseResult]) {
    let one = |f: fn(&CaseResult) -> &str| {
        let mut v: Vec<&str> = results
            .iter()
            .map(|r| f(r))
            .filter(|s| !s.is_empty())
            .collect();
        v.sort_unstable();
        v.dedup();
        v.join(", ")
    };
    let props = [("kernel", one(|r| &r.kernel)), ("nc", one(|r| &r.nc))];
    if props.iter().all(|(_, v)| v.is_empty()) {
        return;
    }
    *x += "    <properties>\n";
    for (k, v) in props.iter().filter(|(_, v)| !v.is_empty()) {
        let _ = writeln!(x, "      <property name=\"{k}\" value=\"{}\"/>", attr(v));
    }
    *x += "    </properties>\n";
}

/// One test's `<testcase>`: its last attempt's, with the attempts before.
fn testcase(x: &mut String, attempts: &[&CaseResult]) {
    let r = attempts[attempts.len() - 1];
    let _ = writeln!(
        x,
        "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{:.3}\">",
        attr(&r.name),
        attr(if r.cases_dir.is_empty() {
            "tcplab"
        } else {
            &r.cases_dir
        }),
        attr(&r.file),
        r.seconds
    );
    *x += "      <properties>\n";
    for (k, v) in [
        ("kernel", &r.kernel),
        ("nc", &r.nc),
        ("run", &r.run),
        ("file", &r.file),
    ] {
        let _ = writeln!(x, "        <property name=\"{k}\" value=\"{}\"/>", attr(v));
    }
    if let Some(pcap) = &r.pcap {
        let _ = writeln!(
            x,
            "        <property name=\"capture\" value=\"{}\"/>",
            attr(pcap)
        );
    }
    *x += "      </properties>\n";
    if let Some(why) = &r.skipped {
        let _ = writeln!(x, "      <skipped message=\"{}\"/>", attr(why));
    } else if !r.passed {
        failure(x, "failure", attempts[0], false);
        for again in &attempts[1..] {
            failure(x, "rerunFailure", again, true);
        }
    } else {
        let before = &attempts[..attempts.len() - 1];
        for first in before.iter().filter(|a| !a.passed && a.skipped.is_none()) {
            failure(x, "flakyFailure", first, true);
        }
    }
    if !r.ladder.is_empty() {
        let _ = writeln!(x, "      <system-out>{}</system-out>", body(&r.ladder));
    }
    *x += "    </testcase>\n";
}

/// A `<failure>` (its text as the element's), or a Surefire
/// `<rerunFailure>` / `<flakyFailure>` (`nested`: the text in
/// `<stackTrace>`, the ladder in `<system-out>`).
fn failure(x: &mut String, tag: &str, r: &CaseResult, nested: bool) {
    let text = r.failure.as_deref().unwrap_or("failed");
    let first = text.lines().next().unwrap_or("failed");
    let _ = write!(
        x,
        "      <{tag} message=\"{}\" type=\"tcplab\">",
        attr(first)
    );
    if !nested {
        let _ = writeln!(x, "{}</{tag}>", body(text));
        return;
    }
    let _ = write!(x, "<stackTrace>{}</stackTrace>", body(text));
    if !r.ladder.is_empty() {
        let _ = write!(x, "<system-out>{}</system-out>", body(&r.ladder));
    }
    let _ = writeln!(x, "</{tag}>");
}

/// Text as XML 1.0 allows it: `&`, `<`, `>` escaped; characters XML
/// cannot hold at all (controls other than tab and newline, e.g. a
/// terminal's escape) as `\u{..}`.
fn body(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '\t' | '\n' => out.push(c),
            c if allowed(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    out
}

/// An attribute value: [`body`], quotes escaped, and newlines and tabs as
/// character references (a parser would turn them into spaces).
fn attr(s: &str) -> String {
    body(s)
        .replace('"', "&quot;")
        .replace('\n', "&#10;")
        .replace('\t', "&#9;")
}

/// Whether XML 1.0 can hold `c` (its `Char` production, `\r` aside).
fn allowed(c: char) -> bool {
    matches!(c as u32, 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, failure: Option<&str>) -> CaseResult {
        CaseResult {
            run: "r1".into(),
            name: name.into(),
            file: format!("cases/{name}.case"),
            cases_dir: "cases".into(),
            passed: failure.is_none(),
            started: 1_700_000_000.0,
            seconds: 0.25,
            failure: failure.map(str::to_string),
            ladder: "  |--- SYN --->|\n".into(),
            pcap: Some(format!("{name}.pcap")),
            nc: "tcplab nc".into(),
            kernel: "6.18.0".into(),
            ..Default::default()
        }
    }

    #[test]
    fn one_testcase_per_case_and_the_failure_first_line_as_message() {
        let x = xml(
            "cases",
            &[
                result("data", None),
                result(
                    "teardown",
                    Some("cases/teardown.case:12: packets differ\n  >> server > client [R.]"),
                ),
            ],
        );
        assert_eq!(x.matches("<testcase ").count(), 2);
        assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
        assert!(
            x.contains(
                "<failure message=\"cases/teardown.case:12: packets differ\" type=\"tcplab\">cases/teardown.case:12: packets differ\n  &gt;&gt; server &gt; client [R.]</failure>"
            ),
            "{x}"
        );
        assert!(x.contains("<property name=\"kernel\" value=\"6.18.0\"/>"));
        assert!(x.contains("timestamp=\"2023-11-14T22:13:20\""), "{x}");
        let mut later = result("later", None);
        later.passed = false;
        later.skipped = Some("needs kernel 999.1 or later".into());
        let x = xml("cases", &[later]);
        assert!(
            x.contains("failures=\"0\" errors=\"0\" skipped=\"1\""),
            "{x}"
        );
        assert!(
            x.contains("<skipped message=\"needs kernel 999.1 or later\"/>"),
            "{x}"
        );
    }

    #[test]
    fn a_retry_that_passed_is_a_passing_testcase_with_its_flaky_failure() {
        let first = result("rto-backoff", Some("cases/rto-backoff.case:15: rto 316ms"));
        let mut again = result("rto-backoff", None);
        again.run = "r1-retry1".into();
        let mut still = result("closing", Some("cases/closing.case:3: late"));
        still.run = "r1-retry1".into();
        let closing = result("closing", Some("cases/closing.case:3: late"));
        let x = xml_of_attempts("cases", &[vec![&first, &again], vec![&closing, &still]]);
        assert_eq!(x.matches("<testcase ").count(), 2, "{x}");
        assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
        assert!(
            x.contains("<flakyFailure message=\"cases/rto-backoff.case:15: rto 316ms\" type=\"tcplab\"><stackTrace>cases/rto-backoff.case:15: rto 316ms</stackTrace><system-out>"),
            "{x}"
        );
        assert!(
            x.contains("<property name=\"run\" value=\"r1-retry1\"/>"),
            "{x}"
        );
        assert_eq!(x.matches("<failure ").count(), 1, "{x}");
        assert_eq!(x.matches("<rerunFailure ").count(), 1, "{x}");
    }

    #[test]
    fn text_xml_cannot_hold_is_escaped_not_written() {
        assert_eq!(body("a<b&c\u{1b}[31m\0"), "a&lt;b&amp;c\\u{1b}[31m\\u{0}");
        assert_eq!(attr("say \"x\"\n\tthen"), "say &quot;x&quot;&#10;&#9;then");
    }
}
