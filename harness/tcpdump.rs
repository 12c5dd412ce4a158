//! Packet lines exactly as tcpdump 4.99 prints them with `-nn -r FILE`: the
//! capture's observer printing like the tool it replaces, for the run's
//! messages and log as for its report; and `cross_check`, which runs the
//! real tcpdump on a .pcap and returns the first line that differs (the
//! runner fails a case on it where TCPLAB_TCPDUMP_CHECK=1).
//!
//!
//! ```text
//! 12:52:34.560292 IP 192.168.2.105.54124 > 192.168.2.100.11111: Flags [S], seq 2190574322, win 64240, options [mss 1460,sackOK,TS val 4045753221 ecr 0,nop,wscale 10], length 0
//! ```
//!
//! The time is the local time of day, as tcpdump prints it: libc's
//! `localtime_r` after `tzset`, so `TZ` is respected the same way (a child
//! tcpdump inherits our environment, so `cross_check` compares like with
//! like).
//!
//! Sequence numbers follow print-tcp.c: a packet without ACK prints its
//! numbers as they are; the first ACK-carrying packet of a conversation, and
//! every packet with SYN and ACK, (re)records the conversation's bases and
//! prints absolute numbers; later packets of the conversation print
//! relative to those bases. Conversations are keyed per address/port pair
//! in one collating order, so both directions share one entry.
//!
//! What the [`Packet`] type does not carry cannot be printed: the urgent
//! pointer (`urg N` prints as `urg ?`), options etherparse does not decode
//! (eol, md5, unknown kinds) and header/length anomalies tcpdump reports in
//! brackets. Nor is anything printed after `length N`: tcpdump dissects the
//! payload of well-known ports (80, 21, 53, 179, ...) there, and of none of
//! the ports the lab uses (11111). `cross_check` finds any such difference.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::Error;
use crate::packet::{Packet, TcpFlags, TcpOption};

/// `tcpdump -nn -r`'s line for each packet, in order (the relative
/// numbering depends on the packets before).
pub fn lines(packets: &[Packet]) -> Vec<String> {
    let mut printer = Printer::new();
    packets.iter().map(|p| printer.line(p)).collect()
}

/// print-tcp.c's `struct tha`: the conversation in its collating order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Conversation {
    src: IpAddr,
    dst: IpAddr,
    ports: u32,
}

/// print-tcp.c's recorded bases: `seq` for the collating order's source,
/// `ack` for its destination.
#[derive(Clone, Copy, Debug)]
struct Bases {
    seq: u32,
    ack: u32,
}

/// Prints packets one at a time, keeping tcpdump's per-conversation state;
/// for a live view. [`lines`] is this over a slice.
#[derive(Debug, Default)]
pub struct Printer {
    conversations: HashMap<Conversation, Bases>,
}

impl Printer {
    pub fn new() -> Printer {
        // localtime_r need not read TZ again; tcpdump's localtime does.
        // SAFETY: tzset has no arguments and only updates libc's zone state.
        unsafe { tzset() };
        Printer::default()
    }

    /// The line for `p`, which follows every packet given before.
    pub fn line(&mut self, p: &Packet) -> String {
        let mut s = String::with_capacity(200);
        s.push_str(&clock(p.ts));
        s.push_str(if p.src.is_ipv4() { " IP " } else { " IP6 " });
        if let Some(icmp) = &p.icmp {
            // print-icmp.c, print-icmp6.c: addresses without ports, the reason, the
            // message's length; no TCP state is read or kept.
            let _ = write!(
                s,
                "{} > {}: {}, length {}",
                p.src.ip(),
                p.dst.ip(),
                icmp.tcpdump_text(),
                icmp.len
            );
            return s;
        }
        let _ = write!(
            s,
            "{} > {}: Flags [{}]",
            endpoint(p.src),
            endpoint(p.dst),
            p.flags
        );

        let (seq, ack, rev, base) = self.relative(p);

        let len = p.len();
        if len > 0 || p.flags.bits() & (TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST).bits() != 0 {
            let _ = write!(s, ", seq {seq}");
            if len > 0 {
                let _ = write!(s, ":{}", seq.wrapping_add(len));
            }
        }
        if p.flags.contains(TcpFlags::ACK) {
            let _ = write!(s, ", ack {ack}");
        }
        let _ = write!(s, ", win {}", p.win);
        if p.flags.contains(TcpFlags::URG) {
            // The urgent pointer is not in `Packet`.
            s.push_str(", urg ?");
        }
        push_options(&mut s, p, rev, base);
        let _ = write!(s, ", length {len}");
        s
    }

