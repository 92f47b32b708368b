//! The Cosmic Link dialect (Region Östergötland and its municipalities,
//! "SVOP").
//!
//! One UTF-8 XML document per message in namespace
//! `urn:cambio:cosmiclink:coordination:3` (prefix `cl` by convention; the
//! decoder matches the namespace, never the prefix), root attribute
//! `schemaVersion` with major version 3. Times are RFC 3339 (written as UTC
//! `Z`); person ids are written `YYYYMMDD-NNNN`; booleans `true`/`false`. The
//! root `cl:Message` holds `cl:Header` (id, type, time, sender), `cl:Case`
//! (person and `cl:Content` with one payload) and optionally `cl:Extensions`.
//!
//! Policy, enforced by routing and not here: Cosmic Link must never receive
//! a case about a person with protected identity. Translation itself is
//! faithful and writes `cl:Protected` true.

pub mod codes;
mod decode;
mod encode;

use samgate_adapter_core::{DecodeError, Decoded, Dialect, EncodeError, Encoded, Extension};
use samgate_proto::CaseEvent;
use samgate_proto::v1::SourceSystem;

/// The Cosmic Link message namespace.
pub const NAMESPACE: &str = "urn:cambio:cosmiclink:coordination:3";

/// The Cosmic Link dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct CosmicLink;

impl Dialect for CosmicLink {
    fn name(&self) -> &'static str {
        "cosmic-link"
    }

    fn source_system(&self) -> SourceSystem {
        SourceSystem::CosmicLink
    }

    fn content_type(&self) -> &'static str {
        "application/xml; charset=UTF-8"
    }

    fn decode(&self, input: &[u8]) -> Result<Decoded, DecodeError> {
        decode::decode(input)
    }

    fn encode(
        &self,
        event: &CaseEvent,
        extension: Option<&Extension>,
    ) -> Result<Encoded, EncodeError> {
        encode::encode(event, extension)
    }
}
