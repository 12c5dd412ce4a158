//! What a run shows a person: the captured packets as `tcpdump -nn -r`
//! prints them (`crate::tcpdump`), and the seed's ladder diagram of the
//! conversation with the steps that caused it (`ladder`); for a capture of
//! many connections, the first and the last in full and the rest counted
//! (`many`); a run's pages (`html`, `summary`) and JUnit XML (`junit`).

pub mod coverage;
pub mod error;
pub mod html;
pub mod junit;
pub mod kernels;
pub mod ladder;
pub mod libtest;
pub mod many;
pub mod results;
pub mod runs;
pub mod summary;
pub mod when;
