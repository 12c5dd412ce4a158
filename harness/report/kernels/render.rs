//! The kernel matrix as a person reads it: an HTML section for the run
//! report, Markdown for GitHub's job summary, plain text for the
//! terminal. Each holds the kernel × case table, what each kernel was
//! (release, where it came from, KVM or TCG and why, boot and total
//! time), every failure with its file:line, every flaky test (failed,
//! then passed on a retry) with its first failure, every skipped case
//! with its reason, and the totals.

use std::fmt::Write as _;

use super::{Column, Matrix, Verdict};
use crate::report::html::escape;

/// `6.1.0-57-cloud-amd64, linux-image-6.1.0-57-cloud-amd64 (cached), TCG
/// (KVM could not boot it: ...), booted in 11.8 s, 205.6 s in all`.
pub fn describe(col: &Column) -> String {
    let k = &col.kernel;
    let mut parts = vec![if k.release.is_empty() {
        k.spec.clone()
    } else {
        k.release.clone()
    }];
    if !k.source.is_empty() {
        parts.push(k.source.clone());
    }
    match (&k.accel, &k.accel_note) {
        (Some(a), Some(n)) => parts.push(format!("{a} ({n})")),
        (Some(a), None) => parts.push(a.clone()),
        _ => {}
    }
    if let Some(b) = k.boot_seconds {
        parts.push(format!("booted in {b:.1} s"));
    }
    if let Some(t) = k.seconds {
        parts.push(format!("{t:.1} s in all"));
    }
    if let Some(t) = col.trouble() {
        parts.push(t);
    }
    parts.join(", ")
}

/// `2 kernels: 1180 passed, 6 failed, 3 skipped` (`, 1 flaky`).
fn headline(m: &Matrix) -> String {
    format!(
        "{} kernel{}: {}",
        m.columns.len(),
        if m.columns.len() == 1 { "" } else { "s" },
        m.totals()
    )
}

/// The heading of the flaky tests' list.
pub const FLAKY_HEADING: &str = "flaky: failed, then passed on retry";

/// `cases/x.case:15: why` (or the why alone).
fn at_why(at: Option<&str>, why: &str) -> String {
    at.map_or(why.to_string(), |a| format!("{a}: {why}"))
}

fn class(v: &Verdict) -> &'static str {
    match v {
        Verdict::Passed => "pass",
        Verdict::Failed => "fail",
        Verdict::Skipped => "skip",
        Verdict::Flaky => "flaky",
        Verdict::Absent => "absent",
    }
}

/// The HTML section (put under the report's header).
pub fn html(m: &Matrix) -> String {
    let mut h = String::from(
        "<section class=\"kernels\" id=\"kernels\">\n<style>\
         .kernels td.pass { color: var(--pass); } .kernels td.fail { color: var(--fail); font-weight: 700; }\
         .kernels td.skip, .kernels td.absent { color: var(--muted); font-style: italic; }\
         .kernels td.flaky { color: var(--fail); font-style: italic; }\
         .kernels th small { font-weight: 400; color: var(--muted); }</style>\n",
    );
    let _ = writeln!(
        h,
        "<h2>Kernels</h2>\n<p class=\"meta\">The same tests on {}.</p>",
        escape(&headline(m))
    );
    h += "<table class=\"cases matrix\">\n<thead><tr><th>Case</th>";
    for c in &m.columns {
        let _ = write!(
            h,
            "<th>{}<br><small>{} \u{b7} {}</small></th>",
            escape(&c.kernel.label),
            escape(&c.kernel.release),
            escape(c.kernel.accel.as_deref().unwrap_or("?"))
        );
    }
    h += "</tr></thead>\n<tbody>\n";
    for row in &m.rows {
        let _ = write!(h, "<tr><td class=\"mono\">{}</td>", escape(&row.title()));
        for c in &m.columns {
            let cell = m.cell(row, c);
            let _ = write!(
                h,
                "<td class=\"mono {}\">{}</td>",
                class(&cell.verdict),
                escape(&cell.text)
            );
        }
        h += "</tr>\n";
    }
    h += "</tbody>\n</table>\n<ul class=\"meta\">\n";
    for c in &m.columns {
        let _ = writeln!(
            h,
            "<li><b>{}</b>: {}</li>",
            escape(&c.kernel.label),
            escape(&describe(c))
        );
    }
    h += "</ul>\n";
    h += &html_failures(m);
    let skipped = m.skipped();
    if !skipped.is_empty() {
        h += "<h3>Skipped</h3>\n<ul>\n";
        for (k, t, why) in skipped {
            let _ = writeln!(
                h,
                "<li>{}: <code>{}</code>: {}</li>",
                escape(&k),
                escape(&t),
                escape(&why)
            );
        }
        h += "</ul>\n";
    }
    h + "</section>\n"
}

