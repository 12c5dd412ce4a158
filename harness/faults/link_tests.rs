//! Statistical link faults against real labs.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::tests::{capture, connect, connect_in, lines, listen, listen_in, root, rto_min, until};
use super::*;
use crate::packet::Packet;
use crate::sockets::Family;

fn link(words: &str) -> Link {
    Link {
        origin: format!("{}:{}", file!(), line!()),
        ..words.parse().unwrap()
    }
}

fn from_client(p: &Packet) -> bool {
    Side::of(p.src.ip()) == Some(Side::Client)
}

/// `rounds` one-byte requests, each answered before the next is sent.
fn ping_pong(client: &mut TcpStream, server: &mut TcpStream, rounds: usize) {
    let mut b = [0u8; 1];
    for _ in 0..rounds {
        client.write_all(b"q").unwrap();
        server.read_exact(&mut b).unwrap();
        server.write_all(b"r").unwrap();
        client.read_exact(&mut b).unwrap();
    }
}

#[test]
fn loss_100_percent_then_0_holds_data_back_until_the_link_heals() {
    root();
    let lab = Lab::new("link-loss").unwrap();
    // Retransmissions after 10 ms, not 200 (and 400 for the one after the
    // link heals): no count here depends on their timing.
    rto_min(&lab, 10);
    let mut cap = capture(&lab, "link-loss");
    let listener = listen(&lab);
    let mut client = connect(&lab);
    let (mut server, _) = listener.accept().unwrap();
    let mut faults = Faults::new();
    faults
        .set_link(&lab, Direction::TO_SERVER, link("loss 100% seed 1"))
        .unwrap();
    client.write_all(b"x").unwrap();
    until(
        &mut cap,
        "`x` and a retransmission of it",
        Duration::from_secs(3),
        |ps| ps.iter().filter(|p| p.payload == b"x").count() >= 2,
    );
    server.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    assert_eq!(
        server.read(&mut b).unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "data passed a 100% loss"
    );
    faults
        .set_link(&lab, Direction::TO_SERVER, link("loss 0% seed 1"))
        .unwrap();
    server.set_nonblocking(false).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    server.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"x");
    let reports = faults.link_reports();
    assert_eq!(reports.len(), 2);
    let (lossy, healed) = (&reports[0], &reports[1]);
    assert!(!lossy.active && healed.active);
    assert_eq!(
        lossy.acted.len() as u64,
        lossy.judged,
        "100% loss let something through: {lossy:?}"
    );
    assert!(lossy.acted.iter().all(|a| a.action == Action::Drop));
    assert!(healed.acted.is_empty(), "{healed:?}");
    let report = faults.clear_link(Direction::TO_SERVER).unwrap();
    assert!(!report.active);
}

/// One run of 30 request/response rounds over 10 % loss (seed 42) both
/// ways: the ordinals of the dropped packets, per direction. Each loss is
/// repaired by a retransmission timeout: with TCP's floor of 200 ms (and
/// its doubling) the two runs took 6.5 s; 10 ms here (0.2 s a run).
fn seeded_run(name: &str) -> (Vec<u64>, Vec<u64>) {
    let lab = Lab::new(name).unwrap();
    rto_min(&lab, 10);
    let listener = listen(&lab);
    let mut client = connect(&lab);
    let (mut server, _) = listener.accept().unwrap();
    server.set_nodelay(true).unwrap();
    let mut faults = Faults::new();
    for dir in [Direction::TO_SERVER, Direction::TO_CLIENT] {
        faults
            .set_link(&lab, dir, link("loss 10% seed 42"))
            .unwrap();
    }
    ping_pong(&mut client, &mut server, 30);
    let drops = |dir: Direction| -> Vec<u64> {
        let r = faults
            .link_reports()
            .into_iter()
            .find(|r| r.direction == dir)
            .unwrap();
        r.acted.iter().map(|a| a.ordinal).collect()
    };
    (drops(Direction::TO_SERVER), drops(Direction::TO_CLIENT))
}

#[test]
fn a_seeded_10_percent_loss_drops_the_same_packets_twice() {
    root();
    // Two labs, side by side: each run waits on its own timers.
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| seeded_run("link-seed-a"));
        let second = seeded_run("link-seed-b");
        (first.join().unwrap(), second)
    });
    eprintln!("seeded drops: {first:?} {second:?}");
    assert!(
        first.0.len() + first.1.len() >= 2,
        "too few drops to compare: {first:?}"
    );
    // The draws follow the packet's ordinal: the same seed drops the same
    // ordinals (a run may have judged a few packets more at its end).
    let common = |a: &[u64], b: &[u64]| {
        let n = a.len().min(b.len());
        (a[..n].to_vec(), b[..n].to_vec())
    };
    let (a, b) = common(&first.0, &second.0);
    assert_eq!(
        a, b,
        "client > server drops differ: {first:?} vs {second:?}"
    );
    let (a, b) = common(&first.1, &second.1);
    assert_eq!(
        a, b,
        "server > client drops differ: {first:?} vs {second:?}"
    );
}

