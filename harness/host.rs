//! A terminal on one host: a process started inside a namespace, its stdin a
//! pipe we hold open (a terminal that stays open, as in the seed), its output
//! kept in files ([`crate::output`]), signals sent to it, its exit awaited;
//! on request run under ptrace with its network system calls recorded
//! ([`crate::syscalls`]).

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, SigHandler, SigSet, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::output::{Excerpt, Output};
use crate::syscalls;

/// What to run: a program (absolute, or looked up on PATH inside the
/// namespace) and its arguments.
#[derive(Clone, Debug)]
pub struct Spawn {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// How the case wrote it, for messages: `nc -kl 11111`.
    pub label: String,
    /// Run under ptrace and record its network system calls
    /// ([`Process::syscalls`]).
    pub trace: bool,
}

pub struct Process {
    pid: i32,
    exit: Exit,
    stdin: Option<File>,
    stdout: Output,
    stderr: Output,
    pidfd: OwnedFd,
    status: Option<ExitStatus>,
    label: String,
    netns: String,
}

/// Who learns of the exit: our own waitpid on the child, or (traced) the
/// tracer thread, which alone may wait for it and publishes the status.
enum Exit {
    Child(Child),
    Traced(Arc<syscalls::Log>),
}

/// The pipes of a started child.
struct Started {
    stdin: File,
    stdout: File,
    stderr: File,
}

impl Process {
    /// Starts `spawn` inside `netns`. In the child, before exec: enter the
    /// namespace, restore SIGINT/SIGQUIT (a background shell job inherits
    /// them ignored, and ^C would do nothing), unblock signals, mark every
    /// inherited fd above 2 close-on-exec (so the program's sockets get the
    /// numbers it would get from a terminal), start a process group, and die
    /// with the harness thread that started it.
    ///
    /// With `spawn.trace`, that thread is a tracer thread made for this
    /// process ([`fork_traced`]): the child also calls PTRACE_TRACEME and
    /// installs the seccomp filter that makes the calls of interest stop it,
    /// and the thread records its calls (see [`crate::syscalls`]) and reaps
    /// it.
    ///
    /// Its stdout and stderr go to unnamed temporary files; see
    /// [`Process::spawn_keeping_output`] for named ones.
    pub fn spawn(netns: &Netns, spawn: &Spawn) -> Result<Process> {
        Process::spawn_keeping_output(netns, spawn, None)
    }

