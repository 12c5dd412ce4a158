//! What `ss -ti` adds to a socket's row: the kernel's `struct tcp_info`
//! (the INET_DIAG_INFO attribute) and the congestion control's name
//! (INET_DIAG_CONG), printed as ss prints them.
//!
//! The bytes are read here, not by netlink-packet-sock-diag: its `TcpInfo`
//! (feature `rich_nlas`) refuses a struct shorter than its own 232 bytes,
//! and older kernels send fewer (104 bytes before 3.15, 136 from 4.1, 232
//! from 5.4; a newer kernel sends more, which we leave unread). A field
//! past the end of what the kernel sent reads as absent ([`TcpInfo::get`]
//! is None), and prints as ss prints it: ss zero-fills a short struct, and
//! prints no zero field.
//!
//! Offsets are those of `struct tcp_info` in linux/tcp.h (checked with
//! offsetof against the installed header: rto 8, rtt 68, snd_cwnd 80,
//! total_retrans 100, bytes_acked 120, delivery_rate 160, snd_wnd 228,
//! size 232); `live_info_matches_ss` checks the printing against the real
//! `ss -tanoiO` on live sockets.

use std::fmt;

/// The bytes of `struct tcp_info` read (iproute2 6.1's struct: up to
/// tcpi_snd_wnd).
pub const TCP_INFO_LEN: usize = 232;

/// INET_DIAG_INFO and INET_DIAG_CONG (linux/inet_diag.h).
pub(super) const INET_DIAG_INFO: u16 = 2;
pub(super) const INET_DIAG_CONG: u16 = 4;

/// tcpi_options bits (linux/tcp.h).
const OPT_TIMESTAMPS: u8 = 1;
const OPT_SACK: u8 = 2;
const OPT_WSCALE: u8 = 4;
const OPT_ECN: u8 = 8;
const OPT_ECN_SEEN: u8 = 16;
const OPT_SYN_DATA: u8 = 32;

/// The kernel's number for LISTEN: ss prints no `sacked` for a listener
/// (its tcpi_sacked is the accept backlog).
const TCP_LISTEN: u8 = 10;

/// How a field's number reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Segments, bytes, a count.
    Count,
    /// A time in microseconds (tcpi_rtt, tcpi_rto).
    Micros,
    /// A time in milliseconds (tcpi_last_data_sent).
    Millis,
    /// Bytes per second (tcpi_delivery_rate); ss prints bits per second.
    BytesPerSec,
}

/// One field of `struct tcp_info` a case may name, by ss's word for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// ss's word (`cwnd` for tcpi_snd_cwnd, `rcvmss` for tcpi_rcv_mss).
    pub name: &'static str,
    pub unit: Unit,
    offset: usize,
    size: usize,
}

const fn field(name: &'static str, unit: Unit, offset: usize, size: usize) -> Field {
    Field {
        name,
        unit,
        offset,
        size,
    }
}

use Unit::{BytesPerSec, Count, Micros, Millis};

/// The fields a `sockets` row may name, in the order ss prints them.
/// `retrans` is tcpi_retrans (segments being retransmitted now) and
/// `retrans_total` tcpi_total_retrans: ss prints both as `retrans:0/1`.
pub const FIELDS: &[Field] = &[
    field("rto", Micros, 8, 4),
    field("backoff", Count, 4, 1),
    field("rtt", Micros, 68, 4),
    field("rttvar", Micros, 72, 4),
    field("ato", Micros, 12, 4),
    field("mss", Count, 16, 4),
    field("pmtu", Count, 60, 4),
    field("rcvmss", Count, 20, 4),
    field("advmss", Count, 84, 4),
    field("cwnd", Count, 80, 4),
    field("ssthresh", Count, 76, 4),
    field("bytes_sent", Count, 200, 8),
    field("bytes_retrans", Count, 208, 8),
    field("bytes_acked", Count, 120, 8),
    field("bytes_received", Count, 128, 8),
    field("segs_out", Count, 136, 4),
    field("segs_in", Count, 140, 4),
    field("data_segs_out", Count, 156, 4),
    field("data_segs_in", Count, 152, 4),
    field("lastsnd", Millis, 44, 4),
    field("lastrcv", Millis, 52, 4),
    field("lastack", Millis, 56, 4),
    field("pacing_rate", BytesPerSec, 104, 8),
    field("delivery_rate", BytesPerSec, 160, 8),
    field("delivered", Count, 192, 4),
    field("unacked", Count, 24, 4),
    field("retrans", Count, 36, 4),
    field("retrans_total", Count, 100, 4),
    field("lost", Count, 32, 4),
    field("sacked", Count, 28, 4),
    field("dsack_dups", Count, 216, 4),
    field("reordering", Count, 88, 4),
    field("reord_seen", Count, 220, 4),
    field("rcv_rtt", Micros, 92, 4),
    field("rcv_space", Count, 96, 4),
    field("rcv_ssthresh", Count, 64, 4),
    field("notsent", Count, 144, 4),
    field("minrtt", Micros, 148, 4),
    field("rcv_ooopack", Count, 224, 4),
    field("snd_wnd", Count, 228, 4),
];

