//! `HOST sends SEGMENT`: a crafted segment injected as if HOST's kernel
//! had sent it. The segment's notation is `inject::SegmentSpec`'s (a
//! packets line's fields, plus `rcv_nxt` / `snd_nxt`); this module only
//! puts the case file's `file:line` and hint around its errors, and
//! refuses what the capture could not show.

use super::super::error::{bad, Bad};
use super::super::{Case, ItemKind};
use crate::inject::SegmentSpec;
use crate::lab::Side;

const SENDS_HINT: &str = "write e.g. `client sends [R] seq rcv_nxt` (an exact reset), \
     `client sends [R] seq rcv_nxt+1`, `client sends [.] seq rcv_nxt+100000, length 10` \
     or `client sends icmp frag-needed mtu 1400`";

/// `HOST sends SEGMENT`.
pub(super) fn sends(host: Side, arg: &str) -> Result<ItemKind, Bad> {
    if arg.is_empty() {
        return Err(bad("`sends` without a segment", SENDS_HINT));
    }
    if let Some(words) = crate::notation::icmp::strip_icmp(arg) {
        let kind = crate::notation::icmp::kind(words)?;
        return Ok(ItemKind::SendIcmp { host, kind });
    }
    let spec: SegmentSpec = arg.parse().map_err(|e: crate::inject::Malformed| Bad {
        msg: format!("bad segment `{arg}`: {}", e.msg),
        hint: e.hint.or_else(|| Some(SENDS_HINT.to_string())),
    })?;
    Ok(ItemKind::Send { host, spec })
}

/// A segment for a new connection (`to port N`) is seen only when one of
/// its ports is the one the capture filters on (`tcp port N`, the case's
/// `port`): otherwise neither it nor the answer would be in any view. The
/// line of the first such step, and why.
pub(super) fn uncaptured(case: &Case) -> Option<(usize, Bad)> {
    case.items.iter().find_map(|item| {
        let ItemKind::Send { spec, .. } = &item.kind else {
            return None;
        };
        let to = spec.to_port?;
        let from = spec
            .from_port
            .unwrap_or(crate::inject::spec::DEFAULT_FROM_PORT);
        (to != case.port && from != case.port).then(|| {
            (
                item.line,
                bad(
                    format!(
                        "the capture filters `tcp port {}`: a segment from port {from} to port {to} would not be captured, nor its answer",
                        case.port
                    ),
                    &format!(
                        "aim at the case's port (`to port {}`), or put `port {to}` at the top of the file",
                        case.port
                    ),
                ),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::parse;
    use crate::case::ItemKind;
    use crate::lab::Side;
    use crate::packet::TcpFlags;

    fn parse_err(text: &str) -> String {
        parse(Path::new("cases/x.case"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_reset_one_past_rcv_nxt_parses_and_prints_back() {
        let case = parse(Path::new("x.case"), "client sends [R] seq rcv_nxt+1\n").unwrap();
        let ItemKind::Send { host, spec } = &case.items[0].kind else {
            panic!("not a send: {:?}", case.items[0].kind)
        };
        assert_eq!(*host, Side::Client);
        assert_eq!(spec.flags, TcpFlags::RST);
        assert_eq!(
            case.items[0].kind.to_string(),
            "client sends [R] seq rcv_nxt+1"
        );
        assert!(case.items[0].kind.is_action());
    }

    #[test]
    fn an_icmp_message_parses_and_prints_back() {
        for text in [
            "client sends icmp frag-needed mtu 1400",
            "server sends icmp port-unreachable",
            "server sends icmp host-unreachable",
        ] {
            let case = parse(Path::new("x.case"), &format!("{text}\n")).unwrap();
            assert!(
                matches!(case.items[0].kind, ItemKind::SendIcmp { .. }),
                "{text}"
            );
            assert_eq!(case.items[0].kind.to_string(), text);
            assert!(case.items[0].kind.is_action());
        }
        let e = parse_err("client sends icmp frag-needed\n");
        assert!(
            e.starts_with("cases/x.case:1: `frag-needed` needs the next hop's MTU"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_flag_is_an_error_at_its_line() {
        let e = parse_err("server $ nc -kl 11111\nclient sends [RX] seq rcv_nxt\n");
        assert!(
            e.starts_with("cases/x.case:2: bad segment `[RX] seq rcv_nxt`: bad flags `[RX]`"),
            "{e}"
        );
        assert!(e.contains("(hint: flags are tcpdump's letters"), "{e}");
    }

    #[test]
    fn sends_without_a_segment_is_an_error_with_an_example() {
        let e = parse_err("client sends\n");
        assert!(
            e.starts_with("cases/x.case:1: `sends` without a segment"),
            "{e}"
        );
        assert!(e.contains("client sends [R] seq rcv_nxt"), "{e}");
    }

    #[test]
    fn an_unknown_segment_field_is_an_error_with_the_segment_hint() {
        let e = parse_err("client sends [R] sequence 1\n");
        assert!(
            e.contains("x.case:1: bad segment `[R] sequence 1`: unknown segment field `sequence`"),
            "{e}"
        );
    }

    #[test]
    fn a_new_connection_off_the_captured_port_is_refused_before_the_run() {
        let e = parse_err("server $ nc -kl 11111\n\nclient sends [S] seq 7, to port 22222\n");
        assert!(
            e.starts_with("cases/x.case:3: the capture filters `tcp port 11111`: a segment from port 40000 to port 22222 would not be captured"),
            "{e}"
        );
        assert!(e.contains("`port 22222` at the top"), "{e}");
    }

    #[test]
    fn a_packets_line_ending_in_injected_asserts_the_mark() {
        use crate::case::expect::{Mark, Marked, Seen};
        let text = "packets\n  client > server  [R]  seq 2  injected\n";
        let case = parse(Path::new("x.case"), text).unwrap();
        let ItemKind::Packets(alts) = &case.items[0].kind else {
            panic!("not packets")
        };
        let line = &alts[0][0];
        assert_eq!(line.mark, Some(Mark::Injected));
        assert_eq!(line.to_string(), "client > server  [R]   seq 2  injected");
        let mut seen = Seen {
            from: Side::Client,
            to: Side::Server,
            flags: TcpFlags::RST,
            seq: 2,
            ack: 0,
            win: 63,
            len: 0,
            options: vec![],
            icmp: None,
            ctx: Default::default(),
        };
        assert_eq!(
            line.mismatch(&seen, crate::notation::duration::Tolerance::NONE)
                .as_deref(),
            Some("expected it injected, but a kernel sent it")
        );
        seen.ctx.marked = Some(Marked {
            mark: Mark::Injected,
            delay: None,
            rule_line: 7,
            netem: false,
        });
        assert_eq!(
            line.mismatch(&seen, crate::notation::duration::Tolerance::NONE),
            None
        );
        assert!(
            seen.to_string().ends_with("length 0  injected (line 7)"),
            "{seen}"
        );
    }

    #[test]
    fn a_new_connection_to_the_captured_port_is_accepted() {
        let text = "port 22222\nserver $ nc -kl 22222\nclient sends [S] seq 7, to port 22222\n";
        assert!(parse(Path::new("x.case"), text).is_ok());
    }
}
