//! Ctrl+C and friends for a whole run: SIGINT, SIGTERM and SIGHUP are taken
//! by one thread, which deletes every namespace the run still holds (and so
//! kills the commands inside) before the process exits. Cases' own drops
//! would never run on a signal's default action.

use nix::sys::signal::{SigSet, Signal};

use crate::error::{Error, Result};
use crate::netns;

/// Must be called before any other thread starts: threads inherit the
/// blocked mask, so the signals reach only the waiting thread. (Commands
/// started in a lab get an empty mask back before exec.)
pub fn install() -> Result<()> {
    let mut set = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(sig);
    }
    set.thread_block()
        .map_err(|e| Error::sys("block SIGINT/SIGTERM/SIGHUP", e))?;
    std::thread::Builder::new()
        .name("tcplab-signals".into())
        .spawn(move || {
            if let Ok(sig) = set.wait() {
                let removed = netns::remove_all_live();
                eprintln!(
                    "tcplab: {sig}: removed {} namespace(s) of this run{}; exiting",
                    removed.len(),
                    if removed.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", removed.join(", "))
                    }
                );
                std::process::exit(128 + sig as i32);
            }
        })
        .map_err(|e| Error::io("spawn the signal thread", e))?;
    Ok(())
}

/// For the main thread once its cases have ended: if a signal is tearing
/// the run down, wait for the signal thread to exit the process with
/// 128+signal instead of ending it first with a verdict the teardown
/// itself made up (killing a case's commands can satisfy the very wait a
/// case was in: seen as `wait client TIME-WAIT ...` passing and the run
/// exiting 0 under load). Returns false if no signal came, true if the
/// signal thread has not exited the process within `within`.
pub fn await_teardown(within: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    while netns::closed() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            eprintln!("tcplab: the interrupted run's teardown did not end within {within:?}");
            return true;
        }
        // Woken by nothing: the signal thread ends the process.
        std::thread::park_timeout(left);
    }
    false
}
