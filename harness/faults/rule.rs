//! What a deterministic fault rule says (direction, flags, which match,
//! action) and what it leaves behind (a record per packet it acted on, keyed
//! so the packet can be found again in the capture).
//!
//! Words follow the case format's notation: directions are written as in a
//! packets block (`client > server`), flags as the seed's ladder names them
//! (`FIN`, `SYN+ACK`) or exactly in tcpdump's letters (`[F.]`).

use crate::error::Malformed;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::lab::Side;
use crate::packet::{Endpoint, Packet, TcpFlags};

/// Which way a packet travels. A rule is applied in the receiver's
/// namespace, so the capture on the server's veth still sees every packet
/// the client sent (libpcap's tap runs before netfilter's prerouting hook).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Direction {
    pub from: Side,
}

impl Direction {
    pub const TO_SERVER: Direction = Direction { from: Side::Client };
    pub const TO_CLIENT: Direction = Direction { from: Side::Server };

    /// The host whose namespace judges these packets.
    pub fn receiver(self) -> Side {
        self.from.peer()
    }

    /// Whether `p` travels this way (by the lab's addresses, in either
    /// family).
    pub fn carries(self, p: &Packet) -> bool {
        Side::of(p.src.ip()) == Some(self.from) && Side::of(p.dst.ip()) == Some(self.receiver())
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} > {}", self.from, self.receiver())
    }
}

impl FromStr for Direction {
    type Err = Malformed;
    /// `client > server` or `server > client` (spaces optional).
    fn from_str(s: &str) -> Result<Direction, Malformed> {
        let (a, b) = s.split_once('>').ok_or_else(|| {
            format!("`{s}` is not a direction (write `client > server` or `server > client`)")
        })?;
        let from: Side = a.trim().parse()?;
        let to: Side = b.trim().parse()?;
        if to != from.peer() {
            return Err(Malformed::new(
                format!("`{s}`: a packet goes from one host to the other"),
                "",
            ));
        }
        Ok(Direction { from })
    }
}

/// Which segments a rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagMatch {
    /// FIN set (with or without ACK, with or without data).
    Fin,
    /// SYN without ACK: a connection request.
    Syn,
    /// SYN and ACK: the handshake's answer.
    SynAck,
    /// RST set.
    Rst,
    /// A pure ACK: ACK, nothing of SYN/FIN/RST, no payload.
    Ack,
    /// Any segment with payload (length > 0).
    Data,
    /// Every segment.
    Any,
    /// Exactly these flags, in tcpdump's letters (`[F.]`, `[P.]`).
    Exact(TcpFlags),
    /// Exactly these flags and a payload (`[.] data`: a data segment
    /// without PSH).
    ExactData(TcpFlags),
}

impl FlagMatch {
    pub fn matches(self, p: &Packet) -> bool {
        let f = p.flags;
        let has = |x| f.contains(x);
        match self {
            FlagMatch::Fin => has(TcpFlags::FIN),
            FlagMatch::Syn => has(TcpFlags::SYN) && !has(TcpFlags::ACK),
            FlagMatch::SynAck => has(TcpFlags::SYN) && has(TcpFlags::ACK),
            FlagMatch::Rst => has(TcpFlags::RST),
            FlagMatch::Ack => {
                has(TcpFlags::ACK)
                    && !has(TcpFlags::SYN)
                    && !has(TcpFlags::FIN)
                    && !has(TcpFlags::RST)
                    && p.is_empty()
            }
            FlagMatch::Data => !p.is_empty(),
            FlagMatch::Any => true,
            FlagMatch::Exact(x) => f == x,
            FlagMatch::ExactData(x) => f == x && !p.is_empty(),
        }
    }
}

impl fmt::Display for FlagMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagMatch::Fin => f.write_str("FIN"),
            FlagMatch::Syn => f.write_str("SYN"),
            FlagMatch::SynAck => f.write_str("SYN+ACK"),
            FlagMatch::Rst => f.write_str("RST"),
            FlagMatch::Ack => f.write_str("ACK"),
            FlagMatch::Data => f.write_str("data"),
            FlagMatch::Any => f.write_str("any"),
            FlagMatch::Exact(x) => write!(f, "[{x}]"),
            FlagMatch::ExactData(x) => write!(f, "[{x}] data"),
        }
    }
}