/// The field ss calls `name`.
pub fn field_named(name: &str) -> Option<Field> {
    FIELDS.iter().find(|f| f.name == name).copied()
}

/// One socket's `struct tcp_info` as the kernel sent it, and its
/// congestion control.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TcpInfo {
    /// The struct's bytes, zero past `len`.
    raw: [u8; TCP_INFO_LEN],
    /// How many bytes the kernel sent (at most TCP_INFO_LEN kept).
    len: usize,
    /// INET_DIAG_CONG: `cubic`, `reno`, `bbr`.
    pub cong: Option<String>,
}

impl TcpInfo {
    /// From the attribute's payload and the congestion control's (a NUL
    /// terminated name).
    pub fn parse(info: &[u8], cong: Option<&[u8]>) -> TcpInfo {
        let len = info.len().min(TCP_INFO_LEN);
        let mut raw = [0u8; TCP_INFO_LEN];
        raw[..len].copy_from_slice(&info[..len]);
        let cong = cong
            .map(|c| c.split(|b| *b == 0).next().unwrap_or_default())
            .filter(|c| !c.is_empty())
            .map(|c| String::from_utf8_lossy(c).into_owned());
        TcpInfo { raw, len, cong }
    }

    /// The field's value in its unit, None when the kernel's struct ends
    /// before it.
    pub fn get(&self, f: Field) -> Option<u64> {
        (f.offset + f.size <= self.len).then(|| self.at(f.offset, f.size))
    }

    /// The value as ss reads it: zero where the kernel sent nothing.
    fn at(&self, offset: usize, size: usize) -> u64 {
        let b = &self.raw[offset..offset + size];
        match size {
            1 => u64::from(b[0]),
            4 => u64::from(u32::from_ne_bytes(b.try_into().unwrap())),
            _ => u64::from_ne_bytes(b.try_into().unwrap()),
        }
    }

    fn val(&self, name: &str) -> u64 {
        let f = field_named(name).expect("a field of the table");
        self.at(f.offset, f.size)
    }

    /// How many bytes the kernel sent.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// C's `%g`: six significant digits, trailing zeros dropped, an exponent
/// below 1e-4 and from 1e6 on.
pub fn g(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let sci = format!("{v:.5e}");
    let (mantissa, exp) = sci.split_once('e').expect("`e` format");
    let exp: i32 = exp.parse().expect("an exponent");
    let trim = |s: &str| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if (-4..6).contains(&exp) {
        trim(&format!("{v:.*}", (5 - exp) as usize))
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    }
}

impl fmt::Display for TcpInfo {
    /// ss's `tcp_stats_print` (iproute2 6.1, with `-n`: rates in plain
    /// bits per second), for the attributes asked for (no VEGASINFO, so
    /// no `bbr:(...)` or `dctcp:(...)`): `ts sack cubic wscale:7,7
    /// rto:204 rtt:0.031/0.015 ato:40 mss:1448 ... cwnd:10 ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out: Vec<String> = Vec::new();
        self.head(&mut out);
        self.counts(&mut out);
        self.rates(&mut out);
        self.tail(&mut out);
        f.write_str(&out.join(" "))
    }
}

