//! A NETLINK_NETFILTER socket: requests that the kernel acknowledges (an
//! nftables batch, an NFQUEUE config command), and the raw reads the
//! verdict loop does. Like every netlink socket it belongs to the namespace
//! of the thread that opened it.

use std::os::fd::{AsFd, BorrowedFd};

use netlink_packet_core::{NetlinkMessage, NLM_F_ACK, NLM_F_REQUEST};
use netlink_packet_netfilter::NetfilterMessage;
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use crate::error::{Error, Result};

pub(super) const NLMSG_ERROR: u16 = 2;
const NLMSG_HDRLEN: usize = 16;

pub(super) struct NfSocket {
    sock: Socket,
    seq: u32,
}

impl NfSocket {
    /// Opens and binds a socket in the calling thread's namespace.
    pub fn open() -> Result<NfSocket> {
        let mut sock = Socket::new(NETLINK_NETFILTER)
            .map_err(|e| Error::io("open NETLINK_NETFILTER socket", e))?;
        sock.bind_auto()
            .map_err(|e| Error::io("bind NETLINK_NETFILTER socket", e))?;
        // Held packets stay in the kernel; a full socket buffer would make
        // it drop new ones without telling us. Room for ~1000 packets.
        sock.set_rx_buf_sz(4 << 20)
            .map_err(|e| Error::io("set NETLINK_NETFILTER receive buffer", e))?;
        Ok(NfSocket { sock, seq: 1 })
    }

    /// Sends `msgs` in one datagram, each with NLM_F_REQUEST (plus the
    /// flags it has) and NLM_F_ACK when `ack`; returns the sequence numbers
    /// that will be acknowledged.
    pub fn send(
        &mut self,
        msgs: Vec<NetlinkMessage<NetfilterMessage>>,
        acked: &[bool],
        what: &str,
    ) -> Result<Vec<u32>> {
        let mut buf = Vec::new();
        let mut seqs = Vec::new();
        for (i, mut m) in msgs.into_iter().enumerate() {
            m.header.flags |= NLM_F_REQUEST;
            if acked.get(i).copied().unwrap_or(false) {
                m.header.flags |= NLM_F_ACK;
                seqs.push(self.seq);
            }
            m.header.sequence_number = self.seq;
            self.seq = self.seq.wrapping_add(1);
            m.finalize();
            let at = buf.len();
            buf.resize(at + m.buffer_len(), 0);
            m.serialize(&mut buf[at..]);
        }
        self.send_raw(&buf, what)?;
        Ok(seqs)
    }

    pub fn send_raw(&self, buf: &[u8], what: &str) -> Result<()> {
        self.sock
            .send_to(buf, &SocketAddr::new(0, 0), 0)
            .map_err(|e| Error::io(format!("send {what}"), e))?;
        Ok(())
    }

    /// Reads until every sequence number in `seqs` is acknowledged; the
    /// first NACK is the error, with the kernel's errno.
    pub fn wait_acks(&mut self, mut seqs: Vec<u32>, what: &str) -> Result<()> {
        let mut buf = vec![0u8; 64 << 10];
        while !seqs.is_empty() {
            let n = self.recv(&mut buf, 0, what)?;
            for (kind, seq, msg) in messages(&buf[..n]) {
                if kind != NLMSG_ERROR {
                    continue;
                }
                let code = error_code(msg);
                if code != 0 {
                    return Err(Error::sys(what, nix::errno::Errno::from_raw(-code)));
                }
                seqs.retain(|s| *s != seq);
            }
        }
        Ok(())
    }

    /// One recv(2) into `buf`; returns the length.
    pub fn recv(&self, buf: &mut [u8], flags: libc::c_int, what: &str) -> Result<usize> {
        let mut slice = &mut buf[..];
        self.sock
            .recv(&mut slice, flags)
            .map_err(|e| Error::io(format!("receive {what}"), e))
    }
}

impl AsFd for NfSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// The netlink messages in one datagram: (type, sequence, whole message).
pub(super) fn messages(mut buf: &[u8]) -> impl Iterator<Item = (u16, u32, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return None;
        }
        let kind = u16::from_ne_bytes(buf[4..6].try_into().ok()?);
        let seq = u32::from_ne_bytes(buf[8..12].try_into().ok()?);
        let (msg, rest) = buf.split_at(len);
        buf = rest.get(((len + 3) & !3) - len..).unwrap_or(&[]);
        Some((kind, seq, msg))
    })
}

/// The (negative) errno of an NLMSG_ERROR message; 0 is an ACK.
pub(super) fn error_code(msg: &[u8]) -> i32 {
    msg.get(NLMSG_HDRLEN..NLMSG_HDRLEN + 4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
        .unwrap_or(-libc::EBADMSG)
}

/// The attributes after a netfilter message's 4-byte nfgenmsg header.
pub(super) fn attributes(msg: &[u8]) -> &[u8] {
    msg.get(NLMSG_HDRLEN + 4..).unwrap_or(&[])
}