    /// As [`Process::spawn`], with stdout and stderr kept in `STEM.stdout`
    /// and `STEM.stderr` when `stem` is given (replacing older files).
    pub fn spawn_keeping_output(
        netns: &Netns,
        spawn: &Spawn,
        stem: Option<&Path>,
    ) -> Result<Process> {
        let named = |ext: &str| {
            stem.map(|s| {
                let mut name = s.as_os_str().to_owned();
                name.push(format!(".{ext}"));
                PathBuf::from(name)
            })
        };
        let stdout = Output::open(named("stdout").as_deref())?;
        let stderr = Output::open(named("stderr").as_deref())?;
        let ns_fd: RawFd = netns.fd().as_raw_fd();
        let what = format!("start `{}` in netns {}", spawn.label, netns.name());
        let (pid, exit, started, pidfd) = if spawn.trace {
            let (program, args) = (spawn.program.clone(), spawn.args.clone());
            let ((pid, started, pidfd), log) = syscalls::spawn_traced(&spawn.label, move || {
                let (pid, started) = fork_traced(&program, &args, ns_fd, &what)?;
                // Here, on the tracer thread, before the tracer lets it
                // run: once running, a program that exits at once could be
                // reaped by the tracer before this thread opened it (seen:
                // ESRCH for `sh -c 'nc ...; exit 3'` under load).
                let pidfd = pidfd_of(pid).inspect_err(|_| {
                    let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                    let _ = nix::sys::wait::waitpid(
                        Pid::from_raw(pid),
                        Some(nix::sys::wait::WaitPidFlag::__WALL),
                    );
                })?;
                Ok((pid, (pid, started, pidfd)))
            })?;
            (pid, Exit::Traced(log), started, pidfd)
        } else {
            let mut cmd = Command::new(&spawn.program);
            cmd.args(&spawn.args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            // SAFETY: only async-signal-safe system calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || prepare_child(ns_fd));
            }
            let mut child = cmd.spawn().map_err(|e| Error::io(&what, e))?;
            let file = |fd: Option<OwnedFd>| File::from(fd.expect("piped"));
            let started = Started {
                stdin: file(child.stdin.take().map(OwnedFd::from)),
                stdout: file(child.stdout.take().map(OwnedFd::from)),
                stderr: file(child.stderr.take().map(OwnedFd::from)),
            };
            // Not reaped before our own wait: it can always be opened.
            let pid = child.id() as i32;
            let pidfd = pidfd_of(pid).inspect_err(|_| {
                let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = child.wait();
            })?;
            (pid, Exit::Child(child), started, pidfd)
        };
        stdout.drain(started.stdout);
        stderr.drain(started.stderr);
        Ok(Process {
            pid,
            exit,
            stdin: Some(started.stdin),
            stdout,
            stderr,
            pidfd,
            status: None,
            label: spawn.label.clone(),
            netns: netns.name().to_string(),
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether it runs under ptrace (`Spawn::trace`).
    pub fn traced(&self) -> bool {
        matches!(self.exit, Exit::Traced(_))
    }

    /// The calls recorded so far, in the order they returned (empty when not
    /// traced). Complete up to the call in progress whenever
    /// [`Process::is_idle`] is true, and in full once it has exited.
    pub fn syscalls(&self) -> Vec<syscalls::Record> {
        match &self.exit {
            Exit::Traced(log) => log.records(),
            Exit::Child(_) => Vec::new(),
        }
    }

    /// ptrace stops handled so far (0 when not traced): the cost of tracing.
    pub fn trace_stops(&self) -> u64 {
        match &self.exit {
            Exit::Traced(log) => log.stops(),
            Exit::Child(_) => 0,
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Types `line` and Enter, as on the seed's terminal.
    pub fn type_line(&mut self, line: &str) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| Error::msg(format!("`{}`: stdin already closed", self.label)))?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|_| stdin.flush())
            .map_err(|e| Error::io(format!("write to stdin of `{}`", self.label), e))
    }

    /// ^D: closes stdin, so the program reads EOF.
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    pub fn signal(&self, sig: Signal) -> Result<()> {
        if self.status.is_some() {
            return Err(Error::msg(format!("`{}` has already exited", self.label)));
        }
        self.send(sig)
            .map_err(|e| Error::sys(format!("kill({}, {sig}) `{}`", self.pid(), self.label), e))
    }

    /// kill(2) through the pidfd: never reaches a recycled pid, even after
    /// a tracer thread has reaped the process behind our back.
    fn send(&self, sig: Signal) -> nix::Result<()> {
        // SAFETY: a valid pidfd, no siginfo, no flags.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                sig as libc::c_int,
                std::ptr::null::<libc::siginfo_t>(),
                0u32,
            )
        };
        nix::errno::Errno::result(r).map(drop)
    }

