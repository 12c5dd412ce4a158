//! TCP states as the kernel numbers them and as ss, lsof and RFC 793 name
//! them.

use crate::error::Malformed;
use std::fmt;
use std::str::FromStr;

/// Kernel's TCP_NEW_SYN_RECV: a request socket; reported as SYN-RECV.
pub(super) const TCP_NEW_SYN_RECV: u8 = 12;

/// A TCP state, as `ss` and the kernel know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    Established,
    SynSent,
    /// Also the kernel's NEW_SYN_RECV (request sockets), as ss shows them.
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    /// ss's `UNCONN`, lsof's `CLOSE`.
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
}

impl TcpState {
    pub const ALL: [TcpState; 11] = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
    ];

    /// From the kernel's `TCP_*` number (include/net/tcp_states.h).
    pub fn from_kernel(state: u8) -> Option<TcpState> {
        match state {
            1..=11 => Some(TcpState::ALL[state as usize - 1]),
            TCP_NEW_SYN_RECV => Some(TcpState::SynRecv),
            _ => None,
        }
    }

    /// The kernel's `TCP_*` number.
    pub fn kernel(self) -> u8 {
        self as u8 + 1
    }

    /// As `ss` prints it: `ESTAB`, `SYN-SENT`, `UNCONN`, ...
    pub fn ss_name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTAB",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynRecv => "SYN-RECV",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::TimeWait => "TIME-WAIT",
            TcpState::Close => "UNCONN",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::LastAck => "LAST-ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
        }
    }

    /// As `lsof` prints it (the names of /proc/net/tcp): `ESTABLISHED`,
    /// `FIN_WAIT1`, `CLOSE_WAIT`, ...
    pub fn lsof_name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
        }
    }

    /// States the kernel leaves by itself within about an RTT (if the peer
    /// answers): SYN-SENT, SYN-RECV, FIN-WAIT-1, CLOSING, LAST-ACK. The
    /// others last until a process acts (ESTAB, CLOSE-WAIT, LISTEN), the
    /// peer acts (FIN-WAIT-2) or a long timer fires (TIME-WAIT).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            TcpState::SynSent
                | TcpState::SynRecv
                | TcpState::FinWait1
                | TcpState::Closing
                | TcpState::LastAck
        )
    }
}

impl fmt::Display for TcpState {
    /// ss's name; honours width and alignment (`{:<10}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.ss_name())
    }
}

impl FromStr for TcpState {
    type Err = Malformed;

    /// Accepts, in any case and with `-` or `_`: ss's names (`ESTAB`,
    /// `FIN-WAIT-1`, `UNCONN`), lsof's (`ESTABLISHED`, `FIN_WAIT1`,
    /// `CLOSE`), RFC 793's (`SYN-RECEIVED`, `CLOSED`) and ss's filter names
    /// (`listening`, `closed`).
    fn from_str(s: &str) -> Result<TcpState, Malformed> {
        let norm = s.trim().to_ascii_uppercase().replace('_', "-");
        let state = match norm.as_str() {
            "ESTAB" | "ESTABLISHED" => TcpState::Established,
            "SYN-SENT" => TcpState::SynSent,
            "SYN-RECV" | "SYN-RECEIVED" => TcpState::SynRecv,
            "FIN-WAIT-1" | "FIN-WAIT1" => TcpState::FinWait1,
            "FIN-WAIT-2" | "FIN-WAIT2" => TcpState::FinWait2,
            "TIME-WAIT" => TcpState::TimeWait,
            "UNCONN" | "CLOSE" | "CLOSED" => TcpState::Close,
            "CLOSE-WAIT" => TcpState::CloseWait,
            "LAST-ACK" => TcpState::LastAck,
            "LISTEN" | "LISTENING" => TcpState::Listen,
            "CLOSING" => TcpState::Closing,
            _ => {
                let names: Vec<&str> = TcpState::ALL.iter().map(|s| s.ss_name()).collect();
                return Err(Malformed::new(
                    format!(
                        "unknown TCP state `{s}` (expected one of {}, or lsof's names such as \
                     ESTABLISHED, CLOSE_WAIT)",
                        names.join(", ")
                    ),
                    "",
                ));
            }
        };
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(TcpState::Established, "ESTAB", "ESTABLISHED", 1)]
    #[case(TcpState::SynSent, "SYN-SENT", "SYN_SENT", 2)]
    #[case(TcpState::SynRecv, "SYN-RECV", "SYN_RECV", 3)]
    #[case(TcpState::FinWait1, "FIN-WAIT-1", "FIN_WAIT1", 4)]
    #[case(TcpState::FinWait2, "FIN-WAIT-2", "FIN_WAIT2", 5)]
    #[case(TcpState::TimeWait, "TIME-WAIT", "TIME_WAIT", 6)]
    #[case(TcpState::Close, "UNCONN", "CLOSE", 7)]
    #[case(TcpState::CloseWait, "CLOSE-WAIT", "CLOSE_WAIT", 8)]
    #[case(TcpState::LastAck, "LAST-ACK", "LAST_ACK", 9)]
    #[case(TcpState::Listen, "LISTEN", "LISTEN", 10)]
    #[case(TcpState::Closing, "CLOSING", "CLOSING", 11)]
    fn state_names(#[case] s: TcpState, #[case] ss: &str, #[case] lsof: &str, #[case] k: u8) {
        assert_eq!(s.to_string(), ss);
        assert_eq!(s.lsof_name(), lsof);
        assert_eq!(s.kernel(), k);
        assert_eq!(TcpState::from_kernel(k), Some(s));
        assert_eq!(ss.parse::<TcpState>(), Ok(s));
        assert_eq!(lsof.parse::<TcpState>(), Ok(s));
        assert_eq!(ss.to_lowercase().parse::<TcpState>(), Ok(s));
    }

    #[rstest]
    #[case("SYN-RECEIVED", TcpState::SynRecv)]
    #[case("CLOSED", TcpState::Close)]
    #[case("listening", TcpState::Listen)]
    #[case("fin-wait-1", TcpState::FinWait1)]
    #[case("FIN_WAIT_2", TcpState::FinWait2)]
    #[case(" established ", TcpState::Established)]
    fn state_aliases(#[case] name: &str, #[case] s: TcpState) {
        assert_eq!(name.parse::<TcpState>(), Ok(s));
    }

    #[rstest]
    #[case("")]
    #[case("ESTA")]
    #[case("SYN")]
    #[case("bound-inactive")]
    fn state_rejects(#[case] name: &str) {
        let err = name.parse::<TcpState>().unwrap_err().msg;
        assert!(err.contains("ESTAB") && err.contains(name.trim()), "{err}");
    }

    #[test]
    fn kernel_states() {
        assert_eq!(
            TcpState::from_kernel(TCP_NEW_SYN_RECV),
            Some(TcpState::SynRecv)
        );
        assert_eq!(TcpState::from_kernel(0), None);
        assert_eq!(TcpState::from_kernel(13), None);
        let transient: Vec<_> = TcpState::ALL
            .into_iter()
            .filter(|s| s.is_transient())
            .collect();
        assert_eq!(
            transient,
            [
                TcpState::SynSent,
                TcpState::SynRecv,
                TcpState::FinWait1,
                TcpState::LastAck,
                TcpState::Closing
            ]
        );
    }
}
