//! Injection in a real lab: the capture sees what was sent (and which way),
//! the guard refuses frames that are not HOST's own, and the kernel on the
//! other end answers as RFC 5961 says (measured here, kernel 6.18):
//!
//! - an in-window, not exact RST draws one challenge ACK (`TCPChallengeACK`
//!   +1) and the connection survives; a second one right after draws none
//!   (`TCPACKSkippedChallenge` +1): challenge ACKs are limited to one per
//!   `net.ipv4.tcp_invalid_ratelimit` (500 ms) per socket, while the global
//!   `tcp_challenge_ack_limit` is INT_MAX (no global limit) by default;
//! - an exact RST removes the socket, with no answer;
//! - a SYN on an established connection draws a challenge ACK
//!   (`TCPSYNChallenge` +1) under the same per-socket limit;
//! - data beyond the window is not delivered and draws a duplicate ACK;
//!   data segments are not rate-limited (a second one draws a second ACK);
//! - an exact RST to a TIME-WAIT socket removes it (`tcp_rfc1337` 0, the
//!   default); with `tcp_rfc1337` 1 the socket ignores it and stays, which
//!   a bare ACK at `rcv_nxt+1` proves without waiting: TIME-WAIT answers it
//!   with an ACK (and, per the kernel source, restarts its 60 s timer);
//! - an injected SYN to a listener draws a SYN-ACK that the sender's kernel,
//!   having no socket, resets.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::frame::{build, plausible_ip_id, Macs};
use super::{inject, wire, Conn, Injected, SegmentSpec};
use crate::capture::Capture;
use crate::error::Error;
use crate::lab::{Lab, Side};
use crate::netns::Netns;
use crate::packet::{Packet, TcpFlags, TcpOption};
use crate::sockets::{Family, SockDiag, TcpState};

const PORT: u16 = 11111;
const DEADLINE: Duration = Duration::from_secs(5);

struct Live {
    lab: Lab,
    capture: Capture,
    server_diag: SockDiag,
    client_diag: SockDiag,
    listener: TcpListener,
    /// The family the connections (and `to port` segments) speak.
    family: Family,
}

fn line(p: &Packet) -> String {
    format!(
        "{} > {} [{}] seq {} ack {} win {} len {} {:?}",
        p.src,
        p.dst,
        p.flags,
        p.seq,
        p.ack,
        p.win,
        p.len(),
        p.options
    )
}

impl Live {
    fn new(name: &str) -> Live {
        Live::new_in(name, Family::Ipv4)
    }

    /// A lab whose connections speak `family`.
    fn new_in(name: &str, family: Family) -> Live {
        assert!(
            nix::unistd::geteuid().is_root(),
            "needs root for namespaces: run `cargo test` (the runner uses sudo -E) or as root"
        );
        let lab = Lab::new(name).expect("lab");
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/tcplab")
            .join(format!("lib-{name}-{family}.pcap"));
        let capture = Capture::open(
            lab.netns(Side::Server),
            Side::Server.iface(),
            &format!("tcp port {PORT}"),
            &path,
        )
        .expect("capture");
        let server_diag = SockDiag::open(lab.netns(Side::Server)).expect("sock_diag");
        let client_diag = SockDiag::open(lab.netns(Side::Client)).expect("sock_diag");
        let listener = lab
            .netns(Side::Server)
            .run("listen", move || {
                let any = match family {
                    Family::Ipv4 => "0.0.0.0",
                    Family::Ipv6 => "::",
                };
                TcpListener::bind((any, PORT)).map_err(|e| Error::io("bind", e))
            })
            .expect("listener");
        Live {
            lab,
            capture,
            server_diag,
            client_diag,
            listener,
            family,
        }
    }