    /// The exit status if the process is gone (reaps it; a traced one is
    /// reaped by its tracer thread).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = match &mut self.exit {
                Exit::Child(child) => child.try_wait().ok().flatten(),
                Exit::Traced(log) => log.status(),
            };
        }
        self.status
    }

    /// Waits for the process to end: poll(2) on its pidfd, under `deadline`.
    /// A traced process: until its tracer thread publishes the status.
    pub fn wait_exit(&mut self, deadline: Instant) -> Result<ExitStatus> {
        if let Exit::Traced(log) = &self.exit {
            return match log.wait_status(deadline) {
                Ok(Some(s)) => {
                    self.status = Some(s);
                    Ok(s)
                }
                Ok(None) => Err(self.exit_timeout()),
                Err(why) => Err(Error::msg(format!(
                    "`{}` (pid {}): {why}",
                    self.label, self.pid
                ))),
            };
        }
        loop {
            if let Some(s) = self.try_exit() {
                return Ok(s);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.exit_timeout());
            }
            let mut fds = [PollFd::new(self.pidfd.as_fd_ref(), PollFlags::POLLIN)];
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            let _ = poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            );
        }
    }

    fn exit_timeout(&self) -> Error {
        Error::msg(format!(
            "timed out waiting for `{}` (pid {}) in netns {} to exit",
            self.label, self.pid, self.netns
        ))
    }

    /// True when every thread of the process waits on something the case
    /// must act on (a socket, a pipe, a terminal, a child, a signal, a
    /// timer it set itself: [`crate::procs::Doing`]), is stopped, or the
    /// process is gone: it has done all it can with what it was given.
    /// Asleep in open() on a slow file system is not idle.
    ///
    /// Traced, a thread in state `t` sits in a ptrace stop (at a system
    /// call's entry or exit, or a signal's delivery) that its tracer thread
    /// ends at once: it is busy, not idle. So idle still means asleep inside
    /// a call, and by then every call before that one has been recorded.
    /// Untraced, `t` (someone else's debugger) and `T` (stopped) count as
    /// idle: nothing happens until somebody else acts.
    pub fn is_idle(&mut self) -> bool {
        if self.try_exit().is_some() {
            return true;
        }
        crate::procs::busy_thread(self.pid(), self.traced()).is_none()
    }

    /// One-letter state of the main thread, for messages.
    pub fn state(&self) -> String {
        crate::procs::stat_state(Path::new(&format!("/proc/{}/stat", self.pid())))
            .map_or("gone".into(), |c| c.to_string())
    }

    /// What it is doing, for messages: `asleep in poll`, `in openat of
    /// /mnt/f/x`, `state R`, `gone` (see [`crate::procs::Doing`]).
    pub fn doing(&self) -> String {
        crate::procs::doing(self.pid(), self.traced()).map_or("gone".into(), |d| d.to_string())
    }

    /// Moves what it has written to its pipes so far into its streams now
    /// (see [`Output::catch_up`]).
    pub fn catch_up_output(&self) {
        self.stdout.catch_up();
        self.stderr.catch_up();
    }

    /// The end of its stdout so far, bounded, for a message.
    pub fn stdout(&self) -> Excerpt {
        self.stdout.excerpt()
    }

    /// The end of its stderr so far, bounded, for a message.
    pub fn stderr(&self) -> Excerpt {
        self.stderr.excerpt()
    }

    /// The files keeping its stdout and stderr, when they are named.
    pub fn output_files(&self) -> impl Iterator<Item = &Path> {
        [&self.stdout, &self.stderr]
            .into_iter()
            .filter_map(|o| o.path())
    }

    /// Waits until stdout holds the line `line`, or the stream ends, or the
    /// deadline passes.
    pub fn wait_stdout_line(&self, line: &str, deadline: Instant) -> bool {
        self.stdout.wait_line(line, deadline)
    }
}

