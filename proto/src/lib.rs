//! The samgate common case model.
//!
//! Everything that both the dialect adapters and the gateway need to speak
//! the model lives here:
//! - [`v1`]: the protobuf types generated from `proto/samgate/v1/*.proto`
//!   (the `CaseEvent`, the `Case`, the gRPC services);
//! - [`canonical`]: the canonical JSON form of a `CaseEvent`;
//! - [`ids`]: identifier types that cannot hold an invalid value
//!   (personnummer, samordningsnummer, reservnummer, HSA-id, kommunkod);
//! - [`codes`]: bare enum names, shared by JSON and the CLI;
//! - [`validate`]: the required-field rules of the model.

pub mod canonical;
pub mod codes;
pub mod ids;
pub mod time;
pub mod validate;

/// Generated protobuf types of package `samgate.v1`.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("samgate.v1");
}

/// The encoded `FileDescriptorSet` of the samgate protos, for gRPC server
/// reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/samgate_descriptor.bin"));

pub use prost_types::Timestamp;
pub use v1::case_event::Payload;
pub use v1::{Actor, CaseEvent, Patient};