    /// Waits (poll(2) on the capture, under a deadline) until `f` finds
    /// what it looks for in the packets captured so far.
    fn wait_until<T>(&mut self, what: &str, f: impl Fn(&[Packet]) -> Option<T>) -> T {
        let deadline = Instant::now() + DEADLINE;
        loop {
            self.capture.poll().expect("read capture");
            if let Some(found) = f(self.capture.packets()) {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let seen: Vec<String> = self.capture.packets().iter().map(line).collect();
                panic!(
                    "timed out after {DEADLINE:?} waiting for {what}; captured:\n{}",
                    seen.join("\n")
                );
            }
            self.capture.wait_readable(left);
        }
    }

    /// The first packet at index `from` or later that satisfies `pred`.
    fn wait_for(&mut self, from: usize, what: &str, pred: impl Fn(&Packet) -> bool) -> Packet {
        self.wait_until(what, |ps| ps.iter().skip(from).find(|p| pred(p)).cloned())
    }

    /// A connection with a line each way, every byte acknowledged on the
    /// wire: (client stream, server stream, client address).
    fn established(&mut self) -> (TcpStream, TcpStream, SocketAddr) {
        let server = Side::Server.ip(self.family);
        let client = self
            .lab
            .netns(Side::Client)
            .run("connect", move || {
                TcpStream::connect((server, PORT)).map_err(|e| Error::io("connect", e))
            })
            .expect("connect");
        let (server, caddr) = self.listener.accept().expect("accept");
        for s in [&client, &server] {
            s.set_read_timeout(Some(DEADLINE)).unwrap();
        }
        let mut buf = [0u8; 6];
        (&client).write_all(b"hello\n").unwrap();
        (&server).read_exact(&mut buf).unwrap();
        (&server).write_all(b"world\n").unwrap();
        (&client).read_exact(&mut buf).unwrap();
        self.settle();
        (client, server, caddr)
    }

    /// Waits until each side's latest ACK on the wire covers all the other
    /// has sent: then `rcv_nxt` read from the capture is the kernel's.
    fn settle(&mut self) {
        self.wait_until("each side's ACK of all the other sent", |ps| {
            let c = Conn::latest(ps, Side::Client, PORT).ok()?;
            (c.host.acked == c.peer.snd_nxt && c.peer.acked == c.host.snd_nxt).then_some(())
        })
    }

    fn inject(&mut self, side: Side, spec: &str) -> (Injected, usize) {
        self.capture.poll().expect("read capture");
        let mark = self.capture.packets().len();
        let spec: SegmentSpec = spec.parse().expect("spec");
        let packets = self.capture.packets();
        let sent = inject(&self.lab, side, &spec, packets, PORT, self.family).expect("inject");
        let seen = self.wait_for(mark, "the injected segment in the capture", |p| sent.is(p));
        assert_eq!(seen.src.ip(), side.ip(self.family));
        (sent, mark)
    }

    fn server_state(&self, caddr: SocketAddr) -> Option<TcpState> {
        self.server_diag
            .dump()
            .expect("dump")
            .into_iter()
            .find(|r| r.peer == caddr)
            .map(|r| r.state)
    }

    fn client_state(&self, caddr: SocketAddr) -> Option<TcpState> {
        self.client_diag
            .dump()
            .expect("dump")
            .into_iter()
            .find(|r| r.local == caddr)
            .map(|r| r.state)
    }
}

/// Polls `state` (sock_diag) until it returns `want`, under the deadline.
fn wait_state(what: &str, want: Option<TcpState>, state: impl Fn() -> Option<TcpState>) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let now = state();
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}: {want:?}, still {now:?}"
        );
        std::thread::sleep(Duration::from_millis(2)); // poll interval of this wait
    }
}

