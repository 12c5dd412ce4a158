//! The library's public pieces timed one by one, in the order the runner
//! calls them (sweep, `Lab::new`, `Capture::open`, `SockDiag::open`, a
//! sock_diag dump, the capture's finish, the lab's drop): what each costs
//! on its own, beside the traced whole run.

use std::time::{Duration, Instant};

use tcplab::capture::Capture;
use tcplab::error::Error;
use tcplab::host::{Process, Spawn};
use tcplab::lab::{self, Lab, Side};
use tcplab::procs::{Root, Watch};
use tcplab::sockets::SockDiag;

use crate::stats::median;

/// Medians of each piece over the rounds.
#[derive(Clone, Debug, Default)]
pub struct Pieces {
    pub sweep: Duration,
    pub capture_open: Duration,
    pub capture_finish: Duration,
    pub diag_open: Duration,
    /// One `SockDiag::dump` (IPv4 + IPv6) of an empty namespace, wall.
    pub dump: Duration,
    /// The CPU time of the same dump (this thread's, from getrusage).
    pub dump_cpu: Duration,
    /// One `procs::Watch::busy` look at a listening nc: its stat and its
    /// children under /proc, read by every settle iteration for every
    /// command.
    pub idle_check: Duration,
}

/// CPU time (user + sys) of the calling thread so far.
pub fn thread_cpu() -> Duration {
    // SAFETY: a zeroed rusage is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD on the calling thread, into our struct.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

/// Dumps per round for the dump's median: enough to average out the
/// scheduler, few enough to stay well under a second.
const DUMPS: u32 = 20;

/// Times one look of the settle's process check (`procs::Watch::busy`)
/// at an `nc -kl 11111` asleep in the server.
fn idle_check(lab: &Lab, nc: &std::path::Path) -> Result<Duration, Error> {
    let spawn = Spawn {
        program: nc.to_path_buf(),
        args: vec!["-kl".into(), "11111".into()],
        label: "nc -kl 11111".into(),
        trace: false,
    };
    let p = Process::spawn(lab.netns(Side::Server), &spawn)?;
    let mut watch = Watch::new(lab).map_err(|e| Error::io("procs::Watch::new", e))?;
    let roots = [Root {
        side: Side::Server,
        pid: p.pid(),
        traced: false,
    }];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !watch.busy(&roots).is_empty() {
        if Instant::now() > deadline {
            return Err(Error::msg("nc -kl 11111 never went to sleep"));
        }
        std::thread::yield_now();
    }
    let t = Instant::now();
    for _ in 0..DUMPS * 10 {
        watch.busy(&roots);
    }
    Ok(t.elapsed() / (DUMPS * 10))
}

pub fn measure(
    rounds: usize,
    pcap_dir: &std::path::Path,
    nc: &std::path::Path,
) -> Result<Pieces, Error> {
    let mut s = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let pcap = pcap_dir.join("bench-pieces.pcap");
    for _ in 0..rounds {
        s.0.push(timed(lab::sweep_stale).1);
        let lab = Lab::new("bench-pieces").map_err(|e| e.context("Lab::new"))?;
        let (cap, t) = timed(|| {
            Capture::open(
                lab.netns(Side::Server),
                Side::Server.iface(),
                "tcp port 11111",
                &pcap,
            )
        });
        let cap = cap.map_err(|e| e.context("Capture::open"))?;
        s.1.push(t);
        let (diag, t) = timed(|| {
            Side::ALL
                .iter()
                .map(|side| SockDiag::open(lab.netns(*side)))
                .collect::<Result<Vec<_>, _>>()
        });
        let diag = diag.map_err(|e| e.context("SockDiag::open"))?;
        s.3.push(t);
        let cpu0 = thread_cpu();
        let t0 = Instant::now();
        for _ in 0..DUMPS {
            diag[0].dump().map_err(|e| e.context("sock_diag dump"))?;
        }
        s.4.push(t0.elapsed() / DUMPS);
        s.5.push((thread_cpu() - cpu0) / DUMPS);
        s.6.push(idle_check(&lab, nc)?);
        let (sum, t) = timed(|| cap.finish());
        sum.map_err(|e| e.context("Capture::finish"))?;
        s.2.push(t);
        drop(diag);
        drop(lab);
    }
    let _ = std::fs::remove_file(&pcap);
    Ok(Pieces {
        sweep: median(&s.0),
        capture_open: median(&s.1),
        capture_finish: median(&s.2),
        diag_open: median(&s.3),
        dump: median(&s.4),
        dump_cpu: median(&s.5),
        idle_check: median(&s.6),
    })
}
