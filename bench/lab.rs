//! Row 1: the lab up and down. tcplab's netlink lab (`Lab::new`, then its
//! drop) against the same work done with 11 `ip` commands, run alternately.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tcplab::error::Error;
use tcplab::lab::Lab;

use crate::stats::{alternate, median, range, ratio, show};
use crate::table::Row;

/// iproute2, by absolute path: under sudo PATH is secure_path, and a
/// shell's lookup is not what we time.
pub const IP: &str = "/usr/sbin/ip";

/// What the lab row measured, kept for the phase rows.
pub struct LabTimes {
    pub up: Vec<Duration>,
    pub down: Vec<Duration>,
}

/// One tcplab lab up and down: (up, down).
fn tcplab_once() -> Result<(Duration, Duration), Error> {
    let t0 = Instant::now();
    let lab = Lab::new("bench-lab").map_err(|e| e.context("Lab::new"))?;
    let up = t0.elapsed();
    let t1 = Instant::now();
    drop(lab);
    Ok((up, t1.elapsed()))
}

/// The 11 commands a person types for the same pair: netns add x2, the
/// veth born with its peer in the other namespace, addr add x2, link set up
/// x4 (lo and the veth end on each side), netns del x2.
fn ip_commands(c: &str, s: &str) -> Vec<Vec<String>> {
    let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        v(&["netns", "add", c]),
        v(&["netns", "add", s]),
        v(&[
            "-n", c, "link", "add", "veth-c", "type", "veth", "peer", "name", "veth-s", "netns", s,
        ]),
        v(&["-n", c, "addr", "add", "192.168.2.105/24", "dev", "veth-c"]),
        v(&["-n", s, "addr", "add", "192.168.2.100/24", "dev", "veth-s"]),
        v(&["-n", c, "link", "set", "lo", "up"]),
        v(&["-n", c, "link", "set", "veth-c", "up"]),
        v(&["-n", s, "link", "set", "lo", "up"]),
        v(&["-n", s, "link", "set", "veth-s", "up"]),
        v(&["netns", "del", c]),
        v(&["netns", "del", s]),
    ]
}

fn ip_once(round: usize) -> Result<Duration, Error> {
    // Not `tcplab-`: the runner's sweep must never mistake these for its own.
    let c = format!("bench-ip-{}-{round}-c", std::process::id());
    let s = format!("bench-ip-{}-{round}-s", std::process::id());
    let t0 = Instant::now();
    for args in ip_commands(&c, &s) {
        let st = Command::new(IP)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .map_err(|e| Error::io(format!("run {IP}"), e))?;
        if !st.success() {
            for ns in [&c, &s] {
                let _ = Command::new(IP)
                    .args(["netns", "del", ns])
                    .stderr(Stdio::null())
                    .status();
            }
            return Err(Error::msg(format!("`ip {}` failed: {st}", args.join(" "))));
        }
    }
    Ok(t0.elapsed())
}

pub fn row(rounds: usize) -> Result<(Row, LabTimes), Error> {
    // Warm-up, not counted: the first Lab::new of a process also sweeps
    // leftovers (timed in its own row), and the first `ip` loads caches.
    tcplab_once()?;
    ip_once(usize::MAX)?;
    let mut times = LabTimes {
        up: Vec::new(),
        down: Vec::new(),
    };
    let mut round = 0;
    let (ours, theirs) = alternate(
        rounds,
        || {
            let (up, down) = tcplab_once()?;
            times.up.push(up);
            times.down.push(down);
            Ok(up + down)
        },
        || {
            round += 1;
            ip_once(round)
        },
    )?;
    let (m, o) = (median(&ours), median(&theirs));
    let row = Row {
        what: "lab up + down".into(),
        tcplab: format!("{} (Lab::new + drop)", show(m)),
        other: format!("{} (11 × {IP})", show(o)),
        ratio: ratio(m, o),
        runs: format!("{rounds} + {rounds}, alternated"),
        note: format!(
            "tcplab up {} / down {}; spread {} vs {}",
            show(median(&times.up)),
            show(median(&times.down)),
            range(&ours),
            range(&theirs)
        ),
    };
    Ok((row, times))
}