/// TcpExt counters of `ns` (`nstat` / /proc/net/netstat, read inside it).
fn tcp_ext(ns: &Netns) -> HashMap<String, u64> {
    ns.run("read /proc/thread-self/net/netstat", || {
        let text = std::fs::read_to_string("/proc/thread-self/net/netstat")
            .map_err(|e| Error::io("read netstat", e))?;
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
        let [names, values] = lines.as_slice() else {
            return Err(Error::msg(format!("no TcpExt lines in netstat:\n{text}")));
        };
        Ok(names
            .split_whitespace()
            .zip(values.split_whitespace())
            .skip(1)
            .filter_map(|(n, v)| Some((n.to_string(), v.parse().ok()?)))
            .collect())
    })
    .expect("netstat")
}

fn sysctl(ns: &Netns, name: &'static str) -> String {
    ns.run("read sysctl", move || {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
            .map(|s| s.trim().to_string())
            .map_err(|e| Error::io(format!("read {name}"), e))
    })
    .expect("sysctl")
}

/// Waits until counter `name` of `ns` exceeds `before`; returns its value.
fn wait_counter(ns: &Netns, name: &str, before: u64) -> u64 {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let now = tcp_ext(ns).get(name).copied().unwrap_or(0);
        if now > before {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for TcpExt {name} to pass {before}"
        );
        std::thread::sleep(Duration::from_millis(2)); // poll interval of this wait
    }
}

/// A pcap handle on the server veth that sees one direction only.
fn one_way(lab: &Lab, dir: pcap::Direction) -> pcap::Capture<pcap::Active> {
    lab.netns(Side::Server)
        .run("open directional capture", move || {
            let mut cap = pcap::Capture::from_device(Side::Server.iface())
                .and_then(|c| c.immediate_mode(true).open())
                .map_err(|e| Error::pcap("open", e))?;
            cap.direction(dir)
                .map_err(|e| Error::pcap("direction", e))?;
            cap.filter(&format!("tcp port {PORT}"), true)
                .map_err(|e| Error::pcap("filter", e))?;
            cap.setnonblock().map_err(|e| Error::pcap("nonblock", e))
        })
        .expect("directional capture")
}

/// Reads `cap` until a packet equal to `want` shows up (or the deadline).
fn seen_on(cap: &mut pcap::Capture<pcap::Active>, want: &Packet) -> bool {
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        match cap.next_packet() {
            Ok(p) => {
                if Packet::from_ethernet(p.data, want.ts).is_some_and(|p| p == *want) {
                    return true;
                }
            }
            Err(pcap::Error::TimeoutExpired) => {
                std::thread::sleep(Duration::from_millis(2)); // poll interval of this wait
            }
            Err(e) => panic!("read directional capture: {e}"),
        }
    }
    false
}

/// In either family: the kernel answering an injected IPv6 SYN is the
/// proof that its checksum (over the IPv6 pseudo-header) is right.
#[rstest::rstest]
fn the_capture_sees_injected_frames_incoming_from_the_client_and_outgoing_from_the_server(
    #[values(Family::Ipv4, Family::Ipv6)] family: Family,
) {
    let mut live = Live::new_in("inject-direction", family);
    let mut inbound = one_way(&live.lab, pcap::Direction::In);
    let mut outbound = one_way(&live.lab, pcap::Direction::Out);
    let (from_client, _) = live.inject(Side::Client, "[S] seq 77, to port 11111");
    let (from_server, _) = live.inject(Side::Server, "[R] seq 5, to port 11111");
    assert!(from_client.sent.iface.name == "veth-c" && from_server.sent.iface.name == "veth-s");
    assert!(
        seen_on(&mut inbound, &from_client.packet),
        "client's frame not incoming on veth-s"
    );
    assert!(
        seen_on(&mut outbound, &from_server.packet),
        "server's frame not outgoing on veth-s"
    );
    // The listener answered the injected SYN: the kernel took it for real.
    let c = from_client.packet.src;
    live.wait_for(0, "the server's SYN-ACK to the injected SYN", |p| {
        p.dst == c && p.flags == TcpFlags::SYN | TcpFlags::ACK && p.ack == 78
    });
    // The client's kernel has no socket for it and resets it.
    live.wait_for(0, "the client's RST to that SYN-ACK", |p| {
        p.src == c && p.flags == TcpFlags::RST && p.seq == 78
    });
}

