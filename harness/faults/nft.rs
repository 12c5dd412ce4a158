//! The one nftables rule a faulty namespace needs, per address family,
//! installed over netlink (no `nft` binary): tables `ip tcplab` and `ip6
//! tcplab`, each with a chain `faults` on prerouting,
//!
//! ```text
//! iifname "veth-s" meta l4proto tcp xt target "NFQUEUE"   # --queue-num 0 --queue-bypass
//! ```
//!
//! The queueing is xtables' NFQUEUE target run by nftables' compat
//! expression (as iptables-nft does), not nftables' own `queue`: kernels
//! built without CONFIG_NFT_QUEUE (this project's machines) still have
//! CONFIG_NFT_COMPAT and CONFIG_NETFILTER_XT_TARGET_NFQUEUE. That is also
//! why there are two tables, `ip` and `ip6`, and not one `inet`: compat
//! targets take one family. Both feed the same queue, so one verdict
//! thread judges a namespace's segments of both families in arrival order.
//!
//! Every TCP segment arriving on the lab's veth goes to the namespace's
//! queue 0, where one verdict thread sees them all in arrival order. The
//! hook is the receiver's prerouting, after libpcap's tap: the capture
//! still holds every packet the sender sent. `bypass`: if the verdict
//! thread is gone, packets pass instead of being dropped.

use netlink_packet_core::{DefaultNla, NetlinkMessage, NLM_F_APPEND, NLM_F_CREATE};
use netlink_packet_netfilter::nftables::{
    ChainAttribute, ChainMessage, Cmp, DataAttribute, Expressions, Hook, InetHookNumber, Meta,
    MetaKey, NfTablesMessage, Operator, Register, RuleAttribute, RuleMessage, TableAttribute,
    TableFlags, TableMessage,
};
use netlink_packet_netfilter::none::ControlMessage;
use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterProtoFamily};

use super::nfnl::NfSocket;
use crate::error::Result;

pub const TABLE: &str = "tcplab";
pub const CHAIN: &str = "faults";
/// Before conntrack (-200), as nft's `raw` priority: nothing in the
/// namespace has seen the packet yet.
const PRIORITY: i32 = -300;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const IPPROTO_TCP: u8 = 6;
const IFNAMSIZ: usize = 16;
const NFTA_TARGET_NAME: u16 = 1;
const NFTA_TARGET_REV: u16 = 2;
const NFTA_TARGET_INFO: u16 = 3;
/// struct xt_NFQ_info_v3 (include/uapi/linux/netfilter/xt_NFQUEUE.h).
const NFQUEUE_REV: u32 = 3;
const NFQ_FLAG_BYPASS: u16 = 1;

/// The families the lab speaks: a table in each.
const FAMILIES: [NetfilterProtoFamily; 2] =
    [NetfilterProtoFamily::IPv4, NetfilterProtoFamily::IPv6];

fn in_family(
    family: NetfilterProtoFamily,
    msg: NfTablesMessage,
    flags: u16,
) -> NetlinkMessage<NetfilterMessage> {
    let mut m = NetlinkMessage::from(NetfilterMessage::new(
        NetfilterHeader::new(family, 0, 0),
        msg,
    ));
    m.header.flags |= flags;
    m
}

fn control(msg: ControlMessage) -> NetlinkMessage<NetfilterMessage> {
    NetlinkMessage::from(NetfilterMessage::new(
        NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, NFNL_SUBSYS_NFTABLES),
        msg,
    ))
}

/// Runs `body` as one nftables transaction and waits for each message's ACK.
fn transaction(
    sock: &mut NfSocket,
    body: Vec<NetlinkMessage<NetfilterMessage>>,
    what: &str,
) -> Result<()> {
    let n = body.len();
    let mut msgs = vec![control(ControlMessage::BatchBegin)];
    msgs.extend(body);
    msgs.push(control(ControlMessage::BatchEnd));
    let mut acked = vec![false];
    acked.extend(std::iter::repeat_n(true, n));
    acked.push(false);
    let seqs = sock.send(msgs, &acked, what)?;
    sock.wait_acks(seqs, what)
}