/// The HTML failures table (a retry's failure of a test a row under
/// its first's) and the list of flaky tests.
fn html_failures(m: &Matrix) -> String {
    let mut h = String::new();
    let failures = m.failures();
    if !failures.is_empty() {
        h += "<h3>Failures</h3>\n<table class=\"cases\">\n<thead><tr><th>Kernel</th><th>Test</th>\
              <th>At</th><th>Why</th></tr></thead>\n<tbody>\n";
        for f in failures {
            let _ = writeln!(
                h,
                "<tr class=\"fail\"><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
                escape(&f.kernel),
                escape(&f.test),
                escape(f.at.as_deref().unwrap_or("")),
                escape(&f.why)
            );
            for a in &f.again {
                let _ = writeln!(
                    h,
                    "<tr class=\"fail\"><td>{}</td><td class=\"mono\">again</td><td class=\"mono\">{}</td><td>{}</td></tr>",
                    escape(&a.kernel),
                    escape(a.at.as_deref().unwrap_or("")),
                    escape(&a.why)
                );
            }
        }
        h += "</tbody>\n</table>\n";
    }
    let flaky = m.flaky();
    if !flaky.is_empty() {
        let _ = writeln!(h, "<h3>{}</h3>\n<ul>", escape(&capital(FLAKY_HEADING)));
        for f in flaky {
            let _ = writeln!(
                h,
                "<li>{}: <code>{}</code>: {} (passed in {})</li>",
                escape(&f.first.kernel),
                escape(&f.first.test),
                escape(&at_why(f.first.at.as_deref(), &f.first.why)),
                escape(&f.passed_in)
            );
        }
        h += "</ul>\n";
    }
    h
}

/// Text safe in a Markdown table cell: no `|`, no line break.
fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The job summary's section.
pub fn markdown(m: &Matrix) -> String {
    let mut s = String::new();
    let mark = if m.failed() { "\u{274c}" } else { "\u{2705}" };
    let _ = writeln!(s, "## {mark} tcplab kernel matrix: {}\n", headline(m));
    s += "| case |";
    for c in &m.columns {
        let _ = write!(
            s,
            " {} ({}) |",
            md_cell(&c.kernel.label),
            md_cell(c.kernel.accel.as_deref().unwrap_or("?"))
        );
    }
    s += "\n| --- |";
    s += &" --- |".repeat(m.columns.len());
    s += "\n";
    for row in &m.rows {
        let _ = write!(s, "| `{}` |", md_cell(&row.title()));
        for c in &m.columns {
            let cell = m.cell(row, c);
            let icon = match cell.verdict {
                Verdict::Passed => "\u{2705}",
                Verdict::Failed => "\u{274c}",
                Verdict::Skipped => "\u{23ed}\u{fe0f}",
                Verdict::Flaky => "\u{26a0}\u{fe0f}",
                Verdict::Absent => "\u{2796}",
            };
            let _ = write!(s, " {icon} {} |", md_cell(&cell.text));
        }
        s += "\n";
    }
    s += "\n";
    for c in &m.columns {
        let _ = writeln!(
            s,
            "- **{}**: {}",
            md_cell(&c.kernel.label),
            md_cell(&describe(c))
        );
    }
    let failures = m.failures();
    if !failures.is_empty() {
        s += "\n### Failures\n\n";
        for f in failures {
            let at = f.at.map(|a| format!(" at `{a}`")).unwrap_or_default();
            let _ = writeln!(
                s,
                "- **{}** `{}`{at}: {}",
                f.kernel,
                f.test,
                md_cell(&f.why)
            );
            for a in &f.again {
                let at =
                    a.at.as_ref()
                        .map(|a| format!(" at `{a}`"))
                        .unwrap_or_default();
                let _ = writeln!(s, "  - again in **{}**{at}: {}", a.kernel, md_cell(&a.why));
            }
        }
    }
    let flaky = m.flaky();
    if !flaky.is_empty() {
        let _ = writeln!(s, "\n### \u{26a0}\u{fe0f} {}\n", capital(FLAKY_HEADING));
        for f in flaky {
            let at = f.first.at.map(|a| format!(" at `{a}`")).unwrap_or_default();
            let _ = writeln!(
                s,
                "- **{}** `{}`{at}: {} (passed in {})",
                f.first.kernel,
                f.first.test,
                md_cell(&f.first.why),
                f.passed_in
            );
        }
    }
    let skipped = m.skipped();
    if !skipped.is_empty() {
        s += "\n### Skipped\n\n";
        for (k, t, why) in skipped {
            let _ = writeln!(s, "- **{k}** `{t}`: {}", md_cell(&why));
        }
    }
    s + "\n"
}

