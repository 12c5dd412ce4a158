//! Per-route TCP metrics on a lab host's own route: `ip route change
//! 192.168.2.0/24 dev veth-s ... rto_min 1s`, inside that host's namespace
//! only, over rtnetlink.
//!
//! Why a route and not a sysctl: `net.ipv4.tcp_rto_min_us`, the floor of
//! the retransmission timeout per namespace, exists from kernel 6.11 on;
//! the route's `rto_min` metric (RTAX_RTO_MIN) sets the same floor and
//! exists on every kernel in use. The kernel honours it only when it is
//! locked (`tcp_rto_min`: `dst_metric_locked(dst, RTAX_RTO_MIN)`), which
//! is what `ip route ... rto_min` sends too. A socket takes its route, and
//! so its floor, when it connects or when its SYN arrives: set the metric
//! before the connections it is for.
//!
//! The routes are the connected ones the kernel made for the host's
//! addresses (main table, 192.168.2.0/24 and 2001:db8:2::/64): each is
//! replaced with the same attributes plus the metric, so the floor holds
//! in either family, and goes with the namespace.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use futures::TryStreamExt;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMetric};
use rtnetlink::{Handle, RouteMessageBuilder};

use crate::error::{Error, Malformed, Result};
use crate::lab::{Lab, Side};
use crate::sockets::Family;

/// RTAX_RTO_MIN: its bit in RTAX_LOCK.
const RTAX_RTO_MIN: u32 = 13;

/// A metric a case sets on a host's route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// `rto_min 1s`: the floor of the retransmission timeout, in whole
    /// milliseconds (the kernel keeps it in ms).
    RtoMin(Duration),
    /// `window 65535`: the clamp on the receive window a connection of
    /// this route offers (RTAX_WINDOW, `ip route ... window N`), in
    /// bytes. It also bounds the window scale the host offers in its SYN
    /// or SYN-ACK (`tcp_select_initial_window`: the scale is the one the
    /// larger of tcp_rmem's maximum and the global net.core.rmem_max
    /// needs, but no more than the clamp needs), so a case that pins
    /// `win` values gets the same scale on every machine: 65535 or less
    /// is no scaling at all, whatever net.core.rmem_max (not per
    /// namespace) the machine has.
    Window(u32),
}

impl Metric {
    /// `rto_min` with its value as a case writes it (`1s`, `50ms`): whole
    /// milliseconds from 1 ms to a day.
    pub fn rto_min(d: Duration) -> std::result::Result<Metric, Malformed> {
        if d.subsec_nanos() % 1_000_000 != 0 || d < Duration::from_millis(1) {
            return Err(Malformed::new(
                format!("rto_min {d:?}: the kernel keeps it in whole milliseconds, at least 1 ms"),
                "",
            ));
        }
        if d > Duration::from_secs(86_400) {
            return Err(Malformed::new(format!("rto_min {d:?}: at most a day"), ""));
        }
        Ok(Metric::RtoMin(d))
    }

    /// `window` with its value in bytes: from 1 to 2^30 (the largest
    /// window scaling can offer).
    pub fn window(bytes: u64) -> std::result::Result<Metric, Malformed> {
        if bytes == 0 || bytes > 1 << 30 {
            return Err(Malformed::new(
                format!(
                    "window {bytes}: from 1 to 1073741824 bytes (2^30, the largest scaled window)"
                ),
                "",
            ));
        }
        Ok(Metric::Window(bytes as u32))
    }
}

impl fmt::Display for Metric {
    /// `rto_min 1s`, as a case and `ip route` write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::RtoMin(d) => match d.as_millis() {
                ms if ms % 1000 == 0 => write!(f, "rto_min {}s", ms / 1000),
                ms => write!(f, "rto_min {ms}ms"),
            },
            Metric::Window(bytes) => write!(f, "window {bytes}"),
        }
    }
}

/// Sets `metric` on `side`'s routes to the lab's subnets (both families),
/// in its namespace.
pub fn set(lab: &Lab, side: Side, metric: Metric) -> Result<()> {
    let ns = lab.netns(side);
    let name = ns.name().to_string();
    let what = format!("{side} route {metric}");
    ns.run(&what.clone(), move || {
        crate::lab::rtnl(&name, move |handle| async move {
            for family in [Family::Ipv4, Family::Ipv6] {
                replace(&handle, side, family, metric)
                    .await
                    .map_err(|e| e.context(&what))?;
            }
            Ok(())
        })
    })
}

