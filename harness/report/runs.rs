//! Run folders, and the reports assembled from them.
//!
//! Every run writes into a folder of its own under the output root
//! (`target/tcplab/` unless TCPLAB_OUT says otherwise):
//!
//! ```text
//! target/tcplab/
//!   index.html, summary.md    the latest run's report, and a table of the runs held here
//!   latest -> runs/<id>       the latest run's folder (`tcpdump -nn -r target/tcplab/latest/teardown.pcap`)
//!   runs/<id>/                one run: <case>.pcap, results/<case>.json, index.html, summary.md, junit.xml, run.json
//! ```
//!
//! A run's id is TCPLAB_RUN_ID, else NEXTEST_RUN_ID (the same in every
//! process of one nextest run), else `<UTC time>-<pid>`. So two runs at
//! once in one checkout never share a capture or a result, and the
//! processes of one nextest run share one folder. After each process
//! that ran cases, [`assemble`] rebuilds the run's report from every
//! result in its folder, under a lock on the root: the last process to
//! finish writes the whole run. [`merge`] does the same for several
//! folders (CI shards) into one report.
//!
//! Old runs are pruned: beyond the newest [`KEEP`] (TCPLAB_KEEP_RUNS), a
//! folder untouched for ten minutes whose run holds no lock on it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::error::ReportError;
use super::html::{self, escape, CaseReport, RunInfo};
use super::junit;
use super::kernels::{self, render, Column, Matrix};
use super::results::{self, CaseResult};
use super::summary;
use super::when::utc;
use crate::error::Error;

/// The run's JUnit XML, beside its index.html and summary.md.
pub const JUNIT: &str = "junit.xml";
/// How many runs the root keeps by default.
pub const KEEP: usize = 20;
/// A run folder younger than this is never pruned (a nextest run between
/// two of its processes holds no lock).
const FRESH: Duration = Duration::from_secs(600);
/// ... unless its id is `<UTC time>-<pid>`: one process, which holds its
/// folder's lock from just after making it to its exit, so once the lock
/// is free the run is over. This much grace covers the moment between.
/// (Without it, a loop of runs kept every folder of the last ten minutes,
/// and each run read and stat'ed them all: 2,000 statx a run after 600.)
const FRESH_ONE_PROCESS: Duration = Duration::from_secs(5);

/// What the table of runs says of one run (`runs/<id>/run.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: String,
    /// The case folders its cases came from.
    pub cases_dirs: Vec<String>,
    /// Seconds since the Unix epoch.
    pub started: f64,
    pub seconds: f64,
    pub passed: usize,
    pub failed: usize,
    /// Left out by the run (`results::CaseResult::skipped`).
    #[serde(default)]
    pub skipped: usize,
    /// The kernel its cases ran on (`uname -r`; several if they differ).
    #[serde(default)]
    pub kernel: String,
    /// `KVM` or `TCG` when the kernel matrix booted it in a VM
    /// (`kernel.json` beside it, written by ci/kernels after the run).
    #[serde(default)]
    pub vm: Option<String>,
}

impl RunSummary {
    fn of(id: &str, rs: &[CaseResult]) -> RunSummary {
        let passed = rs.iter().filter(|r| r.passed).count();
        let skipped = rs.iter().filter(|r| r.skipped.is_some()).count();
        let (started, seconds) = span(rs);
        RunSummary {
            id: id.to_string(),
            cases_dirs: distinct(rs.iter().map(|r| r.cases_dir.as_str())),
            started,
            seconds,
            passed,
            failed: rs.len() - passed - skipped,
            skipped,
            kernel: distinct(rs.iter().map(|r| r.kernel.as_str())).join(", "),
            vm: None,
        }
    }

    /// With what the kernel matrix says of the run, if it booted it.
    fn with_vm(mut self, col: Option<&Column>) -> RunSummary {
        if let Some(c) = col {
            self.vm = c.kernel.accel.clone();
            if self.kernel.is_empty() {
                self.kernel = c.kernel.release.clone();
            }
        }
        self
    }

