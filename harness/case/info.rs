//! Expectations on what `ss -ti` shows of a socket (its `struct
//! tcp_info`), written after a `sockets` row in ss's words, each a value
//! or a window: `cwnd 10`, `cwnd 11..1000`, `rtt 0ms..5ms`, `rto
//! 400ms..480ms`, `retrans 0/1`, `delivery_rate 1Mbps..100Gbps`.
//!
//! A count is a number; a time has a unit (`ms`, `s`; ss prints rto and
//! rtt in milliseconds) and is held to the microsecond; a rate is in bits
//! per second as `ss -n` prints it (`bps`, with `k`, `M`, `G`, `T` for
//! powers of 1000). `retrans NOW/TOTAL` is ss's `retrans:0/1`: the
//! segments being retransmitted now and in the connection's life, each a
//! value, a window or `*`. A field the socket's kernel does not report (a
//! TIME-WAIT socket has no tcp_info; an older kernel's struct ends before
//! `bytes_acked`) does not match.

use std::fmt;

use super::error::{bad, Bad};
use crate::sockets::{field_named, Field, TcpInfo, Unit, FIELDS};

/// A closed interval of a field's values: counts, microseconds
/// ([`Unit::Micros`]), milliseconds ([`Unit::Millis`]) or bits per second
/// ([`Unit::BytesPerSec`]: ss prints bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub lo: u64,
    pub hi: u64,
}

impl Span {
    pub fn contains(&self, v: u64) -> bool {
        self.lo <= v && v <= self.hi
    }
}

/// One field of a socket row's `ss -ti` part.
#[derive(Clone, Debug, PartialEq)]
pub enum InfoExpect {
    /// `cwnd 10`, `rtt 0ms..5ms`.
    Field { field: Field, span: Span },
    /// `retrans 0/1`: tcpi_retrans / tcpi_total_retrans; None is `*`.
    Retrans {
        now: Option<Span>,
        total: Option<Span>,
    },
}

/// Fields that are not ss's words of their own: ss prints them inside
/// `rtt:SRTT/RTTVAR` and `retrans:NOW/TOTAL`.
const INNER: [&str; 3] = ["rttvar", "retrans", "retrans_total"];

fn names() -> String {
    let mut n: Vec<&str> = FIELDS
        .iter()
        .map(|f| f.name)
        .filter(|n| !INNER.contains(n) || *n == "retrans")
        .collect();
    n.dedup();
    n.join(", ")
}

const HINT: &str = "after the addresses (and the timer) come `ss -ti` fields, each a value or a window: `cwnd 10`, `rtt 0ms..5ms`, `retrans 0/1`";

impl InfoExpect {
    /// The `NAME VALUE` pairs after a row's addresses and timer.
    pub fn parse_all(words: &[&str]) -> Result<Vec<InfoExpect>, Bad> {
        let mut out: Vec<InfoExpect> = Vec::new();
        for pair in words.chunks(2) {
            let [name, value] = pair else {
                return Err(bad(
                    format!("`{}` has no value", pair[0]),
                    &format!("{HINT}; the fields: {}", names()),
                ));
            };
            let e = InfoExpect::parse(name, value)?;
            if out.iter().any(|o| o.name() == e.name()) {
                return Err(bad(
                    format!("`{name}` is named twice in the row"),
                    "name each field once; a window says `from..to`",
                ));
            }
            out.push(e);
        }
        Ok(out)
    }

    fn parse(name: &str, value: &str) -> Result<InfoExpect, Bad> {
        if name == "retrans" {
            let (now, total) = value.split_once('/').ok_or_else(|| {
                bad(
                    format!("bad `retrans {value}`"),
                    "write it as ss does, NOW/TOTAL: `retrans 0/1`, `retrans */2..3`",
                )
            })?;
            let part = |v: &str| match v {
                "*" => Ok(None),
                v => span(Unit::Count, "retrans", v).map(Some),
            };
            return Ok(InfoExpect::Retrans {
                now: part(now)?,
                total: part(total)?,
            });
        }
        let field = field_named(name)
            .filter(|f| !INNER.contains(&f.name))
            .ok_or_else(|| {
                bad(
                    format!("unknown field `{name}` after the addresses"),
                    &format!("{HINT}; the fields: {}", names()),
                )
            })?;
        Ok(InfoExpect::Field {
            field,
            span: span(field.unit, name, value)?,
        })
    }

