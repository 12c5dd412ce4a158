//! NFQUEUE (nfnetlink_queue) spoken directly over a netfilter netlink
//! socket: bind a queue, read queued packets without blocking, send
//! verdicts in any order.
//!
//! Why not the `nfq` crate: nfq 0.2.5 hides its socket (no `AsRawFd`), so
//! a verdict thread could only block in `recv` and could not also wake for
//! a delayed packet's timer or a rule change. The protocol is four small
//! messages (include/uapi/linux/netfilter/nfnetlink_queue.h); the netlink
//! framing comes from netlink-packet-netfilter, as for the nftables rule.

use std::os::fd::{AsFd, BorrowedFd};

use netlink_packet_core::{DefaultNla, NetlinkMessage, NlasIterator};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
    NetfilterSubsystem,
};

use super::nfnl::{self, NfSocket, NLMSG_ERROR};
use crate::error::{Error, Result};

const NFNL_SUBSYS_QUEUE: u8 = 3;
const NFQNL_MSG_PACKET: u8 = 0;
const NFQNL_MSG_VERDICT: u8 = 1;
const NFQNL_MSG_CONFIG: u8 = 2;
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_PAYLOAD: u16 = 10;
const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_COPY_PACKET: u8 = 2;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
/// Whole packets: the verdict logic needs the TCP header and the length.
const COPY_RANGE: u32 = 0xffff;

/// A packet the kernel queued, waiting for our verdict.
pub struct Queued {
    pub id: u32,
    /// The IP datagram.
    pub payload: Vec<u8>,
}

pub struct Queue {
    sock: NfSocket,
    num: u16,
    buf: Vec<u8>,
}

fn message(num: u16, kind: u8, attributes: Vec<DefaultNla>) -> NetlinkMessage<NetfilterMessage> {
    NetlinkMessage::from(NetfilterMessage::new(
        NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, num),
        NetfilterMessageInner::Other {
            subsys: NetfilterSubsystem::Other(NFNL_SUBSYS_QUEUE),
            message_type: kind,
            attributes,
        },
    ))
}

impl Queue {
    /// Binds queue `num` of the calling thread's namespace, copying whole
    /// packets. The socket is then non-blocking: [`Queue::drain`] never waits.
    pub fn bind(num: u16) -> Result<Queue> {
        let mut sock = NfSocket::open()?;
        let cmd = vec![NFQNL_CFG_CMD_BIND, 0, 0, 0];
        let mut params = COPY_RANGE.to_be_bytes().to_vec();
        params.push(NFQNL_COPY_PACKET);
        let msgs = vec![
            message(
                num,
                NFQNL_MSG_CONFIG,
                vec![DefaultNla::new(NFQA_CFG_CMD, cmd)],
            ),
            message(
                num,
                NFQNL_MSG_CONFIG,
                vec![DefaultNla::new(NFQA_CFG_PARAMS, params)],
            ),
        ];
        let what = format!("bind NFQUEUE {num} (the kernel needs CONFIG_NETFILTER_NETLINK_QUEUE)");
        let seqs = sock.send(msgs, &[true, true], &what)?;
        sock.wait_acks(seqs, &what)?;
        Ok(Queue {
            sock,
            num,
            buf: vec![0; 256 << 10],
        })
    }

    /// Reads every packet queued so far, in the kernel's order.
    pub fn drain(&mut self, out: &mut Vec<Queued>) -> Result<()> {
        loop {
            let n = match self
                .sock
                .recv(&mut self.buf, libc::MSG_DONTWAIT, "queued packets")
            {
                Ok(n) => n,
                Err(Error::Sys {
                    errno: nix::errno::Errno::EAGAIN,
                    ..
                }) => return Ok(()),
                Err(e) => return Err(e),
            };
            for (kind, _, msg) in nfnl::messages(&self.buf[..n]) {
                if kind == NLMSG_ERROR {
                    let code = nfnl::error_code(msg);
                    if code != 0 {
                        return Err(Error::sys(
                            format!("NFQUEUE {}", self.num),
                            nix::errno::Errno::from_raw(-code),
                        ));
                    }
                    continue;
                }
                if kind != (u16::from(NFNL_SUBSYS_QUEUE) << 8 | u16::from(NFQNL_MSG_PACKET)) {
                    continue;
                }
                out.extend(parse_packet(nfnl::attributes(msg)));
            }
        }
    }

    /// Lets the packet through (`accept`) or drops it.
    pub fn verdict(&mut self, id: u32, accept: bool) -> Result<()> {
        let mut hdr = (if accept { NF_ACCEPT } else { NF_DROP })
            .to_be_bytes()
            .to_vec();
        hdr.extend(id.to_be_bytes());
        let msgs = vec![message(
            self.num,
            NFQNL_MSG_VERDICT,
            vec![DefaultNla::new(NFQA_VERDICT_HDR, hdr)],
        )];
        self.sock
            .send(msgs, &[false], "NFQUEUE verdict")
            .map(drop)
            .map_err(|e| e.context(format!("packet {id} on queue {}", self.num)))
    }
}

impl AsFd for Queue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

fn parse_packet(attrs: &[u8]) -> Option<Queued> {
    let (mut id, mut payload) = (None, None);
    for nla in NlasIterator::new(attrs).flatten() {
        match nla.kind() {
            NFQA_PACKET_HDR => {
                id = nla
                    .value()
                    .get(0..4)
                    .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
            }
            NFQA_PAYLOAD => payload = Some(nla.value().to_vec()),
            _ => {}
        }
    }
    Some(Queued {
        id: id?,
        payload: payload.unwrap_or_default(),
    })
}