#[rstest::rstest]
fn send_refuses_frames_that_are_not_hosts_own_and_threads_outside_the_lab(
    #[values(Family::Ipv4, Family::Ipv6)] family: Family,
) {
    let live = Live::new_in("inject-guard", family);
    let spec: SegmentSpec = "[S] seq 1, to port 11111".parse().unwrap();
    let seg = super::conn::resolve_new(&spec, Side::Client, family, Duration::ZERO).unwrap();
    let macs = wire::macs(&live.lab, Side::Client).expect("macs");
    assert_ne!(macs.src, macs.dst);
    let wrong_mac = Macs {
        src: macs.dst,
        ..macs
    };
    let frame = build(&seg, wrong_mac, plausible_ip_id()).unwrap();
    let e = wire::send(&live.lab, Side::Client, &frame)
        .unwrap_err()
        .to_string();
    assert!(e.contains("refusing to inject: source MAC"), "{e}");
    let frame = build(&seg, macs, plausible_ip_id()).unwrap();
    let e = wire::send(&live.lab, Side::Server, &frame)
        .unwrap_err()
        .to_string();
    assert!(e.contains("refusing to inject: source MAC"), "{e}");
    let server_macs = wire::macs(&live.lab, Side::Server).unwrap();
    let frame = build(&seg, server_macs, plausible_ip_id()).unwrap();
    let e = wire::send(&live.lab, Side::Server, &frame)
        .unwrap_err()
        .to_string();
    let want = format!(
        "source address {} is not the server's ({})",
        Side::Client.ip(family),
        Side::Server.ip(family)
    );
    assert!(e.contains(&want), "{e}");
    // The test's own thread is in the host's namespace, not the lab's.
    let (dev, ino) = wire::ns_id(live.lab.netns(Side::Client)).unwrap();
    let e = wire::in_namespace("x", dev, ino).unwrap_err().to_string();
    assert!(
        e.contains("refusing to inject: this thread is in net namespace"),
        "{e}"
    );
    let end = wire::veth_end(&live.lab, Side::Client).unwrap();
    assert_eq!((end.name.as_str(), end.mac), ("veth-c", macs.src));
}

/// The one ACK the server sends after `mark`: (seq, ack) must be where the
/// connection stood (`conn` from the client's view).
fn server_ack_after(
    live: &mut Live,
    mark: usize,
    caddr: SocketAddr,
    conn: &Conn,
    what: &str,
) -> Packet {
    let (snd, rcv) = (conn.snd_nxt().unwrap(), conn.rcv_nxt().unwrap());
    live.wait_for(mark, what, |p| {
        p.dst == caddr && p.flags == TcpFlags::ACK && p.seq == snd && p.ack == rcv && p.is_empty()
    })
}

/// The TSval of `to` is as far ahead of `from`'s as the capture's clock
/// moved, within 2 ms, plus TCPLAB_TIME_TOLERANCE: under QEMU's TCG the
/// capture's stamps run late (TSval moved 104 while 108 ms passed).
fn tsval_kept_the_captures_time(from: &Packet, to: &Packet) {
    let tsval = |p: &Packet| {
        p.options.iter().find_map(|o| match o {
            TcpOption::Ts { val, .. } => Some(*val),
            _ => None,
        })
    };
    let ticks = tsval(to).unwrap().wrapping_sub(tsval(from).unwrap()) as i64;
    let ms = to.ts.saturating_sub(from.ts).as_millis() as i64;
    eprintln!("client TSval moved {ticks} in {ms} ms after the injected RST");
    let tol = crate::case::run::limits::time_tolerance().as_millis() as i64;
    assert!(
        (ticks - ms).abs() <= 2 + tol,
        "TSval moved {ticks} while {ms} ms passed (tolerance {tol} ms)"
    );
}

