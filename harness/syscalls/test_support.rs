//! Test helpers shared by the decoders' tests: a fake address space and
//! sockaddr bytes.

use std::net::Ipv6Addr;

use super::constants::{AF_INET, AF_INET6, AF_UNIX};
use super::memory::Memory;

/// Memory made of regions: (address, bytes).
pub(super) struct Fake(pub(super) Vec<(u64, Vec<u8>)>);

impl Memory for Fake {
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        self.0.iter().find_map(|(base, bytes)| {
            let off = addr.checked_sub(*base)? as usize;
            (off < bytes.len() || (len == 0 && off == bytes.len()))
                .then(|| bytes[off..bytes.len().min(off + len)].to_vec())
        })
    }
}

pub(super) fn v4(port: u16, ip: [u8; 4]) -> Vec<u8> {
    let mut b = (AF_INET as u16).to_ne_bytes().to_vec();
    b.extend(port.to_be_bytes());
    b.extend(ip);
    b.extend([0u8; 8]);
    b
}

pub(super) fn v6(port: u16, flow: u32, ip: Ipv6Addr, scope: u32) -> Vec<u8> {
    let mut b = (AF_INET6 as u16).to_ne_bytes().to_vec();
    b.extend(port.to_be_bytes());
    b.extend(flow.to_be_bytes());
    b.extend(ip.octets());
    b.extend(scope.to_ne_bytes());
    b
}

pub(super) fn unix(path: &[u8]) -> Vec<u8> {
    let mut b = (AF_UNIX as u16).to_ne_bytes().to_vec();
    b.extend(path);
    b
}

pub(super) const BUF: u64 = 0x7000;
pub(super) const ADDR: u64 = 0x8000;
pub(super) const LEN: u64 = 0x9000;