    /// seq and ack as tcpdump prints them: relative to the conversation's
    /// first segments once it has seen them (absolute for a SYN or the
    /// first packet seen); whether `p` goes against the conversation's
    /// direction, and the conversation's bases.
    fn relative(&mut self, p: &Packet) -> (u32, u32, bool, Bases) {
        let (mut seq, mut ack) = (p.seq, p.ack);
        let (mut rev, mut base) = (false, Bases { seq: 0, ack: 0 });
        if p.flags.contains(TcpFlags::ACK) {
            let (sport, dport) = (p.src.port(), p.dst.port());
            rev = sport > dport
                || (sport == dport && addr_bytes(p.src.ip()) > addr_bytes(p.dst.ip()));
            let key = if rev {
                Conversation {
                    src: p.dst.ip(),
                    dst: p.src.ip(),
                    ports: u32::from(dport) << 16 | u32::from(sport),
                }
            } else {
                Conversation {
                    src: p.src.ip(),
                    dst: p.dst.ip(),
                    ports: u32::from(sport) << 16 | u32::from(dport),
                }
            };
            base = match self.conversations.get(&key) {
                Some(b) if !p.flags.contains(TcpFlags::SYN) => {
                    if rev {
                        seq = seq.wrapping_sub(b.ack);
                        ack = ack.wrapping_sub(b.seq);
                    } else {
                        seq = seq.wrapping_sub(b.seq);
                        ack = ack.wrapping_sub(b.ack);
                    }
                    *b
                }
                _ => {
                    // Unknown, or a new conversation: record, print absolute.
                    let b = if rev {
                        Bases {
                            seq: ack.wrapping_sub(1),
                            ack: seq,
                        }
                    } else {
                        Bases {
                            seq,
                            ack: ack.wrapping_sub(1),
                        }
                    };
                    self.conversations.insert(key, b);
                    b
                }
            };
        }
        (seq, ack, rev, base)
    }
}

/// `, options [mss 1460,sackOK,...]`; SACK blocks relative to the
/// receiver's base, as tcpdump prints them.
fn push_options(s: &mut String, p: &Packet, rev: bool, base: Bases) {
    if !p.options.is_empty() {
        s.push_str(", options [");
        for (i, o) in p.options.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            match o {
                // Blocks relative to the receiver's base, no separator.
                TcpOption::Sack(blocks) => {
                    let _ = write!(s, "sack {} ", blocks.len());
                    let b = if rev { base.seq } else { base.ack };
                    for (l, r) in blocks {
                        let _ = write!(s, "{{{}:{}}}", l.wrapping_sub(b), r.wrapping_sub(b));
                    }
                }
                other => {
                    let _ = write!(s, "{other}");
                }
            }
        }
        s.push(']');
    }
}

extern "C" {
    fn tzset();
}

/// `HH:MM:SS.uuuuuu` in local time, as tcpdump's default time stamp.
pub fn clock(ts: Duration) -> String {
    let secs = ts.as_secs() as libc::time_t;
    // SAFETY: an all-zero `tm` is valid (pointer field null); localtime_r
    // only writes into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        // Out of libc's range: tcpdump would print a date error; keep UTC.
        let day = ts.as_secs() % 86_400;
        tm.tm_hour = (day / 3600) as i32;
        tm.tm_min = (day / 60 % 60) as i32;
        tm.tm_sec = (day % 60) as i32;
    }
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        ts.subsec_micros()
    )
}

