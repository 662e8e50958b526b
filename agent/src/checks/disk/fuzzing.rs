//! The pure disk parsers (macOS mount table, APFS volumes, Windows drive
//! roots) and the mount filter, reachable from the `fuzz/` crate. Compiled only
//! with the `fuzzing` feature: the agent itself never needs them public.

pub use super::filter::real_filesystems;
pub use super::parse::*;
