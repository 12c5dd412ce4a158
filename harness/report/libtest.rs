//! A test binary's output read back: libtest's (`cargo test`'s unit tests)
//! and libtest-mimic's (the case runner), which print alike. Stable Rust
//! has no machine-readable test output (`--format json` needs nightly), so
//! the kernel matrix keeps what each binary printed inside its VM and
//! reads here each test's outcome, a failure's text and where it failed.
//!
//! ```text
//! running 592 tests
//! test sysctl::tests::names_map ... ok
//! test sysctl::tests::bad_name ... FAILED
//! test slow ... ignored, needs a network
//! test syn-retries ... ignored (needs net.ipv4.tcp_syn_linear_timeouts)
//!
//! failures:
//!
//! ---- sysctl::tests::bad_name stdout ----
//! thread '...' panicked at harness/sysctl.rs:202:42:
//! ...
//!
//! failures:
//!     sysctl::tests::bad_name
//!
//! test result: FAILED. 590 passed; 1 failed; 1 ignored; ...
//! ```
//!
//! A failure text may itself hold a test binary's output (a self-test
//! that runs the runner): only `test` lines before the first `failures:`
//! count, a section starts only at a header naming a test that failed,
//! and the last section ends at the last `failures:`.

/// How one test ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    /// Ignored, with the reason the binary printed, if any.
    Ignored(Option<String>),
}

/// One test of a binary's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Test {
    pub name: String,
    pub outcome: Outcome,
    /// What it printed under its `---- NAME ----` header, if it failed.
    pub failure: Option<String>,
}

/// A binary's output, read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub tests: Vec<Test>,
    /// The closing `test result: ...` line; None if the binary never got
    /// there (it crashed, or was killed).
    pub result: Option<String>,
}

impl Output {
    /// How many tests ended as `f` says.
    pub fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.tests.iter().filter(|t| f(&t.outcome)).count()
    }

    pub fn test(&self, name: &str) -> Option<&Test> {
        self.tests.iter().find(|t| t.name == name)
    }
}

/// Without terminal colours (ESC [ ... letter).
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `test NAME ... OUTCOME`, as libtest and libtest-mimic print it.
fn test_line(line: &str) -> Option<(String, Outcome)> {
    let rest = line.strip_prefix("test ")?;
    let (name, outcome) = rest.split_once(" ... ")?;
    let name = name.trim_end();
    let name = name.strip_suffix(" - should panic").unwrap_or(name);
    let outcome = outcome.trim_end();
    let outcome = match outcome {
        "ok" => Outcome::Passed,
        "FAILED" => Outcome::Failed,
        "ignored" => Outcome::Ignored(None),
        o => {
            let reason = o
                .strip_prefix("ignored, ")
                .or_else(|| o.strip_prefix("ignored (")?.strip_suffix(')'))?;
            Outcome::Ignored(Some(reason.to_string()))
        }
    };
    (!name.is_empty() && !name.contains(' ')).then(|| (name.to_string(), outcome))
}

/// The failed test a `---- NAME stdout ----` / `---- NAME ----` header
/// opens, if it names one of `failed`.
fn header<'a>(line: &str, failed: &[&'a str]) -> Option<&'a str> {
    let inner = line.strip_prefix("---- ")?.strip_suffix(" ----")?;
    let name = inner.strip_suffix(" stdout").unwrap_or(inner);
    failed.iter().copied().find(|f| *f == name)
}

/// Reads a binary's output (see the module's doc).
pub fn parse(text: &str) -> Output {
    let lines: Vec<String> = text.lines().map(plain).collect();
    let first_failures = lines.iter().position(|l| l == "failures:");
    let last_failures = lines.iter().rposition(|l| l == "failures:");
    let tests_end = first_failures.unwrap_or(lines.len());
    let mut tests: Vec<Test> = lines[..tests_end]
        .iter()
        .filter_map(|l| test_line(l))
        .map(|(name, outcome)| Test {
            name,
            outcome,
            failure: None,
        })
        .collect();
    if let (Some(from), Some(to)) = (first_failures, last_failures) {
        let failed: Vec<String> = tests
            .iter()
            .filter(|t| t.outcome == Outcome::Failed)
            .map(|t| t.name.clone())
            .collect();
        let failed: Vec<&str> = failed.iter().map(String::as_str).collect();
        let mut current: Option<(&str, Vec<&str>)> = None;
        let mut texts: Vec<(&str, String)> = Vec::new();
        for line in &lines[from + 1..to.max(from + 1)] {
            if let Some(name) = header(line, &failed) {
                texts.extend(current.take().map(|(n, body)| (n, body.join("\n"))));
                current = Some((name, Vec::new()));
            } else if let Some((_, body)) = current.as_mut() {
                body.push(line);
            }
        }
        texts.extend(current.map(|(n, body)| (n, body.join("\n"))));
        for (name, body) in texts {
            if let Some(t) = tests.iter_mut().find(|t| t.name == name) {
                t.failure = Some(body.trim().to_string());
            }
        }
    }
    let result = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("test result:"))
        .cloned();
    Output { tests, result }
}

/// Where a failure text says it failed: the first `FILE.rs:LINE` or
/// `FILE.case:LINE` in it (a panic's location, a case file's line), as
/// `FILE:LINE`.
pub fn location(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || "`'\"()[]{}<>,;".contains(c))
        .find_map(|word| {
            let mut parts = word.split(':');
            let file = parts.next()?;
            let line = parts.next()?;
            let stem = file
                .strip_suffix(".rs")
                .or_else(|| file.strip_suffix(".case"))?;
            let digits = !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit());
            (digits && !stem.is_empty()).then(|| format!("{file}:{line}"))
        })
}

/// What a failure text says went wrong, in a line: a panic's message
/// (the line after `panicked at FILE:LINE:COL:`), else its first line.
pub fn reason(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.clone().next().unwrap_or("");
    while let Some(l) = lines.next() {
        if l.contains(" panicked at ") && l.ends_with(':') {
            return lines.next().unwrap_or(l).to_string();
        }
    }
    first.to_string()
}

#[cfg(test)]
#[path = "libtest_tests.rs"]
mod tests;