/// What the child does before exec, however it is started: enter the
/// namespace, default signal dispositions and an empty mask, close-on-exec
/// above fd 2, its own process group, death with the thread that forked it.
/// Async-signal-safe calls only: it runs between fork and exec.
fn prepare_child(ns_fd: RawFd) -> std::io::Result<()> {
    // SAFETY: plain system calls on values we own.
    unsafe {
        if libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        for sig in [
            Signal::SIGINT,
            Signal::SIGQUIT,
            Signal::SIGPIPE,
            Signal::SIGTERM,
        ] {
            signal::signal(sig, SigHandler::SigDfl)?;
        }
        signal::sigprocmask(
            signal::SigmaskHow::SIG_SETMASK,
            Some(&SigSet::empty()),
            None,
        )?;
        if libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        libc::setpgid(0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    Ok(())
}

/// Steps of [`fork_traced`]'s child, for its error message.
const CHILD_STEPS: [&str; 5] = [
    "dup2",
    "prepare",
    "PTRACE_TRACEME",
    "install the seccomp filter",
    "exec",
];

/// A pidfd for `pid`, which must not have been reaped yet.
fn pidfd_of(pid: i32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open returns a new fd or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
    if raw < 0 {
        let e = std::io::Error::last_os_error();
        return Err(Error::io(format!("pidfd_open({pid})"), e));
    }
    // SAFETY: raw is a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Starts `program` traced from the calling thread, which becomes its parent
/// and tracer: the child prepares as [`prepare_child`], calls PTRACE_TRACEME,
/// installs [`syscalls::seccomp_filter`] and execs. Returns once the child
/// sits in its stop after exec.
///
/// Not Command::spawn: that blocks its thread until exec, and a traced child
/// that stops before exec (a signal; or an exec error, which std reports
/// with a write the filter traps and fails until the tracer sets its
/// options, and then aborts) waits for this very thread. Here errors before
/// exec come back through a pipe written with writev, which is not trapped,
/// and the thread waits with waitpid, which sees stops.
fn fork_traced(
    program: &Path,
    args: &[OsString],
    ns_fd: RawFd,
    what: &str,
) -> Result<(i32, Started)> {
    use nix::unistd::ForkResult;

    // Everything the child needs is made before the fork: it may not allocate.
    let argv_owned = exec_argv(program, args, what)?;
    let mut argv: Vec<*const libc::c_char> = argv_owned.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let filter = syscalls::seccomp_filter();
    let (in_r, in_w) = high_pipe()?;
    let (out_r, out_w) = high_pipe()?;
    let (err_r, err_w) = high_pipe()?;
    let (report_r, report_w) = high_pipe()?;

    // SAFETY: between fork and exec the child makes async-signal-safe calls
    // only, on data made before the fork.
    match unsafe { nix::unistd::fork() }.map_err(|e| Error::sys(format!("{what}: fork"), e))? {
        ForkResult::Child => unsafe {
            let stdio = [in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()];
            exec_traced_child(stdio, report_w.as_raw_fd(), ns_fd, &filter, &argv)
        },
        ForkResult::Parent { child } => {
            drop((in_r, out_w, err_w, report_w));
            wait_for_exec(child, report_r, what)?;
            let started = Started {
                stdin: File::from(in_w),
                stdout: File::from(out_r),
                stderr: File::from(err_r),
            };
            Ok((child.as_raw(), started))
        }
    }
}

/// The program and its arguments as C strings, for execvp.
fn exec_argv(program: &Path, args: &[OsString], what: &str) -> Result<Vec<std::ffi::CString>> {
    use std::os::unix::ffi::OsStrExt;
    let cstring = |s: &std::ffi::OsStr| {
        std::ffi::CString::new(s.as_bytes())
            .map_err(|_| Error::msg(format!("{what}: NUL byte in `{}`", s.to_string_lossy())))
    };
    std::iter::once(program.as_os_str())
        .chain(args.iter().map(|a| a.as_os_str()))
        .map(cstring)
        .collect()
}

/// A close-on-exec pipe with both ends above fd 2 (dup2 onto 0-2 must not
/// hit one of its own).
fn high_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let high = |fd: OwnedFd| {
        if fd.as_raw_fd() > 2 {
            Ok(fd)
        } else {
            fd.try_clone()
        }
    };
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))?;
    let io = |e| Error::io("dup pipe above fd 2", e);
    Ok((high(r).map_err(io)?, high(w).map_err(io)?))
}

