//! Work that must end before something may happen: the runner reads the
//! host namespace while the run starts up, and the proof that a run left
//! the host as it was needs a "before" that nothing of ours can have
//! touched. Namespaces wait on one (`netns::GATE`) for the host's links,
//! addresses, routes, qdiscs and ruleset; the host's sysctls are read
//! later, just before the first sysctl write (`sysctl::before_first_write`).

use std::sync::Mutex;
use std::thread::JoinHandle;

/// A gate is open, waiting on work, or shut for good because the work
/// failed (every later attempt says why).
pub struct Gate(Mutex<State>);

enum State {
    Open,
    Pending(JoinHandle<Result<(), String>>),
    Failed(String),
}

impl Gate {
    pub const fn open() -> Gate {
        Gate(Mutex::new(State::Open))
    }

    /// Nothing passes until `work` has ended; if it fails, nothing ever
    /// does.
    pub fn until(&self, work: JoinHandle<Result<(), String>>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = State::Pending(work);
    }

    /// Waits for the work given to [`Gate::until`] (once; later calls
    /// answer at once): Err says why nothing may pass.
    pub fn pass(&self) -> Result<(), String> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let State::Pending(_) = &*state {
            let State::Pending(work) = std::mem::replace(&mut *state, State::Open) else {
                unreachable!()
            };
            let done = work
                .join()
                .unwrap_or_else(|_| Err("the work before it panicked".into()));
            if let Err(e) = done {
                *state = State::Failed(e);
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
            rx.recv().map_err(|e| e.to_string())?;
            Err("cannot read the host".to_string())
        }));
        tx.send(()).unwrap();
        assert_eq!(gate.pass(), Err("cannot read the host".to_string()));
        assert_eq!(
            gate.pass(),
            Err("cannot read the host".to_string()),
            "a failed gate stays shut"
        );
    }
}
