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
//! The route is the connected one the kernel made for the host's address
//! (main table, 192.168.2.0/24): it is replaced with the same attributes
//! plus the metric, and goes with the namespace.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use futures::TryStreamExt;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMetric};
use rtnetlink::{Handle, RouteMessageBuilder};

use crate::error::{Error, Malformed, Result};
use crate::lab::{Lab, Side};

/// RTAX_RTO_MIN: its bit in RTAX_LOCK.
const RTAX_RTO_MIN: u32 = 13;

/// A metric a case sets on a host's route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// `rto_min 1s`: the floor of the retransmission timeout, in whole
    /// milliseconds (the kernel keeps it in ms).
    RtoMin(Duration),
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
}

impl fmt::Display for Metric {
    /// `rto_min 1s`, as a case and `ip route` write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::RtoMin(d) => match d.as_millis() {
                ms if ms % 1000 == 0 => write!(f, "rto_min {}s", ms / 1000),
                ms => write!(f, "rto_min {ms}ms"),
            },
        }
    }
}

/// Sets `metric` on `side`'s route to the lab's subnet, in its namespace.
pub fn set(lab: &Lab, side: Side, metric: Metric) -> Result<()> {
    let ns = lab.netns(side);
    let name = ns.name().to_string();
    let what = format!("{side} route {metric}");
    ns.run(&what.clone(), move || {
        crate::lab::rtnl(&name, move |handle| async move {
            replace(&handle, side, metric)
                .await
                .map_err(|e| e.context(&what))
        })
    })
}

/// The lab's connected route as the kernel holds it now, replaced by the
/// same with `metric` added.
async fn replace(handle: &Handle, side: Side, metric: Metric) -> Result<()> {
    let mut route = subnet_route(handle, side).await?;
    let Metric::RtoMin(d) = metric;
    let ms = d.as_millis() as u32;
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
    metrics.retain(|m| match m {
        RouteMetric::Lock(l) => {
            lock = *l;
            false
        }
        RouteMetric::RtoMin(_) => false,
        _ => true,
    });
    metrics.push(RouteMetric::Lock(lock | 1 << RTAX_RTO_MIN));
    metrics.push(RouteMetric::RtoMin(ms));
    route.attributes.push(RouteAttribute::Metrics(metrics));
    handle
        .route()
        .add(route)
        .replace()
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("replace the route to {}", subnet()), e))
}

/// 192.168.2.0/24: the subnet of the lab's two addresses.
fn subnet() -> String {
    let [a, b, c, _] = Side::Server.addr().octets();
    format!("{a}.{b}.{c}.0/{}", crate::lab::PREFIX_LEN)
}

/// The main table's route to the lab's subnet in `side`'s namespace.
async fn subnet_route(
    handle: &Handle,
    side: Side,
) -> Result<netlink_packet_route::route::RouteMessage> {
    let [a, b, c, _] = Side::Server.addr().octets();
    let net = Ipv4Addr::new(a, b, c, 0);
    let mut routes = handle
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute();
    while let Some(r) = routes
        .try_next()
        .await
        .map_err(|e| Error::netlink("list the routes", e))?
    {
        let to_net = r
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Destination(RouteAddress::Inet(d)) if *d == net));
        if r.header.table == RouteHeader::RT_TABLE_MAIN
            && r.header.destination_prefix_length == crate::lab::PREFIX_LEN
            && to_net
        {
            return Ok(r);
        }
    }
    Err(Error::msg(format!(
        "no route to {} in {side}'s namespace (is the lab configured? its address {} makes it)",
        subnet(),
        IpAddr::V4(side.addr())
    )))
}

/// The metric as the kernel holds it on `side`'s route now: rto_min in
/// ms, and whether it is locked.
pub fn rto_min(lab: &Lab, side: Side) -> Result<Option<(u32, bool)>> {
    let ns = lab.netns(side);
    let name = ns.name().to_string();
    ns.run("read the route's rto_min", move || {
        crate::lab::rtnl(&name, move |handle| async move {
            let route = subnet_route(&handle, side).await?;
            let metrics: Vec<RouteMetric> = route
                .attributes
                .into_iter()
                .find_map(|a| match a {
                    RouteAttribute::Metrics(m) => Some(m),
                    _ => None,
                })
                .unwrap_or_default();
            let lock = metrics.iter().find_map(|m| match m {
                RouteMetric::Lock(l) => Some(*l),
                _ => None,
            });
            let value = metrics.iter().find_map(|m| match m {
                RouteMetric::RtoMin(v) => Some(*v),
                _ => None,
            });
            Ok(value.map(|v| (v, lock.unwrap_or(0) & 1 << RTAX_RTO_MIN != 0)))
        })
    })
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

    /// The metric lands on the host's own route, locked (or the kernel
    /// would not use it), and the other host's route is left as it was.
    #[test]
    fn rto_min_is_set_locked_on_one_hosts_route_only() {
        assert!(nix::unistd::geteuid().is_root(), "needs root");
        let lab = Lab::new("route-rto-min").expect("lab");
        assert_eq!(rto_min(&lab, Side::Server).unwrap(), None);
        set(&lab, Side::Server, Metric::RtoMin(Duration::from_secs(1))).unwrap();
        assert_eq!(rto_min(&lab, Side::Server).unwrap(), Some((1000, true)));
        assert_eq!(rto_min(&lab, Side::Client).unwrap(), None);
        set(
            &lab,
            Side::Server,
            Metric::RtoMin(Duration::from_millis(50)),
        )
        .unwrap();
        assert_eq!(rto_min(&lab, Side::Server).unwrap(), Some((50, true)));
    }
}