#[rstest::rstest]
fn an_in_window_reset_draws_one_challenge_ack_and_an_exact_one_ends_the_connection(
    #[values(Family::Ipv4, Family::Ipv6)] family: Family,
) {
    let mut live = Live::new_in("inject-rst", family);
    let server_ns = live.lab.netns(Side::Server);
    eprintln!(
        "server netns: tcp_challenge_ack_limit {}, tcp_invalid_ratelimit {} ms",
        sysctl(server_ns, "tcp_challenge_ack_limit"),
        sysctl(server_ns, "tcp_invalid_ratelimit")
    );
    let (client, server, caddr) = live.established();
    let conn = Conn::latest(live.capture.packets(), Side::Client, PORT).unwrap();
    let before = tcp_ext(live.lab.netns(Side::Server));

    let (rst, mark) = live.inject(Side::Client, "[R] seq rcv_nxt+1");
    assert_eq!(rst.packet.seq, conn.rcv_nxt().unwrap().wrapping_add(1));
    assert!(conn.timestamps(), "std sockets negotiate timestamps");
    let ack = server_ack_after(
        &mut live,
        mark,
        caddr,
        &conn,
        "the challenge ACK (RFC 5961 3.2)",
    );
    eprintln!(
        "challenge ACK {:?} after the RST",
        ack.ts.saturating_sub(rst.packet.ts)
    );
    let server_ns = live.lab.netns(Side::Server);
    let challenged = wait_counter(server_ns, "TCPChallengeACK", before["TCPChallengeACK"]);
    assert_eq!(challenged, before["TCPChallengeACK"] + 1);
    assert_eq!(live.server_state(caddr), Some(TcpState::Established));

    // A second one at once: the per-socket limit skips its challenge ACK.
    let skipped_before = before["TCPACKSkippedChallenge"];
    let (second, mark) = live.inject(Side::Client, "[R] seq rcv_nxt+2");
    let server_ns = live.lab.netns(Side::Server);
    wait_counter(server_ns, "TCPACKSkippedChallenge", skipped_before);
    live.capture.poll().unwrap();
    let answers = live.capture.packets()[mark..]
        .iter()
        .filter(|p| p.dst == caddr)
        .count();
    assert_eq!(answers, 0, "the rate-limited RST drew an answer");
    assert_eq!(live.server_state(caddr), Some(TcpState::Established));

    // Data still flows both ways.
    let mut buf = [0u8; 6];
    (&client).write_all(b"again\n").unwrap();
    (&server).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"again\n");
    live.settle();
    // The injected TSval ran on the client's own clock, at most 2 ms
    // behind it: the client's next real segment's TSval is as far ahead as
    // the capture's clock moved, within -1..=3 ms (both clocks read whole ms).
    let again = live.wait_for(mark, "the client's data", |p| {
        p.src == caddr && p.len() == 6
    });
    tsval_kept_the_captures_time(&second.packet, &again);

    let (exact, mark) = live.inject(Side::Client, "[R]");
    let conn = Conn::latest(live.capture.packets(), Side::Client, PORT).unwrap();
    assert_eq!(
        Some(exact.packet.seq),
        conn.peer.acked,
        "exact = the server's latest ACK"
    );
    let deadline = Instant::now() + DEADLINE;
    while live.server_state(caddr).is_some() {
        assert!(
            Instant::now() < deadline,
            "the server's socket outlived an exact RST"
        );
        std::thread::sleep(Duration::from_millis(2)); // poll interval of this wait
    }
    live.capture.poll().unwrap();
    let answers: Vec<String> = live.capture.packets()[mark..]
        .iter()
        .filter(|p| p.dst == caddr)
        .map(line)
        .collect();
    assert!(answers.is_empty(), "the exact RST drew {answers:?}");
    let e = (&server).read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
}

