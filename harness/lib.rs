//! tcplab: TCP's life cycle as assertable cases. Each case file runs in a
//! pair of network namespaces of its own (`client` 192.168.2.105, `server`
//! 192.168.2.100, one veth), with real processes, a capture on the
//! server's interface and the kernel's own views of sockets, descriptors
//! and system calls, and fails with `file:line` and a side-by-side ladder
//! when the kernel or the program does something else. The case format
//! and the command are in README.md.
//!
//! Three ways to run a folder of cases from your own repository:
//!
//! - the `tcplab` command (`cargo install`): `tcplab run tcp-cases`;
//! - a `harness = false` test target whose `main` is [`main`] (or a
//!   [`Runner`], to name your own binaries for the cases): `cargo test`
//!   runs each case as a test, with libtest's filters, and cargo-nextest
//!   one process per case;
//! - one test per case file with rstest's `#[files]` and [`run_case`].
//!
//! All three need root (network namespaces, a capture): not root, they
//! run themselves through `sudo -E` where they can, or say in one line
//! what they need. Every run writes its captures, results, an HTML and a
//! Markdown report and JUnit XML into a folder of its own (`tcplab/runs/`
//! in the cargo target folder; TCPLAB_OUT elsewhere).
//!
//! The modules below the surface are tcplab's own, public only for its
//! test targets and benchmark; they change without notice.

#[doc(hidden)]
pub mod suite;

pub use suite::{main, run_case, Outcome, Runner};

#[doc(hidden)]
pub mod capture;
#[doc(hidden)]
pub mod case;
#[doc(hidden)]
pub mod cli;
/// The `tcplab` command (harness/bin/tcplab.rs).
#[doc(hidden)]
pub mod command;
#[doc(hidden)]
pub mod error;
#[doc(hidden)]
pub mod faults;
#[doc(hidden)]
pub mod fds;
#[doc(hidden)]
pub mod flow;
#[doc(hidden)]
pub mod gate;
#[doc(hidden)]
pub mod host;
#[doc(hidden)]
pub mod hostnet;
#[doc(hidden)]
pub mod icmp;
#[doc(hidden)]
pub mod inject;
#[doc(hidden)]
pub mod interrupt;
#[doc(hidden)]
pub mod kernel;
#[doc(hidden)]
pub mod lab;
/// The nc-equivalent (`harness/nc/`, also the `tcplab-nc` binary): a
/// runner started as `tcplab-nc` runs it (`suite::nc_dispatch`).
#[doc(hidden)]
#[path = "nc/main.rs"]
pub mod nc;
#[doc(hidden)]
pub mod netns;
#[doc(hidden)]
pub mod notation;
#[doc(hidden)]
pub mod output;
#[doc(hidden)]
pub mod owner;
#[doc(hidden)]
pub mod packet;
#[doc(hidden)]
pub mod procs;
#[doc(hidden)]
pub mod report;
#[doc(hidden)]
pub mod route;
#[doc(hidden)]
pub mod sockets;
#[doc(hidden)]
pub mod steering;
#[doc(hidden)]
pub mod syscalls;
#[doc(hidden)]
pub mod sysctl;
#[doc(hidden)]
pub mod tcpdump;
