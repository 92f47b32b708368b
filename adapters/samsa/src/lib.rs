//! The SAMSA dialect (Västra Götaland).
//!
//! One UTF-8 XML document per message in namespace
//! `urn:vgr:samsa:notification:3` (default namespace), HL7 v3 flavoured: ids
//! are `id` elements with an OID `@root` and an `@extension`, coded values
//! are `@code`, times are `@value` as HL7 TS with a required offset
//! (`YYYYMMDDHHMMSS±ZZZZ`, written in Swedish local time), dates `YYYYMMDD`,
//! phones `tel:` + the number verbatim. The root `Notification` holds the
//! message id, `code` (the type), `effectiveTime`, `author`, `case`,
//! `subject`, `component` with one payload, and optionally `extension`.

pub mod codes;
mod decode;
mod encode;

use samgate_proto::v1::SourceSystem;

/// The SAMSA message namespace.
pub const NAMESPACE: &str = "urn:vgr:samsa:notification:3";

samgate_adapter_core::dialect!(
    /// The SAMSA dialect.
    Samsa,
    "samsa",
    SourceSystem::Samsa,
    "application/xml; charset=UTF-8"
);
