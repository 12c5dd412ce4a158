//! Playing a case in a fresh lab: each step, then the waits that make it
//! deterministic (the lab settled, the capture read to the end), then the
//! expectations held against what the kernel showed.
//!
//! Where things go: `session` holds the lab and what was seen; `steps` runs
//! each step (one arm per step kind); `blocks` checks the sockets, fds and
//! syscalls blocks, `packets` the packets blocks; `settle` is every wait
//! for the lab to go quiet; `failure` writes a set block's failure;
//! `inject` the `sends` step and which captured packets it injected;
//! `faults` the fault steps and what rules mean for settling, marks and
//! the ladder; `setup` the lab and its observers, built at once.

mod blocks;
pub mod each;
mod failure;
mod faults;
mod inject;
pub mod limits;
mod pace;
mod packets;
mod repeat;
mod session;
mod settle;
mod setup;
mod sidebyside;
mod steps;

use session::Session;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use super::outcome::{Cause, Failure, Observation, Observed, Outcome};
use super::{Case, Implementation};

/// How cases are run: which nc, where files go, how long a wait may take.
#[derive(Clone, Debug)]
pub struct Options {
    /// What `nc` in a case runs: the project's nc, or another (NC=ncat).
    pub nc: PathBuf,
    /// Which implementation `nc` is, as the runner chose it: the items
    /// marked for the other one (`ours:`, `ncat:`) are skipped.
    pub implementation: Implementation,
    /// The kernel the run plays on: the items marked for other kernels
    /// (`kernel>=6.5:`, `sysctl NAME:`) are skipped.
    pub kernel: crate::kernel::Kernel,
    /// Where `<case>.pcap` is written.
    pub out_dir: PathBuf,
    /// The deadline of every wait.
    pub deadline: Duration,
    /// The most one case may take, all waits together
    /// ([`limits::case_timeout_from_env`]).
    pub case_timeout: Duration,
    /// Record mode (TCPLAB_RECORD=1): a block that does not hold is not a
    /// failure; what it observed is kept in `Outcome::observed` and the run
    /// goes on, so `record` can rewrite the case from it.
    pub record: bool,
}

pub fn run(case: &Case, opts: &Options) -> Result<Outcome, Failure> {
    let at = |line: usize| format!("{}:{}", case.path.display(), line);
    let setup = |what: &str, e: &dyn std::fmt::Display| {
        Failure::new(Cause::Setup, format!("{}: {what}: {e}", at(1)))
    };
    limits::check_windows(case, opts.case_timeout)
        .map_err(|(line, msg)| Failure::new(Cause::TimeLimit, format!("{}: {msg}\n", at(line))))?;
    let pcap = opts.out_dir.join(format!("{}.pcap", case.name));
    let setup::Setup { lab, capture, diag } =
        setup::setup(case, opts.implementation, &opts.kernel, &pcap)
            .map_err(|e| Failure::new(Cause::Setup, format!("{}: {e}", at(1))))?;
    let watch = crate::procs::Watch::new(&lab).map_err(|e| setup("the lab's namespaces", &e))?;
    let mut s = Session {
        case,
        opts,
        procs: Vec::new(),
        capture: Some(capture),
        diag,
        claimed: 0,
        block_start: 0,
        strays_claimed: 0,
        start: Instant::now(),
        end: limits::capped(Instant::now(), opts.case_timeout, far_future()),
        last_action: Instant::now(),
        last_action_at: now(),
        traced: Vec::new(),
        log: Vec::new(),
        events: Vec::new(),
        observed: Vec::new(),
        sent: Vec::new(),
        pcap,
        faults: crate::faults::Faults::new(),
        rules: Vec::new(),
        watch,
        busy: Vec::new(),
        cause: None,
        lab,
    };
    let result = s.play();
    let packets = s.captured().to_vec();
    let fault_events = s.fault_events(&packets);
    s.events.extend(fault_events);
    let finished = s.capture.take().map(|c| c.finish());
    hand_back(&s.pcap);
    for (_, p) in &s.procs {
        p.output_files().for_each(hand_back);
    }
    let (mut text, mut cause) = match result {
        Ok(()) => (String::new(), Cause::Step),
        Err((line, msg)) if Instant::now() >= s.end => (
            format!(
                "{}: {msg}\n  the case used up its time limit of {}: {}\n",
                at(line),
                super::rows::show_duration(opts.case_timeout),
                limits::RAISE
            ),
            Cause::TimeLimit,
        ),
        Err((line, msg)) => (
            format!("{}: {msg}\n", at(line)),
            s.cause.unwrap_or(Cause::Step),
        ),
    };
    match finished {
        Some(Ok(sum)) if sum.dropped > 0 || sum.if_dropped > 0 => {
            let _ = writeln!(
                text,
                "{}: the capture is incomplete: it dropped {} packets ({} by the interface); the trace cannot be trusted",
                at(1),
                sum.dropped,
                sum.if_dropped
            );
            cause = Cause::Capture;
        }
        Some(Err(e)) => {
            let _ = writeln!(text, "{}: capture: {e}", at(1));
            cause = Cause::Capture;
        }
        _ => {}
    }
    if text.is_empty() {
        return Ok(Outcome {
            packets,
            pcap: s.pcap.clone(),
            log: std::mem::take(&mut s.log),
            events: std::mem::take(&mut s.events),
            observed: std::mem::take(&mut s.observed),
        });
    }
    s.explain(&mut text, &packets);
    Err(Failure::new(cause, text))
}

/// A time no case reaches: what a limit saturates to.
fn far_future() -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600))
        .unwrap_or(now)
}

/// Wall-clock time, on the same clock as libpcap's time stamps.
fn now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Files written as root under sudo go back to the user who ran sudo, so
/// `cargo clean` works without root afterwards.
pub fn hand_back(path: &std::path::Path) {
    let (Ok(uid), Ok(gid)) = (std::env::var("SUDO_UID"), std::env::var("SUDO_GID")) else {
        return;
    };
    let (Ok(uid), Ok(gid)) = (uid.parse::<u32>(), gid.parse::<u32>()) else {
        return;
    };
    for p in [Some(path), path.parent()].into_iter().flatten() {
        let _ = std::os::unix::fs::chown(p, Some(uid), Some(gid));
    }
}
