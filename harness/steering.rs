//! Receive Packet Steering on a lab's veth ends, so that each direction of
//! a flow reaches TCP in the order it was sent, as on a wire.
//!
//! A veth hands every frame to `netif_rx`, which queues it on the backlog
//! of the CPU that sent it. Two segments of one connection sent from
//! different CPUs (the handshake's ACK from the softirq that took the
//! SYN+ACK, the FIN from `close()` on another CPU) sit on two backlogs, and
//! the CPU that runs its softirq first delivers its segment first: the
//! receiver sees the FIN before the ACK. On this 2-core host that is rare;
//! in a 2-vCPU QEMU guest (the kernel matrix, ci/kernels) it happened in a
//! run of thousand-connections every time, and in slow-start a reordered
//! burst drew a fast retransmit. With `rps_cpus` set on the receiving
//! end's queue, `netif_rx` queues by the flow's hash instead (`get_rps_cpu`),
//! so one direction of a flow always goes through one backlog, in order.
//! Every online CPU is in the mask: different flows still spread.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};
use crate::netns::Netns;

/// Where the host lists its online CPUs (`0-1`, `0-3,6`).
const ONLINE: &str = "/sys/devices/system/cpu/online";

/// Sets `iface`'s receive queue (a veth has one) in `ns` to steer each flow
/// to one CPU of `mask` (a [`cpu_mask`] of the online CPUs), then reads it
/// back.
pub fn keep_flows_in_order(ns: &Netns, iface: &'static str, mask: String) -> Result<()> {
    let name = ns.name().to_string();
    ns.with_sysfs("steer the veth's flows", move |sys| {
        let file = sys.join(format!("class/net/{iface}/queues/rx-0/rps_cpus"));
        let at = || format!("{} in netns {name}", file.display());
        fs::write(&file, &mask).map_err(|e| Error::io(format!("write {mask} to {}", at()), e))?;
        let back = read_mask(&file).map_err(|e| Error::io(format!("read {}", at()), e))?;
        if back != trimmed(&mask) {
            return Err(Error::msg(format!(
                "{} reads {back} after {mask} was written",
                at()
            )));
        }
        Ok(())
    })
}

/// The mask of the host's online CPUs, in the form `rps_cpus` takes:
/// 32-bit hex words, most significant first, comma-separated.
pub fn online_mask() -> Result<String> {
    let list = fs::read_to_string(ONLINE).map_err(|e| Error::io(format!("read {ONLINE}"), e))?;
    cpu_mask(&list).ok_or_else(|| Error::msg(format!("{ONLINE}: cannot read `{}`", list.trim())))
}

/// `0-1` -> `3`; `0-3,33` -> `2,0000000f`. None for what is not a CPU
/// list.
fn cpu_mask(list: &str) -> Option<String> {
    let mut words: Vec<u32> = Vec::new();
    for part in list.trim().split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => {
                let c = part.parse::<usize>().ok()?;
                (c, c)
            }
        };
        if lo > hi || hi >= 8192 {
            return None;
        }
        for cpu in lo..=hi {
            if words.len() <= cpu / 32 {
                words.resize(cpu / 32 + 1, 0);
            }
            words[cpu / 32] |= 1 << (cpu % 32);
        }
    }
    // The most significant word without leading zeros, the rest whole.
    let (top, rest) = words.split_last()?;
    let mut out = vec![format!("{top:x}")];
    out.extend(rest.iter().rev().map(|w| format!("{w:08x}")));
    Some(out.join(","))
}

/// A mask as the kernel prints it back, without its leading zero words
/// and digits (`00000000,00000003` -> `3`).
fn trimmed(mask: &str) -> String {
    let words: Vec<&str> = mask.trim().split(',').collect();
    let start = words
        .iter()
        .position(|w| !w.trim_start_matches('0').is_empty())
        .unwrap_or(words.len() - 1);
    let mut out: Vec<String> = words[start..].iter().map(|w| w.to_string()).collect();
    out[0] = out[0].trim_start_matches('0').to_string();
    if out[0].is_empty() {
        out[0] = "0".into();
    }
    out.join(",")
}

fn read_mask(file: &Path) -> std::io::Result<String> {
    Ok(trimmed(&fs::read_to_string(file)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("0-1\n", "3")]
    #[case("0", "1")]
    #[case("0-3,6", "4f")]
    #[case("0-3,33", "2,0000000f")]
    #[case("0-63", "ffffffff,ffffffff")]
    fn a_cpu_list_becomes_the_mask_rps_cpus_takes(#[case] list: &str, #[case] mask: &str) {
        assert_eq!(cpu_mask(list).as_deref(), Some(mask));
    }

    #[rstest]
    #[case("")]
    #[case("a-b")]
    #[case("3-1")]
    #[case("0-99999")]
    fn what_is_not_a_cpu_list_is_refused(#[case] list: &str) {
        assert_eq!(cpu_mask(list), None);
    }

    /// Both ends of a new lab steer by flow over every online CPU, and the
    /// sysfs mounted to set them is nowhere in the host's mount table.
    #[test]
    fn a_new_labs_veth_ends_steer_each_flow_and_leave_no_mount() {
        use crate::lab::{Lab, Side};
        let sysfs_mounts = || {
            fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .lines()
                .filter(|l| l.contains(" - sysfs "))
                .count()
        };
        let before = sysfs_mounts();
        let lab = Lab::new("steering").unwrap();
        let want = trimmed(&online_mask().unwrap());
        for side in [Side::Client, Side::Server] {
            let iface = side.iface();
            let seen = lab
                .netns(side)
                .with_sysfs("read rps_cpus", move |sys| {
                    read_mask(&sys.join(format!("class/net/{iface}/queues/rx-0/rps_cpus")))
                        .map_err(|e| Error::io("read rps_cpus", e))
                })
                .unwrap();
            assert_eq!(seen, want, "{side} {iface}");
        }
        assert_eq!(sysfs_mounts(), before, "a sysfs mount reached the host");
    }

    #[rstest]
    #[case("00000000,00000003", "3")]
    #[case("2,0000000f", "2,0000000f")]
    #[case("00000000", "0")]
    fn a_mask_reads_back_as_the_kernel_prints_it(#[case] written: &str, #[case] read: &str) {
        assert_eq!(trimmed(written), read);
    }
}