impl FromStr for FlagMatch {
    type Err = Malformed;
    fn from_str(s: &str) -> Result<FlagMatch, Malformed> {
        Ok(match s {
            "FIN" => FlagMatch::Fin,
            "SYN" => FlagMatch::Syn,
            "SYN+ACK" => FlagMatch::SynAck,
            "RST" => FlagMatch::Rst,
            "ACK" => FlagMatch::Ack,
            "data" => FlagMatch::Data,
            "any" => FlagMatch::Any,
            _ => match s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                Some(letters) => FlagMatch::Exact(letters.parse()?),
                None => {
                    return Err(Malformed::new(format!(
                        "`{s}` is not a packet kind (FIN, SYN, SYN+ACK, RST, ACK, data, any, or tcpdump flags like [F.])"
                    ), ""))
                }
            },
        })
    }
}

/// Which of the matching packets a rule acts on, counted from 1 since the
/// rule was added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Nth(u64),
    Every,
    /// The Nth to the Mth, both included.
    Range(u64, u64),
}

impl Which {
    pub fn selects(self, n: u64) -> bool {
        match self {
            Which::Nth(k) => n == k,
            Which::Every => true,
            Which::Range(a, b) => (a..=b).contains(&n),
        }
    }

    /// Whether a count of `n` matches has passed everything this selects.
    pub fn exhausted(self, n: u64) -> bool {
        match self {
            Which::Nth(k) | Which::Range(_, k) => n >= k,
            Which::Every => false,
        }
    }
}

fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Which::Nth(n) => f.write_str(&ordinal(*n)),
            Which::Every => f.write_str("every"),
            Which::Range(a, b) => write!(f, "{a}..{b}"),
        }
    }
}

impl FromStr for Which {
    type Err = Malformed;
    /// `first`, `1st`, `2nd`, `3`, `every`, `2..4`.
    fn from_str(s: &str) -> Result<Which, Malformed> {
        let bad = || {
            Malformed::new(
                format!("`{s}` is not a count (first, 1st, 2nd, 3, every, 2..4)"),
                "",
            )
        };
        let num = |t: &str| -> Result<u64, Malformed> {
            let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            match digits.parse::<u64>() {
                Ok(n) if n > 0 && (digits == t || ordinal(n) == t) => Ok(n),
                _ => Err(bad()),
            }
        };
        match s {
            "every" => Ok(Which::Every),
            "first" => Ok(Which::Nth(1)),
            _ => match s.split_once("..") {
                Some((a, b)) => {
                    let (a, b) = (num(a)?, num(b)?);
                    if a > b {
                        return Err(Malformed::new(format!("`{s}`: the range is empty"), ""));
                    }
                    Ok(Which::Range(a, b))
                }
                None => num(s).map(Which::Nth),
            },
        }
    }
}

/// What a rule does to a packet it selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Drop,
    /// Accept it this much later, from a timer; other packets pass meanwhile.
    Delay(Duration),
    /// Hold it and accept it right after the next packet in the same
    /// direction is accepted: the two arrive swapped.
    Reorder,
    /// Let it through and send a copy (statistical link faults only).
    Duplicate,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Drop => f.write_str("drop"),
            Action::Delay(d) => write!(f, "delay {}ms", d.as_millis()),
            Action::Reorder => f.write_str("reorder"),
            Action::Duplicate => f.write_str("duplicate"),
        }
    }
}

/// A deterministic per-packet rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub direction: Direction,
    pub flags: FlagMatch,
    pub which: Which,
    pub action: Action,
    /// Where the rule was written (`cases/fin-wait-1.case:7`), for messages.
    pub origin: String,
}

impl Rule {
    pub fn matches(&self, p: &Packet) -> bool {
        self.direction.carries(p) && self.flags.matches(p)
    }
}

impl fmt::Display for Rule {
    /// `drop the 1st FIN client > server`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let which = match self.which {
            Which::Every => "every".to_string(),
            Which::Nth(_) => format!("the {}", self.which),
            Which::Range(..) => format!("matches {}", self.which),
        };
        write!(
            f,
            "{} {which} {} {}",
            self.action, self.flags, self.direction
        )
    }
}

