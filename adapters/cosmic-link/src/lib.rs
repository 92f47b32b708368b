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

use samgate_proto::v1::SourceSystem;

/// The Cosmic Link message namespace.
pub const NAMESPACE: &str = "urn:cambio:cosmiclink:coordination:3";

samgate_adapter_core::dialect!(
    /// The Cosmic Link dialect.
    CosmicLink,
    "cosmic-link",
    SourceSystem::CosmicLink,
    "application/xml; charset=UTF-8"
);