/// `a.b.c.d.port`, or tcpdump's IPv6 text then `.port`.
fn endpoint(a: SocketAddr) -> String {
    match a.ip() {
        IpAddr::V4(ip) => format!("{ip}.{}", a.port()),
        IpAddr::V6(ip) => format!("{}.{}", ipv6_text(ip), a.port()),
    }
}

/// tcpdump's addrtostr6: RFC 5952 compression like Rust's Display, except
/// that an IPv4-compatible address (`::a.b.c.d`, six zero words, the
/// seventh not zero) keeps its dotted tail.
fn ipv6_text(ip: Ipv6Addr) -> String {
    let w = ip.segments();
    if w[..6].iter().all(|&x| x == 0) && w[6] != 0 {
        let [.., a, b, c, d] = ip.octets();
        return format!("::{a}.{b}.{c}.{d}");
    }
    ip.to_string()
}

/// Network-order bytes, for print-tcp.c's memcmp of the two addresses.
fn addr_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// Where tcpdump is: Debian's /usr/bin, /usr/sbin, or PATH.
pub fn tcpdump_path() -> Option<PathBuf> {
    let fixed = ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].map(PathBuf::from);
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("tcpdump"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    fixed.into_iter().chain(on_path).find(|p| p.is_file())
}

/// Runs `tcpdump -nn -r PCAP` (our TZ is inherited) and holds its lines
/// against [`lines`]`(packets)`. Ok: how many lines, all identical. Err:
/// the first differing pair, or why tcpdump could not be run. tcpdump's
/// stderr ("reading from file ...") is only shown when it fails.
pub fn cross_check(pcap: &Path, packets: &[Packet]) -> crate::error::Result<usize> {
    let tcpdump = tcpdump_path().ok_or_else(|| {
        Error::msg(
            "tcpdump is not installed (looked in /usr/bin, /usr/sbin and PATH): \
             run `apt-get install tcpdump` (ci/install-deps does)",
        )
    })?;
    let out = Command::new(&tcpdump)
        .arg("-nn")
        .arg("-r")
        .arg(pcap)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Error::io(
                format!("run {} -nn -r {}", tcpdump.display(), pcap.display()),
                e,
            )
        })?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "{} -nn -r {} failed ({}): {}",
            tcpdump.display(),
            pcap.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let theirs: Vec<&str> = stdout.lines().collect();
    compare(pcap, &lines(packets), &theirs).map_err(Error::msg)
}

fn compare(pcap: &Path, ours: &[String], theirs: &[&str]) -> Result<usize, String> {
    let n = ours.len().max(theirs.len());
    for i in 0..n {
        let a = ours.get(i).map(String::as_str);
        let b = theirs.get(i).copied();
        if a != b {
            return Err(format!(
                "{}: line {} differs from `tcpdump -nn -r` ({} lines before it are identical; \
                 ours has {}, tcpdump {})\n  ours:    {}\n  tcpdump: {}",
                pcap.display(),
                i + 1,
                i,
                ours.len(),
                theirs.len(),
                a.unwrap_or("(no line)"),
                b.unwrap_or("(no line)"),
            ));
        }
    }
    Ok(n)
}

// A capture of many connections, told briefly: the first and the last
// connection in full, and between them one line saying how many
// connections showed which sequence of flags (`report::many` draws the
// ladder the same way).

/// Captures with up to this many connections are shown whole.
pub const SHOWN_WHOLE: usize = 10;

/// The connections of a capture, as indexes into it, in the order they
/// began (a connection is its pair of address and port ends).
pub fn connections(packets: &[Packet]) -> Vec<Vec<usize>> {
    let mut order: Vec<Vec<usize>> = Vec::new();
    let mut at: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    for (i, p) in packets.iter().enumerate() {
        // An ICMP message joins the connection of the segment it quotes.
        let (src, dst) = p.conn_ends();
        let key = (src.min(dst), src.max(dst));
        let k = *at.entry(key).or_insert_with(|| {
            order.push(Vec::new());
            order.len() - 1
        });
        order[k].push(i);
    }
    order
}

