//! One case's result as a file of its own, `results/<case>.json` in its
//! run's folder: the verdict, the times, what the report shows of it
//! (failure text, ladder, tcpdump lines, steps) and its capture's name.
//!
//! A run's report is assembled from these files, never from one process's
//! memory: libtest-mimic runs cases as threads of one process, nextest
//! runs each in a process of its own, CI runs shards on several machines,
//! and all three leave the same files behind. A result is written to a
//! temporary name and renamed, so a reader never sees half of one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ReportError;
use super::html::CaseReport;

/// The folder of a run's result files.
pub const RESULTS: &str = "results";

/// What one case of one run showed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// The run it belongs to (its folder's name).
    pub run: String,
    /// `teardown`.
    pub name: String,
    /// `cases/teardown.case`, as a person would type it.
    pub file: String,
    /// The folder the case came from (`cases`, or TCPLAB_CASES).
    pub cases_dir: String,
    pub passed: bool,
    /// When it started, seconds since the Unix epoch.
    pub started: f64,
    pub seconds: f64,
    pub failure: Option<String>,
    pub ladder: String,
    pub packets: Vec<String>,
    pub log: Vec<String>,
    /// The capture's file name in the run's folder: `teardown.pcap`.
    pub pcap: Option<String>,
    /// The nc the case ran.
    pub nc: String,
    /// `uname -r` of the machine it ran on.
    pub kernel: String,
    /// The address family it was played in: `IPv4`, or `IPv6`
    /// (TCPLAB_FAMILY=6); empty in results written before families.
    #[serde(default)]
    pub family: String,
    /// The timing tolerance its windows were judged with (`±50ms`,
    /// TCPLAB_TIME_TOLERANCE); empty: none, every window as written.
    #[serde(default)]
    pub tolerance: String,
    /// The TCP states its `sockets` checks asserted, by RFC 9293's names
    /// (`report::coverage`); empty unless it passed.
    #[serde(default)]
    pub states: Vec<String>,
    /// Why the run left it out (a requirement the kernel does not meet,
    /// `ours-only` with another nc): neither passed nor failed.
    #[serde(default)]
    pub skipped: Option<String>,
}

impl CaseResult {
    /// The report's view of it, the capture linked through `prefix` (the
    /// run folder's path relative to the page: `runs/<id>/`, or empty).
    pub fn report(&self, prefix: &str) -> CaseReport {
        CaseReport {
            name: self.name.clone(),
            file: self.file.clone(),
            passed: self.passed,
            seconds: self.seconds,
            failure: self.failure.clone(),
            ladder: self.ladder.clone(),
            packets: self.packets.clone(),
            log: self.log.clone(),
            pcap: self.pcap.as_ref().map(|p| format!("{prefix}{p}")),
            skipped: self.skipped.clone(),
        }
    }
}

/// The result's path in the run folder `run_dir`.
pub fn path(run_dir: &Path, name: &str) -> PathBuf {
    run_dir.join(RESULTS).join(format!("{name}.json"))
}

/// Writes `r` as `run_dir/results/<name>.json` (a retried case replaces
/// its earlier result) and returns that path.
pub fn write(run_dir: &Path, r: &CaseResult) -> std::io::Result<PathBuf> {
    let path = path(run_dir, &r.name);
    let dir = run_dir.join(RESULTS);
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!(".{}.{}.tmp", r.name, std::process::id()));
    let json = serde_json::to_vec_pretty(r).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Every result of a run folder, sorted by case name. A file that is not
/// a result is an error naming it: a report must not leave a case out
/// silently.
pub fn read_all(run_dir: &Path) -> Result<Vec<CaseResult>, ReportError> {
    let dir = run_dir.join(RESULTS);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ReportError::io(&dir, e)),
    };
    let mut out = Vec::new();
    for e in entries {
        let p = e.map_err(|e| ReportError::io(&dir, e))?.path();
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let text = std::fs::read(&p).map_err(|e| ReportError::io(&p, e))?;
        let r: CaseResult = serde_json::from_slice(&text).map_err(|source| ReportError::NotA {
            path: p.clone(),
            what: "tcplab case result",
            source,
        })?;
        out.push(r);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(what: &str) -> PathBuf {
        let d = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/tmp")
            .join(format!("results-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn sample(name: &str, passed: bool) -> CaseResult {
        CaseResult {
            run: "r1".into(),
            name: name.into(),
            file: format!("cases/{name}.case"),
            cases_dir: "cases".into(),
            passed,
            started: 1_700_000_000.25,
            seconds: 0.5,
            failure: (!passed).then(|| "cases/x.case:3: packets differ \"quoted\"\n  >> ".into()),
            ladder: "  |--- SYN --->|\n".into(),
            packets: vec!["13:02:01.592433 IP a > b: Flags [S]".into()],
            log: vec!["  0.003s  5: client $ nc".into()],
            pcap: Some(format!("{name}.pcap")),
            nc: "tcplab nc".into(),
            kernel: "6.18".into(),
            family: "IPv6".into(),
            tolerance: "\u{b1}50ms".into(),
            states: vec!["LISTEN".into()],
            skipped: None,
        }
    }

    #[test]
    fn written_results_read_back_whole_and_sorted() {
        let d = scratch("roundtrip");
        let (a, b) = (sample("teardown", false), sample("data", true));
        for r in [&a, &b] {
            write(&d, r).unwrap();
        }
        assert_eq!(read_all(&d).unwrap(), vec![b.clone(), a.clone()]);
        // A retry replaces the earlier result of the same case.
        let mut again = a.clone();
        again.passed = true;
        write(&d, &again).unwrap();
        assert_eq!(read_all(&d).unwrap(), vec![b, again]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_foreign_file_is_an_error_naming_it_and_temporaries_are_skipped() {
        let d = scratch("foreign");
        write(&d, &sample("data", true)).unwrap();
        std::fs::write(d.join(RESULTS).join(".data.1.tmp"), "{").unwrap();
        assert_eq!(read_all(&d).unwrap().len(), 1);
        std::fs::write(d.join(RESULTS).join("junk.json"), "{}").unwrap();
        let e = read_all(&d).unwrap_err().to_string();
        assert!(e.contains("junk.json: not a tcplab case result"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_missing_folder_holds_no_results() {
        assert_eq!(read_all(&scratch("none")).unwrap(), vec![]);
    }

    #[test]
    fn the_report_links_the_capture_through_the_prefix() {
        let r = sample("teardown", true);
        assert_eq!(r.report("").pcap.as_deref(), Some("teardown.pcap"));
        let rep = r.report("runs/r1/");
        assert_eq!(rep.pcap.as_deref(), Some("runs/r1/teardown.pcap"));
        assert_eq!((rep.name.as_str(), rep.passed), ("teardown", true));
    }
}
