//! Expected and observed packets as two small ladders side by side, the
//! first divergence marked: how a failing `packets` block is shown.

use crate::lab::Side;
use crate::packet::TcpFlags;

/// One arrow of a small ladder: who sent it, and its label.
pub struct Arrow {
    pub from: Side,
    pub flags: TcpFlags,
    /// An ICMP message, labelled `ICMP frag-needed mtu 1400`.
    pub icmp: Option<crate::icmp::Unreachable>,
    pub len: Option<u32>,
    /// Injected by a `sends` step: drawn with `~`, as in the big ladder.
    pub injected: bool,
    /// Dropped by a fault rule: stops short of the receiver in `x`, as in
    /// the big ladder.
    pub dropped: bool,
}

/// Width of one ladder, between and including its two lines.
const WIDTH: usize = 30;

fn arrow(a: &Arrow) -> String {
    let mut label = match a.icmp {
        Some(kind) => format!("ICMP {kind}"),
        None => a.flags.names(),
    };
    if let Some(n) = a.len.filter(|n| *n > 0) {
        label += &format!(" len {n}");
    }
    let inner = WIDTH - 2;
    let text = format!(" {label} ");
    let dashes = inner.saturating_sub(text.chars().count() + 1);
    let (l, r) = (dashes / 2, dashes - dashes / 2);
    let d = if a.injected { "~" } else { "-" };
    // A dropped arrow's head side gives three dashes to `x` and a gap.
    let cut = if a.dropped { 3 } else { 0 };
    match (a.from, a.dropped) {
        (Side::Client, false) => format!("|{}{text}{}>|", d.repeat(l), d.repeat(r)),
        (Side::Client, true) => format!(
            "|{}{text}{}x   |",
            d.repeat(l),
            d.repeat(r.saturating_sub(cut))
        ),
        (Side::Server, false) => format!("|<{}{text}{}|", d.repeat(l), d.repeat(r)),
        (Side::Server, true) => format!(
            "|   x{}{text}{}|",
            d.repeat(l.saturating_sub(cut)),
            d.repeat(r)
        ),
    }
}

/// Both ladders, row by row; `>>` marks the row `mark` (the divergence).
/// A missing side of a row is left blank.
pub fn render(expected_title: &str, expected: &[Arrow], observed: &[Arrow], mark: usize) -> String {
    let blank = " ".repeat(WIDTH);
    let pad = |s: &str| format!("{s:<width$}", width = WIDTH);
    let mut out = format!(
        "     {}    {}\n",
        pad(&format!("expected ({expected_title})")),
        "observed"
    );
    out += &format!(
        "     {}    {}\n",
        pad("client                  server"),
        "client                  server"
    );
    for i in 0..expected.len().max(observed.len()) {
        let e = expected.get(i).map_or(blank.clone(), arrow);
        let o = observed.get(i).map_or(blank.clone(), arrow);
        let m = if i == mark { ">> " } else { "   " };
        out += format!("  {m}{e}    {o}").trim_end();
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(from: Side, flags: TcpFlags) -> Arrow {
        Arrow {
            from,
            flags,
            icmp: None,
            len: None,
            injected: false,
            dropped: false,
        }
    }

    #[test]
    fn divergence_is_marked_on_both_ladders() {
        let fa = TcpFlags::FIN | TcpFlags::ACK;
        let ra = TcpFlags::RST | TcpFlags::ACK;
        let expected = [
            a(Side::Client, fa),
            a(Side::Server, ra),
            a(Side::Client, TcpFlags::ACK),
        ];
        let observed = [
            a(Side::Client, fa),
            a(Side::Server, fa),
            a(Side::Client, TcpFlags::ACK),
        ];
        let text = render("cases/x.case:12", &expected, &observed, 1);
        assert_eq!(
            text,
            concat!(
                "     expected (cases/x.case:12)        observed\n",
                "     client                  server    client                  server\n",
                "     |--------- FIN+ACK --------->|    |--------- FIN+ACK --------->|\n",
                "  >> |<--------- RST+ACK ---------|    |<--------- FIN+ACK ---------|\n",
                "     |----------- ACK ----------->|    |----------- ACK ----------->|\n",
            )
        );
    }

    #[test]
    fn an_injected_arrow_is_drawn_with_tildes() {
        let rst = Arrow {
            injected: true,
            ..a(Side::Client, TcpFlags::RST)
        };
        let text = render("x", &[rst], &[a(Side::Server, TcpFlags::ACK)], 0);
        assert_eq!(
            text.lines().nth(2).unwrap(),
            "  >> |~~~~~~~~~~~ RST ~~~~~~~~~~~>|    |<----------- ACK -----------|"
        );
    }

    #[test]
    fn a_dropped_arrow_stops_short_of_its_receiver_in_x() {
        let dropped = |from| Arrow {
            dropped: true,
            ..a(from, TcpFlags::ACK)
        };
        let text = render("x", &[dropped(Side::Server)], &[dropped(Side::Client)], 0);
        assert_eq!(
            text.lines().nth(2).unwrap(),
            "  >> |   x-------- ACK -----------|    |----------- ACK --------x   |"
        );
    }

    #[test]
    fn a_missing_packet_leaves_its_side_blank() {
        let text = render("x", &[a(Side::Client, TcpFlags::SYN)], &[], 0);
        assert!(text
            .lines()
            .nth(2)
            .unwrap()
            .starts_with("  >> |----------- SYN ----------->|"));
        assert!(text.lines().all(|l| l.chars().count() <= 80));
    }
}
