//! What `ss -tan -o` shows, read from NETLINK_SOCK_DIAG inside one namespace.
//!
//! A [`SockDiag`] holds a sock_diag socket opened by a thread inside the
//! namespace; a dump covers that namespace only, so open one per side.
//! [`SockDiag::dump`] asks for every TCP socket of AF_INET and AF_INET6 in
//! every state `ss -tan` shows (request sockets in SYN-RECV and TIME-WAIT
//! sockets included) and returns one [`SocketRow`] per socket, in the
//! kernel's order, which is ss's order.
//!
//! The request is built with netlink-packet-sock-diag; the replies are parsed
//! here from the raw bytes. The crate drops `idiag_expires` for TIME-WAIT
//! sockets (the one timer a life-cycle test cares most about) and the
//! `idiag_retrans` of keepalive and persist timers, and it would decode
//! attributes we never asked for; the fixed 72-byte `inet_diag_msg` head is
//! all we need:
//!
//! ```text
//!  0 family u8, state u8, timer u8, retrans u8
//!  4 sockid: sport be16, dport be16, src [u8; 16], dst [u8; 16], if u32, cookie [u32; 2]
//! 52 expires u32 (ms)   56 rqueue u32   60 wqueue u32   64 uid u32   68 inode u32
//! ```
//!
//! [`SockDiag::dump_info`] also asks for `ss -ti`'s attributes
//! (INET_DIAG_INFO, INET_DIAG_CONG): a row then carries its
//! [`TcpInfo`], printed after the timer as `ss -tanoiO` prints it.
//!
//! (`expires` sits 68 bytes into the netlink message, after its 16-byte
//! header.) The offset was checked against `ss -tan -o` on live sockets:
//! TIME-WAIT 60,000 ms vs ss `59sec`, an orphaned FIN-WAIT-2 with
//! tcp_fin_timeout 5 s 5,000 ms vs ss `4.996ms`, SYN-SENT 1,000 ms vs ss
//! `996ms`; `live_dump_matches_ss` (live.rs) repeats it on every test run.

mod diag;
mod info;
mod row;
mod ss;
mod state;
mod timer;

#[cfg(test)]
pub(crate) mod live;
#[cfg(test)]
mod live_info;

pub use diag::SockDiag;
#[cfg(test)]
pub(crate) use info::tests::raw_info as info_test_bytes;
pub use info::{field_named, Field, TcpInfo, Unit, FIELDS};
pub use row::{Family, SocketRow};
pub use ss::{settled, table, unsettled, zero_window};
pub use state::TcpState;
pub use timer::{format_ms, Timer, TimerKind};