    /// ss's word for the field.
    pub fn name(&self) -> &'static str {
        match self {
            InfoExpect::Field { field, .. } => field.name,
            InfoExpect::Retrans { .. } => "retrans",
        }
    }

    /// Whether the socket's tcp_info (None: the kernel gave none) holds
    /// the field.
    pub fn holds(&self, info: Option<&TcpInfo>) -> bool {
        let Some(info) = info else { return false };
        match self {
            InfoExpect::Field { field, span } => {
                observed(info, *field).is_some_and(|v| span.contains(v))
            }
            InfoExpect::Retrans { now, total } => {
                let fits = |name: &str, s: &Option<Span>| {
                    let v = observed(info, field_named(name).expect("in the table"));
                    v.is_some() && s.is_none_or(|s| v.is_some_and(|v| s.contains(v)))
                };
                fits("retrans", now) && fits("retrans_total", total)
            }
        }
    }
}

/// The field's value in the unit a case writes it: counts, microseconds,
/// milliseconds, bits per second.
pub fn observed(info: &TcpInfo, field: Field) -> Option<u64> {
    let v = info.get(field)?;
    Some(match field.unit {
        Unit::BytesPerSec => v.saturating_mul(8),
        _ => v,
    })
}

/// `10`, `11..1000`, `0ms..5ms`, `1Gbps..10Gbps`, in the field's unit.
fn span(unit: Unit, name: &str, text: &str) -> Result<Span, Bad> {
    let one = |t: &str| number(unit, name, t);
    let (lo, hi) = match text.split_once("..") {
        Some((lo, hi)) => (one(lo)?, one(hi)?),
        None => {
            let v = one(text)?;
            (v, v)
        }
    };
    if lo > hi {
        return Err(bad(
            format!("`{name} {text}` ends before it starts"),
            "a window is `LOW..HIGH`",
        ));
    }
    Ok(Span { lo, hi })
}

fn number(unit: Unit, name: &str, t: &str) -> Result<u64, Bad> {
    match unit {
        Unit::Count => t.parse::<u64>().map_err(|_| {
            bad(
                format!("bad `{name}` value `{t}`"),
                &format!("`{name}` is a count: `{name} 10` or `{name} 11..1000`"),
            )
        }),
        Unit::Micros | Unit::Millis => {
            let d = crate::notation::duration::parse(t).map_err(|_| {
                bad(
                    format!("bad `{name}` time `{t}`"),
                    &format!("`{name}` is a time with its unit, at most a day: `{name} 200ms` or `{name} 0ms..5ms`"),
                )
            })?;
            Ok(match unit {
                Unit::Micros => d.as_micros() as u64,
                _ => d.as_millis() as u64,
            })
        }
        Unit::BytesPerSec => rate(t).ok_or_else(|| {
            bad(
                format!("bad `{name}` rate `{t}`"),
                &format!(
                    "`{name}` is in bits per second as `ss -n` prints it: `{name} 1Mbps..10Gbps`"
                ),
            )
        }),
    }
}

/// `1500bps`, `2.5Mbps`, `10Gbps` in bits per second.
fn rate(t: &str) -> Option<u64> {
    let n = t.strip_suffix("bps")?;
    let (n, scale) = match n.chars().last()? {
        'k' | 'K' => (&n[..n.len() - 1], 1e3),
        'M' => (&n[..n.len() - 1], 1e6),
        'G' => (&n[..n.len() - 1], 1e9),
        'T' => (&n[..n.len() - 1], 1e12),
        _ => (n, 1.0),
    };
    let v = n.parse::<f64>().ok()? * scale;
    (v.is_finite() && (0.0..1e18).contains(&v)).then_some(v.round() as u64)
}

/// A value in its unit as a case writes it.
pub fn show(unit: Unit, v: u64) -> String {
    match unit {
        Unit::Count => v.to_string(),
        Unit::Millis => format!("{v}ms"),
        Unit::Micros if v % 1000 == 0 => format!("{}ms", v / 1000),
        Unit::Micros => {
            let t = format!("{:.3}", v as f64 / 1000.0);
            format!("{}ms", t.trim_end_matches('0'))
        }
        Unit::BytesPerSec => {
            let (div, suffix) = [
                (1_000_000_000_000, "T"),
                (1_000_000_000, "G"),
                (1_000_000, "M"),
                (1000, "k"),
            ]
            .into_iter()
            .find(|(d, _)| v >= *d && v % d == 0)
            .unwrap_or((1, ""));
            format!("{}{suffix}bps", v / div)
        }
    }
}

