//! Who owns a namespace of ours, and whether that run still lives.
//!
//! A run holds an flock(2) on `/run/tcplab/TOKEN.lock` for its whole life
//! and puts TOKEN in every name it makes (`tcplab-TOKEN-...`). The kernel
//! drops the lock when the process dies, however it dies, and a lock is the
//! same lock in every pid namespace that sees the file. "Is pid N alive"
//! is not: a run in a container (its own pid namespace) cannot see a host
//! run's pid and would judge it dead, and after a crash the pid may belong
//! to somebody else, who then looks like the owner forever.
//!
//! TOKEN is the owner's pid as it sees it, or `PID.N` when that is taken
//! by a live run in another pid namespace with the same pid. A lock file is
//! removed only by whoever holds its lock, and a taker checks that the file
//! it locked is still the one at the path, so a token is never held twice.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Where runs keep their owner locks (beside iproute2's /run/netns).
pub const LOCK_DIR: &str = "/run/tcplab";

/// A token and the lock that makes it ours; the lock goes with the value
/// (or with the process).
#[derive(Debug)]
pub struct Owner {
    token: String,
    _lock: File,
}

impl Owner {
    /// Takes a token no live run holds: `PID`, else `PID.1`, `PID.2`, ...
    pub fn take() -> Result<Owner> {
        fs::create_dir_all(LOCK_DIR).map_err(|e| Error::io(format!("mkdir {LOCK_DIR}"), e))?;
        let pid = std::process::id();
        for n in 0..10_000u32 {
            let token = match n {
                0 => pid.to_string(),
                n => format!("{pid}.{n}"),
            };
            if let Some(lock) = lock(&token, true)? {
                return Ok(Owner { token, _lock: lock });
            }
        }
        Err(Error::msg(format!(
            "no free owner token for pid {pid} in {LOCK_DIR} (10000 are held)"
        )))
    }

    /// What goes into names: `tcplab-TOKEN-...`.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// This run's owner: taken on first use, held until the process ends.
static RUN: OnceLock<std::result::Result<Owner, String>> = OnceLock::new();

/// This run's owner, taken on first use and held until the process ends;
/// its lock file goes at the process's exit ([`release_at_exit`]).
pub fn this_run() -> Result<&'static Owner> {
    RUN.get_or_init(|| {
        let owner = Owner::take().map_err(|e| e.to_string());
        if owner.is_ok() {
            // SAFETY: registers a plain function; atexit has no other effect.
            unsafe { libc::atexit(release_at_exit) };
        }
        owner
    })
    .as_ref()
    .map_err(|e| Error::msg(format!("take this run's owner lock: {e}")))
}

/// At a process's exit (a finished run, a failed one, a panic that ends
/// main): removes this run's lock file, which only the lock's holder may,
/// unless a name with its token is still in /run/netns (then the file must
/// stay so that a later sweep judges those names by the lock). A run killed
/// outright leaves the file to the next run's sweep, as before; a static is
/// never dropped, so without this every run left its file until then.
extern "C" fn release_at_exit() {
    let Some(Ok(owner)) = RUN.get() else {
        return;
    };
    let mark = format!("-{}-", owner.token);
    let named = fs::read_dir(crate::netns::NETNS_DIR).is_ok_and(|dir| {
        dir.flatten()
            .any(|e| e.file_name().to_str().is_some_and(|n| n.contains(&mark)))
    });
    if !named {
        let _ = fs::remove_file(lock_path(&owner.token));
    }
}

/// What a sweep learns about a token.
#[derive(Debug)]
pub enum Probe {
    /// Its lock is held: a live run (or a sweep busy with it).
    Held,
    /// Its lock was free and is now ours, until the claim is dropped.
    Dead(Claim),
    /// No lock file: names from a version of tcplab without locks, or a
    /// lock file removed by hand. Only a pid can tell.
    NoLock,
}

/// The lock of a dead owner's token, held while its names are removed.
#[derive(Debug)]
pub struct Claim {
    token: String,
    _lock: File,
}

impl Claim {
    /// Removes the lock file: call once every name with the token is gone
    /// (a lock file left with names keeps them sweepable by lock).
    pub fn finish(self) {
        let _ = fs::remove_file(lock_path(&self.token));
    }
}

