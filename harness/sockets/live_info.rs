//! The `ss -ti` part of our rows against the real `ss -tanoiO` (iproute2)
//! in a real lab, at the same moment (root: the lab needs namespaces).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use super::live::wait_for;
use super::*;
use crate::error::Error;
use crate::lab::{Lab, Side};

/// `ip netns exec NS ss -tanoiO`: one line per socket, header left out.
fn ss_lines(ns: &str) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "ss", "-tanoiO"])
        .output()
        .expect("ss not available: install iproute2 (ci/install-deps does)");
    assert!(out.status.success(), "ss -tanoiO in {ns}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// The fields after a row's five columns, as (name, value): `rtt:0.03/0.01`
/// is ("rtt", "0.03/0.01"), `send 1bps` is ("send", "1bps"), `ts` is
/// ("ts", "").
fn fields(line: &str) -> Vec<(String, String)> {
    let words: Vec<&str> = line.split_whitespace().skip(5).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if ["send", "pacing_rate", "delivery_rate"].contains(&w) && i + 1 < words.len() {
            out.push((w.to_string(), words[i + 1].to_string()));
            i += 2;
            continue;
        }
        match w.split_once(':') {
            Some((k, v)) => out.push((k.to_string(), v.to_string())),
            None => out.push((w.to_string(), String::new())),
        }
        i += 1;
    }
    out
}

/// Times since the last send, receive or ACK move between our dump and
/// ss's; the timer's time left too (live.rs checks it). Everything else of
/// a quiet connection holds still.
const MOVING: [&str; 4] = ["lastsnd", "lastrcv", "lastack", "timer"];

/// Our row's fields against ss's: the same names in the same order, the
/// same values but for the moving ones, which may be `apart_ms` apart:
/// the time from our dump's start to ss's end (a jiffy more), since a
/// `lastsnd` grows by the time between the two looks, and `ip netns exec
/// ss` took up to 4 s in a loaded TCG guest (ci/kernels).
fn compare(ours: &SocketRow, ss: &str, apart_ms: u64) -> std::result::Result<(), String> {
    let (mine, theirs) = (fields(&ours.to_string()), fields(ss));
    let names = |f: &[(String, String)]| f.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    if names(&mine) != names(&theirs) {
        return Err(format!("fields differ:\n  ours: {ours}\n  ss:   {ss}"));
    }
    for ((k, a), (_, b)) in mine.iter().zip(&theirs) {
        let close = MOVING.contains(&k.as_str())
            && match (a.parse::<u64>(), b.parse::<u64>()) {
                (Ok(x), Ok(y)) => x.abs_diff(y) <= apart_ms,
                _ => k == "timer",
            };
        if a != b && !close {
            return Err(format!(
                "`{k}` differs: ours {a}, ss {b}\n  ours: {ours}\n  ss:   {ss}"
            ));
        }
    }
    Ok(())
}

/// Dumps with tcp_info and runs ss; retried a few times in case the
/// connection moved between the two looks.
fn check_against_ss_ti(diag: &SockDiag) -> String {
    let mut last = String::new();
    for _ in 0..3 {
        let t0 = std::time::Instant::now();
        let ours = diag.dump_info().unwrap();
        let ss = ss_lines(diag.netns());
        // Rounded up to whole ms, and one jiffy (4 ms at HZ=250; 10 at 100).
        let apart_ms = t0.elapsed().as_millis() as u64 + 1 + 10;
        let verdict = if ours.len() != ss.len() {
            Err(format!(
                "{} rows, ss shows {}:\n{}{ss:#?}",
                ours.len(),
                ss.len(),
                table(&ours)
            ))
        } else {
            ours.iter()
                .zip(&ss)
                .try_for_each(|(r, l)| compare(r, l, apart_ms))
        };
        match verdict {
            Ok(()) => return ss.join("\n"),
            Err(e) => last = e,
        }
    }
    panic!("netns {}: {last}", diag.netns());
}

/// A connection that moved data both ways (100 kB one way, a line back),
/// seen by both hosts: our rows print what `ss -tanoiO` prints. Reno is
/// set in both namespaces: it is allowed in every namespace on every
/// kernel, and adds no `bbr:(...)` of its own (ss asks for VEGASINFO,
/// which a dump of ours leaves out).
#[test]
fn live_info_matches_ss() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root for namespaces: run `cargo test` (the runner uses sudo -E) or as root"
    );
    let lab = Lab::new("sockets-info").unwrap();
    for side in Side::ALL {
        crate::sysctl::write(lab.netns(side), "net.ipv4.tcp_congestion_control", "reno").unwrap();
    }
    let server = SockDiag::open(lab.netns(Side::Server)).unwrap();
    let client = SockDiag::open(lab.netns(Side::Client)).unwrap();
    let listener = lab
        .netns(Side::Server)
        .run("listen", || {
            TcpListener::bind("0.0.0.0:11111").map_err(|e| Error::io("bind", e))
        })
        .unwrap();
    let mut c = lab
        .netns(Side::Client)
        .run("connect", || {
            TcpStream::connect("192.168.2.100:11111").map_err(|e| Error::io("connect", e))
        })
        .unwrap();
    let (mut s, _) = listener.accept().unwrap();
    c.write_all(&[7u8; 100_000]).unwrap();
    let mut got = vec![0u8; 100_000];
    s.read_exact(&mut got).unwrap();
    s.write_all(b"hi\n").unwrap();
    let mut back = [0u8; 3];
    c.read_exact(&mut back).unwrap();
    for diag in [&client, &server] {
        wait_for(diag, "the connection to go quiet", settled);
    }
    let rows = client.dump_info().unwrap();
    let est = rows
        .iter()
        .find(|r| r.state == TcpState::Established)
        .expect("the client's connection");
    let info = est.info.as_ref().expect("tcp_info asked for and sent");
    assert_eq!(info.cong.as_deref(), Some("reno"));
    let acked = field_named("bytes_acked").unwrap();
    assert_eq!(info.get(acked), Some(100_001), "{est}");
    assert!(client.dump().unwrap().iter().all(|r| r.info.is_none()));
    eprintln!("client, ss -tanoiO:\n{}", check_against_ss_ti(&client));
    eprintln!("server, ss -tanoiO:\n{}", check_against_ss_ti(&server));
    drop((c, s, listener));
}
