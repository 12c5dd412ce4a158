//! Where a connection stands, read from its capture alone, and a
//! [`SegmentSpec`] turned into the absolute segment HOST's kernel would
//! have sent at that point.
//!
//! The capture is on the server's veth, so it sees every segment of both
//! sides (a receiver-side drop rule drops after libpcap's tap, so even a
//! dropped segment counts as sent). Nothing here asks the kernel: the numbers
//! are what crossed the wire, which is what an attacker on the path knows.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::spec::{AckNum, SegmentSpec, SeqNum, DEFAULT_FROM_PORT};
use crate::error::Malformed;
use crate::lab::Side;
use crate::notation::options::TsVal;
use crate::notation::Opt;
use crate::packet::{Packet, TcpFlags, TcpOption};
use crate::sockets::Family;

/// Window of a segment from a side that has sent nothing yet: Linux's first
/// window for an MSS of 1460 (10 segments rounded to MSS multiples).
pub const DEFAULT_WIN: u16 = 64240;

/// What one end of the connection has put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct End {
    pub addr: SocketAddr,
    /// The seq of its SYN (None when its SYN was not captured).
    pub isn: Option<u32>,
    /// One past the highest sequence number it has used (seq + seq_space).
    pub snd_nxt: Option<u32>,
    /// The highest acknowledgment it has sent: what it expects next.
    pub acked: Option<u32>,
    /// Its latest TSval and when that segment was captured (since the epoch):
    /// what the other end echoes.
    pub ts: Option<(u32, Duration)>,
    /// The (TSval, capture time) that bounds its TS clock best: the kernel's
    /// clock read at least TSval when the segment left, so the segment
    /// with the highest `TSval - capture ms` gives the least lag. Injected
    /// segments in the capture never raise it above what real ones give.
    pub clock: Option<(u32, Duration)>,
    /// The TSecr of its latest segment: the other end's TSval it holds as
    /// `ts_recent`.
    pub ecr: Option<u32>,
    /// The window field of its latest segment, unscaled as on the wire.
    pub win: Option<u16>,
}

impl End {
    fn new(addr: SocketAddr) -> End {
        End {
            addr,
            isn: None,
            snd_nxt: None,
            acked: None,
            ts: None,
            clock: None,
            ecr: None,
            win: None,
        }
    }

    fn saw(&mut self, p: &Packet) {
        if p.flags.contains(TcpFlags::SYN) && self.isn.is_none() {
            self.isn = Some(p.seq);
        }
        // A reset uses no sequence space, and an injected one may carry any
        // number: only segments that advance the stream count.
        if !p.flags.contains(TcpFlags::RST) {
            let end = p.seq.wrapping_add(p.seq_space());
            self.snd_nxt = Some(later(self.snd_nxt, end));
        }
        if p.flags.contains(TcpFlags::ACK) {
            self.acked = Some(later(self.acked, p.ack));
        }
        if let Some((val, ecr)) = ts_of(p) {
            self.ts = Some((val, p.ts));
            self.ecr = Some(ecr);
            let better = match self.clock {
                None => true,
                Some((v0, t0)) => {
                    let ticks = i64::from(val.wrapping_sub(v0) as i32) * 1000;
                    let us = p.ts.as_micros() as i64 - t0.as_micros() as i64;
                    ticks > us
                }
            };
            if better {
                self.clock = Some((val, p.ts));
            }
        }
        self.win = Some(p.win);
    }
}

/// The later of two sequence numbers (RFC 1982 serial arithmetic).
fn later(a: Option<u32>, b: u32) -> u32 {
    match a {
        Some(a) if (b.wrapping_sub(a) as i32) < 0 => a,
        _ => b,
    }
}

fn ts_of(p: &Packet) -> Option<(u32, u32)> {
    p.options.iter().find_map(|o| match o {
        TcpOption::Ts { val, ecr } => Some((*val, *ecr)),
        _ => None,
    })
}

/// The latest connection on a port, seen from HOST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conn {
    pub host: End,
    pub peer: End,
}

