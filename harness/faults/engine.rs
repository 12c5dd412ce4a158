//! One namespace's verdict thread: it lives in the receiving namespace,
//! owns that namespace's NFQUEUE and its nftables table, and judges every
//! TCP segment arriving on the lab's veth, one at a time and in arrival
//! order, so each rule's count is exact.
//!
//! The thread waits in poll(2) for three things: queued packets, a wake-up
//! (rule change, stop) and the earliest delayed packet's due time. A delay
//! is therefore a timer, never a sleep, and other packets pass meanwhile.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::link::{Link, LinkReport};
use super::nfnl::NfSocket;
use super::nft;
use super::queue::{Queue, Queued};
use super::rule::{Direction, Rule, RuleId, RuleReport};
use super::state::{LinkState, RuleState, State, Verdict};
use crate::error::{Error, Result};
use crate::lab::Side;
use crate::netns::Netns;

/// The queue number inside each namespace (queues are per namespace).
const QUEUE: u16 = 0;

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running verdict thread; stopped (held packets released, table
/// deleted) on drop.
pub(super) struct Engine {
    shared: Arc<Shared>,
    wake: OwnedFd,
    thread: Option<JoinHandle<Result<()>>>,
    netns: String,
    /// How long starting it took (thread, queue bind, nftables table).
    pub setup: Duration,
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Engine {
    /// Starts the thread in `netns`, judging packets that arrive on `side`'s
    /// veth end. Returns once the queue is bound and the rule installed.
    pub fn start(netns: &Netns, side: Side) -> Result<Engine> {
        let started = Instant::now();
        let what = format!("start fault rules in netns {}", netns.name());
        let (wake_rx, wake) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(|e| Error::sys(format!("{what}: pipe2"), e))?;
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            stop: AtomicBool::new(false),
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let inner = shared.clone();
        let thread = netns.spawn_named(format!("faults-{side}"), move || {
            let setup = Queue::bind(QUEUE).and_then(|queue| {
                let mut nf = NfSocket::open()?;
                nft::install(&mut nf, side.iface(), QUEUE)?;
                Ok((queue, nf))
            });
            match setup {
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
                Ok((queue, nf)) => {
                    let _ = ready_tx.send(Ok(()));
                    Verdicts {
                        queue,
                        shared: inner,
                        wake: wake_rx,
                    }
                    .run(nf);
                }
            }
            Ok(())
        })?;
        // No answer: the thread ended before it could send one (it could
        // not enter the namespace), and says why when joined.
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e.context(&what));
            }
            Err(_) => {
                return Err(match thread.join() {
                    Ok(Err(e)) => e.context(&what),
                    _ => Error::msg(format!("{what}: the verdict thread died")),
                })
            }
        }
        Ok(Engine {
            shared,
            wake,
            thread: Some(thread),
            netns: netns.name().to_string(),
            setup: started.elapsed(),
        })
    }

    fn poke(&self) {
        let _ = nix::unistd::write(&self.wake, &[1]);
    }

    /// Adds a rule; it sees every packet that arrives after this returns.
    pub fn add(&self, id: RuleId, rule: Rule) {
        self.shared.lock().rules.push(RuleState {
            id,
            rule,
            active: true,
            matched: 0,
            acted: vec![],
        });
    }

    /// Stops a rule matching. Packets it delays keep their due time;
    /// packets it holds for reordering are let through now.
    pub fn remove(&self, id: RuleId) -> Option<RuleReport> {
        let report = {
            let mut st = self.shared.lock();
            let r = st.rules.iter_mut().find(|r| r.id == id)?;
            r.active = false;
            r.report()
        };
        self.poke();
        Some(report)
    }

    /// Puts `link` in force for this direction, replacing the one before
    /// (whose record is kept). `dup`: a raw IP socket in the sender's
    /// namespace and the receiver's address, for duplicates.
    pub fn set_link(
        &self,
        direction: Direction,
        link: Link,
        dup: Option<(OwnedFd, std::net::Ipv4Addr)>,
    ) {
        let mut st = self.shared.lock();
        st.links.iter_mut().for_each(|l| l.active = false);
        st.links.push(LinkState::new(direction, link, dup));
        drop(st);
        self.poke();
    }

    /// Takes the link faults out of force; what they did.
    pub fn clear_link(&self) -> Option<LinkReport> {
        let report = {
            let mut st = self.shared.lock();
            let l = st.links.iter_mut().rev().find(|l| l.active)?;
            l.active = false;
            l.report()
        };
        self.poke();
        Some(report)
    }

    pub fn link_reports(&self) -> Vec<LinkReport> {
        self.shared
            .lock()
            .links
            .iter()
            .map(LinkState::report)
            .collect()
    }

    pub fn reports(&self) -> Vec<RuleReport> {
        self.shared
            .lock()
            .rules
            .iter()
            .map(RuleState::report)
            .collect()
    }

    pub fn holding(&self) -> bool {
        !self.shared.lock().held.is_empty()
    }

    /// Packets seen so far (every TCP segment that arrived on the veth).
    pub fn seen(&self) -> u64 {
        self.shared.lock().seen
    }

    /// The thread's fatal error, if it stopped.
    pub fn health(&self) -> Result<()> {
        match &self.shared.lock().error {
            Some(e) => Err(Error::msg(format!(
                "fault rules in netns {}: {e}",
                self.netns
            ))),
            None => Ok(()),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.poke();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Verdicts {
    queue: Queue,
    shared: Arc<Shared>,
    wake: OwnedFd,
}

impl Verdicts {
    fn run(mut self, mut nf: NfSocket) {
        if let Err(e) = self.serve() {
            self.shared.lock().error = Some(e.to_string());
        }
        // Whatever is still held goes through, then the table goes: the
        // namespace is as it was before the first rule.
        let held: Vec<u32> = self
            .shared
            .lock()
            .held
            .drain(..)
            .map(|h| h.packet)
            .collect();
        for id in held {
            let _ = self.queue.verdict(id, true);
        }
        let _ = nft::remove(&mut nf);
    }

    fn serve(&mut self) -> Result<()> {
        let mut batch = Vec::new();
        while !self.shared.stop.load(Ordering::SeqCst) {
            let timeout = self
                .next_due()
                .map(|due| due.saturating_duration_since(Instant::now()));
            self.wait(timeout)?;
            self.queue.drain(&mut batch)?;
            for q in batch.drain(..) {
                self.judge(q)?;
            }
            self.release(Instant::now())?;
        }
        Ok(())
    }

    fn next_due(&self) -> Option<Instant> {
        self.shared.lock().next_due()
    }

    fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        let ms = match timeout {
            None => PollTimeout::NONE,
            // Round up: waking a little early would just loop again.
            Some(t) => PollTimeout::try_from(t.as_micros().div_ceil(1000).min(60_000) as i32)
                .unwrap_or(PollTimeout::MAX),
        };
        let mut fds = [
            PollFd::new(self.queue.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.wake.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, ms) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::sys("poll the NFQUEUE socket", e)),
        }
        let mut sink = [0u8; 64];
        while matches!(nix::unistd::read(&self.wake, &mut sink), Ok(n) if n > 0) {}
        Ok(())
    }

    /// One packet's verdict, decided under the lock (see [`State::judge`]).
    fn judge(&mut self, q: Queued) -> Result<()> {
        let shared = self.shared.clone();
        let mut st = shared.lock();
        let (verdict, duplicate) = st.judge(q.id, &q.payload, now(), Instant::now());
        match verdict {
            Verdict::Accept => self.accept(&mut st, q.id)?,
            Verdict::Drop => self.queue.verdict(q.id, false)?,
            Verdict::Hold => {}
        }
        if let Some(bytes) = duplicate {
            send_copy(&st, &bytes)?;
        }
        Ok(())
    }

    /// Accepts `id`; then the packets held for reordering follow it.
    fn accept(&mut self, st: &mut State, id: u32) -> Result<()> {
        self.queue.verdict(id, true)?;
        for follower in st.accepted(id, now()) {
            self.queue.verdict(follower, true)?;
        }
        Ok(())
    }

    /// Lets through delayed packets that are due, and packets held for
    /// reordering by rules or links that were removed.
    fn release(&mut self, at: Instant) -> Result<()> {
        let shared = self.shared.clone();
        let mut st = shared.lock();
        while let Some(id) = st.take_due(at, now()) {
            self.accept(&mut st, id)?;
        }
        Ok(())
    }
}

/// Sends a duplicate from the sender's namespace, through its raw IP
/// socket: the copy crosses the wire like the original.
fn send_copy(st: &State, datagram: &[u8]) -> Result<()> {
    use nix::sys::socket::{sendto, MsgFlags, SockaddrIn};
    let Some((fd, dst)) = st.links.last().and_then(|l| l.dup.as_ref()) else {
        return Ok(());
    };
    let [a, b, c, d] = dst.octets();
    sendto(
        fd.as_raw_fd(),
        datagram,
        &SockaddrIn::new(a, b, c, d, 0),
        MsgFlags::empty(),
    )
    .map(drop)
    .map_err(|e| Error::sys(format!("send a duplicate to {dst} (raw IP socket)"), e))
}
