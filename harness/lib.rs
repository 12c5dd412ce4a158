//! tcplab: the TCP life cycle as assertable cases. See README.md.

pub mod capture;
pub mod case;
pub mod cli;
pub mod error;
pub mod faults;
pub mod fds;
pub mod flow;
pub mod gate;
pub mod host;
pub mod hostnet;
pub mod inject;
pub mod interrupt;
pub mod kernel;
pub mod lab;
pub mod netns;
pub mod notation;
pub mod output;
pub mod owner;
pub mod packet;
pub mod procs;
pub mod report;
pub mod route;
pub mod sockets;
pub mod syscalls;
pub mod sysctl;
pub mod tcpdump;