#[test]
fn delay_20ms_with_5ms_jitter_holds_each_packet_at_least_15ms_and_about_25ms_at_most() {
    root();
    let lab = Lab::new("link-delay").unwrap();
    let mut cap = capture(&lab, "link-delay");
    let listener = listen(&lab);
    let mut client = connect(&lab);
    let (mut server, _) = listener.accept().unwrap();
    server.set_nodelay(true).unwrap();
    let mut faults = Faults::new();
    faults
        .set_link(&lab, Direction::TO_SERVER, link("delay 20ms 5ms seed 3"))
        .unwrap();
    ping_pong(&mut client, &mut server, 10);
    until(&mut cap, "the last reply", Duration::from_secs(2), |ps| {
        ps.iter().filter(|p| p.payload == b"r").count() >= 10
    });
    let report = &faults.link_reports()[0];
    let held: Vec<Duration> = report
        .acted
        .iter()
        .filter_map(|a| Some(a.released? - a.at))
        .collect();
    assert!(held.len() >= 10, "{report:?}");
    // Never early; late only by the verdict thread's wake-up, which a
    // loaded 2-core machine may stretch by some milliseconds.
    for h in &held {
        assert!(
            *h >= Duration::from_millis(15) && *h < Duration::from_millis(25 + 20),
            "held {h:?}: {held:?}"
        );
    }
    // On the wire: each request is answered no sooner than 15 ms later.
    let ps = cap.packets();
    for q in ps.iter().filter(|p| p.payload == b"q") {
        let r = ps
            .iter()
            .find(|p| p.payload == b"r" && p.ts > q.ts && p.ack == q.seq.wrapping_add(1));
        let r = r.unwrap_or_else(|| panic!("no reply to {q:?}:\n{}", lines(ps)));
        assert!(
            r.ts - q.ts >= Duration::from_millis(15),
            "answered after {:?}",
            r.ts - q.ts
        );
    }
}

#[rstest::rstest]
fn duplicate_100_percent_puts_each_segment_on_the_wire_twice(
    #[values(Family::Ipv4, Family::Ipv6)] family: Family,
) {
    root();
    let lab = Lab::new("link-dup").unwrap();
    let mut cap = capture(&lab, &format!("link-dup-{family}"));
    let listener = listen_in(&lab, family);
    let mut client = connect_in(&lab, family);
    let (mut server, _) = listener.accept().unwrap();
    let mut faults = Faults::new();
    faults
        .set_link(&lab, Direction::TO_SERVER, link("duplicate 100% seed 5"))
        .unwrap();
    client.write_all(b"hello").unwrap();
    let mut got = [0u8; 5];
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    until(&mut cap, "`hello` twice", Duration::from_secs(2), |ps| {
        ps.iter().filter(|p| p.payload == b"hello").count() >= 2
    });
    let ps = cap.packets();
    let copies: Vec<Packet> = ps
        .iter()
        .filter(|p| p.payload == b"hello")
        .cloned()
        .collect();
    assert_eq!(copies.len(), 2, "{}", lines(ps));
    assert!(
        copies.iter().all(|p| Family::of(&p.src) == family),
        "{}",
        lines(ps)
    );
    assert_eq!(
        (copies[0].seq, copies[0].tsval()),
        (copies[1].seq, copies[1].tsval())
    );
    // The server got the copy too: it answers it with a duplicate ACK.
    until(
        &mut cap,
        "the server's ACK of the copy",
        Duration::from_secs(2),
        |ps| {
            ps.iter()
                .filter(|p| !from_client(p) && p.ack == copies[0].seq.wrapping_add(5))
                .count()
                >= 2
        },
    );
    let report = &faults.link_reports()[0];
    let dups = report
        .acted
        .iter()
        .filter(|a| a.action == Action::Duplicate)
        .count();
    assert!(
        dups >= 1 && report.acted.iter().any(|a| a.key.len == 5),
        "{report:?}"
    );
    // No server read sees it twice.
    server.set_nonblocking(true).unwrap();
    assert_eq!(
        server.read(&mut got).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}