impl Conn {
    /// The latest connection with `port` at either end whose SYN was
    /// captured, with `side` as HOST: every captured segment of its 4-tuple
    /// from that SYN on.
    pub fn latest(packets: &[Packet], side: Side, port: u16) -> Result<Conn, Malformed> {
        let is_host = |ip: IpAddr| Side::of(ip) == Some(side);
        let on_port = |p: &&Packet| p.src.port() == port || p.dst.port() == port;
        let syn_at = packets
            .iter()
            .rposition(|p| {
                p.flags.contains(TcpFlags::SYN)
                    && !p.flags.contains(TcpFlags::ACK)
                    && on_port(&p)
                    && (is_host(p.src.ip()) || is_host(p.dst.ip()))
            })
            .ok_or_else(|| {
                format!(
                    "no connection on port {port} to aim at: no SYN to or from the {side} \
                     ({} or {}) among the {} captured packets",
                    side.addr(),
                    side.addr6(),
                    packets.len()
                )
            })?;
        let syn = &packets[syn_at];
        let (h, p) = if is_host(syn.src.ip()) {
            (syn.src, syn.dst)
        } else {
            (syn.dst, syn.src)
        };
        let mut conn = Conn {
            host: End::new(h),
            peer: End::new(p),
        };
        for pkt in &packets[syn_at..] {
            if pkt.src == h && pkt.dst == p {
                conn.host.saw(pkt);
            } else if pkt.src == p && pkt.dst == h {
                conn.peer.saw(pkt);
            }
        }
        Ok(conn)
    }

    /// Whether the connection carries TCP timestamps: both ends' latest
    /// segments did (Linux puts TS on every segment once both SYNs had it).
    pub fn timestamps(&self) -> bool {
        self.host.ts.is_some() && self.peer.ts.is_some()
    }

    /// What the peer expects from HOST next: its latest ACK, or, before it
    /// has acknowledged anything, the end of what HOST has sent.
    pub fn rcv_nxt(&self) -> Option<u32> {
        self.peer.acked.or(self.host.snd_nxt)
    }

    /// What HOST should acknowledge: the end of what the peer has sent.
    pub fn snd_nxt(&self) -> Option<u32> {
        self.peer.snd_nxt
    }

    /// HOST's TSval at `now`: a TSval it sent plus the whole milliseconds
    /// since that segment was captured (Linux's TCP timestamp clock ticks
    /// every ms), from the segment that bounds its clock best ([`End::clock`]).
    /// Never ahead of HOST's real clock, at most 2 ms behind: a peer's PAWS
    /// check accepts it, and HOST's own next segment is not made to look old.
    pub fn tsval_at(&self, now: Duration) -> Option<u32> {
        let (val, at) = self.host.clock?;
        let ms = now.saturating_sub(at).as_millis() as u32;
        Some(val.wrapping_add(ms))
    }

    /// `spec` with absolute numbers, as a [`Packet`] captured at `now`.
    pub fn resolve(&self, spec: &SegmentSpec, now: Duration) -> Result<Packet, Malformed> {
        let seq = match spec.seq.unwrap_or(SeqNum::RcvNxt(0)) {
            SeqNum::Rel(n) => self
                .host
                .isn
                .ok_or_else(|| self.missing("the ISN of", &self.host, "seq N"))?
                .wrapping_add(n),
            SeqNum::RcvNxt(k) => offset(
                self.rcv_nxt()
                    .ok_or_else(|| self.missing("rcv_nxt for", &self.host, "rcv_nxt"))?,
                k,
            ),
        };
        let ack = match (spec.flags.contains(TcpFlags::ACK), spec.ack) {
            (false, _) => 0,
            (true, Some(AckNum::Rel(n))) => self
                .peer
                .isn
                .ok_or_else(|| self.missing("the ISN of", &self.peer, "ack N"))?
                .wrapping_add(n),
            (true, None | Some(AckNum::SndNxt(_))) => {
                let k = match spec.ack {
                    Some(AckNum::SndNxt(k)) => k,
                    _ => 0,
                };
                offset(
                    self.snd_nxt()
                        .ok_or_else(|| self.missing("snd_nxt of", &self.peer, "snd_nxt"))?,
                    k,
                )
            }
        };
        let fill = Fill {
            auto_ts: self.timestamps(),
            clock: self.tsval_at(now),
            peer_tsval: self.peer.ts.map(|(v, _)| v),
            ts_recent: self.peer.ecr,
            peer_isn: self.peer.isn,
        };
        let options = options(spec.options.as_deref(), &fill, now).map_err(|m| {
            format!(
                "{m} (the capture of {} <> {})",
                self.host.addr, self.peer.addr
            )
        })?;
        Ok(Packet {
            ts: now,
            src: self.host.addr,
            dst: self.peer.addr,
            flags: spec.flags,
            seq,
            ack,
            win: spec.win.or(self.host.win).unwrap_or(DEFAULT_WIN),
            options,
            payload: spec.data.bytes(),
            icmp: None,
        })
    }