/// The lab's connected route as the kernel holds it now, replaced by the
/// same with `metric` added.
async fn replace(handle: &Handle, side: Side, family: Family, metric: Metric) -> Result<()> {
    let mut route = subnet_route(handle, side, family).await?;
    let mut metrics = Vec::new();
    let mut lock = 0;
    route.attributes.retain(|a| match a {
        RouteAttribute::Metrics(m) => {
            metrics.clone_from(m);
            false
        }
        RouteAttribute::CacheInfo(_) => false,
        _ => true,
    });
    metrics.retain(|m| match (m, metric) {
        (RouteMetric::Lock(l), _) => {
            lock = *l;
            false
        }
        (RouteMetric::RtoMin(_), Metric::RtoMin(_)) => false,
        (RouteMetric::Window(_), Metric::Window(_)) => false,
        _ => true,
    });
    match metric {
        // Locked: the kernel uses it only then (`tcp_rto_min`).
        Metric::RtoMin(d) => {
            lock |= 1 << RTAX_RTO_MIN;
            metrics.push(RouteMetric::RtoMin(d.as_millis() as u32));
        }
        // Read unlocked (`tcp_openreq_init_rwin`, `tcp_connect_init`).
        Metric::Window(bytes) => metrics.push(RouteMetric::Window(bytes)),
    }
    if lock != 0 {
        metrics.push(RouteMetric::Lock(lock));
    }
    route.attributes.push(RouteAttribute::Metrics(metrics));
    handle
        .route()
        .add(route)
        .replace()
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("replace the route to {}", subnet(family).0), e))
}

/// 192.168.2.0/24 or 2001:db8:2::/64: the subnet of the lab's two
/// addresses in `family` (as text), its address and prefix length.
fn subnet(family: Family) -> (String, IpAddr, u8) {
    let (net, len) = match family {
        Family::Ipv4 => {
            let [a, b, c, _] = Side::Server.addr().octets();
            (
                IpAddr::V4(Ipv4Addr::new(a, b, c, 0)),
                crate::lab::PREFIX_LEN,
            )
        }
        Family::Ipv6 => {
            let [a, b, c, d, ..] = Side::Server.addr6().segments();
            (
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0)),
                crate::lab::PREFIX_LEN6,
            )
        }
    };
    (format!("{net}/{len}"), net, len)
}

/// The main table's route to the lab's subnet in `family` in `side`'s
/// namespace.
async fn subnet_route(
    handle: &Handle,
    side: Side,
    family: Family,
) -> Result<netlink_packet_route::route::RouteMessage> {
    let (text, net, len) = subnet(family);
    let request = match family {
        Family::Ipv4 => RouteMessageBuilder::<Ipv4Addr>::new().build(),
        Family::Ipv6 => RouteMessageBuilder::<Ipv6Addr>::new().build(),
    };
    let mut routes = handle.route().get(request).execute();
    while let Some(r) = routes
        .try_next()
        .await
        .map_err(|e| Error::netlink("list the routes", e))?
    {
        let to_net = r.attributes.iter().any(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => IpAddr::V4(*d) == net,
            RouteAttribute::Destination(RouteAddress::Inet6(d)) => IpAddr::V6(*d) == net,
            _ => false,
        });
        if r.header.table == RouteHeader::RT_TABLE_MAIN
            && r.header.destination_prefix_length == len
            && to_net
        {
            return Ok(r);
        }
    }
    Err(Error::msg(format!(
        "no route to {text} in {side}'s namespace (is the lab configured? its address {} makes it)",
        side.ip(family)
    )))
}

/// The metrics the kernel holds on `side`'s route in `family` now.
fn metrics(lab: &Lab, side: Side, family: Family) -> Result<Vec<RouteMetric>> {
    let ns = lab.netns(side);
    let name = ns.name().to_string();
    ns.run("read the route's metrics", move || {
        crate::lab::rtnl(&name, move |handle| async move {
            let route = subnet_route(&handle, side, family).await?;
            Ok(route
                .attributes
                .into_iter()
                .find_map(|a| match a {
                    RouteAttribute::Metrics(m) => Some(m),
                    _ => None,
                })
                .unwrap_or_default())
        })
    })
}

