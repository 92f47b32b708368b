//! What every samgate dialect adapter shares.
//!
//! A dialect adapter turns the bytes of one coordination system's message
//! into a canonical `CaseEvent` and back. This crate holds the one trait they
//! all implement ([`Dialect`]), the refusal and warning types, the guarded XML
//! reader every decoder walks ([`xml::read`]), a small XML writer, text
//! encodings and the dialects' time formats. It knows nothing of the store,
//! routing or transports.

pub mod codes;
pub mod document;
pub mod encoding;
mod error;
pub mod fields;
pub mod time;
pub mod xml;

pub use error::{DecodeError, EncodeError, Warning};
pub use samgate_proto as proto;

use samgate_proto::CaseEvent;
use samgate_proto::v1::SourceSystem;
use samgate_proto::validate::Checked;

/// The largest message any of the three systems accepts (their own limit).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The content of a dialect's extension element, kept verbatim so that a
/// message translated back into the same dialect carries it unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The dialect whose extension element held it (`lifecare`).
    pub dialect: &'static str,
    /// The element's inner XML, as written in the source (UTF-8).
    pub inner_xml: String,
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The event, checked against the model's rules.
    pub event: Checked<CaseEvent>,
    pub warnings: Vec<Warning>,
    pub extension: Option<Extension>,
}

/// An encoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub warnings: Vec<Warning>,
}

/// One coordination system's message style.
pub trait Dialect: Send + Sync {
    /// The dialect's name on the command line and in config (`cosmic-link`).
    fn name(&self) -> &'static str;

    /// The `sourceSystem` of events decoded from this dialect.
    fn source_system(&self) -> SourceSystem;

    /// The MIME type of encoded messages.
    fn content_type(&self) -> &'static str {
        "application/xml"
    }

    /// Bytes to a checked canonical event, or a refusal that names the
    /// element path and the reason.
    fn decode(&self, input: &[u8]) -> Result<Decoded, DecodeError>;

    /// A checked canonical event to bytes. An extension from the same
    /// dialect is written back verbatim; one from another dialect is
    /// dropped with a warning. (An unchecked event is checked first with
    /// [`document::check_for_encoding`].)
    fn encode(
        &self,
        event: &Checked<CaseEvent>,
        extension: Option<&Extension>,
    ) -> Result<Encoded, EncodeError>;
}

/// The warning an encoder gives when it drops another dialect's extension.
pub fn extension_dropped(extension: Option<&Extension>, target: &'static str) -> Option<Warning> {
    extension.filter(|e| e.dialect != target).map(|e| {
        Warning::new(
            "extension-dropped",
            format!(
                "the {} extension element cannot be carried into {target} and was dropped",
                e.dialect
            ),
        )
    })
}

/// Declares a dialect type and its `Dialect` implementation from the
/// crate's `decode::decode` and `encode::encode` functions, so each
/// dialect crate states only what is its own.
///
/// ```ignore
/// samgate_adapter_core::dialect!(
///     /// The Lifecare dialect.
///     Lifecare, "lifecare", SourceSystem::Lifecare, "application/xml; charset=ISO-8859-1"
/// );
/// ```
#[macro_export]
macro_rules! dialect {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $system:expr, $content_type:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $ty;

        impl $crate::Dialect for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn source_system(&self) -> $crate::proto::v1::SourceSystem {
                $system
            }

            fn content_type(&self) -> &'static str {
                $content_type
            }

            fn decode(&self, input: &[u8]) -> Result<$crate::Decoded, $crate::DecodeError> {
                decode::decode(input)
            }

            fn encode(
                &self,
                event: &$crate::proto::validate::Checked<$crate::proto::CaseEvent>,
                extension: Option<&$crate::Extension>,
            ) -> Result<$crate::Encoded, $crate::EncodeError> {
                encode::encode(event, extension)
            }
        }
    };
}