    fn missing(&self, what: &str, end: &End, name: &str) -> String {
        format!(
            "cannot resolve `{name}`: {what} {} is unknown (the capture of {} <> {} has no such segment)",
            end.addr, self.host.addr, self.peer.addr
        )
    }
}

fn offset(base: u32, k: i64) -> u32 {
    (i64::from(base) + k).rem_euclid(1 << 32) as u32
}

/// What fills in the options a line leaves to the connection.
struct Fill {
    /// Both ends use timestamps: `nop,nop,TS` when options are left out.
    auto_ts: bool,
    /// HOST's TS clock when the segment leaves.
    clock: Option<u32>,
    /// The peer's latest TSval: what HOST echoes.
    peer_tsval: Option<u32>,
    /// The peer's latest TSecr (`TS val ts_recent`).
    ts_recent: Option<u32>,
    /// What SACK blocks count from: the peer's ISN (None: absolute).
    peer_isn: Option<u32>,
}

/// The options to send: as written (a bare `TS` filled in from the
/// connection, named TSvals and relative SACK blocks made absolute), or by
/// default `nop,nop,TS` when the connection uses timestamps. Without a
/// connection, a bare TS takes `now` in ms and ecr 0.
fn options(written: Option<&[Opt]>, fill: &Fill, now: Duration) -> Result<Vec<TcpOption>, String> {
    let clock = fill.clock.unwrap_or(now.as_millis() as u32);
    let ecr = fill.peer_tsval.unwrap_or(0);
    let Some(written) = written else {
        return Ok(match fill.auto_ts {
            true => vec![
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Ts { val: clock, ecr },
            ],
            false => Vec::new(),
        });
    };
    let base = fill.peer_isn.unwrap_or(0);
    written
        .iter()
        .map(|o| {
            Ok(match o {
                Opt::Nop => TcpOption::Nop,
                Opt::Mss(Some(v)) => TcpOption::Mss(*v),
                Opt::Wscale(Some(v)) => TcpOption::Wscale(*v),
                Opt::SackOk => TcpOption::SackOk,
                Opt::Sack(Some(blocks)) => TcpOption::Sack(
                    blocks
                        .iter()
                        .map(|(l, r)| (base.wrapping_add(*l), base.wrapping_add(*r)))
                        .collect(),
                ),
                Opt::Ts { val, ecr: e } => TcpOption::Ts {
                    val: match val {
                        None => clock,
                        Some(TsVal::Abs(v)) => *v,
                        Some(TsVal::Clock(k)) => offset(clock, *k),
                        Some(TsVal::TsRecent(k)) => offset(
                            fill.ts_recent.ok_or(
                                "cannot resolve `TS val ts_recent`: the peer has sent no TSecr",
                            )?,
                            *k,
                        ),
                    },
                    ecr: e.unwrap_or(ecr),
                },
                // The notation refuses these in `sends`.
                Opt::Mss(None) | Opt::Wscale(None) | Opt::Sack(None) => {
                    return Err(format!("option `{o}` has no value to send"))
                }
            })
        })
        .collect()
}

