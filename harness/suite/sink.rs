//! Where this process's run writes: its own folder under the output root
//! (`target/tcplab/runs/<id>/`, see `report::runs`), one result file per
//! case, and at the end the run's report rebuilt from every result in the
//! folder, whichever process wrote them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use crate::case::run::Options;
use crate::error::Error;
use crate::report::results::{self, CaseResult};
use crate::report::runs;

use super::error::SuiteError;
use super::files::Place;

/// This process's part of a run; cloned into every trial.
#[derive(Clone)]
pub struct Sink(Arc<Inner>);

struct Inner {
    /// Held open for the process's life (see runs::Run); None when listing.
    run: Option<runs::Run>,
    dir: PathBuf,
    place: Place,
    cases_dir: String,
    nc: String,
    kernel: String,
    /// `IPv4` or `IPv6`: the family the cases play in.
    family: String,
    /// `±50ms`: the timing tolerance, empty when none.
    tolerance: String,
    written: AtomicUsize,
}

impl Sink {
    /// Opens the run's folder under `root` (created, and handed back under
    /// sudo); `cases_dir` is what the table of runs says the cases came
    /// from.
    pub fn open(
        opts: &Options,
        differential: bool,
        root: &Path,
        cases_dir: String,
        place: &Place,
    ) -> Result<Sink, SuiteError> {
        let id = runs::run_id()?;
        // The folders above the root that this run makes (`~/.cache` for
        // the command) are handed back too.
        let made: Vec<PathBuf> = root
            .ancestors()
            .skip(1)
            .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
            .map(Path::to_path_buf)
            .collect();
        let run = runs::Run::open(root, &id).map_err(|e| {
            Error::io(
                format!(
                    "cannot create the run's folder {}",
                    root.join("runs").join(&id).display()
                ),
                e,
            )
        })?;
        runs::hand_back_tree(&run.dir);
        for p in [root.join("runs"), root.to_path_buf()].iter().chain(&made) {
            runs::hand_back(p);
        }
        Ok(Sink(Arc::new(Inner {
            dir: run.dir.clone(),
            run: Some(run),
            place: place.clone(),
            cases_dir,
            nc: if differential {
                opts.nc.display().to_string()
            } else {
                "tcplab nc".into()
            },
            kernel: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            family: opts.family.to_string(),
            tolerance: if opts.tolerance.is_zero() {
                String::new()
            } else {
                opts.tolerance.to_string()
            },
            written: AtomicUsize::new(0),
        })))
    }

    /// A sink for `--list`: nothing runs, nothing is written.
    pub fn listing(root: &Path, place: &Place) -> Sink {
        Sink(Arc::new(Inner {
            run: None,
            dir: root.to_path_buf(),
            place: place.clone(),
            cases_dir: String::new(),
            nc: String::new(),
            kernel: String::new(),
            family: String::new(),
            tolerance: String::new(),
            written: AtomicUsize::new(0),
        }))
    }

    /// The run's folder: the captures go there.
    pub fn dir(&self) -> &Path {
        &self.0.dir
    }

    /// A result for the case in `file`, started now.
    pub fn result_for(&self, file: &Path, shown_file: &str) -> CaseResult {
        CaseResult {
            run: self
                .0
                .run
                .as_ref()
                .map(|r| r.id.clone())
                .unwrap_or_default(),
            name: file
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            file: shown_file.to_string(),
            cases_dir: self.0.cases_dir.clone(),
            started: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            nc: self.0.nc.clone(),
            kernel: self.0.kernel.clone(),
            family: self.0.family.clone(),
            tolerance: self.0.tolerance.clone(),
            ..Default::default()
        }
    }

    /// Writes the result of a case the run leaves out, and why.
    pub fn skipped(&self, file: &Path, shown_file: &str, why: &str) {
        let r = CaseResult {
            skipped: Some(why.to_string()),
            ..self.result_for(file, shown_file)
        };
        self.write(&r);
    }

    /// Writes a case's result into the run's folder.
    pub fn write(&self, r: &CaseResult) {
        match results::write(&self.0.dir, r) {
            Ok(path) => {
                runs::hand_back(&path);
                runs::hand_back(path.parent().unwrap_or(&path));
                self.0.written.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => eprintln!(
                "tcplab: cannot write the result of {} in {}: {e}",
                r.name,
                self.0.dir.display()
            ),
        }
    }

    /// How many results this process wrote.
    pub fn written(&self) -> usize {
        self.0.written.load(Ordering::SeqCst)
    }

    /// After the trials: when this process ran cases, rebuilds the run's
    /// report from all its results and says where it is (with `quiet`,
    /// only what went wrong). Returns the run's folder when it did.
    pub fn assemble(&self, quiet: bool) -> Option<PathBuf> {
        let run = self.0.run.as_ref()?;
        if self.written() == 0 {
            return None;
        }
        let keep = std::env::var("TCPLAB_KEEP_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(runs::KEEP);
        let shown = |p: &Path| self.0.place.shown(p).display().to_string();
        match runs::assemble(&run.root, &run.id, keep) {
            Ok(a) if !quiet => eprintln!(
                "tcplab: {}\ntcplab: report {} ({} cases of run {}); the latest run: {}",
                a.coverage,
                shown(&a.run_page),
                a.cases,
                run.id,
                shown(&a.latest_page)
            ),
            Ok(_) => {}
            Err(e) => {
                eprintln!("tcplab: cannot write the run's report: {e}");
                return None;
            }
        }
        Some(run.dir.clone())
    }
}