/// Identifies a rule within one [`super::Faults`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(pub u32);

/// Enough of a segment to find it in the capture: addresses, flags,
/// absolute seq/ack, payload length and TSval (which tells a retransmission
/// from the original when timestamps are on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketKey {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub len: u32,
    pub tsval: Option<u32>,
}

impl PacketKey {
    pub fn of(p: &Packet) -> PacketKey {
        PacketKey {
            src: p.src,
            dst: p.dst,
            flags: p.flags,
            seq: p.seq,
            ack: p.ack,
            len: p.len(),
            tsval: p.tsval(),
        }
    }

    pub fn matches(&self, p: &Packet) -> bool {
        *self == PacketKey::of(p)
    }
}

impl fmt::Display for PacketKey {
    /// tcpdump's line without time and window: absolute seq/ack.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IP {} > {}: Flags [{}], seq {}",
            Endpoint(self.src),
            Endpoint(self.dst),
            self.flags,
            self.seq
        )?;
        if self.flags.contains(TcpFlags::ACK) {
            write!(f, ", ack {}", self.ack)?;
        }
        if let Some(ts) = self.tsval {
            write!(f, ", TS val {ts}")?;
        }
        write!(f, ", length {}", self.len)
    }
}

/// One packet a rule acted on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acted {
    pub key: PacketKey,
    pub action: Action,
    /// Its place among the TCP segments its direction's verdict thread
    /// judged, from 1.
    pub ordinal: u64,
    /// When the verdict thread saw it (since the Unix epoch, the capture's
    /// clock): after the capture's timestamp of the same packet.
    pub at: Duration,
    /// When a held packet (delay, reorder) was let through; None while held
    /// and for drops.
    pub released: Option<Duration>,
}

impl Acted {
    /// Whether the packet is still held by the rule.
    pub fn held(&self) -> bool {
        matches!(self.action, Action::Delay(_) | Action::Reorder) && self.released.is_none()
    }

    /// The capture's copy of this packet: the last packet with this key
    /// captured no later than the verdict (a retransmission with an equal
    /// key comes later; the capture's tap runs before the verdict).
    pub fn find_in(&self, captured: &[Packet]) -> Option<usize> {
        captured
            .iter()
            .enumerate()
            .filter(|(_, p)| self.key.matches(p) && p.ts <= self.at)
            .map(|(i, _)| i)
            .next_back()
    }
}

impl fmt::Display for Acted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.action {
            Action::Drop => "dropped".to_string(),
            Action::Delay(d) => format!("delayed {}ms", d.as_millis()),
            Action::Reorder => "held back".to_string(),
            Action::Duplicate => "duplicated".to_string(),
        };
        write!(f, "{verb}: {}", self.key)?;
        match (self.action, self.released) {
            (Action::Drop | Action::Duplicate, _) => Ok(()),
            (_, None) => f.write_str(" (still held)"),
            (_, Some(r)) => write!(
                f,
                " (released after {} ms)",
                r.saturating_sub(self.at).as_millis()
            ),
        }
    }
}

/// What a rule has done so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleReport {
    pub id: RuleId,
    pub rule: Rule,
    /// Still in force (not removed).
    pub active: bool,
    /// Packets that matched its direction and flags while it was active.
    pub matched: u64,
    pub acted: Vec<Acted>,
}

impl RuleReport {
    /// Why the rule never did anything, if it did not: "rule at FILE:LINE
    /// matched 0 packets" (or matched some, but never the one it names).
    pub fn never_acted(&self) -> Option<String> {
        if !self.acted.is_empty() {
            return None;
        }
        let what = if self.matched == 0 {
            "matched 0 packets".to_string()
        } else {
            format!(
                "matched {} packet{}, never the {} it names",
                self.matched,
                if self.matched == 1 { "" } else { "s" },
                self.rule.which
            )
        };
        Some(format!(
            "rule at {} ({}) {what}",
            self.rule.origin, self.rule
        ))
    }

