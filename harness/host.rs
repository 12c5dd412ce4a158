//! A terminal on one host: a process started inside a namespace, its stdin a
//! pipe we hold open (a terminal that stays open, as in the seed), its output
//! collected, signals sent to it, its exit awaited.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, SigHandler, SigSet, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::netns::Netns;

/// What to run: a program (absolute, or looked up on PATH inside the
/// namespace) and its arguments.
#[derive(Clone, Debug)]
pub struct Spawn {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// How the case wrote it, for messages: `nc -kl 11111`.
    pub label: String,
}

/// Output of one stream, filled by a reader thread.
#[derive(Default)]
struct Stream {
    data: Mutex<(Vec<u8>, bool)>,
    grew: Condvar,
}

pub struct Process {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Stream>,
    stderr: Arc<Stream>,
    pidfd: OwnedFd,
    status: Option<ExitStatus>,
    label: String,
    netns: String,
}

impl Process {
    /// Starts `spawn` inside `netns`. In the child, before exec: enter the
    /// namespace, restore SIGINT/SIGQUIT (a background shell job inherits
    /// them ignored, and ^C would do nothing), unblock signals, mark every
    /// inherited fd above 2 close-on-exec (so the program's sockets get the
    /// numbers it would get from a terminal), start a process group, and die
    /// with the harness thread that started it.
    pub fn spawn(netns: &Netns, spawn: &Spawn) -> Result<Process> {
        let ns_fd: RawFd = netns.fd().as_raw_fd();
        let mut cmd = Command::new(&spawn.program);
        cmd.args(&spawn.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: only async-signal-safe system calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                for sig in [Signal::SIGINT, Signal::SIGQUIT, Signal::SIGPIPE, Signal::SIGTERM] {
                    signal::signal(sig, SigHandler::SigDfl)?;
                }
                signal::sigprocmask(signal::SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
                if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC)
                    != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            Error::io(format!("start `{}` in netns {}", spawn.label, netns.name()), e)
        })?;
        let pid = child.id() as i32;
        // SAFETY: pidfd_open returns a new fd or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
        if raw < 0 {
            let e = std::io::Error::last_os_error();
            let _ = child.kill();
            return Err(Error::io(format!("pidfd_open({pid})"), e));
        }
        // SAFETY: raw is a fresh fd we own.
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
        let stdout = Arc::new(Stream::default());
        let stderr = Arc::new(Stream::default());
        reader(child.stdout.take().map(|s| File::from(OwnedFd::from(s))), stdout.clone());
        reader(child.stderr.take().map(|s| File::from(OwnedFd::from(s))), stderr.clone());
        Ok(Process {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            pidfd,
            status: None,
            label: spawn.label.clone(),
            netns: netns.name().to_string(),
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
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
        signal::kill(Pid::from_raw(self.pid()), sig)
            .map_err(|e| Error::sys(format!("kill({}, {sig}) `{}`", self.pid(), self.label), e))
    }

    /// The exit status if the process is gone (reaps it).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits for the process to end: poll(2) on its pidfd, under `deadline`.
    pub fn wait_exit(&mut self, deadline: Instant) -> Result<ExitStatus> {
        loop {
            if let Some(s) = self.try_exit() {
                return Ok(s);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::msg(format!(
                    "timed out waiting for `{}` (pid {}) in netns {} to exit",
                    self.label,
                    self.pid(),
                    self.netns
                )));
            }
            let mut fds = [PollFd::new(self.pidfd.as_fd_ref(), PollFlags::POLLIN)];
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            let _ = poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX));
        }
    }

    /// True when every thread of the process sleeps in a system call (state
    /// S in /proc), or the process is gone: it has done all it can with what
    /// it was given.
    pub fn is_idle(&mut self) -> bool {
        if self.try_exit().is_some() {
            return true;
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else {
            return true;
        };
        tasks.flatten().all(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            // The state letter follows the ")" that ends the command name.
            let state = stat.rsplit_once(')').and_then(|(_, r)| r.trim_start().chars().next());
            matches!(state, None | Some('S') | Some('Z') | Some('X') | Some('t') | Some('T'))
        })
    }

    /// One-letter state of the main thread, for messages.
    pub fn state(&self) -> String {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        stat.rsplit_once(')')
            .and_then(|(_, r)| r.trim_start().chars().next())
            .map_or("gone".into(), |c| c.to_string())
    }

    pub fn stdout(&self) -> String {
        self.stdout.text()
    }

    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Waits until stdout holds the line `line`, or the stream ends, or the
    /// deadline passes.
    pub fn wait_stdout_line(&self, line: &str, deadline: Instant) -> bool {
        self.stdout.wait_until(deadline, |text| text.lines().any(|l| l == line))
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

impl Stream {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.data.lock().unwrap().0).into_owned()
    }

    fn wait_until(&self, deadline: Instant, done: impl Fn(&str) -> bool) -> bool {
        let mut guard = self.data.lock().unwrap();
        loop {
            if done(&String::from_utf8_lossy(&guard.0)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if guard.1 || left.is_zero() {
                return false;
            }
            guard = self.grew.wait_timeout(guard, left).unwrap().0;
        }
    }
}

fn reader(file: Option<File>, stream: Arc<Stream>) {
    let Some(mut file) = file else { return };
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    stream.data.lock().unwrap().0.extend_from_slice(&buf[..n]);
                    stream.grew.notify_all();
                }
            }
        }
        stream.data.lock().unwrap().1 = true;
        stream.grew.notify_all();
    });
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            let _ = signal::kill(Pid::from_raw(-self.pid()), Signal::SIGKILL);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
