//! samgate's reader of the journal systems' HL7 v2 ADT feed.
//!
//! Hospitals' journal systems announce admissions, transfers and discharges
//! as HL7 v2 ADT messages over MLLP. This crate reads them, as the contract
//! `hl7v2.md` says, into a typed [`StayUpdate`] and builds the ACK that
//! answers each. It is a pure library: no store, no listener, no routing.
//!
//! - [`mllp`]: framing, a bounded incremental decoder and the encoder;
//! - [`message`]: the guarded structural reader (delimiters, segments);
//! - [`text`]: escape sequences and character sets of the fields read;
//! - [`read`]: a message to its [`Outcome`] (stay update, ignored, incoming
//!   ACK, refusal) in the contract's order of checks;
//! - [`stay`]: the stay update and its JSON form;
//! - [`ack`]: AA, AE and AR acknowledgements in original mode;
//! - [`batch`]: FHS/BHS … BTS/FTS batches split into messages;
//! - [`error`]: refusals (AE/AR, table 0357 code, segment and field, reason).
//!
//! The reader never panics and never holds more than the message: every
//! limit is a named constant, and every refusal names where and why without
//! repeating the message's content.

pub mod ack;
pub mod batch;
mod dtm;
pub mod error;
pub mod message;
pub mod mllp;
pub mod read;
pub mod stay;
pub mod text;

pub use ack::{AckContext, Answer};
pub use dtm::parse_dtm;
pub use error::{ErrorCode, Location, Refusal, Severity};
pub use read::{IgnoreReason, Ignored, Options, Outcome, Reading, read};
pub use stay::{Dispositions, IdempotencyKey, Person, StayUpdate, Trigger};

/// The largest message samgate reads: the contract's 1 MiB, the same limit
/// as the coordination dialects (an ADT message is a few KiB; anything near
/// this is an attachment or an attack).
pub const MAX_MESSAGE_BYTES: usize = samgate_adapter_core::MAX_MESSAGE_BYTES;

/// The most segments one message may have (the contract's 1,000; AR 100): a
/// full ADT^A01 with every optional group has a few dozen, and the limit
/// bounds the list of segment ranges the reader keeps.
pub const MAX_SEGMENTS: usize = 1_000;

/// The largest field samgate reads (the contract's 64 KiB; AE 102). HL7's
/// own per-field lengths are not enforced (an HSA-id may exceed PL.1's 20),
/// but no field samgate reads comes near this.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
