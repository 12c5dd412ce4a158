//! Wire-sized segments: a lab whose captured packets are the segments a
//! real wire would carry, one by one.
//!
//! A veth passes a sender's GSO super-packet (up to 64 KiB, e.g. one 8192
//! byte write) to its peer whole, so the capture shows one "packet" where a
//! wire carries six; the receiver's NFQUEUE, meanwhile, is handed the
//! segments one by one. For a case whose rules count data segments, or
//! whose ladder marks a single lost segment, both must see the same thing:
//! with `gso_max_segs 1` on both veth ends, TCP builds MSS-sized segments
//! and the capture, the rules and tcpdump agree. Set it before the case's
//! traffic starts (e.g. when the case has any fault step).

use futures::TryStreamExt;
use netlink_packet_route::link::LinkAttribute;
use rtnetlink::LinkUnspec;

use crate::error::{Error, Result};
use crate::lab::{Lab, Side};

/// Sets `gso_max_segs 1` on both of the lab's veth ends (`ip link set DEV
/// gso_max_segs 1`, over rtnetlink from inside each namespace).
pub fn wire_sized(lab: &Lab) -> Result<()> {
    for side in Side::ALL {
        let netns = lab.netns(side);
        let name = netns.name().to_string();
        netns.run("set gso_max_segs", move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .map_err(|e| Error::io("start tokio runtime", e))?;
            rt.block_on(async {
                let (conn, handle, _) = rtnetlink::new_connection()
                    .map_err(|e| Error::io("open NETLINK_ROUTE socket", e))?;
                tokio::spawn(conn);
                let iface = side.iface();
                let what = format!("set gso_max_segs 1 on {iface} in netns {name}");
                let link = handle
                    .link()
                    .get()
                    .match_name(iface.to_string())
                    .execute()
                    .try_next()
                    .await
                    .map_err(|e| Error::netlink(&what, e))?
                    .ok_or_else(|| Error::msg(format!("{what}: no such link")))?;
                let msg = LinkUnspec::new_with_index(link.header.index)
                    .append_extra_attribute(LinkAttribute::GsoMaxSegs(1))
                    .build();
                handle
                    .link()
                    .set(msg)
                    .execute()
                    .await
                    .map_err(|e| Error::netlink(&what, e))
            })
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{capture, connect, listen, root, until};
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    #[test]
    fn a_wire_sized_lab_captures_no_segment_larger_than_the_mss() {
        root();
        let lab = Lab::new("wire-sized").unwrap();
        wire_sized(&lab).unwrap();
        let mut cap = capture(&lab, "wire-sized");
        let listener = listen(&lab);
        let mut client = connect(&lab);
        let (mut server, _) = listener.accept().unwrap();
        let data = vec![7u8; 64 << 10];
        let reader = std::thread::spawn(move || {
            let mut got = vec![0u8; 64 << 10];
            server.read_exact(&mut got).map(|_| got)
        });
        client.write_all(&data).unwrap();
        assert_eq!(reader.join().unwrap().unwrap(), data);
        until(&mut cap, "data segments", Duration::from_secs(2), |ps| {
            ps.iter().filter(|p| !p.is_empty()).count() >= 10
        });
        let largest = cap.packets().iter().map(|p| p.len()).max().unwrap();
        assert!(largest <= 1448, "a {largest}-byte segment was captured");
        // Not asserted: libpcap's ring (2 MiB of 64 KiB frames, sized for
        // the veth's GSO packets) overflows on a 64 KiB burst of small
        // segments; capture.rs must raise its buffer_size for that.
        let summary = cap.finish().unwrap();
        eprintln!(
            "wire-sized 64 KiB: libpcap received {}, dropped {}",
            summary.received, summary.dropped
        );
    }
}