    /// `6.1.0-57-cloud-amd64 (TCG)`.
    fn kernel_shown(&self) -> String {
        match &self.vm {
            Some(vm) => format!("{} ({vm})", self.kernel),
            None => self.kernel.clone(),
        }
    }
}

/// The id of this process's run: TCPLAB_RUN_ID, NEXTEST_RUN_ID, or the
/// time and pid. It names a folder, so it is letters, digits, `.`, `_`
/// and `-` only.
pub fn run_id() -> Result<String, ReportError> {
    for var in ["TCPLAB_RUN_ID", "NEXTEST_RUN_ID"] {
        if let Ok(id) = std::env::var(var) {
            if valid_id(&id) {
                return Ok(id);
            }
            return Err(ReportError::RunId { var, id });
        }
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let stamp: String = utc(now.as_secs_f64())
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    Ok(format!(
        "{}-{}-{}",
        &stamp[..8],
        &stamp[8..14],
        std::process::id()
    ))
}

/// Whether `id` is one [`run_id`] makes from the time and a pid (not
/// TCPLAB_RUN_ID's or nextest's, which several processes share).
fn one_process(id: &str) -> bool {
    let digits = |p: &str, n: Option<usize>| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && n.is_none_or(|n| p.len() == n)
    };
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 3
        && digits(parts[0], Some(8))
        && digits(parts[1], Some(6))
        && digits(parts[2], None)
        && std::env::var_os("TCPLAB_RUN_ID").is_none_or(|v| v != id)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// A run's folder, held open for this process's life: while any process
/// of the run holds it, no other run prunes it.
pub struct Run {
    pub root: PathBuf,
    pub id: String,
    pub dir: PathBuf,
    _alive: Option<Flock<File>>,
}

impl Run {
    pub fn open(root: &Path, id: &str) -> std::io::Result<Run> {
        let dir = root.join("runs").join(id);
        std::fs::create_dir_all(&dir)?;
        let f = File::options()
            .create(true)
            .append(true)
            .open(dir.join(".alive"))?;
        Ok(Run {
            root: root.to_path_buf(),
            id: id.to_string(),
            dir,
            _alive: Flock::lock(f, FlockArg::LockShared).ok(),
        })
    }
}

/// From the first start to the last end.
fn span(rs: &[CaseResult]) -> (f64, f64) {
    let start = rs.iter().map(|r| r.started).fold(f64::INFINITY, f64::min);
    let end = rs.iter().map(|r| r.started + r.seconds).fold(0.0, f64::max);
    if rs.is_empty() {
        (0.0, 0.0)
    } else {
        (start, (end - start).max(0.0))
    }
}

fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for s in items {
        if !v.iter().any(|x| x == s) {
            v.push(s.to_string());
        }
    }
    v
}

/// The report header of a set of results.
fn run_info(rs: &[CaseResult]) -> RunInfo {
    let (started, seconds) = span(rs);
    RunInfo {
        started: if rs.is_empty() {
            String::new()
        } else {
            utc(started)
        },
        nc: distinct(rs.iter().map(|r| r.nc.as_str())).join(", "),
        kernel: distinct(rs.iter().map(|r| r.kernel.as_str())).join(", "),
        family: distinct(
            rs.iter()
                .map(|r| r.family.as_str())
                .filter(|f| !f.is_empty()),
        )
        .join(", "),
        tolerance: distinct(
            rs.iter()
                .map(|r| r.tolerance.as_str())
                .filter(|t| !t.is_empty()),
        )
        .join(", "),
        seconds,
        coverage: super::coverage::Coverage::of_names(rs.iter().flat_map(|r| &r.states))
            .to_string(),
    }
}