/// `spec` for a new connection (`to port N`): HOST's address in `family`
/// and `from port` (default [`DEFAULT_FROM_PORT`]) to the peer's address
/// and port, numbers as written (absolute: there is no ISN yet).
pub fn resolve_new(
    spec: &SegmentSpec,
    side: Side,
    family: Family,
    now: Duration,
) -> Result<Packet, Malformed> {
    let bad = |msg: &str| Malformed::new(msg, "");
    let to = spec.to_port.ok_or_else(|| {
        bad("resolve_new needs `to port N`; the captured connection resolves the others")
    })?;
    let seq = match spec.seq {
        Some(SeqNum::Rel(n)) => n,
        None => 0,
        Some(SeqNum::RcvNxt(_)) => return Err(bad("`rcv_nxt` needs a captured connection")),
    };
    let ack = match (spec.flags.contains(TcpFlags::ACK), spec.ack) {
        (false, _) => 0,
        (true, Some(AckNum::Rel(n))) => n,
        (true, _) => return Err(bad("a new connection needs `ack N` written out")),
    };
    Ok(Packet {
        ts: now,
        src: SocketAddr::new(side.ip(family), spec.from_port.unwrap_or(DEFAULT_FROM_PORT)),
        dst: SocketAddr::new(side.peer().ip(family), to),
        flags: spec.flags,
        seq,
        ack,
        win: spec.win.unwrap_or(DEFAULT_WIN),
        options: options(
            spec.options.as_deref(),
            &Fill {
                auto_ts: false,
                clock: None,
                peer_tsval: None,
                ts_recent: None,
                peer_isn: None,
            },
            now,
        )?,
        payload: spec.data.bytes(),
        icmp: None,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use rstest::rstest;

    pub(in crate::inject) const C: &str = "192.168.2.105:43068";
    pub(in crate::inject) const S: &str = "192.168.2.100:11111";
    const C_ISN: u32 = 1_000;
    const S_ISN: u32 = 4_294_967_000; // wraps within the test's data

    /// A captured segment for tests: `len` bytes of `a`, TS option when
    /// `ts` is given (ecr 1), the window each side of the seed advertises.
    pub(in crate::inject) fn pkt(
        ms: u64,
        (from, to): (&str, &str),
        flags: &str,
        seq: u32,
        ack: u32,
        len: usize,
        ts: Option<u32>,
    ) -> Packet {
        Packet {
            ts: Duration::from_millis(ms),
            src: from.parse().unwrap(),
            dst: to.parse().unwrap(),
            flags: flags.parse().unwrap(),
            seq,
            ack,
            win: if from == C { 502 } else { 509 },
            options: ts
                .map(|val| {
                    vec![
                        TcpOption::Nop,
                        TcpOption::Nop,
                        TcpOption::Ts { val, ecr: 1 },
                    ]
                })
                .unwrap_or_default(),
            payload: vec![b'a'; len],
            icmp: None,
        }
    }

    /// Handshake, 6 bytes client -> server, 400 bytes server -> client
    /// (across the server's seq wrap), the client's ACK.
    fn exchange(ts: bool) -> Vec<Packet> {
        let t = |v: u32| ts.then_some(v);
        vec![
            pkt(0, (C, S), "S", C_ISN, 0, 0, t(100)),
            pkt(1, (S, C), "S.", S_ISN, C_ISN + 1, 0, t(9000)),
            pkt(2, (C, S), ".", C_ISN + 1, S_ISN.wrapping_add(1), 0, t(102)),
            pkt(
                10,
                (C, S),
                "P.",
                C_ISN + 1,
                S_ISN.wrapping_add(1),
                6,
                t(110),
            ),
            pkt(
                11,
                (S, C),
                "P.",
                S_ISN.wrapping_add(1),
                C_ISN + 7,
                400,
                t(9010),
            ),
            pkt(
                12,
                (C, S),
                ".",
                C_ISN + 7,
                S_ISN.wrapping_add(401),
                0,
                t(112),
            ),
        ]
    }

    #[test]
    fn state_of_each_end_from_the_capture() {
        let c = Conn::latest(&exchange(true), Side::Client, 11111).unwrap();
        assert_eq!(c.host.addr, C.parse().unwrap());
        assert_eq!(c.peer.addr, S.parse().unwrap());
        assert_eq!((c.host.isn, c.peer.isn), (Some(C_ISN), Some(S_ISN)));
        assert_eq!(c.host.snd_nxt, Some(C_ISN + 7));
        assert_eq!(
            c.peer.snd_nxt,
            Some(S_ISN.wrapping_add(401)),
            "across the wrap"
        );
        assert_eq!(c.host.acked, Some(S_ISN.wrapping_add(401)));
        assert_eq!(c.peer.acked, Some(C_ISN + 7));
        assert_eq!(c.host.ts, Some((112, Duration::from_millis(12))));
        assert_eq!(c.peer.ts, Some((9010, Duration::from_millis(11))));
        assert_eq!((c.host.win, c.peer.win), (Some(502), Some(509)));
        assert!(c.timestamps());
        assert_eq!(c.rcv_nxt(), Some(C_ISN + 7));
        assert_eq!(c.snd_nxt(), Some(S_ISN.wrapping_add(401)));
        let s = Conn::latest(&exchange(true), Side::Server, 11111).unwrap();
        assert_eq!((s.host.addr, s.peer.addr), (c.peer.addr, c.host.addr));
        assert_eq!(s.rcv_nxt(), Some(S_ISN.wrapping_add(401)));
        assert!(!Conn::latest(&exchange(false), Side::Client, 11111)
            .unwrap()
            .timestamps());
    }

    #[test]
    fn the_latest_connection_counts_and_resets_do_not_move_snd_nxt() {
        let mut packets = exchange(true);
        let other = "192.168.2.105:50000";
        packets.push(pkt(20, (other, S), "S", 77, 0, 0, Some(200)));
        packets.push(pkt(21, (S, other), "S.", 88, 78, 0, Some(9100)));
        packets.push(pkt(22, (other, S), "R", 5_000_000, 0, 0, None));
        let c = Conn::latest(&packets, Side::Client, 11111).unwrap();
        assert_eq!(c.host.addr, other.parse().unwrap());
        assert_eq!((c.host.isn, c.peer.isn), (Some(77), Some(88)));
        assert_eq!(c.host.snd_nxt, Some(78));
        assert_eq!(c.rcv_nxt(), Some(78));
    }

    #[rstest]
    #[case(&[], "no SYN to or from the client")]
    fn no_connection_to_aim_at(#[case] packets: &[Packet], #[case] msg: &str) {
        let e = Conn::latest(packets, Side::Client, 11111)
            .unwrap_err()
            .to_string();
        assert!(e.contains(msg) && e.contains("port 11111"), "{e}");
        let e = Conn::latest(&exchange(true), Side::Client, 22222)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("port 22222") && e.contains("6 captured packets"),
            "{e}"
        );
    }

    fn resolve(side: Side, spec: &str, now_ms: u64) -> Packet {
        let spec: SegmentSpec = spec.parse().unwrap();
        Conn::latest(&exchange(true), side, 11111)
            .unwrap()
            .resolve(&spec, Duration::from_millis(now_ms))
            .unwrap()
    }

    #[rstest]
    #[case(Side::Client, "[R]", C_ISN + 7, 0)]
    #[case(Side::Client, "[R.]", C_ISN + 7, S_ISN.wrapping_add(401))]
    #[case(Side::Client, "[R] seq rcv_nxt+1", C_ISN + 8, 0)]
    #[case(Side::Client, "[R] seq rcv_nxt-1", C_ISN + 6, 0)]
    #[case(Side::Client, "[R] seq rcv_nxt+100000", C_ISN + 100_007, 0)]
    #[case(Side::Client, "[R.] seq 1, ack 1", C_ISN + 1, S_ISN.wrapping_add(1))]
    #[case(Side::Client, "[.] ack snd_nxt+5", C_ISN + 7, S_ISN.wrapping_add(406))]
    #[case(Side::Server, "[R]", S_ISN.wrapping_add(401), 0)]
    #[case(Side::Server, "[S] seq 0", S_ISN, 0)]
    #[case(Side::Server, "[.] ack 7", S_ISN.wrapping_add(401), C_ISN + 7)]
    fn numbers_become_absolute(
        #[case] side: Side,
        #[case] spec: &str,
        #[case] seq: u32,
        #[case] ack: u32,
    ) {
        let p = resolve(side, spec, 100);
        assert_eq!((p.seq, p.ack), (seq, ack), "{spec}");
        assert_eq!(p.src.ip(), std::net::IpAddr::V4(side.addr()));
        assert_eq!(p.flags, spec.parse::<SegmentSpec>().unwrap().flags);
    }

    #[test]
    fn timestamps_follow_hosts_clock_and_echo_the_peer() {
        // The client's latest TSval 112 was captured at 12 ms; 88 ms later
        // its clock reads 200. The server's latest TSval is 9010.
        let p = resolve(Side::Client, "[R] seq rcv_nxt+1", 100);
        assert_eq!(
            p.options,
            [
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Ts {
                    val: 200,
                    ecr: 9010
                }
            ]
        );
        assert_eq!(p.win, 502, "the window the client last advertised");
        let p = resolve(Side::Client, "[.] win 7, options [TS val 5]", 100);
        assert_eq!(p.options, [TcpOption::Ts { val: 5, ecr: 9010 }]);
        assert_eq!(p.win, 7);
        let p = resolve(Side::Client, "[.] options []", 100);
        assert!(p.options.is_empty());
        let p = resolve(Side::Client, "[P.] payload \"hi\"", 100);
        assert_eq!(p.payload, b"hi");
        let untimed = Conn::latest(&exchange(false), Side::Client, 11111).unwrap();
        let p = untimed
            .resolve(&"[R]".parse().unwrap(), Duration::ZERO)
            .unwrap();
        assert!(p.options.is_empty(), "no TS on a connection without them");
    }

    #[test]
    fn the_clock_estimate_takes_the_tightest_bound_and_ignores_lagging_segments() {
        let mut packets = exchange(true);
        // A lagging TSval (an earlier injection, say): 105 at 20 ms bounds
        // the clock at 85 + ms, worse than the real segments' 100 + ms.
        packets.push(pkt(20, (C, S), "R", C_ISN + 7, 0, 0, Some(105)));
        let c = Conn::latest(&packets, Side::Client, PORT_FOR_TESTS).unwrap();
        assert_eq!(c.host.ts, Some((105, Duration::from_millis(20))), "latest");
        assert_eq!(c.tsval_at(Duration::from_millis(50)), Some(150));
        // A segment sent just after a tick: 124 at 21.5 ms bounds it at
        // 102.5 + ms.
        packets.push(pkt(0, (C, S), ".", C_ISN + 7, 0, 0, Some(124)));
        packets.last_mut().unwrap().ts = Duration::from_micros(21_500);
        let c = Conn::latest(&packets, Side::Client, PORT_FOR_TESTS).unwrap();
        assert_eq!(c.tsval_at(Duration::from_millis(50)), Some(152));
        assert_eq!(c.tsval_at(Duration::from_micros(21_500)), Some(124));
    }

    const PORT_FOR_TESTS: u16 = 11111;

    #[test]
    fn sack_blocks_count_from_the_peers_isn_and_tsvals_from_the_connection() {
        // The client's clock: 112 at 12 ms. The server's latest segment
        // echoed the client's TSval 1 (ecr 1 in every test segment).
        let p = resolve(
            Side::Client,
            "[.] ack 1, options [nop,nop,TS val clock+10,nop,nop,sack 101:201 301:401]",
            100,
        );
        assert_eq!(
            p.options,
            [
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Ts {
                    val: 210,
                    ecr: 9010
                },
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Sack(vec![
                    (S_ISN.wrapping_add(101), S_ISN.wrapping_add(201)),
                    (S_ISN.wrapping_add(301), S_ISN.wrapping_add(401))
                ]),
            ]
        );
        let p = resolve(Side::Client, "[.] options [TS val ts_recent-1 ecr 3]", 100);
        assert_eq!(p.options, [TcpOption::Ts { val: 0, ecr: 3 }]);
        let untimed = Conn::latest(&exchange(false), Side::Client, 11111).unwrap();
        let e = untimed
            .resolve(
                &"[.] options [TS val ts_recent]".parse().unwrap(),
                Duration::ZERO,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("the peer has sent no TSecr"), "{e}");
    }

    #[test]
    fn a_missing_isn_is_an_error_naming_the_field() {
        let half = &exchange(true)[..1]; // the client's SYN only
        let c = Conn::latest(half, Side::Client, 11111).unwrap();
        let e = c
            .resolve(&"[.] ack 1".parse().unwrap(), Duration::ZERO)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`ack N`") && e.contains(S), "{e}");
        let e = c
            .resolve(&"[.]".parse().unwrap(), Duration::ZERO)
            .unwrap_err()
            .to_string();
        assert!(e.contains("snd_nxt"), "{e}");
        let p = c.resolve(&"[R]".parse().unwrap(), Duration::ZERO).unwrap();
        assert_eq!(p.seq, C_ISN + 1, "rcv_nxt falls back to what HOST sent");
    }

    #[test]
    fn a_new_connection_takes_numbers_as_written() {
        let spec: SegmentSpec = "[S] seq 1000, to port 22222".parse().unwrap();
        let p = resolve_new(&spec, Side::Client, Family::Ipv4, Duration::from_millis(5)).unwrap();
        assert_eq!(p.src, "192.168.2.105:40000".parse().unwrap());
        assert_eq!(p.dst, "192.168.2.100:22222".parse().unwrap());
        assert_eq!((p.seq, p.ack, p.win), (1000, 0, DEFAULT_WIN));
        assert!(p.options.is_empty());
        let spec: SegmentSpec = "[S.] ack 9, options [TS], to port 1, from port 2"
            .parse()
            .unwrap();
        let p = resolve_new(&spec, Side::Server, Family::Ipv4, Duration::from_millis(5)).unwrap();
        assert_eq!((p.src.port(), p.dst.port(), p.ack), (2, 1, 9));
        assert_eq!(p.options, [TcpOption::Ts { val: 5, ecr: 0 }]);
    }
}
