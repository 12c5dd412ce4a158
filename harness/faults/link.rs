//! Statistical faults of one link direction: loss %, delay ± jitter,
//! duplicate %, reorder %, drawn from a seeded generator so that a run
//! repeats.
//!
//! Why not netem: this project's kernels are built without
//! CONFIG_NET_SCH_NETEM (`tc qdisc add ... netem` answers "Specified qdisc
//! kind is unknown"), and a harness cannot load kernel modules on CI. The
//! same effects are applied by the receiving namespace's verdict thread
//! (see [`super`]), which has two more virtues: the capture on the
//! server's veth still sees every packet sent, and the draws are tied to
//! the packet's ordinal in its direction, so the same seed gives the same
//! pattern for the same packet sequence, whatever the timing.
//!
//! The words are tc-netem's: `loss 10% delay 20ms 5ms duplicate 1%
//! reorder 5% seed 42`.

use crate::error::Malformed;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::rule::{Acted, Direction};

/// One direction's statistical faults. Percentages are 0..=100.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub loss: f64,
    pub delay: Duration,
    /// Each packet's delay is drawn uniformly in delay ± jitter (never
    /// below zero). As with netem, jitter larger than the gap between
    /// packets reorders them.
    pub jitter: Duration,
    /// A copy is sent again by the sender's namespace (a raw IP socket),
    /// so it crosses the wire and the capture sees it twice.
    pub duplicate: f64,
    /// This share of packets is held back and let through right after the
    /// next packet of the direction.
    pub reorder: f64,
    pub seed: u64,
    /// Where the step was written, for messages.
    pub origin: String,
}

impl Default for Link {
    fn default() -> Link {
        Link {
            loss: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            duplicate: 0.0,
            reorder: 0.0,
            seed: 1,
            origin: String::new(),
        }
    }
}

fn percent(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .strip_suffix('%')
        .ok_or_else(|| format!("`{s}`: a share is written in percent, e.g. 10%"))?
        .parse()
        .map_err(|_| format!("`{s}` is not a percentage"))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(format!("`{s}`: a percentage is between 0% and 100%"));
    }
    Ok(v)
}

/// `20ms`, `1.5s`, `300us`: the notation's one duration grammar.
fn duration(s: &str) -> Result<Duration, String> {
    crate::notation::duration::parse(s).map_err(|m| m.msg)
}

impl FromStr for Link {
    type Err = Malformed;
    fn from_str(s: &str) -> Result<Link, Malformed> {
        let mut link = Link::default();
        let words: Vec<&str> = s.split_whitespace().collect();
        let mut i = 0;
        let arg = |i: usize| {
            words
                .get(i + 1)
                .copied()
                .ok_or_else(|| Malformed::new(format!("`{}` needs a value", words[i]), ""))
        };
        while i < words.len() {
            match words[i] {
                "loss" => link.loss = percent(arg(i)?)?,
                "duplicate" => link.duplicate = percent(arg(i)?)?,
                "reorder" => link.reorder = percent(arg(i)?)?,
                "seed" => {
                    link.seed = arg(i)?
                        .parse()
                        .map_err(|_| format!("`{}` is not a seed", words[i + 1]))?
                }
                "delay" => {
                    link.delay = duration(arg(i)?)?;
                    if let Some(j) = words.get(i + 2).and_then(|w| duration(w).ok()) {
                        link.jitter = j;
                        i += 1;
                    }
                }
                w => {
                    return Err(Malformed::new(
                        format!(
                            "`{w}` is not a link fault (loss, delay, duplicate, reorder, seed)"
                        ),
                        "",
                    ))
                }
            }
            i += 2;
        }
        if words.is_empty() {
            return Err(Malformed::new(
                "no link fault given (e.g. `loss 10% delay 20ms 5ms seed 1`)",
                "",
            ));
        }
        Ok(link)
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.loss > 0.0 {
            parts.push(format!("loss {}%", self.loss));
        }
        if !self.delay.is_zero() || !self.jitter.is_zero() {
            let mut d = format!("delay {}ms", self.delay.as_secs_f64() * 1e3);
            if !self.jitter.is_zero() {
                d += &format!(" {}ms", self.jitter.as_secs_f64() * 1e3);
            }
            parts.push(d);
        }
        if self.duplicate > 0.0 {
            parts.push(format!("duplicate {}%", self.duplicate));
        }
        if self.reorder > 0.0 {
            parts.push(format!("reorder {}%", self.reorder));
        }
        parts.push(format!("seed {}", self.seed));
        f.write_str(&parts.join(" "))
    }
}

/// What happens to one packet. All four draws are made for every packet,
/// in this order, whatever they decide: the fate of the Nth packet depends
/// only on the seed and N.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fate {
    pub lose: bool,
    pub duplicate: bool,
    pub reorder: bool,
    pub delay: Duration,
}

/// SplitMix64: tiny, fast, and fixed here, so a seed means the same
/// pattern in every version of the harness.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn fate(&mut self, link: &Link) -> Fate {
        let (l, d, r, j) = (self.unit(), self.unit(), self.unit(), self.unit());
        let spread = link.jitter.as_secs_f64() * (2.0 * j - 1.0);
        Fate {
            lose: l * 100.0 < link.loss,
            duplicate: d * 100.0 < link.duplicate,
            reorder: r * 100.0 < link.reorder,
            delay: Duration::from_secs_f64((link.delay.as_secs_f64() + spread).max(0.0)),
        }
    }
}

/// What a link's faults did so far.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkReport {
    pub direction: Direction,
    pub link: Link,
    /// Still in force.
    pub active: bool,
    /// Packets it judged.
    pub judged: u64,
    /// Every packet it dropped, delayed, held back or duplicated, in order.
    pub acted: Vec<Acted>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tc_netem_words_parse_and_print_back() {
        let l: Link = "loss 10% delay 20ms 5ms duplicate 1% reorder 5% seed 42"
            .parse()
            .unwrap();
        assert_eq!(l.loss, 10.0);
        assert_eq!(l.delay, Duration::from_millis(20));
        assert_eq!(l.jitter, Duration::from_millis(5));
        assert_eq!((l.duplicate, l.reorder, l.seed), (1.0, 5.0, 42));
        assert_eq!(
            l.to_string(),
            "loss 10% delay 20ms 5ms duplicate 1% reorder 5% seed 42"
        );
        assert_eq!(
            "delay 20ms loss 1%".parse::<Link>().unwrap().jitter,
            Duration::ZERO
        );
        assert!("loss 10"
            .parse::<Link>()
            .unwrap_err()
            .msg
            .contains("percent"));
        assert!("loss 101%".parse::<Link>().is_err());
        assert!("delay 20".parse::<Link>().unwrap_err().msg.contains("unit"));
        assert!("jitter 5ms".parse::<Link>().is_err());
        assert!("".parse::<Link>().is_err());
    }

    #[test]
    fn a_seed_fixes_every_packets_fate() {
        let link: Link = "loss 10% delay 20ms 5ms duplicate 3% reorder 4% seed 7"
            .parse()
            .unwrap();
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..2000).map(|_| rng.fate(&link)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let fates = run(7);
        let lost = fates.iter().filter(|f| f.lose).count();
        assert!((150..250).contains(&lost), "{lost} of 2000 lost at 10%");
        assert!(fates
            .iter()
            .all(|f| f.delay >= Duration::from_millis(15) && f.delay <= Duration::from_millis(25)));
    }
}
