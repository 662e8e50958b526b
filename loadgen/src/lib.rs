//! `forewarn-loadgen`: a load generator for the Forewarn collector.
//!
//! It enrolls simulated devices for real (token, key pair, CSR), keeps one
//! mTLS gRPC connection per device and sends realistic reports at a target
//! rate or as fast as the collector takes them, then prints what the
//! collector sustained and what it cost. How to run it: docs/loadgen.md.
//!
//! # Layout
//! - [`synth`]: one simulated device and the reports it sends (pure).
//! - [`identities`]: enrollment, and the cache of enrolled devices.
//! - [`drive`]: connections, the schedule and the measured window.
//! - [`stats`]: latency percentiles and errors by gRPC code (pure).
//! - [`procfs`]: the collector's CPU time and memory from `/proc`.
//! - [`summary`]: the table printed at the end (pure).
//! - [`run`]: the whole run, in order.

pub mod drive;
pub mod identities;
pub mod procfs;
pub mod run;
pub mod stats;
pub mod summary;
pub mod synth;
