//! The run as Markdown for GitHub's job summary (`$GITHUB_STEP_SUMMARY`):
//! a title line with the verdict, the totals, a table of the cases
//! (failures first) and, for each failed case, its failure text in a
//! collapsed `<details>`.
//!
//! A failure text goes in a ```` ```text ```` fence verbatim. A fence ends
//! at a line starting with as many backticks as opened it, so when the
//! text holds a run of three or more backticks the fence is made one
//! backtick longer than the longest run (CommonMark's own way of escaping
//! them; the text is shown unchanged).
//!
//! GitHub refuses a step summary over 1 MiB, so each failure text is cut
//! at [`MAX_FAILURE_BYTES`] and failures past [`MAX_DETAILS_BYTES`] are
//! only counted; the HTML report and the job log have them whole.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::html::{case_seconds, escape, failures_first, first_line, wall_time};
use super::html::{CaseReport, RunInfo, Totals, Verdict};

/// The most of one failure text shown.
pub const MAX_FAILURE_BYTES: usize = 60 * 1024;
/// The most the failure details of a summary take, all together.
pub const MAX_DETAILS_BYTES: usize = 800 * 1024;

/// The job summary for a run.
pub fn markdown(run: &RunInfo, cases: &[CaseReport]) -> String {
    markdown_of_runs(run, cases, &[])
}

/// The job summary for the cases of the runs `runs` (their ids): one run,
/// or the shards a CI job merged. The ids are said under the totals.
pub fn markdown_of_runs(run: &RunInfo, cases: &[CaseReport], runs: &[&str]) -> String {
    let t = Totals::of(cases);
    let ordered = failures_first(cases);
    let mut m = String::new();

    if t.total == 0 {
        m.push_str("## tcplab: no cases ran\n\n");
    } else if t.failed == 0 {
        let _ = writeln!(
            m,
            "## \u{2705} tcplab: all {} case{} passed{}\n",
            t.passed,
            plural(t.passed),
            t.and_skipped()
        );
    } else {
        let _ = writeln!(
            m,
            "## \u{274c} tcplab: {} of {} case{} failed\n",
            t.failed,
            t.total,
            plural(t.total)
        );
    }
    let _ = writeln!(m, "{}\n", totals_line(run, &t));
    if !run.coverage.is_empty() {
        let _ = writeln!(m, "{}\n", run.coverage);
    }
    match runs {
        [] => {}
        [one] => {
            let _ = writeln!(m, "Run {}\n", code(one));
        }
        many => {
            let ids: Vec<String> = many.iter().map(|id| code(id)).collect();
            let _ = writeln!(m, "{} runs merged: {}\n", many.len(), ids.join(", "));
        }
    }

    if !ordered.is_empty() {
        m.push_str("| case | verdict | seconds |\n| --- | :---: | ---: |\n");
        for c in &ordered {
            let verdict = match (c.verdict(), &c.skipped) {
                (Verdict::Skip, Some(why)) => format!("\u{23ed}\u{fe0f} skipped: {}", inline(why)),
                (Verdict::Pass, _) => "\u{2705}".to_string(),
                _ => "\u{274c}".to_string(),
            };
            let _ = writeln!(
                m,
                "| {} | {verdict} | {} |",
                inline(&c.name),
                case_seconds(c.seconds)
            );
        }
        m.push('\n');
    }

    let failed: Vec<&&CaseReport> = ordered
        .iter()
        .filter(|c| c.verdict() == Verdict::Fail)
        .collect();
    if !failed.is_empty() {
        m.push_str("### Failures\n\n");
        let start = m.len();
        for (i, c) in failed.iter().enumerate() {
            let text = c.failure.as_deref().unwrap_or("(no failure text)");
            let block = details(c, text);
            if m.len() - start + block.len() > MAX_DETAILS_BYTES {
                let _ = writeln!(
                    m,
                    "{} more failed case{} not shown here (GitHub limits a job summary to 1 MiB); \
                     the job log and the HTML report have them.\n",
                    failed.len() - i,
                    plural(failed.len() - i)
                );
                break;
            }
            m.push_str(&block);
        }
    }
    m
}

/// `**2 passed**, **1 failed** of 3 · wall time 12.3 s · nc ... · kernel
/// ... · IPv6 · timing ±50ms · started ...`: the line under the title
/// (the timing tolerance only when there was one).
fn totals_line(run: &RunInfo, t: &Totals) -> String {
    format!(
        "**{} passed**, **{} failed**{} of {} \u{b7} wall time {} \u{b7} nc {} \u{b7} kernel {}{}{} \u{b7} started {}",
        t.passed,
        t.failed,
        match t.skipped {
            0 => String::new(),
            n => format!(", **{n} skipped**"),
        },
        t.total,
        wall_time(run.seconds),
        code(&run.nc),
        code(&run.kernel),
        if run.family.is_empty() {
            String::new()
        } else {
            format!(" \u{b7} {}", inline(&run.family))
        },
        if run.tolerance.is_empty() {
            String::new()
        } else {
            format!(" \u{b7} timing {}", inline(&run.tolerance))
        },
        inline(&run.started)
    )
}

