//! Where this process's run writes: its own folder under the output root
//! (`target/tcplab/runs/<id>/`, see `tcplab::report::runs`), one result
//! file per case, and at the end the run's report rebuilt from every
//! result in the folder, whichever process wrote them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use tcplab::case::run::Options;
use tcplab::report::results::{self, CaseResult};
use tcplab::report::runs;

use super::{cases_dir, shown};

/// The output root: TCPLAB_OUT (relative: from where the command was
/// typed), else `tcplab/` in the target folder the runner was built in.
pub fn out_root() -> PathBuf {
    match std::env::var_os("TCPLAB_OUT").filter(|v| !v.is_empty()) {
        Some(dir) => super::from_where_typed(PathBuf::from(dir)),
        None => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("target dir")
            .join("tcplab"),
    }
}

/// This process's part of a run; cloned into every trial.
#[derive(Clone)]
pub struct Sink(Arc<Inner>);

struct Inner {
    /// Held open for the process's life (see runs::Run); None when listing.
    run: Option<runs::Run>,
    dir: PathBuf,
    cases_dir: String,
    nc: String,
    kernel: String,
    written: AtomicUsize,
}

impl Sink {
    /// Opens the run's folder (created, and handed back under sudo).
    pub fn open(opts: &Options, differential: bool) -> Result<Sink, String> {
        let root = out_root();
        let id = runs::run_id()?;
        let run = runs::Run::open(&root, &id).map_err(|e| {
            format!(
                "cannot create the run's folder {}: {e}",
                root.join("runs").join(&id).display()
            )
        })?;
        runs::hand_back_tree(&run.dir);
        for p in [root.join("runs"), root.clone()] {
            runs::hand_back(&p);
        }
        Ok(Sink(Arc::new(Inner {
            dir: run.dir.clone(),
            run: Some(run),
            cases_dir: shown(&cases_dir()).display().to_string(),
            nc: if differential {
                opts.nc.display().to_string()
            } else {
                "tcplab nc".into()
            },
            kernel: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            written: AtomicUsize::new(0),
        })))
    }

    /// A sink for `--list`: nothing runs, nothing is written.
    pub fn listing() -> Sink {
        Sink(Arc::new(Inner {
            run: None,
            dir: out_root(),
            cases_dir: String::new(),
            nc: String::new(),
            kernel: String::new(),
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

    /// After the trials: when this process ran cases, rebuilds the run's
    /// report from all its results and says where it is.
    pub fn assemble(&self) {
        let Some(run) = &self.0.run else { return };
        if self.0.written.load(Ordering::SeqCst) == 0 {
            return;
        }
        let keep = std::env::var("TCPLAB_KEEP_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(runs::KEEP);
        match runs::assemble(&run.root, &run.id, keep) {
            Ok(a) => eprintln!(
                "tcplab: {}\ntcplab: report {} ({} cases of run {}); the latest run: {}",
                a.coverage,
                shown(&a.run_page).display(),
                a.cases,
                run.id,
                shown(&a.latest_page).display()
            ),
            Err(e) => eprintln!("tcplab: cannot write the run's report: {e}"),
        }
    }
}