impl TcpInfo {
    /// Options, congestion control, wscale, times, sizes, cwnd, ssthresh.
    fn head(&self, out: &mut Vec<String>) {
        let options = self.raw[5];
        for (bit, word) in [
            (OPT_TIMESTAMPS, "ts"),
            (OPT_SACK, "sack"),
            (OPT_ECN, "ecn"),
            (OPT_ECN_SEEN, "ecnseen"),
            (OPT_SYN_DATA, "fastopen"),
        ] {
            if options & bit != 0 {
                out.push(word.into());
            }
        }
        out.extend(self.cong.clone());
        if options & OPT_WSCALE != 0 {
            out.push(format!("wscale:{},{}", self.raw[6] & 0xf, self.raw[6] >> 4));
        }
        let ms = |name: &str| self.val(name) as f64 / 1000.0;
        let rto = self.val("rto");
        if rto != 0 && rto != 3_000_000 {
            out.push(format!("rto:{}", g(ms("rto"))));
        }
        if self.val("backoff") != 0 {
            out.push(format!("backoff:{}", self.val("backoff")));
        }
        if self.val("rtt") != 0 {
            out.push(format!("rtt:{}/{}", g(ms("rtt")), g(ms("rttvar"))));
        }
        if self.val("ato") != 0 {
            out.push(format!("ato:{}", g(ms("ato"))));
        }
        for (name, word) in [
            ("mss", "mss"),
            ("pmtu", "pmtu"),
            ("rcvmss", "rcvmss"),
            ("advmss", "advmss"),
            ("cwnd", "cwnd"),
        ] {
            self.nonzero(out, name, word);
        }
        let ssthresh = self.val("ssthresh");
        if ssthresh != 0 && ssthresh < 0xffff {
            out.push(format!("ssthresh:{ssthresh}"));
        }
    }

    /// `word:value` when the field is not zero.
    fn nonzero(&self, out: &mut Vec<String>, name: &str, word: &str) {
        let v = self.val(name);
        if v != 0 {
            out.push(format!("{word}:{v}"));
        }
    }

    /// Byte and segment counters.
    fn counts(&self, out: &mut Vec<String>) {
        for name in [
            "bytes_sent",
            "bytes_retrans",
            "bytes_acked",
            "bytes_received",
            "segs_out",
            "segs_in",
            "data_segs_out",
            "data_segs_in",
        ] {
            self.nonzero(out, name, name);
        }
    }

    /// `send`, the last times, pacing and delivery rates, busy time.
    fn rates(&self, out: &mut Vec<String>) {
        let (rtt, mss, cwnd) = (self.val("rtt"), self.val("mss"), self.val("cwnd"));
        if rtt > 0 && mss > 0 && cwnd > 0 {
            let bps = cwnd as f64 * mss as f64 * 8_000_000.0 / rtt as f64;
            out.push(format!("send {bps:.0}bps"));
        }
        self.nonzero(out, "lastsnd", "lastsnd");
        self.nonzero(out, "lastrcv", "lastrcv");
        self.nonzero(out, "lastack", "lastack");
        let (pacing, max) = (self.val("pacing_rate"), self.at(112, 8));
        if pacing != 0 && pacing != u64::MAX {
            let mut t = format!("pacing_rate {:.0}bps", pacing as f64 * 8.0);
            if max != 0 && max != u64::MAX {
                t += &format!("/{:.0}bps", max as f64 * 8.0);
            }
            out.push(t);
        }
        let delivery = self.val("delivery_rate") as f64 * 8.0;
        if delivery != 0.0 {
            out.push(format!("delivery_rate {delivery:.0}bps"));
        }
        self.nonzero(out, "delivered", "delivered");
        let delivered_ce = self.at(196, 4);
        if delivered_ce != 0 {
            out.push(format!("delivered_ce:{delivered_ce}"));
        }
        if self.raw[7] & 1 != 0 {
            out.push("app_limited".into());
        }
        let busy = self.at(168, 8);
        if busy != 0 {
            out.push(format!("busy:{}ms", busy / 1000));
            for (offset, word) in [(176, "rwnd_limited"), (184, "sndbuf_limited")] {
                let v = self.at(offset, 8);
                if v != 0 {
                    let share = 100.0 * v as f64 / busy as f64;
                    out.push(format!("{word}:{}ms({share:.1}%)", v / 1000));
                }
            }
        }
    }

