//! Running a whole process and reading what the kernel accounted to it:
//! wall time from just before the fork to the reaping wait, and the
//! rusage wait4(2) returns for that one child (its own CPU plus that of
//! every descendant it reaped, and the largest resident set among them).

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tcplab::error::Error;

/// What one run of a process cost.
#[derive(Clone, Debug)]
pub struct Measured {
    pub wall: Duration,
    pub user: Duration,
    pub sys: Duration,
    /// Peak resident set of the process or its largest reaped descendant.
    pub maxrss_kb: u64,
    /// Exit code, or 128 + signal.
    pub code: i32,
}

impl Measured {
    pub fn cpu(&self) -> Duration {
        self.user + self.sys
    }
}

/// Runs `cmd` to its end, its stdout and stderr into the file `out`. The
/// child is reaped here with wait4, so the rusage is exactly its own
/// (std's `Child::wait` would discard it).
pub fn measure(cmd: &mut Command, out: &Path) -> Result<Measured, Error> {
    let what = format!("{cmd:?}");
    let f = File::create(out).map_err(|e| Error::io(format!("create {}", out.display()), e))?;
    let g = f
        .try_clone()
        .map_err(|e| Error::io(format!("dup {}", out.display()), e))?;
    cmd.stdout(f).stderr(g).stdin(Stdio::null());
    let start = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("start {what}"), e))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = loop {
        // SAFETY: pid is our unreaped child; status and ru are ours.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break r;
        }
    };
    let wall = start.elapsed();
    if r < 0 {
        return Err(Error::sys(
            format!("wait4 for {what}"),
            nix::errno::Errno::last(),
        ));
    }
    // std's Child does not reap on drop, so dropping it here is harmless.
    drop(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok(Measured {
        wall,
        user: tv(ru.ru_utime),
        sys: tv(ru.ru_stime),
        maxrss_kb: ru.ru_maxrss as u64,
        code,
    })
}

/// A command with the environment a case run gets from `make bench`: none
/// of the switches that change what the runner does (NC, TCPLAB_SHOW, ...).
pub fn clean_command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for var in [
        "NC",
        "TCPLAB_SHOW",
        "TCPLAB_RECORD",
        "TCPLAB_TIMINGS",
        "TCPLAB_CASES",
        "TCPLAB_DEADLINE_MS",
        "TCPLAB_OUT",
        "TCPLAB_RUN_ID",
    ] {
        cmd.env_remove(var);
    }
    cmd
}
