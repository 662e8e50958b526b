//! The fleet as people talk about it: which state a device is in, which
//! device a hostname or id start names, and when an enrolling machine is one
//! already known. Pure functions; the callers read the store.
//!
//! # Layout
//! - [`state`]: online, offline, retired, never reported; what to check
//!   for a device that never reported.
//! - [`resolve`]: a hostname or id start to one device, or the candidates.
//! - [`hardware`]: whether an enrolling machine is a known device (re-image).
//! - [`certificate`]: which certificates a re-enrollment replaced.

pub mod certificate;
pub mod hardware;
pub mod resolve;
pub mod state;
