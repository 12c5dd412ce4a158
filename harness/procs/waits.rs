//! What a sleeping thread waits for, and so whether the case has to act
//! before anything more happens. State S alone says "asleep", not on what:
//! a process blocked in open() or close() on FUSE, NFS or virtiofs sleeps in
//! S too (fuse's `request_wait_answer`), and a settle that took it for idle
//! judged a case before its nc had called listen(). The call it sleeps in
//! is in /proc/PID/task/TID/syscall (its number and arguments); for a read
//! or write, the descriptor's /proc/PID/fd/N link says on what (a socket, a
//! pipe, a terminal), and for a named FIFO, whose link is a path like a
//! file's, the thread's wchan (`pipe_read`, `anon_pipe_read` on 6.18).
//!
//! Idle: a call that ends only when a peer, a child, a signal or a timer
//! the process set itself acts (poll, accept, wait4, a read on a socket,
//! pipe or terminal, futex, nanosleep, ...). Anything else is busy, the
//! unknown included: a call left out here can only make a settle wait to
//! its deadline, and the timeout then names the call.

use std::fmt;

use super::files::Proc;

/// What one thread is doing, as the settle judges it.
#[derive(Clone, Debug, PartialEq)]
pub enum Doing {
    /// Asleep in a call that waits on the case: a peer, a child, a signal,
    /// a timer it set itself.
    Waiting(Call),
    /// Stopped or exiting: `T`, `Z`, `X`, or `t` under someone else's
    /// debugger. Nothing happens until somebody acts.
    Stopped(char),
    /// Not asleep: running or runnable (R), in uninterruptible sleep (D),
    /// in a ptrace stop its tracer (this run) ends at once (t), or a
    /// sleeper that woke between the two reads.
    Running(char),
    /// Asleep in a call that waits on something else: a file system, an
    /// exec, a lock, a call this module does not know.
    Calling(Call),
    /// Asleep outside any system call (a page fault, a signal's delivery).
    Outside,
}

impl Doing {
    /// Whether the thread has done all it can until the case acts.
    pub fn idle(&self) -> bool {
        matches!(self, Doing::Waiting(_) | Doing::Stopped(_))
    }
}

impl fmt::Display for Doing {
    /// `in openat`, `in read of /mnt/f/file`, `asleep in poll`, `state R`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Doing::Waiting(c) => write!(f, "asleep in {c}"),
            Doing::Stopped(s) | Doing::Running(s) => write!(f, "state {s}"),
            Doing::Calling(c) => write!(f, "in {c}"),
            Doing::Outside => f.write_str("asleep outside a system call"),
        }
    }
}

/// The system call a thread sleeps in, and what its descriptor is when the
/// call is on one.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub nr: i64,
    /// The /proc/PID/fd link of the descriptor it reads or writes:
    /// `socket:[123]`, `pipe:[45]`, `/dev/pts/0`, `/mnt/fuse/file`.
    pub on: Option<String>,
}