/// The flags of a connection's packets as tcpdump writes them:
/// `[S] [S.] [.] [F.] [F.] [.]`.
fn form(packets: &[Packet], conn: &[usize]) -> String {
    conn.iter()
        .map(|&i| match &packets[i].icmp {
            Some(_) => "ICMP".to_string(),
            None => format!("[{}]", packets[i].flags),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The line that stands for the connections between the first and the
/// last: `... 998 more connections (5990 packets): 990 × [S] [S.] [.] [F.]
/// [F.] [.], 8 × [S] [S.] [.] [F.] [.] [F.] [.] ...`.
pub fn middle(packets: &[Packet], conns: &[Vec<usize>]) -> String {
    let inner = &conns[1..conns.len() - 1];
    let mut forms: Vec<(String, usize)> = Vec::new();
    for c in inner {
        let f = form(packets, c);
        match forms.iter_mut().find(|(g, _)| *g == f) {
            Some((_, n)) => *n += 1,
            None => forms.push((f, 1)),
        }
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.1));
    let shown: Vec<String> = forms.iter().map(|(f, n)| format!("{n} × {f}")).collect();
    format!(
        "... {} more connections ({} packets): {} ...",
        inner.len(),
        inner.iter().map(Vec::len).sum::<usize>(),
        shown.join(", ")
    )
}

/// `tcpdump -nn -r`'s lines for the capture, told briefly: all of them, or, past
/// [`SHOWN_WHOLE`] connections, those of the first and the last connection
/// around one line for the rest (numbered as in the whole capture).
pub fn brief(packets: &[Packet]) -> Vec<String> {
    let all = lines(packets);
    let conns = connections(packets);
    if conns.len() <= SHOWN_WHOLE {
        return all;
    }
    let (first, last) = (&conns[0], &conns[conns.len() - 1]);
    let mut out: Vec<String> = first.iter().map(|&i| all[i].clone()).collect();
    out.push(middle(packets, &conns));
    out.extend(last.iter().map(|&i| all[i].clone()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{PacketBuilder, TcpOptionElement};
    use rstest::rstest;

    const C: &str = "192.168.2.105:43068";
    const S: &str = "192.168.2.100:11111";

    /// A packet at `us` microseconds past a fixed second.
    fn pkt(us: u32, src: &str, dst: &str, flags: &str, seq: u32, ack: u32) -> Packet {
        let ts = Duration::new(1_700_000_000, us * 1000);
        Packet::sample(ts, src, dst, flags, seq, ack, 0)
    }

    fn ts_opt(val: u32, ecr: u32) -> Vec<TcpOption> {
        vec![TcpOption::Nop, TcpOption::Nop, TcpOption::Ts { val, ecr }]
    }

    /// The seed's conversation with data both ways, then the teardown.
    fn conversation() -> Vec<Packet> {
        let (c, s) = (2_926_220_354u32, 1_000_000_000u32);
        let mut syn = pkt(1, C, S, "S", c, 0);
        syn.win = 64240;
        syn.options = vec![
            TcpOption::Mss(1460),
            TcpOption::SackOk,
            TcpOption::Ts {
                val: 2223348,
                ecr: 0,
            },
            TcpOption::Nop,
            TcpOption::Wscale(10),
        ];
        let mut synack = pkt(2, S, C, "S.", s, c + 1);
        synack.win = 65160;
        synack.options = vec![
            TcpOption::Mss(1460),
            TcpOption::SackOk,
            TcpOption::Ts {
                val: 77,
                ecr: 2223348,
            },
            TcpOption::Nop,
            TcpOption::Wscale(10),
        ];
        let mut ack = pkt(3, C, S, ".", c + 1, s + 1);
        ack.options = ts_opt(2223349, 77);
        let mut data = pkt(4, C, S, "P.", c + 1, s + 1);
        data.payload = b"11111\n".to_vec();
        data.options = ts_opt(2223350, 77);
        let mut dack = pkt(5, S, C, ".", s + 1, c + 7);
        dack.options = ts_opt(78, 2223350);
        let mut back = pkt(6, S, C, "P.", s + 1, c + 7);
        back.payload = b"hello\n".to_vec();
        let mut sack = pkt(7, C, S, ".", c + 7, s + 7);
        sack.options = vec![
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::Sack(vec![(s + 9, s + 12)]),
        ];
        let fin = pkt(8, C, S, "F.", c + 7, s + 7);
        let finack = pkt(9, S, C, "F.", s + 7, c + 8);
        let last = pkt(10, C, S, ".", c + 8, s + 8);
        vec![syn, synack, ack, data, dack, back, sack, fin, finack, last]
    }

    /// Everything after the time: the part that does not depend on TZ.
    fn after_time(line: &str) -> &str {
        line.split_once(' ').unwrap().1
    }

    #[test]
    fn conversation_lines() {
        let got: Vec<String> = lines(&conversation())
            .iter()
            .map(|l| after_time(l).to_string())
            .collect();
        let want = [
            "IP 192.168.2.105.43068 > 192.168.2.100.11111: Flags [S], seq 2926220354, win 64240, options [mss 1460,sackOK,TS val 2223348 ecr 0,nop,wscale 10], length 0",
            "IP 192.168.2.100.11111 > 192.168.2.105.43068: Flags [S.], seq 1000000000, ack 2926220355, win 65160, options [mss 1460,sackOK,TS val 77 ecr 2223348,nop,wscale 10], length 0",
            "IP 192.168.2.105.43068 > 192.168.2.100.11111: Flags [.], ack 1, win 502, options [nop,nop,TS val 2223349 ecr 77], length 0",
            "IP 192.168.2.105.43068 > 192.168.2.100.11111: Flags [P.], seq 1:7, ack 1, win 502, options [nop,nop,TS val 2223350 ecr 77], length 6",
            "IP 192.168.2.100.11111 > 192.168.2.105.43068: Flags [.], ack 7, win 502, options [nop,nop,TS val 78 ecr 2223350], length 0",
            "IP 192.168.2.100.11111 > 192.168.2.105.43068: Flags [P.], seq 1:7, ack 7, win 502, length 6",
            "IP 192.168.2.105.43068 > 192.168.2.100.11111: Flags [.], ack 7, win 502, options [nop,nop,sack 1 {9:12}], length 0",
            "IP 192.168.2.105.43068 > 192.168.2.100.11111: Flags [F.], seq 7, ack 7, win 502, length 0",
            "IP 192.168.2.100.11111 > 192.168.2.105.43068: Flags [F.], seq 7, ack 8, win 502, length 0",
            "IP 192.168.2.105.43068 > 192.168.2.100.11111: Flags [.], ack 8, win 502, length 0",
        ];
        assert_eq!(got, want);
    }

    /// A conversation whose SYN was not captured: the first ACK-carrying
    /// packet records the bases and prints absolute; a RST without ACK is
    /// never made relative.
    #[rstest]
    #[case::mid_stream(
        vec![pkt(1, C, S, "P.", 5000, 9000), pkt(2, S, C, ".", 9000, 5006), pkt(3, C, S, "R", 5006, 0)],
        vec![
            "Flags [P.], seq 5000:5006, ack 9000, win 502, length 6",
            "Flags [.], ack 6, win 502, length 0",
            "Flags [R], seq 5006, win 0, length 0",
        ]
    )]
    #[case::syn_ack_restarts(
        vec![pkt(1, S, C, "S.", 100, 200), pkt(2, C, S, ".", 200, 101), pkt(3, S, C, "S.", 700, 800), pkt(4, C, S, ".", 800, 701)],
        vec![
            "Flags [S.], seq 100, ack 200, win 502, length 0",
            "Flags [.], ack 1, win 502, length 0",
            "Flags [S.], seq 700, ack 800, win 502, length 0",
            "Flags [.], ack 1, win 502, length 0",
        ]
    )]
    fn relative_numbers(#[case] mut packets: Vec<Packet>, #[case] want: Vec<&str>) {
        if let Some(p) = packets.first_mut() {
            if p.flags.contains(TcpFlags::PSH) {
                p.payload = b"hello\n".to_vec();
            }
        }
        for p in packets.iter_mut().filter(|p| p.flags == TcpFlags::RST) {
            p.win = 0;
        }
        let got: Vec<String> = lines(&packets)
            .iter()
            .map(|l| l.split_once(": ").unwrap().1.to_string())
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn ipv6_and_urg() {
        let mut p = pkt(1, "[2001:db8::1]:80", "[::10.0.0.1]:5", "U.", 1, 2);
        p.payload = vec![0];
        let l = lines(&[p]).remove(0);
        assert_eq!(
            after_time(&l),
            "IP6 2001:db8::1.80 > ::10.0.0.1.5: Flags [.U], seq 1:2, ack 2, win 502, urg ?, length 1"
        );
    }

    /// The clock is local time, whatever TZ is: seconds and microseconds
    /// agree with UTC in every zone (offsets are whole minutes), and the
    /// shape is tcpdump's.
    #[rstest]
    #[case(Duration::new(1_700_000_000, 123_456_789), "20.123456")]
    #[case(Duration::new(59, 1_000), "59.000001")]
    fn clock_shape(#[case] ts: Duration, #[case] tail: &str) {
        let c = clock(ts);
        assert_eq!(c.len(), 15, "{c}");
        assert_eq!(&c[2..3], ":");
        assert_eq!(&c[5..6], ":");
        assert!(c.ends_with(tail), "{c}");
    }

    #[test]
    fn compare_reports_first_difference() {
        let ours = vec!["a".to_string(), "b".to_string()];
        assert_eq!(compare(Path::new("x.pcap"), &ours, &["a", "b"]), Ok(2));
        let err = compare(Path::new("x.pcap"), &ours, &["a", "c", "d"]).unwrap_err();
        assert!(err.starts_with("x.pcap: line 2 differs"), "{err}");
        assert!(err.contains("\n  ours:    b\n  tcpdump: c"), "{err}");
        let err = compare(Path::new("x.pcap"), &ours, &["a"]).unwrap_err();
        assert!(err.contains("tcpdump: (no line)"), "{err}");
    }

    /// An Ethernet frame for `p`, as the kernel would put it on the veth.
    fn frame(p: &Packet) -> Vec<u8> {
        let opts: Vec<TcpOptionElement> = p
            .options
            .iter()
            .map(|o| match o {
                TcpOption::Nop => TcpOptionElement::Noop,
                TcpOption::Mss(v) => TcpOptionElement::MaximumSegmentSize(*v),
                TcpOption::Wscale(v) => TcpOptionElement::WindowScale(*v),
                TcpOption::SackOk => TcpOptionElement::SelectiveAcknowledgementPermitted,
                TcpOption::Ts { val, ecr } => TcpOptionElement::Timestamp(*val, *ecr),
                TcpOption::Sack(b) => {
                    let mut rest = [None; 3];
                    for (i, x) in b[1..].iter().enumerate() {
                        rest[i] = Some(*x);
                    }
                    TcpOptionElement::SelectiveAcknowledgement(b[0], rest)
                }
            })
            .collect();
        let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let ip = match (p.src.ip(), p.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
            (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), 64),
            _ => unreachable!(),
        };
        let mut b = ip.tcp(p.src.port(), p.dst.port(), p.seq, p.win);
        let f = p.flags;
        if f.contains(TcpFlags::SYN) {
            b = b.syn();
        }
        if f.contains(TcpFlags::FIN) {
            b = b.fin();
        }
        if f.contains(TcpFlags::RST) {
            b = b.rst();
        }
        if f.contains(TcpFlags::PSH) {
            b = b.psh();
        }
        if f.contains(TcpFlags::ACK) {
            b = b.ack(p.ack);
        }
        let b = b.options(&opts).unwrap();
        let mut out = Vec::new();
        b.write(&mut out, &p.payload).unwrap();
        out
    }

    /// Writes `packets` as an Ethernet pcap, as capture.rs does.
    fn write_pcap(path: &Path, packets: &[Packet]) {
        let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).unwrap();
        let mut save = dead.savefile(path).unwrap();
        for p in packets {
            let data = frame(p);
            let header = pcap::PacketHeader {
                ts: libc::timeval {
                    tv_sec: p.ts.as_secs() as libc::time_t,
                    tv_usec: p.ts.subsec_micros() as libc::suseconds_t,
                },
                caplen: data.len() as u32,
                len: data.len() as u32,
            };
            save.write(&pcap::Packet::new(&header, &data));
        }
        save.flush().unwrap();
    }

    /// Reads a pcap back the way the harness does.
    fn read_pcap(path: &Path) -> Result<Vec<Packet>, pcap::Error> {
        let mut cap = pcap::Capture::from_file(path)?;
        let mut out = Vec::new();
        loop {
            match cap.next_packet() {
                Ok(p) => {
                    let ts = Duration::new(
                        p.header.ts.tv_sec as u64,
                        (p.header.ts.tv_usec as u32).saturating_mul(1000),
                    );
                    out.extend(Packet::from_ethernet(p.data, ts));
                }
                Err(pcap::Error::NoMorePackets) => return Ok(out),
                Err(e) => return Err(e),
            }
        }
    }

    /// Our lines against the real tcpdump, on a pcap written here: both
    /// directions, data, SACK, a second conversation seen mid-stream, an
    /// IPv6 one, a RST.
    #[test]
    fn cross_check_with_real_tcpdump() {
        let mut packets = conversation();
        let other = "192.168.2.100:11111";
        let mut mid = pkt(20, "192.168.2.105:40000", other, "P.", 5000, 9000);
        mid.payload = b"late\n".to_vec();
        packets.push(mid);
        packets.push(pkt(21, other, "192.168.2.105:40000", ".", 9000, 5005));
        let mut rst = pkt(22, "192.168.2.105:40000", other, "R", 5005, 0);
        rst.win = 0;
        packets.push(rst);
        let mut v6 = pkt(23, "[2001:db8::5]:43000", "[2001:db8::1]:11111", "S", 42, 0);
        v6.options = vec![
            TcpOption::Mss(1440),
            TcpOption::SackOk,
            TcpOption::Nop,
            TcpOption::Nop,
        ];
        packets.push(v6);
        packets.push(pkt(
            24,
            "[2001:db8::1]:11111",
            "[2001:db8::5]:43000",
            "S.",
            7,
            43,
        ));
        packets.push(pkt(
            25,
            "[2001:db8::5]:43000",
            "[2001:db8::1]:11111",
            ".",
            43,
            8,
        ));
        // Same ports both ways: the addresses decide the collating order.
        packets.push(pkt(26, "10.0.0.2:7000", "10.0.0.1:7000", "S.", 300, 401));
        packets.push(pkt(27, "10.0.0.1:7000", "10.0.0.2:7000", ".", 401, 301));

        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/tmp")
            .join(format!("report-tcpdump-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("synthetic.pcap");
        write_pcap(&path, &packets);
        let back = read_pcap(&path).unwrap();
        assert_eq!(back, packets, "the pcap round trip changes packets");
        let n = cross_check(&path, &back).unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "cross_check: {n} lines identical to tcpdump -nn -r {}",
            path.display()
        );
        assert_eq!(n, packets.len());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// By hand, after the suite (`cargo test` as root) has left its pcaps:
    /// `cargo test --lib tcpdump -- --ignored --nocapture`.
    #[test]
    #[ignore = "reads the suite's pcaps in target/tcplab; run after cargo test"]
    fn cross_check_suite_pcaps() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tcplab");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "pcap"));
        files.sort();
        let (mut total, mut checked) = (0, 0);
        let mut failures = Vec::new();
        for f in &files {
            let packets = match read_pcap(f) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("skip {}: {e}", f.display());
                    continue;
                }
            };
            match cross_check(f, &packets) {
                Ok(n) => {
                    eprintln!("{}: {n} lines identical", f.display());
                    total += n;
                    checked += 1;
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        eprintln!("{total} lines identical over {checked} pcaps");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