fn show_span(unit: Unit, s: &Span) -> String {
    if s.lo == s.hi {
        show(unit, s.lo)
    } else {
        format!("{}..{}", show(unit, s.lo), show(unit, s.hi))
    }
}

impl fmt::Display for InfoExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InfoExpect::Field { field, span } => {
                write!(f, "{} {}", field.name, show_span(field.unit, span))
            }
            InfoExpect::Retrans { now, total } => {
                let part = |s: &Option<Span>| s.map_or("*".into(), |s| show_span(Unit::Count, &s));
                write!(f, "retrans {}/{}", part(now), part(total))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<InfoExpect> {
        let words: Vec<&str> = text.split_whitespace().collect();
        InfoExpect::parse_all(&words).unwrap_or_else(|b| panic!("{text}: {}", b.msg))
    }

    fn refused(text: &str) -> String {
        let words: Vec<&str> = text.split_whitespace().collect();
        match InfoExpect::parse_all(&words) {
            Ok(e) => panic!("{text} parsed as {e:?}"),
            Err(b) => b.msg,
        }
    }

    #[test]
    fn fields_read_and_print_in_the_notation() {
        let text = "cwnd 10 ssthresh 5..7 rtt 0ms..5ms rto 204ms mss 1448 retrans 0/1 \
                    bytes_acked 20000001 lastsnd 0ms..2s delivery_rate 1Mbps..2.5Gbps \
                    retrans_x 1";
        assert!(refused(text).contains("unknown field `retrans_x`"));
        let e = parsed(&text[..text.len() - "retrans_x 1".len()]);
        let shown: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            shown,
            [
                "cwnd 10",
                "ssthresh 5..7",
                "rtt 0ms..5ms",
                "rto 204ms",
                "mss 1448",
                "retrans 0/1",
                "bytes_acked 20000001",
                "lastsnd 0ms..2000ms",
                "delivery_rate 1Mbps..2500Mbps"
            ]
        );
        assert_eq!(parsed("rtt 0.25ms")[0].to_string(), "rtt 0.25ms");
        assert_eq!(parsed("retrans */2..3")[0].to_string(), "retrans */2..3");
    }

    #[test]
    fn bad_fields_say_what_is_wrong() {
        assert!(refused("cwnd").contains("`cwnd` has no value"));
        assert!(refused("cwnd ten").contains("bad `cwnd` value `ten`"));
        assert!(refused("rto 204").contains("bad `rto` time `204`"));
        assert!(refused("cwnd 10..5").contains("ends before it starts"));
        assert!(refused("cwnd 1 cwnd 2").contains("named twice"));
        assert!(refused("retrans 1").contains("bad `retrans 1`"));
        assert!(refused("rttvar 1ms").contains("unknown field `rttvar`"));
        assert!(refused("delivery_rate 5").contains("bad `delivery_rate` rate"));
        assert!(refused("rtt 2days").contains("bad `rtt` time"));
    }

    #[test]
    fn fields_hold_against_tcp_info() {
        let raw = crate::sockets::info_test_bytes();
        let info = TcpInfo::parse(&raw, Some(b"reno\0"));
        let holds = |t: &str| parsed(t).iter().all(|e| e.holds(Some(&info)));
        assert!(holds(
            "cwnd 10 rtt 0ms..0.031ms rto 204ms retrans 0/1 bytes_acked 7"
        ));
        assert!(holds("retrans */1 mss 1000..1500"));
        assert!(!holds("cwnd 11..100"));
        assert!(!holds("rtt 0ms..0.030ms"));
        assert!(!holds("retrans 0/0"));
        assert!(!parsed("cwnd 10")[0].holds(None), "no tcp_info: no match");
        let old = TcpInfo::parse(&raw[..120], None);
        assert!(!parsed("bytes_acked 0..1000")[0].holds(Some(&old)));
        assert!(parsed("cwnd 10")[0].holds(Some(&old)));
    }
}