impl Call {
    /// The call's name (`openat`), or `syscall 999` for one not known here.
    pub fn name(&self) -> String {
        match CALLS.iter().find(|(nr, _, _)| *nr == self.nr) {
            Some((_, name, _)) => (*name).to_string(),
            None => format!("syscall {}", self.nr),
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        match &self.on {
            Some(on) => write!(f, " of {on}"),
            None => Ok(()),
        }
    }
}

/// How a call is judged.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Always waits on the case (poll, accept, wait4, futex, ...).
    Waits,
    /// Waits on the case when every descriptor among these arguments is a
    /// stream the case feeds: a socket, a pipe, a terminal, an event fd.
    OnFds(&'static [usize]),
    /// Named for messages; busy.
    Busy,
}

use Kind::{Busy, OnFds, Waits};

/// The calls this module names, with how each is judged.
#[rustfmt::skip]
const CALLS: &[(i64, &str, Kind)] = &[
    (libc::SYS_ppoll, "ppoll", Waits),
    (libc::SYS_pselect6, "pselect6", Waits),
    (libc::SYS_epoll_pwait, "epoll_pwait", Waits),
    (libc::SYS_epoll_pwait2, "epoll_pwait2", Waits),
    (libc::SYS_accept, "accept", Waits),
    (libc::SYS_accept4, "accept4", Waits),
    (libc::SYS_connect, "connect", Waits),
    (libc::SYS_recvfrom, "recvfrom", Waits),
    (libc::SYS_recvmsg, "recvmsg", Waits),
    (libc::SYS_recvmmsg, "recvmmsg", Waits),
    (libc::SYS_sendto, "sendto", Waits),
    (libc::SYS_sendmsg, "sendmsg", Waits),
    (libc::SYS_sendmmsg, "sendmmsg", Waits),
    (libc::SYS_wait4, "wait4", Waits),
    (libc::SYS_waitid, "waitid", Waits),
    (libc::SYS_rt_sigsuspend, "rt_sigsuspend", Waits),
    (libc::SYS_rt_sigtimedwait, "rt_sigtimedwait", Waits),
    (libc::SYS_nanosleep, "nanosleep", Waits),
    (libc::SYS_clock_nanosleep, "clock_nanosleep", Waits),
    (libc::SYS_futex, "futex", Waits),
    (libc::SYS_read, "read", OnFds(&[0])),
    (libc::SYS_write, "write", OnFds(&[0])),
    (libc::SYS_readv, "readv", OnFds(&[0])),
    (libc::SYS_writev, "writev", OnFds(&[0])),
    (libc::SYS_splice, "splice", OnFds(&[0, 2])),
    (libc::SYS_tee, "tee", OnFds(&[0, 1])),
    (libc::SYS_sendfile, "sendfile", OnFds(&[0, 1])),
    (libc::SYS_openat, "openat", Busy),
    (libc::SYS_openat2, "openat2", Busy),
    (libc::SYS_close, "close", Busy),
    (libc::SYS_close_range, "close_range", Busy),
    (libc::SYS_fstat, "fstat", Busy),
    (libc::SYS_newfstatat, "newfstatat", Busy),
    (libc::SYS_statx, "statx", Busy),
    (libc::SYS_statfs, "statfs", Busy),
    (libc::SYS_faccessat, "faccessat", Busy),
    (libc::SYS_faccessat2, "faccessat2", Busy),
    (libc::SYS_readlinkat, "readlinkat", Busy),
    (libc::SYS_getdents64, "getdents64", Busy),
    (libc::SYS_execve, "execve", Busy),
    (libc::SYS_execveat, "execveat", Busy),
    (libc::SYS_pread64, "pread64", Busy),
    (libc::SYS_pwrite64, "pwrite64", Busy),
    (libc::SYS_preadv, "preadv", Busy),
    (libc::SYS_pwritev, "pwritev", Busy),
    (libc::SYS_lseek, "lseek", Busy),
    (libc::SYS_fsync, "fsync", Busy),
    (libc::SYS_fdatasync, "fdatasync", Busy),
    (libc::SYS_sync, "sync", Busy),
    (libc::SYS_ftruncate, "ftruncate", Busy),
    (libc::SYS_fallocate, "fallocate", Busy),
    (libc::SYS_copy_file_range, "copy_file_range", Busy),
    (libc::SYS_mkdirat, "mkdirat", Busy),
    (libc::SYS_unlinkat, "unlinkat", Busy),
    (libc::SYS_renameat2, "renameat2", Busy),
    (libc::SYS_fcntl, "fcntl", Busy),
    (libc::SYS_flock, "flock", Busy),
    (libc::SYS_ioctl, "ioctl", Busy),
    (libc::SYS_mmap, "mmap", Busy),
    (libc::SYS_munmap, "munmap", Busy),
    (libc::SYS_mprotect, "mprotect", Busy),
    (libc::SYS_msync, "msync", Busy),
    (libc::SYS_clone, "clone", Busy),
    (libc::SYS_clone3, "clone3", Busy),
    (libc::SYS_exit_group, "exit_group", Busy),
    (libc::SYS_mount, "mount", Busy),
    (libc::SYS_umount2, "umount2", Busy),
    (libc::SYS_io_uring_enter, "io_uring_enter", Busy),
    // x86-64's older entry points (aarch64 has only the *at / p* forms).
    #[cfg(target_arch = "x86_64")] (libc::SYS_poll, "poll", Waits),
    #[cfg(target_arch = "x86_64")] (libc::SYS_select, "select", Waits),
    #[cfg(target_arch = "x86_64")] (libc::SYS_epoll_wait, "epoll_wait", Waits),
    #[cfg(target_arch = "x86_64")] (libc::SYS_pause, "pause", Waits),
    #[cfg(target_arch = "x86_64")] (libc::SYS_open, "open", Busy),
    #[cfg(target_arch = "x86_64")] (libc::SYS_stat, "stat", Busy),
    #[cfg(target_arch = "x86_64")] (libc::SYS_lstat, "lstat", Busy),
    #[cfg(target_arch = "x86_64")] (libc::SYS_access, "access", Busy),
    #[cfg(target_arch = "x86_64")] (libc::SYS_readlink, "readlink", Busy),
    #[cfg(target_arch = "x86_64")] (libc::SYS_vfork, "vfork", Busy),
    #[cfg(target_arch = "x86_64")] (libc::SYS_fork, "fork", Busy),
];

/// What thread `tid` of `pid`, in `state` (a letter of its stat), is doing.
/// `traced`: started under this run's ptrace, whose stops end at once.
pub(super) fn thread(proc: &mut impl Proc, pid: i32, tid: i32, state: char, traced: bool) -> Doing {
    match state {
        'Z' | 'X' | 'T' => Doing::Stopped(state),
        't' if !traced => Doing::Stopped(state),
        'S' => asleep(proc, pid, tid),
        _ => Doing::Running(state),
    }
}

/// A sleeper: the call it sleeps in, and on what.
fn asleep(proc: &mut impl Proc, pid: i32, tid: i32) -> Doing {
    let Some(text) = proc.read(pid, &task_file(pid, tid, "syscall")) else {
        // Gone meanwhile: nothing more will come of it.
        return Doing::Stopped('X');
    };
    let mut words = text.split_whitespace();
    let nr = match words.next().map(str::parse::<i64>) {
        Some(Ok(nr)) if nr >= 0 => nr,
        Some(Ok(_)) => return Doing::Outside,
        // "running": it woke between the stat and this read.
        _ => return Doing::Running('R'),
    };
    let args: Vec<u64> = words
        .take(6)
        .map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).unwrap_or(u64::MAX))
        .collect();
    let kind = CALLS
        .iter()
        .find(|(n, _, _)| *n == nr)
        .map_or(Busy, |(_, _, k)| *k);
    match kind {
        Waits => Doing::Waiting(Call { nr, on: None }),
        Busy => Doing::Calling(Call { nr, on: None }),
        OnFds(which) => on_fds(proc, pid, tid, nr, &args, which),
    }
}

