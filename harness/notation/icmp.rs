//! The words of an ICMP message in a line: `icmp frag-needed mtu 1400`,
//! `icmp port-unreachable`, in `HOST sends` (what to inject) and in a
//! `packets` line (`client > server  icmp frag-needed mtu 1400  injected`).

use super::values::{number, split_word};
use crate::error::Malformed;
use crate::icmp::Unreachable;

pub const ICMP_HINT: &str = "an ICMP message is `icmp frag-needed mtu 1400`, `icmp port-unreachable`, \
     `icmp host-unreachable`, `icmp net-unreachable`, `icmp proto-unreachable` or `icmp admin-prohibited`";

/// Whether `text` starts with the word `icmp` (tcpdump's `ICMP` too), and
/// the rest after it.
pub fn strip_icmp(text: &str) -> Option<&str> {
    let (first, rest) = split_word(text);
    first.eq_ignore_ascii_case("icmp").then_some(rest)
}

/// The kind after `icmp`: one of [`Unreachable::WORDS`], `frag-needed`
/// with `mtu N`; nothing after it.
pub fn kind(text: &str) -> Result<Unreachable, Malformed> {
    let (word, rest) = split_word(text);
    let Some((_, kind)) = Unreachable::WORDS.iter().find(|(w, _)| *w == word) else {
        return Err(Malformed::new(
            match word {
                "" => "`icmp` without its kind".to_string(),
                w => format!("unknown ICMP message `{w}`"),
            },
            ICMP_HINT,
        ));
    };
    let kind = match kind {
        Unreachable::FragNeeded { .. } => {
            let (mtu_word, value) = split_word(rest);
            let (value, tail) = split_word(value);
            if mtu_word != "mtu" || value.is_empty() {
                return Err(Malformed::new(
                    "`frag-needed` needs the next hop's MTU",
                    "write `icmp frag-needed mtu 1400`",
                ));
            }
            let mtu = number("mtu", value, ICMP_HINT)?;
            // RFC 791: every host takes 68 bytes; Linux ignores an MTU
            // below net.ipv4.route.min_pmtu (552), which is the kernel's
            // to say in the capture and the sockets.
            let mtu = u16::try_from(mtu)
                .ok()
                .filter(|m| *m >= 68)
                .ok_or_else(|| {
                    Malformed::new(
                        format!("`mtu {mtu}` is not an MTU"),
                        "an IPv4 MTU is 68 to 65535 bytes",
                    )
                })?;
            return match tail {
                "" => Ok(Unreachable::FragNeeded { mtu }),
                t => Err(Malformed::new(
                    format!("unexpected `{t}` after the ICMP message"),
                    ICMP_HINT,
                )),
            };
        }
        k => *k,
    };
    match rest {
        "" => Ok(kind),
        t => Err(Malformed::new(
            format!("unexpected `{t}` after the ICMP message"),
            ICMP_HINT,
        )),
    }
}