/// One failed case: `<details>` with the first line of its failure as the
/// summary and the whole text in a fence.
fn details(c: &CaseReport, text: &str) -> String {
    let text = text.trim_end_matches(['\n', '\r']);
    let (shown, cut) = truncate(text, MAX_FAILURE_BYTES);
    let mut body = shown.to_string();
    if cut > 0 {
        let _ = write!(
            body,
            "\n\u{2026} ({cut} more bytes; the job log and the HTML report have the whole text)"
        );
    }
    let fence = fence_for(&body);
    format!(
        "<details><summary><b>{}</b>: {}</summary>\n\n{fence}text\n{body}\n{fence}\n\n</details>\n\n",
        escape(&c.name),
        escape(first_line(text))
    )
}

/// The longest prefix of `text` of at most `max` bytes ending at a char
/// boundary (at a line end when one is near), and how many bytes were
/// left out.
fn truncate(text: &str, max: usize) -> (&str, usize) {
    if text.len() <= max {
        return (text, 0);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if let Some(nl) = text[..end].rfind('\n') {
        if nl > end / 2 {
            end = nl;
        }
    }
    (&text[..end], text.len() - end)
}

/// The longest run of backticks in `text`.
fn longest_backtick_run(text: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in text.chars() {
        if ch == '`' {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// A code fence no line of `text` can close: three backticks, or one more
/// than the longest run in `text`.
fn fence_for(text: &str) -> String {
    "`".repeat((longest_backtick_run(text) + 1).max(3))
}

/// `text` as a code span, backticks inside and `|` (a table's cell
/// separator, which GitHub splits on even in code) included.
fn code(text: &str) -> String {
    let ticks = "`".repeat(longest_backtick_run(text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{}{pad}{ticks}", text.replace('|', "\\|"))
}

/// `text` as literal inline Markdown: punctuation Markdown or HTML would
/// act on is backslash-escaped.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if "\\`*_{}[]<>()#+!|~&".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Writes [`markdown`] to `dir/summary.md` (creating `dir`) and returns
/// that path.
pub fn write_markdown(dir: &Path, run: &RunInfo, cases: &[CaseReport]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("summary.md");
    // A fresh file, not a truncated one (ext4 made truncating opens wait
    // up to a second under load).
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::write(&path, markdown(run, cases))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::super::html::tests::{run, sample, FAILURE};
    use super::*;
    use rstest::rstest;

    /// The text of the first fenced block after `from`, read the way
    /// CommonMark does: it ends at the first line of at least as many
    /// backticks as opened it.
    fn fenced(m: &str, from: usize) -> String {
        let mut lines = m[from..].lines().skip_while(|l| !l.starts_with("```"));
        let open = lines.next().expect("no fence");
        let n = open.chars().take_while(|&c| c == '`').count();
        let mut body = vec![];
        for l in lines {
            let t = l.trim_start_matches(' ');
            if l.len() - t.len() <= 3
                && t.chars().take_while(|&c| c == '`').count() >= n
                && t.trim_start_matches('`').trim().is_empty()
            {
                return body.join("\n");
            }
            body.push(l);
        }
        panic!("fence not closed")
    }

    #[rstest]
    fn title_totals_and_table() {
        let m = markdown(&run(), &sample());
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(lines[0], "## \u{274c} tcplab: 1 of 3 cases failed");
        assert_eq!(
            lines[2],
            "**2 passed**, **1 failed** of 3 \u{b7} wall time 12.3 s \u{b7} nc `tcplab nc` \
             \u{b7} kernel `6.12.48+deb13-amd64` \u{b7} IPv4 \u{b7} started 2026-11-24 13:05:00 UTC"
        );
        let table: Vec<&str> = lines
            .iter()
            .copied()
            .skip_while(|l| !l.starts_with("| case"))
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert_eq!(
            table,
            [
                "| case | verdict | seconds |",
                "| --- | :---: | ---: |",
                "| teardown-missing-ack | \u{274c} | 0.61 |",
                "| teardown | \u{2705} | 0.52 |",
                "| data | \u{2705} | 0.48 |",
            ]
        );
    }

    #[rstest]
    fn a_run_with_a_timing_tolerance_says_so_beside_the_family() {
        let tolerant = RunInfo {
            tolerance: "\u{b1}50ms".into(),
            ..run()
        };
        let m = markdown(&tolerant, &sample());
        assert!(
            m.lines().nth(2).unwrap().ends_with(
                "\u{b7} IPv4 \u{b7} timing \u{b1}50ms \u{b7} started 2026-11-24 13:05:00 UTC"
            ),
            "{m}"
        );
        assert!(!markdown(&run(), &sample()).contains("timing"));
    }

    #[rstest]
    fn all_passed_has_no_failures_section() {
        let cases: Vec<CaseReport> = sample().into_iter().filter(|c| c.passed).collect();
        let m = markdown(&run(), &cases);
        assert!(m.starts_with("## \u{2705} tcplab: all 2 cases passed\n"));
        assert!(!m.contains("<details>"));
        assert!(!m.contains("Failures"));
        assert_eq!(
            markdown(&run(), &[]).lines().next(),
            Some("## tcplab: no cases ran")
        );
    }

    #[rstest]
    fn failures_are_in_details_verbatim() {
        let m = markdown(&run(), &sample());
        assert_eq!(m.matches("<details>").count(), 1);
        let d = m.find("<details>").unwrap();
        // The summary line is HTML: escaped.
        assert!(m[d..].starts_with(
            "<details><summary><b>teardown-missing-ack</b>: \
             cases/selftest/teardown-missing-ack.case:15: packets differ"
        ));
        assert!(m[d..].contains("\n\n```text\n"));
        assert_eq!(fenced(&m, d), FAILURE.trim_end());
        assert!(m.trim_end().ends_with("</details>"));
    }

    #[rstest]
    #[case("a ``` b\n```\nafter", "````")]
    #[case("```\n````` five\n", "``````")]
    #[case("one ` and two ``", "```")]
    fn backticks_cannot_close_the_fence(#[case] text: &str, #[case] fence: &str) {
        let mut cases = sample();
        cases[2].failure = Some(format!("cases/x.case:1: <bad> & \"odd\"\n{text}"));
        let m = markdown(&run(), &cases);
        let d = m.find("<details>").unwrap();
        assert!(m[d..].contains(&format!("\n{fence}text\n")), "{m}");
        assert_eq!(
            fenced(&m, d),
            format!("cases/x.case:1: <bad> & \"odd\"\n{text}").trim_end()
        );
        assert!(m[d..].contains("<summary><b>teardown-missing-ack</b>: cases/x.case:1: &lt;bad&gt; &amp; &quot;odd&quot;</summary>"));
    }

    #[rstest]
    #[case("plain", "`plain`")]
    #[case("a`b", "``a`b``")]
    #[case("`x", "`` `x ``")]
    #[case("a|b", "`a\\|b`")]
    fn code_spans(#[case] raw: &str, #[case] want: &str) {
        assert_eq!(code(raw), want);
    }

    #[rstest]
    fn odd_names_are_literal_in_the_table() {
        let mut cases = sample();
        cases[0].name = "a|b*c_<d>".into();
        let m = markdown(&run(), &cases);
        assert!(
            m.contains("| a\\|b\\*c\\_\\<d\\> | \u{2705} | 0.52 |"),
            "{m}"
        );
    }

    #[rstest]
    fn long_failures_are_cut_and_many_are_counted() {
        let long = format!("cases/x.case:1: long\n{}", "é line\n".repeat(20_000));
        let cases: Vec<CaseReport> = (0..20)
            .map(|i| CaseReport {
                name: format!("c{i}"),
                passed: false,
                failure: Some(long.clone()),
                ..Default::default()
            })
            .collect();
        let m = markdown(&run(), &cases);
        assert!(m.len() < 1024 * 1024, "{}", m.len());
        assert!(m.contains("more bytes; the job log"));
        assert!(m.contains("more failed cases not shown here"));
        // Every <details> that was opened is closed.
        assert_eq!(
            m.matches("<details>").count(),
            m.matches("</details>").count()
        );
    }

    #[rstest]
    fn the_runs_it_holds_are_named_under_the_totals() {
        let one = markdown_of_runs(&run(), &sample(), &["20261202-063512-77"]);
        let lines: Vec<&str> = one.lines().collect();
        assert_eq!(lines[4], "Run `20261202-063512-77`");
        let two = markdown_of_runs(&run(), &sample(), &["a-1", "b`2"]);
        assert!(two.contains("\n2 runs merged: `a-1`, ``b`2``\n"), "{two}");
        assert!(!markdown(&run(), &sample()).contains("Run"));
    }

    #[rstest]
    fn writes_summary_md() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp/report-sample");
        let path = write_markdown(&dir, &run(), &sample()).unwrap();
        assert_eq!(path, dir.join("summary.md"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            markdown(&run(), &sample())
        );
    }
}
