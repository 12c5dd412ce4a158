//! Rows 4: N sequential connections through the project's nc in one case:
//! cases/thousand-connections.case with its 1000 replaced by N (a perl
//! client making N connections, one after another, to `nc -kl`; each
//! connection's packets held by `packets × N`, the client's TIME-WAIT
//! sockets counted by `N × TIME-WAIT`; any capture drop fails the case).
//! The bench also reads the .pcap itself and counts the connections that
//! show [S] [S.] [.] [F.] [F.] [.] (or the four-packet release), a check
//! independent of the case's.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tcplab::error::Error;

use tcplab::packet::Packet;

use crate::proc::{clean_command, measure};
use crate::stats::show;
use crate::table::Row;
use crate::Env;

/// cases/thousand-connections.case for `n` connections, with time for the
/// client to make them (a deadline of 300 s instead of 30 s).
fn case_text(n: usize, root: &Path) -> Result<String, Error> {
    let path = root.join("cases/thousand-connections.case");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    let out = text
        .replace("for (1..1000)", &format!("for (1..{n})"))
        .replace("packets × 1000", &format!("packets × {n}"))
        .replace("1000 × TIME-WAIT", &format!("{n} × TIME-WAIT"))
        .replace("exits 0 within 30s", "exits 0 within 300s");
    if out.matches(&n.to_string()).count() < 3 {
        return Err(Error::msg(format!(
            "{} no longer says 1000 where the bench replaces it",
            path.display()
        )));
    }
    Ok(out)
}

/// What the capture file shows.
#[derive(Default)]
struct Seen {
    packets: usize,
    connections: usize,
    /// Connections whose packets are exactly the seed's exchange.
    complete: usize,
}

/// Flag bytes of the accepted exchanges: [S] [S.] [.] [F.] [F.] [.], and
/// the release in four when the server's delayed ACK goes alone.
const FORMS: [&[u8]; 2] = [
    &[0x02, 0x12, 0x10, 0x11, 0x11, 0x10],
    &[0x02, 0x12, 0x10, 0x11, 0x10, 0x11, 0x10],
];

fn read_pcap(path: &Path) -> Result<Seen, Error> {
    let mut cap = pcap::Capture::from_file(path)
        .map_err(|e| Error::pcap(format!("open {}", path.display()), e))?;
    let mut flows: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
    let mut seen = Seen::default();
    while let Ok(p) = cap.next_packet() {
        seen.packets += 1;
        let Some(pkt) = Packet::from_ethernet(p.data, Duration::ZERO) else {
            continue;
        };
        let port = if pkt.src.port() == 11111 {
            pkt.dst.port()
        } else {
            pkt.src.port()
        };
        flows.entry(port).or_default().push(pkt.flags.bits());
    }
    seen.connections = flows.len();
    seen.complete = flows
        .values()
        .filter(|f| FORMS.contains(&f.as_slice()))
        .count();
    Ok(seen)
}

/// `the capture dropped X packets (Y by the interface)` in a failure text.
fn drops(output: &str) -> Option<(u64, u64)> {
    let rest = output.split("it dropped ").nth(1)?;
    let (x, rest) = rest.split_once(" packets (")?;
    let (y, _) = rest.split_once(" by the interface")?;
    Some((x.parse().ok()?, y.parse().ok()?))
}

/// The first line of the case's failure, if it failed.
fn failure(output: &str) -> Option<String> {
    let i = output.find("---- ")?;
    output[i..].lines().nth(1).map(|l| l.trim().to_string())
}

fn one(env: &Env, n: usize, prev: Option<(usize, Duration)>) -> Result<(Row, Duration), Error> {
    let name = format!("scale-{n}");
    let dir = env.work.join(&name);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("mkdir {}", dir.display()), e))?;
    let file = dir.join(format!("{name}.case"));
    std::fs::write(&file, case_text(n, &env.root)?)
        .map_err(|e| Error::io(format!("write {}", file.display()), e))?;
    let out = env.work.join(format!("{name}.out"));
    // The run's files go to a folder of the bench's own, under a known
    // run id: the capture is then at OUT/runs/NAME/NAME.pcap.
    let out_root = dir.join("out");
    let _ = std::fs::remove_dir_all(&out_root);
    let mut cmd = clean_command(&env.cases_bin);
    cmd.env("TCPLAB_CASES", &dir)
        .env("TCPLAB_DEADLINE_MS", "600000")
        .env("TCPLAB_OUT", &out_root)
        .env("TCPLAB_RUN_ID", &name);
    let m = measure(&mut cmd, &out)?;
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let pcap = out_root
        .join("runs")
        .join(&name)
        .join(format!("{name}.pcap"));
    let seen = read_pcap(&pcap)?;
    let _ = std::fs::remove_dir_all(&out_root);
    let (dropped, by_if) = drops(&text).unwrap_or((0, 0));
    let verdict = if m.code == 0 {
        "case passed".to_string()
    } else {
        format!(
            "case FAILED: {}",
            failure(&text).unwrap_or_else(|| format!("exit {}", m.code))
        )
    };
    let per = m.wall / n as u32;
    let marginal = prev
        .map(|(pn, pw)| {
            format!(
                ", marginal {}",
                show(m.wall.saturating_sub(pw) / (n - pn) as u32)
            )
        })
        .unwrap_or_default();
    let row = Row {
        what: format!("scale: {n} sequential connections"),
        tcplab: show(m.wall),
        other: format!("{} per connection{marginal}", show(per)),
        ratio: format!("{dropped} dropped ({by_if} by the interface)"),
        runs: "1".into(),
        note: format!(
            "{verdict}; capture kept {} of {} packets; {} of {n} connections complete in the .pcap ({} seen); peak RSS {} MB; CPU {} user + {} sys",
            seen.packets,
            6 * n,
            seen.complete,
            seen.connections,
            m.maxrss_kb / 1024,
            show(m.user),
            show(m.sys)
        ),
    };
    Ok((row, m.wall))
}

pub fn rows(env: &Env, sizes: &[usize]) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut prev = None;
    for &n in sizes {
        match one(env, n, prev) {
            Ok((row, wall)) => {
                rows.push(row);
                prev = Some((n, wall));
            }
            Err(e) => rows.push(Row::failed(format!("scale: {n} sequential connections"), e)),
        }
    }
    rows
}