fn cmp_eq(value: Vec<u8>) -> Expressions {
    Expressions::Cmp(vec![
        Cmp::SourceRegister(Register::Reg1),
        Cmp::Op(Operator::Equal),
        Cmp::Data(DataAttribute::Value(value)),
    ])
}

fn meta(key: MetaKey) -> Expressions {
    Expressions::Meta(vec![
        Meta::Key(key),
        Meta::DestinationRegister(Register::Reg1),
    ])
}

/// Creates the tables, chains and queue rules for packets arriving on
/// `iface`, in one transaction.
pub fn install(sock: &mut NfSocket, iface: &str, queue: u16) -> Result<()> {
    let body = FAMILIES
        .into_iter()
        .flat_map(|family| table(family, iface, queue))
        .collect();
    transaction(
        sock,
        body,
        &format!(
            "install nftables tables ip and ip6 {TABLE} (the kernel needs CONFIG_NF_TABLES, \
             CONFIG_NFT_COMPAT and CONFIG_NETFILTER_XT_TARGET_NFQUEUE)"
        ),
    )
}

/// One family's table, chain and queue rule.
fn table(
    family: NetfilterProtoFamily,
    iface: &str,
    queue: u16,
) -> Vec<NetlinkMessage<NetfilterMessage>> {
    let mut name = iface.as_bytes().to_vec();
    name.resize(IFNAMSIZ, 0);
    // xt_NFQ_info_v3 { u16 queuenum; u16 queues_total; u16 flags; }, in
    // host order, padded to the 8-byte alignment xtables gives it.
    let mut info: Vec<u8> = [queue, 1, NFQ_FLAG_BYPASS]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    info.resize(8, 0);
    let queue_expr = Expressions::Other {
        expression_type: "target".into(),
        attributes: vec![
            DefaultNla::new(NFTA_TARGET_NAME, b"NFQUEUE\0".to_vec()),
            DefaultNla::new(NFTA_TARGET_REV, NFQUEUE_REV.to_be_bytes().to_vec()),
            DefaultNla::new(NFTA_TARGET_INFO, info),
        ],
    };
    vec![
        in_family(
            family,
            NfTablesMessage::NewTable(TableMessage {
                attributes: vec![
                    TableAttribute::Name(TABLE.into()),
                    TableAttribute::Flags(TableFlags::default()),
                ],
            }),
            NLM_F_CREATE,
        ),
        in_family(
            family,
            NfTablesMessage::NewChain(ChainMessage {
                attributes: vec![
                    ChainAttribute::Table(TABLE.into()),
                    ChainAttribute::Name(CHAIN.into()),
                    ChainAttribute::Hook(vec![
                        Hook::Number(InetHookNumber::PreRouting.into()),
                        Hook::Priority(PRIORITY as u32),
                    ]),
                    ChainAttribute::Policy(1), // accept
                    ChainAttribute::Type("filter".into()),
                ],
            }),
            NLM_F_CREATE,
        ),
        in_family(
            family,
            NfTablesMessage::NewRule(RuleMessage {
                attributes: vec![
                    RuleAttribute::Table(TABLE.into()),
                    RuleAttribute::Chain(CHAIN.into()),
                    RuleAttribute::Expressions(vec![
                        meta(MetaKey::Iifname).into(),
                        cmp_eq(name).into(),
                        meta(MetaKey::L4Proto).into(),
                        cmp_eq(vec![IPPROTO_TCP]).into(),
                        queue_expr.into(),
                    ]),
                ],
            }),
            NLM_F_CREATE | NLM_F_APPEND,
        ),
    ]
}

/// Deletes the tables (and with them the chains and rules).
pub fn remove(sock: &mut NfSocket) -> Result<()> {
    let body = FAMILIES
        .into_iter()
        .map(|family| {
            in_family(
                family,
                NfTablesMessage::DeleteTable(TableMessage {
                    attributes: vec![TableAttribute::Name(TABLE.into())],
                }),
                0,
            )
        })
        .collect();
    transaction(
        sock,
        body,
        &format!("delete nftables tables ip and ip6 {TABLE}"),
    )
}