    /// Whether it holds a packet right now.
    pub fn holding(&self) -> bool {
        self.acted.iter().any(Acted::held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_words_parse_and_print_back() {
        for w in [
            "FIN", "SYN", "SYN+ACK", "RST", "ACK", "data", "any", "[F.]", "[S]",
        ] {
            assert_eq!(w.parse::<FlagMatch>().unwrap().to_string(), w);
        }
        assert!("fin"
            .parse::<FlagMatch>()
            .unwrap_err()
            .msg
            .contains("SYN+ACK"));
    }

    #[test]
    fn counts_parse_as_ordinals_numbers_and_ranges() {
        assert_eq!("first".parse::<Which>(), Ok(Which::Nth(1)));
        assert_eq!("2nd".parse::<Which>(), Ok(Which::Nth(2)));
        assert_eq!("3".parse::<Which>(), Ok(Which::Nth(3)));
        assert_eq!("2..4".parse::<Which>(), Ok(Which::Range(2, 4)));
        assert_eq!("every".parse::<Which>(), Ok(Which::Every));
        assert!("2st".parse::<Which>().is_err());
        assert!("0".parse::<Which>().is_err());
        assert!("4..2".parse::<Which>().is_err());
        assert_eq!(Which::Nth(11).to_string(), "11th");
        assert_eq!(Which::Nth(22).to_string(), "22nd");
    }

    #[test]
    fn directions_read_like_a_packets_line() {
        let d: Direction = "client > server".parse().unwrap();
        assert_eq!(d, Direction::TO_SERVER);
        assert_eq!(d.receiver(), Side::Server);
        assert_eq!(
            "server>client".parse::<Direction>().unwrap().to_string(),
            "server > client"
        );
        assert!("client > client".parse::<Direction>().is_err());
    }

    fn seg(flags: &str, len: usize) -> Packet {
        Packet {
            ts: Duration::ZERO,
            src: "192.168.2.105:40000".parse().unwrap(),
            dst: "192.168.2.100:11111".parse().unwrap(),
            flags: flags.parse().unwrap(),
            seq: 1,
            ack: 1,
            win: 502,
            options: vec![],
            payload: vec![0; len],
            icmp: None,
        }
    }

    #[test]
    fn pure_ack_excludes_data_and_control_flags() {
        assert!(FlagMatch::Ack.matches(&seg(".", 0)));
        assert!(!FlagMatch::Ack.matches(&seg("P.", 5)));
        assert!(!FlagMatch::Ack.matches(&seg("F.", 0)));
        assert!(FlagMatch::Data.matches(&seg("P.", 5)));
        assert!(FlagMatch::Syn.matches(&seg("S", 0)));
        assert!(!FlagMatch::Syn.matches(&seg("S.", 0)));
        assert!(FlagMatch::Fin.matches(&seg("FP.", 3)));
        assert!(FlagMatch::Exact("F.".parse().unwrap()).matches(&seg("F.", 0)));
        assert!(!FlagMatch::Exact("F.".parse().unwrap()).matches(&seg("FP.", 3)));
    }

    #[test]
    fn a_rule_that_never_acted_names_its_origin() {
        let rule = Rule {
            direction: Direction::TO_SERVER,
            flags: FlagMatch::Fin,
            which: Which::Nth(2),
            action: Action::Drop,
            origin: "cases/x.case:4".into(),
        };
        let mut r = RuleReport {
            id: RuleId(0),
            rule,
            active: true,
            matched: 0,
            acted: vec![],
        };
        assert_eq!(
            r.never_acted().unwrap(),
            "rule at cases/x.case:4 (drop the 2nd FIN client > server) matched 0 packets"
        );
        r.matched = 1;
        assert!(r
            .never_acted()
            .unwrap()
            .ends_with("matched 1 packet, never the 2nd it names"));
    }

    #[test]
    fn a_record_finds_the_original_not_the_retransmission() {
        let mut a = seg("F.", 0);
        a.ts = Duration::from_millis(10);
        let mut b = a.clone();
        b.ts = Duration::from_millis(300);
        let acted = Acted {
            key: PacketKey::of(&a),
            action: Action::Drop,
            ordinal: 1,
            at: Duration::from_millis(11),
            released: None,
        };
        assert_eq!(acted.find_in(&[a, b]), Some(0));
    }
}
