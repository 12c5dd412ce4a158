//! What the capture's reader thread and the case's thread share: the
//! state behind one mutex, the condition variable the reader signals, the
//! eventfd that wakes the reader; and what both hand out (a stray segment,
//! a finished capture's summary).

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::packet::{Packet, TcpFlags};

/// At most this many strays are noted (a bulk transfer on another port
/// must not fill memory); later ones are only counted.
pub(super) const MAX_STRAYS: usize = 100_000;

/// The reader answers a request in microseconds and opens the socket in
/// under a millisecond; a reader silent for this long is broken, and
/// waiting on it must end with an error, not hang the case.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);

/// A TCP segment on the interface that the case's filter does not keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stray {
    pub ts: Duration,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: TcpFlags,
}

/// What the reader thread and the case's thread share.
#[derive(Default)]
pub(super) struct State {
    /// Set once the handle is active (Ok) or could not be opened (Err).
    pub(super) opened: Option<std::result::Result<(), Error>>,
    /// Requests for "everything up to now" made, and answered.
    pub(super) asked: u64,
    pub(super) answered: u64,
    /// The case is over: read to the end, complete the file, stop.
    pub(super) stop: bool,
    /// Read by the reader, not yet taken by [`Capture::poll`].
    pub(super) packets: Vec<Packet>,
    pub(super) strays: Vec<Stray>,
    /// Strays beyond MAX_STRAYS, counted only.
    pub(super) strays_uncounted: u64,
    /// Strays noted so far (taken or not): what MAX_STRAYS bounds.
    pub(super) strays_noted: usize,
    /// Every TCP segment read so far, kept or stray: what
    /// [`Capture::wait_activity`] watches.
    pub(super) read: u64,
    /// A read failed; the reader has stopped reading.
    pub(super) failed: Option<Error>,
    /// Set when the reader stopped: the file is complete.
    pub(super) summary: Option<std::result::Result<Summary, Error>>,
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) changed: Condvar,
    /// An eventfd: written to wake the reader out of its poll(2).
    pub(super) wake: OwnedFd,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writing 8 bytes from a local buffer to our eventfd. It
        // cannot fail but by overflow (2^64 - 1 wakes), never reached.
        unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), 8) };
    }

    /// Waits until `done` holds, woken by the reader, at most ANSWER_LIMIT.
    pub(super) fn wait_for<'a>(
        &'a self,
        what: &str,
        done: impl FnMut(&State) -> bool,
    ) -> Result<MutexGuard<'a, State>> {
        match self.until(ANSWER_LIMIT, done) {
            (s, true) => Ok(s),
            (_, false) => Err(Error::msg(format!(
                "the capture's reader thread did not {what} within {ANSWER_LIMIT:?}"
            ))),
        }
    }

    /// Waits until `done` holds or `timeout` passes, woken by the reader:
    /// the state then, and whether `done` held.
    pub(super) fn until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&State) -> bool,
    ) -> (MutexGuard<'_, State>, bool) {
        let limit = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if done(&s) {
                return (s, true);
            }
            let left = limit.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (s, false);
            }
            s = self
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// What a finished capture leaves: the file and the loss counters.
#[derive(Clone, Debug)]
pub struct Summary {
    pub path: PathBuf,
    pub received: u32,
    pub dropped: u32,
    pub if_dropped: u32,
}