/// The rto_min metric as the kernel holds it on `side`'s route in
/// `family` now: in ms, and whether it is locked.
pub fn rto_min(lab: &Lab, side: Side, family: Family) -> Result<Option<(u32, bool)>> {
    let metrics = metrics(lab, side, family)?;
    let lock = metrics.iter().find_map(|m| match m {
        RouteMetric::Lock(l) => Some(*l),
        _ => None,
    });
    let value = metrics.iter().find_map(|m| match m {
        RouteMetric::RtoMin(v) => Some(*v),
        _ => None,
    });
    Ok(value.map(|v| (v, lock.unwrap_or(0) & 1 << RTAX_RTO_MIN != 0)))
}

/// The window metric as the kernel holds it on `side`'s route in
/// `family` now, in bytes.
pub fn window(lab: &Lab, side: Side, family: Family) -> Result<Option<u32>> {
    Ok(metrics(lab, side, family)?.iter().find_map(|m| match m {
        RouteMetric::Window(v) => Some(*v),
        _ => None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rto_min_is_whole_milliseconds_up_to_a_day() {
        assert!(Metric::rto_min(Duration::from_millis(50)).is_ok());
        assert!(Metric::rto_min(Duration::from_micros(1500)).is_err());
        assert!(Metric::rto_min(Duration::ZERO).is_err());
        assert!(Metric::rto_min(Duration::from_secs(86_401)).is_err());
        assert_eq!(
            Metric::rto_min(Duration::from_secs(1)).unwrap().to_string(),
            "rto_min 1s"
        );
        assert_eq!(
            Metric::rto_min(Duration::from_millis(1500))
                .unwrap()
                .to_string(),
            "rto_min 1500ms"
        );
    }

    /// The metric lands on the host's own routes, both families', locked
    /// (or the kernel would not use it), and the other host's routes are
    /// left as they were.
    #[test]
    fn rto_min_is_set_locked_on_one_hosts_routes_only() {
        assert!(nix::unistd::geteuid().is_root(), "needs root");
        let lab = Lab::new("route-rto-min").expect("lab");
        for family in [Family::Ipv4, Family::Ipv6] {
            assert_eq!(rto_min(&lab, Side::Server, family).unwrap(), None);
        }
        set(&lab, Side::Server, Metric::RtoMin(Duration::from_secs(1))).unwrap();
        for family in [Family::Ipv4, Family::Ipv6] {
            let held = rto_min(&lab, Side::Server, family).unwrap();
            assert_eq!(held, Some((1000, true)), "{family}");
            assert_eq!(rto_min(&lab, Side::Client, family).unwrap(), None);
        }
        set(
            &lab,
            Side::Server,
            Metric::RtoMin(Duration::from_millis(50)),
        )
        .unwrap();
        for family in [Family::Ipv4, Family::Ipv6] {
            let held = rto_min(&lab, Side::Server, family).unwrap();
            assert_eq!(held, Some((50, true)), "{family}");
        }
    }

    #[test]
    fn window_is_one_byte_to_two_to_the_30th() {
        assert_eq!(Metric::window(65535).unwrap().to_string(), "window 65535");
        assert!(Metric::window(0).is_err());
        assert!(Metric::window(1 << 30).is_ok());
        assert!(Metric::window((1 << 30) + 1).is_err());
    }

    /// The window clamp lands beside an rto_min already set, which stays
    /// (and stays locked), on that host's routes only.
    #[test]
    fn window_is_set_beside_rto_min_on_one_hosts_routes_only() {
        assert!(nix::unistd::geteuid().is_root(), "needs root");
        let lab = Lab::new("route-window").expect("lab");
        set(&lab, Side::Server, Metric::RtoMin(Duration::from_secs(1))).unwrap();
        set(&lab, Side::Server, Metric::Window(65535)).unwrap();
        for family in [Family::Ipv4, Family::Ipv6] {
            assert_eq!(
                window(&lab, Side::Server, family).unwrap(),
                Some(65535),
                "{family}"
            );
            assert_eq!(
                rto_min(&lab, Side::Server, family).unwrap(),
                Some((1000, true)),
                "{family}"
            );
            assert_eq!(
                window(&lab, Side::Client, family).unwrap(),
                None,
                "{family}"
            );
        }
    }
}
