//! The Lifecare Samordnad planering dialect (Region Örebro län and its
//! municipalities, "ViSam").
//!
//! One XML document per message in namespace `urn:lifecare:sp:meddelande:2`
//! (default namespace), encoded in ISO-8859-1 (UTF-8 is also read). Times
//! are Swedish local time without offset; booleans are `ja`/`nej`; person ids
//! are 12 digits. The root `Meddelande` names the message type in `@typ`
//! and holds the sender (`Avsandare`), the case (`Arende`), the person
//! (`Patient`), one payload element and optionally `Extension`.
//!
//! - [`codes`]: message types, code tables, and where each canonical field
//!   lives (for refusals);
//! - `decode`: Lifecare → canonical, strict;
//! - `encode`: canonical → Lifecare, in the listing's element order.

pub mod codes;
mod decode;
mod encode;

use samgate_proto::v1::SourceSystem;

/// The Lifecare message namespace.
pub const NAMESPACE: &str = "urn:lifecare:sp:meddelande:2";

samgate_adapter_core::dialect!(
    /// The Lifecare dialect.
    Lifecare,
    "lifecare",
    SourceSystem::Lifecare,
    "application/xml; charset=ISO-8859-1"
);
