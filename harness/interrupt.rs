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