/// The table of runs, put under the page's header: which runs this page
/// holds (`shown`) and, with `link`, each run's own report.
fn with_runs(page: String, runs: &[RunSummary], shown: &[&str], link: bool) -> String {
    let mut s = String::from("<section class=\"runs\" id=\"runs\">\n");
    let held = match shown {
        [one] => format!("run <code>{}</code>", escape(one)),
        many => format!("{} runs, merged", many.len()),
    };
    s += &format!("<h2>Runs</h2>\n<p class=\"meta\">This report holds {held}.</p>\n");
    s += "<table class=\"cases\">\n<thead><tr><th>Run</th><th>Cases from</th><th>Kernel</th><th>Started</th>\
          <th class=\"num\">Passed</th><th class=\"num\">Failed</th></tr></thead>\n<tbody>\n";
    for r in runs {
        let id = escape(&r.id);
        let name = if link {
            format!("<a href=\"runs/{id}/index.html\">{id}</a>")
        } else {
            id.clone()
        };
        let mark = if shown.contains(&r.id.as_str()) && link {
            " (this page)"
        } else {
            ""
        };
        s += &format!(
            "<tr class=\"{}\"><td class=\"mono\">{name}{mark}</td><td class=\"mono\">{}</td>\
             <td class=\"mono\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
            if r.failed == 0 { "pass" } else { "fail" },
            escape(&r.cases_dirs.join(", ")),
            escape(&r.kernel_shown()),
            escape(&utc(r.started)),
            r.passed,
            r.failed
        );
    }
    s += "</tbody>\n</table>\n</section>\n";
    page.replacen("</header>\n", &format!("</header>\n{s}"), 1)
}

/// Writes `text` to `path` through a temporary name, so a reader sees the
/// old file or the new one.
fn put(path: &Path, text: &str) -> Result<(), ReportError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| ReportError::io(path, e))
}

/// What [`assemble`] wrote.
#[derive(Debug)]
pub struct Assembled {
    /// `runs/<id>/index.html`.
    pub run_page: PathBuf,
    /// `index.html` of the root: the latest run and the runs held.
    pub latest_page: PathBuf,
    pub cases: usize,
    pub pruned: Vec<String>,
    /// `states observed: 11/11` over the run's passing cases.
    pub coverage: String,
}