#[test]
fn a_syn_on_an_established_connection_draws_a_challenge_ack() {
    let mut live = Live::new("inject-syn");
    let (_client, _server, caddr) = live.established();
    let conn = Conn::latest(live.capture.packets(), Side::Client, PORT).unwrap();
    let before = tcp_ext(live.lab.netns(Side::Server));
    let (_, mark) = live.inject(Side::Client, "[S] seq 0");
    server_ack_after(
        &mut live,
        mark,
        caddr,
        &conn,
        "the challenge ACK (RFC 5961 4)",
    );
    let server_ns = live.lab.netns(Side::Server);
    wait_counter(server_ns, "TCPSYNChallenge", before["TCPSYNChallenge"]);
    assert_eq!(live.server_state(caddr), Some(TcpState::Established));
}

#[test]
fn data_beyond_the_window_is_not_delivered_and_draws_a_duplicate_ack_each_time() {
    let mut live = Live::new("inject-oow");
    let (_client, server, caddr) = live.established();
    let conn = Conn::latest(live.capture.packets(), Side::Client, PORT).unwrap();
    for round in 1..=2 {
        let (data, mark) = live.inject(Side::Client, "[P.] seq rcv_nxt+100000, length 10");
        assert_eq!(data.packet.payload, b"xxxxxxxxxx");
        let what = format!("duplicate ACK {round}");
        server_ack_after(&mut live, mark, caddr, &conn, &what);
    }
    server.set_nonblocking(true).unwrap();
    let e = (&server).read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::WouldBlock,
        "out-of-window data was delivered"
    );
    assert_eq!(live.server_state(caddr), Some(TcpState::Established));
}

/// The client closes first and holds TIME-WAIT; the server (its own socket
/// gone) sends the reset its kernel would send to a stray segment.
fn time_wait(rfc1337: bool) {
    let mut live = Live::new(if rfc1337 {
        "inject-tw-1337"
    } else {
        "inject-tw"
    });
    if rfc1337 {
        live.lab
            .netns(Side::Client)
            .run("set tcp_rfc1337", || {
                std::fs::write("/proc/sys/net/ipv4/tcp_rfc1337", "1")
                    .map_err(|e| Error::io("write tcp_rfc1337", e))
            })
            .unwrap();
    }
    let (client, server, caddr) = live.established();
    drop(client);
    assert_eq!((&server).read(&mut [0u8; 1]).unwrap(), 0, "EOF");
    drop(server);
    wait_state("the client's TIME-WAIT", Some(TcpState::TimeWait), || {
        live.client_state(caddr)
    });
    live.settle();
    let (rst, _) = live.inject(Side::Server, "[R]");
    let conn = Conn::latest(live.capture.packets(), Side::Server, PORT).unwrap();
    assert_eq!(
        Some(rst.packet.seq),
        conn.peer.acked,
        "exact: the client's last ACK"
    );
    if !rfc1337 {
        wait_state("the RST to end TIME-WAIT", None, || {
            live.client_state(caddr)
        });
        return;
    }
    // A bare ACK past rcv_nxt draws the TIME-WAIT socket's ACK; the socket
    // handles segments in order, so once that ACK is seen the RST was
    // handled before it, and ignored.
    let (_, mark) = live.inject(Side::Server, "[.] seq rcv_nxt+1");
    let (seq, ack) = (conn.snd_nxt().unwrap(), conn.rcv_nxt().unwrap());
    live.wait_for(mark, "the TIME-WAIT socket's ACK", |p| {
        p.src == caddr && p.flags == TcpFlags::ACK && p.seq == seq && p.ack == ack
    });
    assert_eq!(live.client_state(caddr), Some(TcpState::TimeWait));
}

#[test]
fn a_reset_ends_time_wait_by_default() {
    time_wait(false);
}

#[test]
fn a_reset_leaves_time_wait_alone_with_tcp_rfc1337() {
    time_wait(true);
}
