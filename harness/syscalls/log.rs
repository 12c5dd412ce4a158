//! What a tracer thread publishes to the rest of the lab: the records, the
//! count of stops, and the exit status once the process is reaped.

use std::process::ExitStatus;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::record::Record;

/// What a traced process's tracer thread publishes: the records, and the
/// exit status once it has reaped the process.
#[derive(Default)]
pub(crate) struct Log {
    state: Mutex<LogState>,
    changed: Condvar,
    pub(super) stops: AtomicU64,
}

#[derive(Default)]
struct LogState {
    records: Vec<Record>,
    status: Option<ExitStatus>,
    /// Set when the tracer thread ended without an exit status: why.
    broken: Option<Broken>,
}

impl Log {
    pub(crate) fn records(&self) -> Vec<Record> {
        self.state.lock().unwrap().records.clone()
    }

    /// ptrace stops handled so far.
    pub(crate) fn stops(&self) -> u64 {
        self.stops.load(Ordering::Relaxed)
    }

    pub(crate) fn status(&self) -> Option<ExitStatus> {
        self.state.lock().unwrap().status
    }

    /// Waits for the exit status: Ok(None) when `deadline` passes first,
    /// Err when the tracer thread ended without one.
    pub(crate) fn wait_status(
        &self,
        deadline: Instant,
    ) -> std::result::Result<Option<ExitStatus>, Broken> {
        let mut st = self.state.lock().unwrap();
        loop {
            if let Some(s) = st.status {
                return Ok(Some(s));
            }
            if let Some(why) = &st.broken {
                return Err(*why);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            st = self.changed.wait_timeout(st, left).unwrap().0;
        }
    }

    pub(super) fn push(&self, r: Record) {
        self.state.lock().unwrap().records.push(r);
    }

    pub(super) fn finish(&self, status: ExitStatus) {
        self.state.lock().unwrap().status = Some(status);
        self.changed.notify_all();
    }

    pub(super) fn fail(&self, why: Broken) {
        let mut st = self.state.lock().unwrap();
        if st.status.is_none() && st.broken.is_none() {
            st.broken = Some(why);
        }
        drop(st);
        self.changed.notify_all();
    }
}

/// Why a tracer thread ended without the traced process's exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Broken {
    #[error("tracer: waitpid: {0}")]
    Waitpid(nix::errno::Errno),
    #[error("the tracer thread panicked")]
    Panicked,
    #[error("the tracer thread ended")]
    Ended,
}

/// Marks the log broken if the tracer thread ends (or panics) before the
/// traced process has been reaped, so nobody waits forever.
pub(super) struct Orphaned(pub(super) Arc<Log>);

impl Drop for Orphaned {
    fn drop(&mut self) {
        self.0.fail(match std::thread::panicking() {
            true => Broken::Panicked,
            false => Broken::Ended,
        });
    }
}