/// At most `n` characters of `text`, an ellipsis marking a cut.
fn fit(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        return text.to_string();
    }
    let mut t: String = text.chars().take(n.saturating_sub(1)).collect();
    t.push('\u{2026}');
    t
}

/// The terminal's table: a column per kernel, then what each kernel was,
/// the failures, the flaky tests, the skipped cases, and a closing
/// totals line (`kernels: 1180 passed, 6 failed, 3 skipped`, and `, 1
/// flaky` when there is one).
pub fn text(m: &Matrix) -> String {
    const WIDTH: usize = 34;
    let titles: Vec<String> = m.rows.iter().map(|r| r.title()).collect();
    let first = titles
        .iter()
        .map(|t| t.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let cells: Vec<Vec<String>> = m
        .rows
        .iter()
        .map(|r| {
            m.columns
                .iter()
                .map(|c| fit(&m.cell(r, c).text, WIDTH))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = m
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([c.kernel.label.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = format!("== kernel matrix, {}\n", headline(m));
    let line = |s: &mut String, head: &str, rest: &[String]| {
        let _ = write!(s, "{head:<first$}");
        for (t, w) in rest.iter().zip(&widths) {
            let _ = write!(s, "  {t:<w$}");
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
    };
    let labels: Vec<String> = m.columns.iter().map(|c| c.kernel.label.clone()).collect();
    line(&mut s, "case", &labels);
    for (t, row) in titles.iter().zip(&cells) {
        line(&mut s, t, row);
    }
    s.push('\n');
    for c in &m.columns {
        let _ = writeln!(s, "{}: {}", c.kernel.label, describe(c));
    }
    let failures = m.failures();
    if !failures.is_empty() {
        s += "\nfailures:\n";
        for f in failures {
            let at = f.at.map(|a| format!(" {a}")).unwrap_or_default();
            let _ = writeln!(s, "  {}  {}{at}: {}", f.kernel, f.test, fit(&f.why, 200));
            for a in &f.again {
                let why = at_why(a.at.as_deref(), &a.why);
                let _ = writeln!(s, "      again in {}: {}", a.kernel, fit(&why, 200));
            }
        }
    }
    let flaky = m.flaky();
    if !flaky.is_empty() {
        let _ = writeln!(s, "\n{FLAKY_HEADING}:");
        for f in flaky {
            let at = f.first.at.map(|a| format!(" {a}")).unwrap_or_default();
            let _ = writeln!(
                s,
                "  {}  {}{at}: {} (passed in {})",
                f.first.kernel,
                f.first.test,
                fit(&f.first.why, 200),
                f.passed_in
            );
        }
    }
    let skipped = m.skipped();
    if !skipped.is_empty() {
        s += "\nskipped:\n";
        for (k, t, why) in skipped {
            let _ = writeln!(s, "  {k}  {t}: {why}");
        }
    }
    let _ = writeln!(s, "\nkernels: {}", m.totals());
    s
}

/// `flaky: ...` -> `Flaky: ...`.
fn capital(text: &str) -> String {
    let mut c = text.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
