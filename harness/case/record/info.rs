//! The `ss -ti` fields of a recorded socket row. Only the fields the old
//! row named are written (a row that named none gets none: cwnd, rtt and
//! the rest differ between runs and kernels, as windows and timestamps
//! do). A field whose old value or window still holds is kept as it was;
//! one that no longer holds gets the observed count (`cwnd 7`, `retrans
//! 0/1`), or, for a time or a rate, which no two runs repeat, a window
//! around the observed one: from half of it to twice it plus 5 ms (a rate:
//! half to twice), rounded outward to whole milliseconds and two
//! significant digits.

use super::super::info::{observed, InfoExpect, Span};
use crate::sockets::{field_named, SocketRow, Unit};

/// ` cwnd 10 rtt 0ms..5ms` for the row `o`, after the old row's fields.
pub(super) fn fields(old: &[InfoExpect], o: &SocketRow) -> String {
    let info = o.info.as_ref();
    let mut t = String::new();
    for e in old {
        let now = match (e.holds(info), info, e) {
            (true, _, _) | (false, None, _) => e.clone(),
            (false, Some(info), InfoExpect::Field { field, span }) => InfoExpect::Field {
                field: *field,
                span: observed(info, *field).map_or(*span, |v| around(field.unit, v)),
            },
            (false, Some(info), InfoExpect::Retrans { .. }) => {
                let value = |name: &str| {
                    let v = observed(info, field_named(name).expect("in the table"))?;
                    Some(Span { lo: v, hi: v })
                };
                InfoExpect::Retrans {
                    now: value("retrans"),
                    total: value("retrans_total"),
                }
            }
        };
        t += &format!(" {now}");
    }
    t
}

/// The value recorded for an observed `v`: itself for a count, a window
/// around it for a time or a rate.
fn around(unit: Unit, v: u64) -> Span {
    match unit {
        Unit::Count => Span { lo: v, hi: v },
        Unit::Micros => Span {
            lo: v / 2 / 1000 * 1000,
            hi: (v * 2 + 5000).div_ceil(1000) * 1000,
        },
        Unit::Millis => Span {
            lo: v / 2,
            hi: v * 2 + 5,
        },
        Unit::BytesPerSec => Span {
            lo: two_digits(v / 2, false),
            hi: two_digits(v.saturating_mul(2), true),
        },
    }
}

/// `v` rounded down (or up) to two significant digits: 12549333333 ->
/// 12000000000.
fn two_digits(v: u64, up: bool) -> u64 {
    let mut scale = 1u64;
    while v / scale >= 100 {
        scale *= 10;
    }
    let head = v / scale + u64::from(up && v % scale != 0);
    head.saturating_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockets::{TcpInfo, TcpState};

    fn row_with(cwnd: u32, rtt_us: u32, total: u32) -> SocketRow {
        let mut raw = crate::sockets::info_test_bytes();
        raw[80..84].copy_from_slice(&cwnd.to_ne_bytes());
        raw[68..72].copy_from_slice(&rtt_us.to_ne_bytes());
        raw[100..104].copy_from_slice(&total.to_ne_bytes());
        SocketRow {
            state: TcpState::Established,
            local: "192.168.2.105:4".parse().unwrap(),
            peer: "192.168.2.100:11111".parse().unwrap(),
            recv_q: 0,
            send_q: 0,
            timer: None,
            inode: 1,
            uid: 0,
            ifindex: 0,
            cookie: 0,
            v6only: false,
            info: Some(TcpInfo::parse(&raw, None)),
        }
    }

    fn old(text: &str) -> Vec<InfoExpect> {
        let words: Vec<&str> = text.split_whitespace().collect();
        InfoExpect::parse_all(&words).map_err(|b| b.msg).unwrap()
    }

    #[test]
    fn fields_that_hold_are_kept_and_others_take_the_observed_value() {
        let o = row_with(10, 31, 1);
        assert_eq!(fields(&[], &o), "", "no field unless the old row named it");
        let held = "cwnd 5..20 rtt 0ms..5ms retrans */1";
        assert_eq!(fields(&old(held), &o), format!(" {held}"));
        let o = row_with(7, 12_345, 2);
        assert_eq!(
            fields(&old("cwnd 10 rtt 0ms..5ms retrans 0/1"), &o),
            " cwnd 7 rtt 6ms..30ms retrans 0/2"
        );
        let moved = fields(&old("delivery_rate 1bps"), &o);
        assert_eq!(moved, " delivery_rate 0bps", "the test bytes have none");
        assert_eq!(two_digits(12_549_333_333, false), 12_000_000_000);
        assert_eq!(two_digits(50_197_333_334, true), 51_000_000_000);
        assert_eq!(two_digits(99, true), 99);
    }

    #[test]
    fn a_socket_without_tcp_info_keeps_the_fields_as_written() {
        let mut o = row_with(10, 31, 1);
        o.info = None;
        assert_eq!(fields(&old("cwnd 11"), &o), " cwnd 11");
    }
}
