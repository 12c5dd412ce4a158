//! Socket addresses decoded from their bytes as strace prints them.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::constants::{family, AF_INET, AF_INET6, AF_NETLINK, AF_UNIX};
use super::render::{quote, quote_shown};

/// A socket address as strace decodes it.
pub fn sockaddr(b: &[u8]) -> String {
    if b.len() < 2 {
        return format!("{{sa_family=???, sa_data={}}}", quote_shown(b, false));
    }
    let fam = u16::from_ne_bytes([b[0], b[1]]) as u64;
    let name = family(fam as i64);
    let be16 = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let ne32 = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    match fam {
        AF_INET if b.len() >= 8 => format!(
            "{{sa_family={name}, sin_port=htons({}), sin_addr=inet_addr(\"{}\")}}",
            be16(2),
            Ipv4Addr::new(b[4], b[5], b[6], b[7])
        ),
        AF_INET6 if b.len() >= 24 => {
            let mut addr = [0u8; 16];
            addr.copy_from_slice(&b[8..24]);
            let flow = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            let scope = if b.len() >= 28 {
                format!(", sin6_scope_id={}", ne32(24))
            } else {
                String::new()
            };
            format!(
                "{{sa_family={name}, sin6_port=htons({}), sin6_flowinfo=htonl({flow}), \
                 inet_pton({name}, \"{}\", &sin6_addr){scope}}}",
                be16(2),
                Ipv6Addr::from(addr)
            )
        }
        AF_UNIX if b.len() == 2 => format!("{{sa_family={name}}}"),
        AF_UNIX if b[2] == 0 => {
            format!(
                "{{sa_family={name}, sun_path=@{}}}",
                quote_shown(&b[3..], false)
            )
        }
        AF_UNIX => {
            let path = &b[2..];
            let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            format!(
                "{{sa_family={name}, sun_path={}}}",
                quote_shown(&path[..end], false)
            )
        }
        AF_NETLINK if b.len() >= 12 => {
            format!(
                "{{sa_family={name}, nl_pid={}, nl_groups={:08x}}}",
                ne32(4),
                ne32(8)
            )
        }
        _ => format!("{{sa_family={name}, sa_data={}}}", quote(&b[2..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::test_support::{unix, v4, v6};
    use rstest::rstest;

    #[rstest]
    #[case(v4(11111, [0, 0, 0, 0]), r#"{sa_family=AF_INET, sin_port=htons(11111), sin_addr=inet_addr("0.0.0.0")}"#)]
    #[case(v4(43068, [192, 168, 2, 105]), r#"{sa_family=AF_INET, sin_port=htons(43068), sin_addr=inet_addr("192.168.2.105")}"#)]
    #[case(v6(11111, 0, Ipv6Addr::UNSPECIFIED, 0), r#"{sa_family=AF_INET6, sin6_port=htons(11111), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::", &sin6_addr), sin6_scope_id=0}"#)]
    #[case(v6(9, 0, "::ffff:127.0.0.1".parse().unwrap(), 0), r#"{sa_family=AF_INET6, sin6_port=htons(9), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}"#)]
    #[case(v6(9, 7, "fe80::1".parse().unwrap(), 1), r#"{sa_family=AF_INET6, sin6_port=htons(9), sin6_flowinfo=htonl(7), inet_pton(AF_INET6, "fe80::1", &sin6_addr), sin6_scope_id=1}"#)]
    #[case(
        unix(b"/run/x.sock\0\0\0"),
        r#"{sa_family=AF_UNIX, sun_path="/run/x.sock"}"#
    )]
    #[case(unix(b"\0abstract"), r#"{sa_family=AF_UNIX, sun_path=@"abstract"}"#)]
    #[case(vec![0, 0, 1, 2], r#"{sa_family=AF_UNSPEC, sa_data="\1\2"}"#)]
    #[case(vec![99, 0, 1], r#"{sa_family=99, sa_data="\1"}"#)]
    fn decodes_sockaddrs(#[case] bytes: Vec<u8>, #[case] want: &str) {
        assert_eq!(sockaddr(&bytes), want);
    }
}