/// Whether the owner of `token` lives, claiming its token if not.
pub fn probe(token: &str) -> Probe {
    match lock(token, false) {
        Ok(Some(lock)) => Probe::Dead(Claim {
            token: token.to_string(),
            _lock: lock,
        }),
        Ok(None) => Probe::Held,
        Err(LockError::Missing) => Probe::NoLock,
        // Unreadable: leave it to a person rather than guess.
        Err(LockError::Other(_)) => Probe::Held,
    }
}

/// Tokens that have a lock file, for sweeping lock files without names.
pub fn tokens() -> Vec<String> {
    let Ok(dir) = fs::read_dir(LOCK_DIR) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".lock")
                .map(String::from)
        })
        .collect()
}

/// The pid a token starts with: what a run without locks is judged by.
pub fn pid_of(token: &str) -> Option<i32> {
    token.split('.').next()?.parse().ok()
}

fn lock_path(token: &str) -> PathBuf {
    PathBuf::from(LOCK_DIR).join(format!("{token}.lock"))
}

enum LockError {
    Missing,
    Other(Error),
}

impl From<LockError> for Error {
    fn from(e: LockError) -> Error {
        match e {
            LockError::Missing => Error::msg("lock file vanished"),
            LockError::Other(e) => e,
        }
    }
}

/// Takes the lock of `token` without waiting: Some(file) when it is now
/// ours, None when somebody holds it. A file unlinked (or replaced) between
/// our open and our flock is not the token's lock any more: try again.
fn lock(token: &str, create: bool) -> std::result::Result<Option<File>, LockError> {
    let path = lock_path(token);
    let err = |what: &str, e: std::io::Error| {
        LockError::Other(Error::io(format!("{what} {}", path.display()), e))
    };
    loop {
        let file = match OpenOptions::new()
            .read(true)
            .write(create)
            .create(create)
            .mode(0o644)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(LockError::Missing),
            Err(e) => return Err(err("open", e)),
        };
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EWOULDBLOCK) => Ok(None),
                _ => Err(err("flock", e)),
            };
        }
        let ours = file.metadata().map_err(|e| err("fstat", e))?;
        match fs::metadata(&path) {
            Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => return Ok(Some(file)),
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::NotFound && create => continue,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(LockError::Missing),
            Err(e) => return Err(err("stat", e)),
        }
    }
}

/// Tests that take, drop, claim or sweep this process's tokens (here and
/// in lab.rs) run one at a time: a token one test drops, another could
/// take or claim before the first looks again (seen with five test
/// threads: a swept token's lock file was back). Other tests' names are
/// held by the run's own token.
#[cfg(test)]
pub(crate) fn one_token_test() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_token_is_held_to_every_other_open_and_claimable_once_dropped() {
        let _one = one_token_test();
        let owner = Owner::take().unwrap();
        assert!(matches!(probe(owner.token()), Probe::Held));
        let token = owner.token().to_string();
        drop(owner);
        let Probe::Dead(claim) = probe(&token) else {
            panic!("a dropped owner's token is not claimable");
        };
        assert!(matches!(probe(&token), Probe::Held), "a claim is a lock");
        claim.finish();
        assert!(matches!(probe(&token), Probe::NoLock));
    }

    #[test]
    fn owners_alive_at_once_in_one_process_get_distinct_tokens() {
        let _one = one_token_test();
        let owners: Vec<Owner> = (0..3).map(|_| Owner::take().unwrap()).collect();
        let mut tokens: Vec<&str> = owners.iter().map(Owner::token).collect();
        tokens.sort();
        tokens.dedup();
        assert_eq!(tokens.len(), 3);
        for t in tokens {
            assert_eq!(pid_of(t), Some(std::process::id() as i32));
        }
    }

    #[test]
    fn a_lock_file_taken_over_between_open_and_flock_is_not_the_tokens() {
        let _one = one_token_test();
        // The race `lock` guards against: a claimer removes the file while
        // a taker holds an fd to it. The taker must end up on the new file.
        let owner = Owner::take().unwrap();
        let token = owner.token().to_string();
        let stale = File::open(lock_path(&token)).unwrap();
        drop(owner);
        let Probe::Dead(claim) = probe(&token) else {
            panic!("not claimable")
        };
        claim.finish();
        // SAFETY: flock on an fd we own: the old inode can be locked by
        // anyone now, which must not make the token theirs.
        assert_eq!(
            unsafe { libc::flock(stale.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
            0
        );
        assert!(matches!(probe(&token), Probe::NoLock));
    }
}
