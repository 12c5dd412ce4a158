//! The capture against tcpdump on the same interface at the same time: the
//! same frames, stamped within a millisecond (each tap stamps a frame when
//! the kernel hands it over; the sender's side stamps once for all taps,
//! the receiver's once per tap), and none lost in a burst.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::error::Error;
use crate::lab::{Lab, Side};

const TCPDUMP: &str = "/usr/bin/tcpdump";

fn read_with_tcpdump(path: &Path) -> String {
    let out = Command::new(TCPDUMP)
        .args(["-nn", "-r"])
        .arg(path)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// tcpdump writing `path` from inside the lab's server namespace, once it
/// says it is listening.
fn tcpdump_on_server(lab: &Lab, path: &Path) -> std::process::Child {
    let mut child = Command::new("/usr/bin/nsenter")
        .arg(format!(
            "--net={}",
            lab.netns(Side::Server).path().display()
        ))
        // In immediate mode libpcap rings fixed-size slots sized by the
        // snapshot length: at tcpdump's default 262144 bytes its 2 MiB ring
        // held 8 and the 1 MB burst below lost 11 of its 64 KiB frames; a
        // 64 MiB ring (128 MiB mapped) took 0.25 s to allocate. The lines
        // compared are the headers tcpdump prints (at most 134 bytes of
        // Ethernet, IPv4 and TCP with options): -s 256 gives about 12000
        // slots in 4 MiB, allocated in milliseconds.
        .args([TCPDUMP, "-i", "veth-s", "-nn", "-U", "--immediate-mode"])
        .args(["-s", "256", "-B", "4096", "-w"])
        .arg(path)
        .args(["tcp", "port", "11111"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "tcpdump: {line}");
    child
}

#[test]
fn the_capture_holds_what_tcpdump_holds_within_a_millisecond() {
    if !Path::new(TCPDUMP).exists() {
        eprintln!("skipped: no {TCPDUMP}");
        return;
    }
    let lab = Lab::new("capture-vs-tcpdump").unwrap();
    let dir = std::env::temp_dir().join(format!("tcplab-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ours, theirs) = (dir.join("ours.pcap"), dir.join("tcpdump.pcap"));
    let mut tcpdump = tcpdump_on_server(&lab, &theirs);
    let mut cap = Capture::open(
        lab.netns(Side::Server),
        Side::Server.iface(),
        "tcp port 11111",
        &ours,
    )
    .unwrap();
    let listener = lab
        .netns(Side::Server)
        .run("listen", || {
            TcpListener::bind(("0.0.0.0", 11111)).map_err(|e| Error::io("bind", e))
        })
        .unwrap();
    // Two connections: one with a 1 MB burst (GSO super-frames), one bare.
    for size in [1 << 20, 0usize] {
        let mut client = lab
            .netns(Side::Client)
            .run("connect", || {
                TcpStream::connect((Side::Server.addr(), 11111))
                    .map_err(|e| Error::io("connect", e))
            })
            .unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let writer = std::thread::spawn(move || {
            client.write_all(&vec![7u8; size]).unwrap();
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        assert_eq!(got.len(), size);
    }
    // Every FIN answered: 2 connections, each ending with the server's
    // FIN acknowledged.
    let limit = Instant::now() + Duration::from_secs(5);
    while cap
        .packets()
        .iter()
        .filter(|p| p.flags.contains(crate::packet::TcpFlags::FIN))
        .count()
        < 2
        && Instant::now() < limit
    {
        cap.wait_readable(Duration::from_millis(50));
        cap.poll().unwrap();
    }
    drop(listener);
    // tcpdump writes each frame as it reads it (-U): wait until its file
    // has as many as ours.
    let want = cap.packets().len();
    while read_with_tcpdump(&theirs).lines().count() < want && Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(5)); // poll interval of this wait
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tcpdump.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    tcpdump.wait().unwrap();
    let sum = cap.finish().unwrap();
    assert_eq!((sum.dropped, sum.if_dropped), (0, 0));
    let (a, b) = (read_with_tcpdump(&ours), read_with_tcpdump(&theirs));
    assert!(a.lines().count() > 20, "{a}");
    let untimed = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.split_once(' ').unwrap().1.to_string())
            .collect()
    };
    assert_eq!(untimed(&a), untimed(&b), "ours:\n{a}\ntcpdump's:\n{b}");
    for (x, y) in a.lines().zip(b.lines()) {
        let micros = |l: &str| -> i64 {
            let t = l.split(' ').next().unwrap();
            let (hms, us) = t.split_once('.').unwrap();
            let s: i64 = hms
                .split(':')
                .fold(0, |a, f| a * 60 + f.parse::<i64>().unwrap());
            s * 1_000_000 + us.parse::<i64>().unwrap()
        };
        assert!((micros(x) - micros(y)).abs() < 1000, "{x}\n{y}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