    /// Loss and reordering, the receiver's side, notsent, minrtt, windows.
    fn tail(&self, out: &mut Vec<String>) {
        self.nonzero(out, "unacked", "unacked");
        let (now, total) = (self.val("retrans"), self.val("retrans_total"));
        if now != 0 || total != 0 {
            out.push(format!("retrans:{now}/{total}"));
        }
        self.nonzero(out, "lost", "lost");
        if self.raw[0] != TCP_LISTEN {
            self.nonzero(out, "sacked", "sacked");
        }
        self.nonzero(out, "dsack_dups", "dsack_dups");
        let fackets = self.at(40, 4);
        if fackets != 0 {
            out.push(format!("fackets:{fackets}"));
        }
        if self.val("reordering") != 3 {
            out.push(format!("reordering:{}", self.val("reordering")));
        }
        self.nonzero(out, "reord_seen", "reord_seen");
        if self.val("rcv_rtt") != 0 {
            out.push(format!(
                "rcv_rtt:{}",
                g(self.val("rcv_rtt") as f64 / 1000.0)
            ));
        }
        self.nonzero(out, "rcv_space", "rcv_space");
        self.nonzero(out, "rcv_ssthresh", "rcv_ssthresh");
        self.nonzero(out, "notsent", "notsent");
        let min_rtt = self.val("minrtt");
        if min_rtt != 0 && min_rtt != u64::from(u32::MAX) {
            out.push(format!("minrtt:{}", g(min_rtt as f64 / 1000.0)));
        }
        self.nonzero(out, "rcv_ooopack", "rcv_ooopack");
        self.nonzero(out, "snd_wnd", "snd_wnd");
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(204.0, "204")]
    #[case(0.031, "0.031")]
    #[case(0.015, "0.015")]
    #[case(40.0, "40")]
    #[case(1234.567, "1234.57")]
    #[case(120000.0, "120000")]
    #[case(1234567.0, "1.23457e+06")]
    #[case(0.00001, "1e-05")]
    #[case(0.0, "0")]
    fn g_prints_as_c_does(#[case] v: f64, #[case] text: &str) {
        assert_eq!(g(v), text);
    }

    /// A tcp_info as a kernel of 6.x sends it for an established
    /// connection that sent 6 bytes: every field at its offset.
    pub(crate) fn raw_info() -> Vec<u8> {
        let mut b = vec![0u8; 248];
        let mut put = |offset: usize, size: usize, v: u64| {
            b[offset..offset + size].copy_from_slice(&v.to_ne_bytes()[..size]);
        };
        put(0, 1, 1); // ESTABLISHED
        put(5, 1, u64::from(OPT_TIMESTAMPS | OPT_SACK | OPT_WSCALE));
        put(6, 1, 0x77); // wscale 7,7
        put(8, 4, 204_000);
        put(12, 4, 40_000);
        put(16, 4, 1448);
        put(20, 4, 536);
        put(36, 4, 0);
        put(60, 4, 1500);
        put(68, 4, 31);
        put(72, 4, 15);
        put(76, 4, 0x7fff_ffff);
        put(80, 4, 10);
        put(84, 4, 1448);
        put(88, 4, 3);
        put(96, 4, 14480);
        put(100, 4, 1);
        put(64, 4, 64088);
        put(120, 8, 7);
        put(136, 4, 4);
        put(148, 4, 31);
        put(200, 8, 6);
        put(228, 4, 64256);
        b
    }

    #[test]
    fn prints_as_ss_ti_does() {
        let info = TcpInfo::parse(&raw_info(), Some(b"cubic\0"));
        assert_eq!(
            info.to_string(),
            "ts sack cubic wscale:7,7 rto:204 rtt:0.031/0.015 ato:40 mss:1448 pmtu:1500 \
             rcvmss:536 advmss:1448 cwnd:10 bytes_sent:6 bytes_acked:7 segs_out:4 \
             send 3736774194bps retrans:0/1 rcv_space:14480 rcv_ssthresh:64088 minrtt:0.031 \
             snd_wnd:64256"
        );
        assert_eq!(
            info.len(),
            TCP_INFO_LEN,
            "what a newer kernel adds is not read"
        );
        assert_eq!(info.get(field_named("cwnd").unwrap()), Some(10));
        assert_eq!(info.get(field_named("rtt").unwrap()), Some(31));
    }

    /// A kernel before 4.1 sends 120 bytes: bytes_acked and the rest are
    /// absent, and print as ss prints them (not at all).
    #[test]
    fn a_shorter_struct_leaves_the_later_fields_absent() {
        let info = TcpInfo::parse(&raw_info()[..120], None);
        assert_eq!(info.get(field_named("cwnd").unwrap()), Some(10));
        assert_eq!(info.get(field_named("bytes_acked").unwrap()), None);
        assert_eq!(info.get(field_named("snd_wnd").unwrap()), None);
        let text = info.to_string();
        assert!(text.starts_with("ts sack wscale:7,7 rto:204"), "{text}");
        assert!(
            !text.contains("bytes_acked") && !text.contains("snd_wnd"),
            "{text}"
        );
        let empty = TcpInfo::parse(&[], None);
        assert!(empty.is_empty() && empty.get(field_named("rto").unwrap()).is_none());
    }
}