/// A read, write or splice: waiting on the case when every descriptor it
/// moves data between is a stream the case feeds.
fn on_fds(
    proc: &mut impl Proc,
    pid: i32,
    tid: i32,
    nr: i64,
    args: &[u64],
    which: &[usize],
) -> Doing {
    let mut first = None;
    for i in which {
        let fd = args.get(*i).copied().unwrap_or(u64::MAX);
        let link = std::fs::read_link(format!("/proc/{pid}/fd/{}", fd as i32))
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_else(|_| format!("fd {}", fd as i32));
        let stream = is_stream(&link) || (link.starts_with('/') && in_fifo(proc, pid, tid));
        let call = Call { nr, on: Some(link) };
        if !stream {
            return Doing::Calling(call);
        }
        first.get_or_insert(call);
    }
    Doing::Waiting(first.unwrap_or(Call { nr, on: None }))
}

/// A descriptor link that names a stream the case feeds: a socket, a pipe,
/// an event/signal/timer fd or epoll (`anon_inode:`), a terminal.
pub fn is_stream(link: &str) -> bool {
    ["socket:", "pipe:", "anon_inode:", "/dev/pts/", "/dev/tty"]
        .iter()
        .any(|p| link.starts_with(p))
        || matches!(link, "/dev/ptmx" | "/dev/console")
}

/// Whether the thread sleeps in a pipe's read or write: a named FIFO, whose
/// fd link is its path. (Opening one is not: that is openat, on a file
/// system, waiting for the other end.)
fn in_fifo(proc: &mut impl Proc, pid: i32, tid: i32) -> bool {
    proc.read(pid, &task_file(pid, tid, "wchan"))
        .is_some_and(|w| w.ends_with("pipe_read") || w.ends_with("pipe_write"))
}

/// NAME (/proc/PID/NAME) for the main thread, one path component less for
/// the kernel to walk; task/TID/NAME for another.
fn task_file(pid: i32, tid: i32, name: &str) -> String {
    if pid == tid {
        name.to_string()
    } else {
        format!("task/{tid}/{name}")
    }
}