/// In the child: errno and step to the parent, then _exit.
unsafe fn fail(fd: RawFd, step: u32, errno: i32) -> ! {
    let msg: [u32; 2] = [errno as u32, step];
    let iov = libc::iovec {
        iov_base: msg.as_ptr() as *mut libc::c_void,
        iov_len: 8,
    };
    // SAFETY: iov points at 8 readable bytes.
    unsafe {
        libc::writev(fd, &iov, 1);
        libc::_exit(127)
    }
}

/// The child's side of [`fork_traced`]: stdio from the pipes, the
/// namespace, PTRACE_TRACEME, the seccomp filter, exec. Each failure goes
/// to `report` as [`CHILD_STEPS`] index and errno.
///
/// # Safety
/// Only in the child between fork and exec: async-signal-safe calls on data
/// made before the fork.
unsafe fn exec_traced_child(
    stdio: [RawFd; 3],
    report: RawFd,
    ns_fd: RawFd,
    filter: &[libc::sock_filter],
    argv: &[*const libc::c_char],
) -> ! {
    unsafe {
        for (target, fd) in stdio.into_iter().enumerate() {
            if libc::dup2(fd, target as i32) < 0 {
                fail(report, 0, nix::errno::Errno::last_raw());
            }
        }
        if let Err(e) = prepare_child(ns_fd) {
            fail(report, 1, e.raw_os_error().unwrap_or(0));
        }
        if let Err(e) = syscalls::trace_me() {
            fail(report, 2, e.raw_os_error().unwrap_or(0));
        }
        if let Err(e) = syscalls::install_filter(filter) {
            fail(report, 3, e.raw_os_error().unwrap_or(0));
        }
        libc::execvp(argv[0], argv.as_ptr());
        fail(report, 4, nix::errno::Errno::last_raw())
    }
}

/// The parent's side of [`fork_traced`]: waits for the child's stop after
/// exec, passing on signals that come before it; an error read from
/// `report` when the child ended instead.
fn wait_for_exec(child: nix::unistd::Pid, report: OwnedFd, what: &str) -> Result<()> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(child, Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Stopped(_, Signal::SIGTRAP)) => return Ok(()),
            // A signal before exec: deliver it.
            Ok(WaitStatus::Stopped(_, sig)) => syscalls::resume(child, Some(sig)),
            Ok(ws) => {
                let mut msg = [0u8; 8];
                let n = File::from(report).read(&mut msg).unwrap_or(0);
                if n != 8 {
                    return Err(Error::msg(format!(
                        "{what}: the child ended before exec ({ws:?})"
                    )));
                }
                let errno = u32::from_ne_bytes(msg[..4].try_into().unwrap()) as i32;
                let step = u32::from_ne_bytes(msg[4..].try_into().unwrap()) as usize;
                let errno = nix::errno::Errno::from_raw(errno);
                // A failed exec reads as it does untraced.
                return Err(match CHILD_STEPS.get(step) {
                    Some(step) if *step != "exec" => Error::sys(format!("{what}: {step}"), errno),
                    _ => Error::sys(what, errno),
                });
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::sys(format!("{what}: waitpid({child})"), e)),
        }
    }
}

trait AsFdRef {
    fn as_fd_ref(&self) -> std::os::fd::BorrowedFd<'_>;
}

impl AsFdRef for OwnedFd {
    fn as_fd_ref(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.as_fd()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            let _ = signal::kill(Pid::from_raw(-self.pid), Signal::SIGKILL);
            let _ = self.send(Signal::SIGKILL);
            match &mut self.exit {
                Exit::Child(child) => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                Exit::Traced(log) => {
                    // SIGKILL ends even a ptrace-stopped process; its tracer
                    // thread reaps it. Bounded, in case that thread is gone.
                    let _ = log.wait_status(Instant::now() + Duration::from_secs(10));
                }
            }
        }
    }
}