/// Rebuilds run `id`'s report from every result in its folder, points
/// `latest` at it and rewrites the root's index.html and summary.md;
/// then prunes old runs. Serialized by a lock on `root/.lock`.
pub fn assemble(root: &Path, id: &str, keep: usize) -> Result<Assembled, ReportError> {
    let lock_path = root.join(".lock");
    let lock = File::options()
        .create(true)
        .append(true)
        .open(&lock_path)
        .map_err(|e| ReportError::io(&lock_path, e))?;
    let _lock = Flock::lock(lock, FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::sys(format!("{}: flock", lock_path.display()), e))?;
    let dir = root.join("runs").join(id);
    let rs = results::read_all(&dir)?;
    let info = run_info(&rs);
    let summary = RunSummary::of(id, &rs);
    put(
        &dir.join("run.json"),
        &serde_json::to_string_pretty(&summary).unwrap_or_default(),
    )?;
    let here: Vec<CaseReport> = rs.iter().map(|r| r.report("")).collect();
    let runs = list(root);
    let own = [summary.clone()];
    put(
        &dir.join("index.html"),
        &with_runs(html::html(&info, &here), &own, &[id], false),
    )?;
    let md = summary::markdown_of_runs(&info, &here, &[id]);
    put(&dir.join("summary.md"), &md)?;
    put(
        &dir.join(JUNIT),
        &junit::xml(&summary.cases_dirs.join(", "), &rs),
    )?;

    let prefix = format!("runs/{id}/");
    let latest: Vec<CaseReport> = rs.iter().map(|r| r.report(&prefix)).collect();
    let latest_page = root.join("index.html");
    put(
        &latest_page,
        &with_runs(html::html(&info, &latest), &runs, &[id], true),
    )?;
    put(&root.join("summary.md"), &md)?;
    let link = root.join("latest");
    let tmp = root.join(format!(".latest.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(Path::new("runs").join(id), &tmp)
        .and_then(|_| std::fs::rename(&tmp, &link))
        .map_err(|e| ReportError::io(&link, e))?;
    let pruned = prune(root, keep, id);
    hand_back_tree(root);
    Ok(Assembled {
        run_page: dir.join("index.html"),
        latest_page,
        cases: rs.len(),
        pruned,
        coverage: info.coverage,
    })
}

/// The runs held under `root`, newest first.
pub fn list(root: &Path) -> Vec<RunSummary> {
    let mut v: Vec<RunSummary> = std::fs::read_dir(root.join("runs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let text = std::fs::read(e.path().join("run.json")).ok()?;
            serde_json::from_slice(&text).ok()
        })
        .collect();
    v.sort_by(|a, b| b.started.total_cmp(&a.started));
    v
}

/// Removes run folders beyond the newest `keep` (by modification time)
/// that are older than [`FRESH`] and that no process of their run holds.
fn prune(root: &Path, keep: usize, current: &str) -> Vec<String> {
    let mut dirs: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(root.join("runs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .filter(|(_, p)| p.join("results").is_dir() || p.join("run.json").is_file())
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    let mut gone = Vec::new();
    for (when, p) in dirs.into_iter().skip(keep) {
        let id = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let fresh = match one_process(&id) {
            true => FRESH_ONE_PROCESS,
            false => FRESH,
        };
        if id == current || when.elapsed().unwrap_or_default() < fresh {
            continue;
        }
        let held = File::open(p.join(".alive"))
            .ok()
            .map(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err())
            .unwrap_or(false);
        if !held && std::fs::remove_dir_all(&p).is_ok() {
            gone.push(id);
        }
    }
    gone
}

/// Under sudo (SUDO_UID and SUDO_GID set, running as root), gives `path`
/// and everything under it to the user who ran sudo, so their next
/// `cargo test` can write there. Symbolic links are changed themselves,
/// never followed.
pub fn hand_back_tree(path: &Path) {
    let Some((uid, gid)) = sudo_owner() else {
        return;
    };
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let _ = std::os::unix::fs::lchown(&p, Some(uid), Some(gid));
        if p.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            stack.extend(
                std::fs::read_dir(&p)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
}

/// [`hand_back_tree`] for `path` alone.
pub fn hand_back(path: &Path) {
    if let Some((uid, gid)) = sudo_owner() {
        let _ = std::os::unix::fs::lchown(path, Some(uid), Some(gid));
    }
}

/// SUDO_UID and SUDO_GID, when this process is root and they are set.
pub fn sudo_owner() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let uid = std::env::var("SUDO_UID").ok()?.parse().ok()?;
    let gid = std::env::var("SUDO_GID").ok()?.parse().ok()?;
    Some((uid, gid))
}

/// Run folders named by `arg`: the folder itself when it holds results,
/// else every run under its `runs/` (an output root, e.g. a CI shard's
/// target/tcplab).
fn run_dirs(arg: &Path) -> Result<Vec<PathBuf>, ReportError> {
    if arg.join(results::RESULTS).is_dir() || arg.join(kernels::KERNEL_FILE).is_file() {
        return Ok(vec![arg.to_path_buf()]);
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(arg.join("runs"))
        .map_err(|e| ReportError::NotARun {
            path: arg.to_path_buf(),
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(results::RESULTS).is_dir() || p.join(kernels::KERNEL_FILE).is_file())
        .collect();
    v.sort();
    Ok(v)
}

/// What [`merge`] wrote.
#[derive(Debug)]
pub struct Merged {
    /// `out/index.html`.
    pub page: PathBuf,
    /// How many case results it holds.
    pub cases: usize,
    /// The kernel matrix, when runs of ci/kernels were among the inputs.
    pub matrix: Option<Matrix>,
}

/// Copies what a person or a later merge may want of run folder `dir`
/// into `dest`: the captures of `rs`, kernel.json and the test binaries'
/// outputs.
fn copy_run(dir: &Path, dest: &Path, rs: &[CaseResult]) -> Result<(), ReportError> {
    let libtest = dir.join(kernels::LIBTEST_DIR);
    let mut files: Vec<PathBuf> = rs
        .iter()
        .filter_map(|r| r.pcap.as_deref())
        .map(PathBuf::from)
        .collect();
    files.push(PathBuf::from(kernels::KERNEL_FILE));
    files.extend(
        std::fs::read_dir(&libtest)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| Path::new(kernels::LIBTEST_DIR).join(e.file_name())),
    );
    for f in files {
        let from = dir.join(&f);
        if from.is_file() {
            let to = dest.join(&f);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| ReportError::io(parent, e))?;
            }
            std::fs::copy(&from, &to).map_err(|e| ReportError::io(&from, e))?;
        }
    }
    Ok(())
}

/// Merges the runs in `inputs` (run folders or output roots) into one
/// report in `out`: `out/index.html`, `out/summary.md`, `out/junit.xml`,
/// and each run's captures under `out/runs/<id>/`. Runs that ci/kernels
/// booted (kernel.json) also make the kernel × case table, put first in
/// both pages; a retry of one (`ci/kernels --retries`) is folded into
/// the run it retries there, and in junit.xml.
pub fn merge(out: &Path, inputs: &[PathBuf]) -> Result<Merged, ReportError> {
    let mut all: Vec<CaseResult> = Vec::new();
    let mut runs: Vec<RunSummary> = Vec::new();
    let mut columns: Vec<Column> = Vec::new();
    for arg in inputs {
        for dir in run_dirs(arg)? {
            let rs = results::read_all(&dir)?;
            let col = Column::read(&dir)?;
            let id = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if rs.is_empty() && col.is_none() {
                continue;
            }
            let dest = out.join("runs").join(&id);
            std::fs::create_dir_all(&dest).map_err(|e| ReportError::io(&dest, e))?;
            copy_run(&dir, &dest, &rs)?;
            runs.push(RunSummary::of(&id, &rs).with_vm(col.as_ref()));
            columns.extend(col);
            all.extend(rs.into_iter().map(|mut r| {
                r.run = id.clone();
                r
            }));
        }
    }
    let matrix = (!columns.is_empty()).then(|| Matrix::of(columns));
    if all.is_empty() && matrix.is_none() {
        return Err(ReportError::NoResults {
            inputs: inputs.to_vec(),
        });
    }
    all.sort_by(|a, b| a.name.cmp(&b.name).then(a.run.cmp(&b.run)));
    runs.sort_by(|a, b| a.started.total_cmp(&b.started));
    let info = run_info(&all);
    // A kernel's retries are attempts at its tests, not tests of their own:
    // the pages show each case's last attempt, as the kernel table does.
    let columns = matrix.as_ref().map_or(&[][..], |m| &m.columns);
    let tests = kernels::retry::attempts(columns, &all);
    let cases: Vec<CaseReport> = tests
        .iter()
        .filter_map(|a| last_attempt(a))
        .map(|r| r.report(&format!("runs/{}/", r.run)))
        .collect();
    let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    let mut page_html = with_runs(html::html(&info, &cases), &runs, &ids, false);
    let mut md = summary::markdown_of_runs(&info, &cases, &ids);
    if let Some(m) = &matrix {
        page_html =
            page_html.replacen("</header>\n", &format!("</header>\n{}", render::html(m)), 1);
        md = render::markdown(m) + &md;
    }
    let page = out.join("index.html");
    put(&page, &page_html)?;
    put(&out.join("summary.md"), &md)?;
    let dirs = distinct(all.iter().map(|r| r.cases_dir.as_str()));
    put(
        &out.join(JUNIT),
        &junit::xml_of_attempts(&dirs.join(", "), &tests),
    )?;
    Ok(Merged {
        page,
        cases: cases.len(),
        matrix,
    })
}

/// The last of a case's attempts (its run, then its retries); one that
/// passed after a failed one says so first in its steps log, with where
/// the first failure was.
fn last_attempt(attempts: &[&CaseResult]) -> Option<CaseResult> {
    let mut last = (*attempts.last()?).clone();
    if let Some(first) = attempts.iter().find(|r| !r.passed && r.skipped.is_none()) {
        if last.passed {
            let why = first
                .failure
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("");
            last.log.insert(
                0,
                format!(
                    "flaky: failed in run {} ({why}), then passed on retry in run {}",
                    first.run, last.run
                ),
            );
        }
    }
    Some(last)
}

#[cfg(test)]
#[path = "runs_tests.rs"]
mod tests;
