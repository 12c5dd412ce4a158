//! The capture against tcpdump on the same interface at the same time: the
//! same frames, stamped within a millisecond (each tap stamps a frame when
//! the kernel hands it over; the sender's side stamps once for all taps,
//! the receiver's once per tap), and none lost in a burst.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::socket::PacketSocket;
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

/// Microseconds since midnight of a `tcpdump -nn -r` line's time.
fn micros(line: &str) -> i64 {
    let t = line.split(' ').next().unwrap();
    let (hms, us) = t.split_once('.').unwrap();
    let s: i64 = hms
        .split(':')
        .fold(0, |a, f| a * 60 + f.parse::<i64>().unwrap());
    s * 1_000_000 + us.parse::<i64>().unwrap()
}

/// Each of our lines is paired with a line of tcpdump's that reads the
/// same (without the time) and is stamped within a millisecond; every
/// line of both is paired. The order is compared only through the times:
/// frames that two CPUs hand to the taps at the same time can reach the
/// two in different orders (seen under load: two incoming segments
/// 9 µs apart, swapped in tcpdump's file).
fn same_frames(ours: &str, theirs: &str) -> Result<(), String> {
    let split = |t: &str| -> Vec<(i64, String)> {
        t.lines()
            .map(|l| (micros(l), l.split_once(' ').unwrap().1.to_string()))
            .collect()
    };
    let (ours, mut theirs) = (
        split(ours),
        split(theirs).into_iter().map(Some).collect::<Vec<_>>(),
    );
    if ours.len() != theirs.len() {
        return Err(format!(
            "{} frames, tcpdump has {}",
            ours.len(),
            theirs.len()
        ));
    }
    for (at, text) in &ours {
        let pair = theirs.iter_mut().find(|t| {
            t.as_ref()
                .is_some_and(|(their_at, their)| their == text && (their_at - at).abs() < 1000)
        });
        match pair {
            Some(t) => *t = None,
            None => return Err(format!("no frame in tcpdump's within 1 ms of ours: {text}")),
        }
    }
    Ok(())
}

#[test]
fn frames_pair_by_text_within_a_millisecond_in_any_order() {
    let a = "10:00:00.000100 IP x > y: Flags [S]\n10:00:00.000200 IP y > x: Flags [S.]\n";
    let swapped = "10:00:00.000210 IP y > x: Flags [S.]\n10:00:00.000190 IP x > y: Flags [S]\n";
    assert_eq!(same_frames(a, a), Ok(()));
    assert_eq!(same_frames(a, swapped), Ok(()));
    let late = "10:00:00.000100 IP x > y: Flags [S]\n10:00:00.001200 IP y > x: Flags [S.]\n";
    assert!(same_frames(a, late).unwrap_err().contains("[S.]"));
    let other = "10:00:00.000100 IP x > y: Flags [S]\n10:00:00.000200 IP y > x: Flags [R.]\n";
    assert!(same_frames(a, other).is_err());
    let short = "10:00:00.000100 IP x > y: Flags [S]\n";
    assert_eq!(same_frames(a, short), Err("2 frames, tcpdump has 1".into()));
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
    if let Err(e) = same_frames(&a, &b) {
        panic!("{e}\nours:\n{a}\ntcpdump's:\n{b}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Right after the socket opens, a frame carries the time the kernel
/// received it: before the clock read taken just before `recvmsg` (a frame
/// stamped at the read carries a time after it). Without `stamps.rs` this
/// fails whenever the kernel's timestamp key was off and its kworker had
/// not switched it yet when the frame came (under load: tens of ms).
#[test]
fn a_frame_is_stamped_when_the_kernel_receives_it_not_when_it_is_read() {
    let lab = Lab::new("capture-stamps").unwrap();
    let mut sock = lab
        .netns(Side::Server)
        .run("open", || {
            let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).unwrap();
            let filter = dead.compile("udp port 9", true).unwrap();
            PacketSocket::open(Side::Server.iface(), &filter)
        })
        .unwrap();
    lab.netns(Side::Client)
        .run("send", || {
            let udp = UdpSocket::bind(("0.0.0.0", 0)).map_err(|e| Error::io("bind", e))?;
            udp.send_to(b"stamp", (Side::Server.addr(), 9))
                .map_err(|e| Error::io("send", e))
        })
        .unwrap();
    let mut fds = [nix::poll::PollFd::new(
        sock.fd().as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let ready = nix::poll::poll(&mut fds, 5000u16).unwrap();
    assert_eq!(ready, 1, "no frame on veth-s within 5 s of the datagram");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap();
    let frame = sock.next().unwrap().expect("the frame poll saw");
    assert!(
        frame.ts < before,
        "stamped {:?} after the read began: taken by recvmsg, not at receive",
        frame.ts - before
    );
}
