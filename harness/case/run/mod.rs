//! Playing a case in a fresh lab: each step, then the waits that make it
//! deterministic (the lab settled, the capture read to the end), then the
//! expectations held against what the kernel showed.
//!
//! Where things go: `session` holds the case's state, by part (`commands`,
//! `position` in the capture, `clock`, `rules`); `play` is the loop over
//! the items; `steps` runs each step (one arm per step kind); `blocks` checks the sockets, fds and
//! syscalls blocks, `packets` the packets blocks; `settle` is every wait
//! for the lab to go quiet; `failure` writes a set block's failure;
//! `inject` the `sends` step and which captured packets it injected;
//! `faults` the fault steps and what rules mean for settling, marks and
//! the ladder; `setup` the lab and its observers, built at once.

mod blocks;
mod clock;
mod commands;
pub mod each;
mod failure;
mod faults;
mod inject;
pub mod limits;
mod options;
mod pace;
mod packets;
mod play;
mod position;
mod repeat;
mod rules;
mod session;
mod settle;
mod setup;
mod sidebyside;
mod step_error;
mod steps;

use std::time::Instant;

pub use super::outcome::{Cause, Failure, Observation, Observed, Outcome};
use super::Case;
use clock::Clock;
use commands::Commands;
pub use options::Options;
use position::Position;
use rules::Rules;
use session::Session;

pub fn run(case: &Case, opts: &Options) -> Result<Outcome, Failure> {
    let played = super::family::in_family(case, opts.family);
    let case = &played;
    let path = case.path.as_path();
    let setup = |what: &str, e: &dyn std::fmt::Display| {
        Failure::new(path, 1, Cause::Setup, format!("{what}: {e}"))
    };
    limits::check_windows(case, opts.case_timeout)
        .map_err(|e| Failure::new(path, e.line, Cause::TimeLimit, e.to_string()))?;
    let pcap = opts.out_dir.join(format!("{}.pcap", case.name));
    let setup::Setup { lab, capture, diag } =
        setup::setup(case, opts.implementation, opts.family, &opts.kernel, &pcap)
            .map_err(|e| Failure::new(path, 1, Cause::Setup, e.to_string()))?;
    let watch = crate::procs::Watch::new(&lab).map_err(|e| setup("the lab's namespaces", &e))?;
    let mut s = Session {
        case,
        opts,
        commands: Commands::new(watch),
        capture: Some(capture),
        diag,
        position: Position::default(),
        clock: Clock::new(opts.case_timeout),
        log: Vec::new(),
        events: Vec::new(),
        observed: Vec::new(),
        pcap,
        rules: Rules::new(),
        lab,
    };
    let result = s.play();
    let packets = s.captured().to_vec();
    let fault_events = s.fault_events(&packets);
    s.events.extend(fault_events);
    let finished = s.capture.take().map(|c| c.finish());
    hand_back(&s.pcap);
    for (_, p) in &s.commands.procs {
        p.output_files().for_each(hand_back);
    }
    let mut failed = match result {
        Ok(()) => None,
        Err(e) if Instant::now() >= s.clock.end => Some(Failure::new(
            path,
            e.line,
            Cause::TimeLimit,
            format!(
                "{}\n  the case used up its time limit of {}: {}",
                e.shown(),
                super::rows::show_duration(opts.case_timeout),
                limits::RAISE
            ),
        )),
        Err(e) => Some(Failure::new(path, e.line, e.cause, e.shown())),
    };
    let incomplete = match finished {
        Some(Ok(sum)) if sum.dropped > 0 || sum.if_dropped > 0 => Some(format!(
            "the capture is incomplete: it dropped {} packets ({} by the interface); the trace cannot be trusted",
            sum.dropped, sum.if_dropped
        )),
        Some(Err(e)) => Some(format!("capture: {e}")),
        _ => None,
    };
    if let Some(why) = incomplete {
        // Nothing seen can be trusted: that is the cause, whatever failed.
        let f = Failure::new(path, 1, Cause::Capture, why);
        failed = Some(match failed {
            None => f,
            Some(step) => Failure {
                cause: Cause::Capture,
                text: step.text + &f.text,
                ..step
            },
        });
    }
    let Some(mut failure) = failed else {
        return Ok(Outcome {
            packets,
            pcap: s.pcap.clone(),
            log: std::mem::take(&mut s.log),
            events: std::mem::take(&mut s.events),
            observed: std::mem::take(&mut s.observed),
        });
    };
    s.explain(&mut failure.text, &packets);
    Err(failure)
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
