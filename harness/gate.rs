//! Work that must end before something may happen: the runner reads the
//! host namespace while the run starts up, and the proof that a run left
//! the host as it was needs a "before" that nothing of ours can have
//! touched. Namespaces wait on one (`netns::GATE`) for the host's links,
//! addresses, routes, qdiscs and ruleset; the host's sysctls are read
//! later, just before the first sysctl write (`sysctl::before_first_write`).

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::Error;

/// A gate is open, waiting on work, or shut for good because the work
/// failed (every later attempt says why).
pub struct Gate(Mutex<State>);

enum State {
    Open,
    Pending(JoinHandle<Result<(), Error>>),
    Failed(Shut),
}

/// Why a gate stays shut: the work's own error (with its errno), or the
/// work panicked.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Shut {
    #[error("{0}")]
    Failed(Arc<Error>),
    #[error("the work before it panicked")]
    Panicked,
}

impl Gate {
    pub const fn open() -> Gate {
        Gate(Mutex::new(State::Open))
    }

    /// Nothing passes until `work` has ended; if it fails, nothing ever
    /// does.
    pub fn until(&self, work: JoinHandle<Result<(), Error>>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = State::Pending(work);
    }

    /// Waits for the work given to [`Gate::until`] (once; later calls
    /// answer at once): Err says why nothing may pass.
    pub fn pass(&self) -> Result<(), Shut> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let State::Pending(_) = &*state {
            let State::Pending(work) = std::mem::replace(&mut *state, State::Open) else {
                unreachable!()
            };
            match work.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => *state = State::Failed(Shut::Failed(Arc::new(e))),
                Err(_) => *state = State::Failed(Shut::Panicked),
            }
        }
        match &*state {
            State::Failed(e) => Err(e.clone()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_waits_for_its_work_and_stays_shut_when_the_work_failed() {
        let gate = Gate::open();
        assert!(gate.pass().is_ok(), "an open gate lets through");
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        gate.until(std::thread::spawn(move || {
            rx.recv().map_err(|e| Error::msg(e.to_string()))?;
            Err(Error::sys("cannot read the host", nix::errno::Errno::EPERM))
        }));
        tx.send(()).unwrap();
        let shut = "cannot read the host: EPERM: Operation not permitted";
        assert_eq!(gate.pass().unwrap_err().to_string(), shut);
        assert_eq!(
            gate.pass().unwrap_err().to_string(),
            shut,
            "a failed gate stays shut"
        );
        let panicked = Gate::open();
        panicked.until(std::thread::spawn(|| panic!("a test's panic")));
        assert!(matches!(panicked.pass(), Err(Shut::Panicked)));
    }
}
