//! The forewarn.v1 wire protocol shared by agent and collector.
//!
//! # Layout
//! - [`pb`]: generated prost messages and tonic clients/servers.
//! - [`codec`]: prost's codec, with undecodable messages as `INVALID_ARGUMENT`.
//! - [`check`]: [`CheckKind`], the names of the checks on the wire.
//! - [`limits`]: size limits both sides honour, so an agent never builds a
//!   report the collector must refuse.
//! - `enum_names`: serde glue that prints enum fields by name.

pub mod check;
pub mod codec;
pub mod limits;

pub use check::CheckKind;

mod enum_names;

/// Generated protobuf messages and gRPC services for `forewarn.v1`.
pub mod pb {
    #![allow(missing_docs, unused_qualifications, missing_debug_implementations)]
    tonic::include_proto!("forewarn.v1");
}
