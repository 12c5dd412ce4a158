//! Rows printed as `ss -tan -o` prints them (`ss -tanoiO` for a row that
//! carries its tcp_info), and the settled test a case waits for before it
//! asserts states.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::row::SocketRow;
use super::state::TcpState;
use super::timer::TimerKind;

/// ss's split of an endpoint into address and port: `192.168.2.100` /
/// `[::1]`, `*` for port 0, and `*` for the IPv6 wildcard of a socket that
/// is not v6-only (it also takes IPv4).
fn ss_endpoint(addr: &SocketAddr, v6only: bool) -> (String, String) {
    let ip = match addr.ip() {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) if a.is_unspecified() && !v6only => "*".to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    let port = if addr.port() == 0 {
        "*".to_string()
    } else {
        addr.port().to_string()
    };
    (ip, port)
}

impl fmt::Display for SocketRow {
    /// `ESTAB      0      0      192.168.2.100:11111 192.168.2.105:43068`,
    /// then ` timer:(...)` when a timer is pending, then what `ss -ti`
    /// shows when the row carries it, on the same line as `ss -O` prints
    /// it (` ts sack cubic wscale:7,7 rto:204 ...`). Fixed widths wide
    /// enough for IPv4; [`table`] sizes columns to the rows, as ss does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (la, lp) = ss_endpoint(&self.local, self.v6only);
        let (pa, pp) = ss_endpoint(&self.peer, self.v6only);
        let mut line = format!(
            "{:<10} {:<6} {:<6} {la:>15}:{lp:<5} {pa:>15}:{pp:<5}",
            self.state, self.recv_q, self.send_q
        );
        match &self.timer {
            Some(t) => line.push_str(&format!(" {t}")),
            None => line.truncate(line.trim_end().len()),
        }
        push_info(&mut line, self);
        f.write_str(&line)
    }
}

/// Rows as `ss -tan -o` lays them out: a header, the state column as wide as
/// the widest state, addresses right-aligned and ports left-aligned on the
/// `:`. One line per row, each ending in a newline.
pub fn table(rows: &[SocketRow]) -> String {
    let cells: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                ss_endpoint(&r.local, r.v6only),
                ss_endpoint(&r.peer, r.v6only),
            )
        })
        .collect();
    // State, local address, local port, peer address, peer port: at least
    // as wide as the headers.
    let mut widths = [5, 13, 4, 12, 4];
    for (r, ((la, lp), (pa, pp))) in rows.iter().zip(&cells) {
        let lens = [
            r.state.ss_name().len(),
            la.len(),
            lp.len(),
            pa.len(),
            pp.len(),
        ];
        for (w, len) in widths.iter_mut().zip(lens) {
            *w = (*w).max(len);
        }
    }
    let [sw, law, lpw, paw, ppw] = widths;
    let mut out = format!(
        "{:<sw$} {:<6} {:<6} {:>law$}:{:<lpw$} {:>paw$}:{:<ppw$}\n",
        "State", "Recv-Q", "Send-Q", "Local Address", "Port", "Peer Address", "Port"
    );
    for (r, ((la, lp), (pa, pp))) in rows.iter().zip(&cells) {
        let mut line = format!(
            "{:<sw$} {:<6} {:<6} {la:>law$}:{lp:<lpw$} {pa:>paw$}:{pp:<ppw$}",
            r.state, r.recv_q, r.send_q
        );
        if let Some(t) = &r.timer {
            line.push_str(&format!(" {t}"));
        }
        line.truncate(line.trim_end().len());
        push_info(&mut line, r);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// ` ` and the row's tcp_info as `ss -ti` prints it, if it has one.
fn push_info(line: &mut String, r: &SocketRow) {
    if let Some(info) = &r.info {
        let text = info.to_string();
        if !text.is_empty() {
            line.push(' ');
            line.push_str(&text);
        }
    }
}

/// True when nothing is in flight: no socket in a transient state
/// ([`TcpState::is_transient`]: SYN-SENT, SYN-RECV, FIN-WAIT-1, CLOSING,
/// LAST-ACK) and no non-listening socket with unacknowledged data
/// (`send_q > 0`; a listener's send_q is its backlog, not data), except a
/// sender waiting on a zero window ([`zero_window`]). A case waits for
/// this before asserting states, so that it does not race the kernel's
/// last ACK. Long-lived states (ESTAB, CLOSE-WAIT, FIN-WAIT-2, TIME-WAIT,
/// LISTEN) and unread received data (recv_q) count as settled.
pub fn settled(rows: &[SocketRow]) -> bool {
    rows.iter().all(|r| unsettled(r).is_none())
}

/// A sender waiting for its peer's window: the persist timer (sock_diag's
/// timer 4, `timer:(persist,...)`) is armed only when nothing sent is in
/// flight and what is left to send waits on a window the peer closed (or
/// made too small to fill a segment). Only the peer's reader opens it
/// again, so such a socket is as settled as one in ESTAB: its data stays
/// unacknowledged and its window probes go on backing off, for as long as
/// the reader is stopped; FIN-WAIT-1 or LAST-ACK with a FIN queued behind
/// that data included.
pub fn zero_window(r: &SocketRow) -> bool {
    r.timer.is_some_and(|t| t.kind == TimerKind::Persist)
}

/// Why `r` keeps the lab from settling (`FIN-WAIT-1`, `6 bytes
/// unacknowledged`), or None when it is settled.
pub fn unsettled(r: &SocketRow) -> Option<String> {
    if zero_window(r) {
        None
    } else if r.state.is_transient() {
        Some(format!("{}, a state the kernel leaves by itself", r.state))
    } else if r.state != TcpState::Listen && r.send_q > 0 {
        Some(format!("{} bytes unacknowledged", r.send_q))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockets::{Timer, TimerKind};
    use rstest::rstest;
    use std::time::Duration;

    fn row(state: TcpState, local: &str, peer: &str) -> SocketRow {
        SocketRow {
            state,
            local: local.parse().unwrap(),
            peer: peer.parse().unwrap(),
            recv_q: 0,
            send_q: 0,
            timer: None,
            inode: 0,
            uid: 0,
            ifindex: 0,
            cookie: 0,
            v6only: true,
            info: None,
        }
    }

    #[rstest]
    #[case(
        row(TcpState::Listen, "0.0.0.0:11111", "0.0.0.0:0"),
        "LISTEN     0      0              0.0.0.0:11111         0.0.0.0:*"
    )]
    #[case(
        row(TcpState::Established, "192.168.2.100:11111", "192.168.2.105:43068"),
        "ESTAB      0      0        192.168.2.100:11111   192.168.2.105:43068"
    )]
    #[case(
        row(TcpState::Listen, "[::]:11111", "[::]:0"),
        "LISTEN     0      0                 [::]:11111            [::]:*"
    )]
    #[case(
        row(TcpState::Established, "[::ffff:192.168.2.100]:11111", "[::1]:5"),
        "ESTAB      0      0      [::ffff:192.168.2.100]:11111           [::1]:5"
    )]
    #[case(
        SocketRow { v6only: false, ..row(TcpState::Listen, "[::]:11112", "[::]:0") },
        "LISTEN     0      0                    *:11112               *:*"
    )]
    fn row_display(#[case] r: SocketRow, #[case] text: &str) {
        assert_eq!(r.to_string(), text);
    }

    #[test]
    fn row_display_timer() {
        let mut r = row(
            TcpState::TimeWait,
            "192.168.2.105:43068",
            "192.168.2.100:11111",
        );
        r.timer = Some(Timer {
            kind: TimerKind::TimeWait,
            left: Duration::from_millis(58_500),
            retrans: 0,
        });
        assert_eq!(
            r.to_string(),
            "TIME-WAIT  0      0        192.168.2.105:43068   192.168.2.100:11111 \
             timer:(timewait,58sec,0)"
        );
    }

    #[test]
    fn table_aligns_like_ss() {
        let mut tw = row(
            TcpState::TimeWait,
            "192.168.2.100:11111",
            "192.168.2.105:53118",
        );
        tw.timer = Some(Timer {
            kind: TimerKind::TimeWait,
            left: Duration::from_secs(56),
            retrans: 0,
        });
        let mut listen = row(TcpState::Listen, "0.0.0.0:11111", "0.0.0.0:0");
        listen.send_q = 10;
        let mut listen6 = row(TcpState::Listen, "[::]:11111", "[::]:0");
        listen6.send_q = 10;
        let rows = [
            listen,
            tw,
            row(
                TcpState::Established,
                "192.168.2.100:11111",
                "192.168.2.105:33036",
            ),
            listen6,
        ];
        // Measured: `ss -tan -o` (iproute2 6.1) in the same situation, with
        // its trailing blanks and Process header removed.
        let ss = "\
State     Recv-Q Send-Q Local Address:Port   Peer Address:Port
LISTEN    0      10           0.0.0.0:11111       0.0.0.0:*
TIME-WAIT 0      0      192.168.2.100:11111 192.168.2.105:53118 timer:(timewait,56sec,0)
ESTAB     0      0      192.168.2.100:11111 192.168.2.105:33036
LISTEN    0      10              [::]:11111          [::]:*
";
        let ours: String = table(&rows)
            .lines()
            .map(|l| format!("{}\n", l.trim_end()))
            .collect();
        assert_eq!(ours, ss);
    }

    #[test]
    fn settled_rules() {
        let mut listen = row(TcpState::Listen, "0.0.0.0:11111", "0.0.0.0:0");
        listen.send_q = 128;
        let est = row(
            TcpState::Established,
            "192.168.2.100:11111",
            "192.168.2.105:4",
        );
        assert!(settled(&[]));
        assert!(settled(&[listen.clone(), est.clone()]));
        let mut busy = est.clone();
        busy.send_q = 1;
        assert!(!settled(&[listen.clone(), busy]));
        let mut unread = est.clone();
        unread.recv_q = 10;
        assert!(settled(&[unread]));
        for s in [
            TcpState::SynSent,
            TcpState::SynRecv,
            TcpState::FinWait1,
            TcpState::LastAck,
        ] {
            assert!(!settled(&[
                listen.clone(),
                row(s, "192.168.2.100:1", "192.168.2.105:2")
            ]));
        }
        for s in [TcpState::TimeWait, TcpState::CloseWait, TcpState::FinWait2] {
            assert!(settled(&[row(s, "192.168.2.100:1", "192.168.2.105:2")]));
        }
    }

    /// A sender whose data waits on a zero window (persist timer) is
    /// settled, in ESTAB and with its FIN queued behind the data alike; the
    /// same socket on its retransmission timer is not.
    #[test]
    fn a_sender_waiting_on_a_zero_window_is_settled() {
        let mut zw = row(
            TcpState::Established,
            "192.168.2.105:4",
            "192.168.2.100:11111",
        );
        zw.send_q = 689_000;
        zw.timer = Some(Timer {
            kind: TimerKind::Persist,
            left: Duration::from_millis(400),
            retrans: 1,
        });
        assert!(settled(std::slice::from_ref(&zw)) && unsettled(&zw).is_none());
        let closing = SocketRow {
            state: TcpState::FinWait1,
            ..zw.clone()
        };
        assert!(settled(&[closing]));
        let mut sending = zw.clone();
        sending.timer = Some(Timer {
            kind: TimerKind::On,
            ..zw.timer.unwrap()
        });
        assert!(!settled(std::slice::from_ref(&sending)));
        assert_eq!(
            unsettled(&sending).as_deref(),
            Some("689000 bytes unacknowledged")
        );
        sending.state = TcpState::LastAck;
        assert_eq!(
            unsettled(&sending).as_deref(),
            Some("LAST-ACK, a state the kernel leaves by itself")
        );
    }
}
