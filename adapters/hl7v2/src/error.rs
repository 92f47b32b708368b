//! Refusals: which answer (AE or AR), which HL7 table 0357 code, where in
//! the message (segment and field), and why, in words that never carry the
//! message's content (the text goes into ERR segments and logs).

use std::fmt;

use samgate_adapter_core::DecodeError;

/// The dialect name refusals carry when turned into a [`DecodeError`].
pub const DIALECT: &str = "hl7v2";

/// Which negative acknowledgement a refusal earns (MSA-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// AE: the content is wrong; final, the sender parks the message.
    Error,
    /// AR: the message cannot be processed at all; final too (except 207).
    Reject,
}

impl Severity {
    /// The MSA-1 code.
    pub fn ack_code(self) -> &'static str {
        match self {
            Severity::Error => "AE",
            Severity::Reject => "AR",
        }
    }
}

/// The codes of HL7 table 0357 (message error condition codes) samgate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 100: a segment missing, or the message is not HL7 at all.
    SegmentSequence,
    /// 101: a required field missing.
    RequiredFieldMissing,
    /// 102: a value of the wrong form.
    DataType,
    /// 103: a code not in its table.
    TableValueNotFound,
    /// 200: unsupported message type.
    UnsupportedMessageType,
    /// 201: unsupported event (trigger) code.
    UnsupportedEventCode,
    /// 202: unsupported processing id.
    UnsupportedProcessingId,
    /// 203: unsupported version id.
    UnsupportedVersionId,
    /// 205: a reused control id with different content.
    DuplicateKey,
    /// 207: samgate cannot commit (store down, shutting down).
    ApplicationInternal,
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::SegmentSequence => 100,
            ErrorCode::RequiredFieldMissing => 101,
            ErrorCode::DataType => 102,
            ErrorCode::TableValueNotFound => 103,
            ErrorCode::UnsupportedMessageType => 200,
            ErrorCode::UnsupportedEventCode => 201,
            ErrorCode::UnsupportedProcessingId => 202,
            ErrorCode::UnsupportedVersionId => 203,
            ErrorCode::DuplicateKey => 205,
            ErrorCode::ApplicationInternal => 207,
        }
    }

    /// The code's name in table 0357.
    pub fn text(self) -> &'static str {
        match self {
            ErrorCode::SegmentSequence => "Segment sequence error",
            ErrorCode::RequiredFieldMissing => "Required field missing",
            ErrorCode::DataType => "Data type error",
            ErrorCode::TableValueNotFound => "Table value not found",
            ErrorCode::UnsupportedMessageType => "Unsupported message type",
            ErrorCode::UnsupportedEventCode => "Unsupported event code",
            ErrorCode::UnsupportedProcessingId => "Unsupported processing id",
            ErrorCode::UnsupportedVersionId => "Unsupported version id",
            ErrorCode::DuplicateKey => "Duplicate key identifier",
            ErrorCode::ApplicationInternal => "Application internal error",
        }
    }
}

/// Where a refusal points: a segment (its first occurrence) and a field.
/// Without a field it names the whole segment; `MSH` without a field is the
/// message as a whole (not HL7, MSH unreadable, too large).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub segment: SegmentId,
    pub field: Option<u16>,
}

/// A three-character segment id (`PID`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentId([u8; 3]);

impl SegmentId {
    /// `id` must be three ASCII characters (a programming error otherwise,
    /// caught at compile time for constants).
    pub const fn new(id: &str) -> Self {
        let b = id.as_bytes();
        SegmentId([b[0], b[1], b[2]])
    }

    /// A segment id read from a message, if it is three ASCII characters.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        match b {
            [x, y, z] if b.is_ascii() => Some(SegmentId([*x, *y, *z])),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Debug for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Location {
    /// The message as a whole (`MSH^1`).
    pub const MESSAGE: Location = Location {
        segment: SegmentId::new("MSH"),
        field: None,
    };

    pub const fn field(segment: &str, field: u16) -> Self {
        Location {
            segment: SegmentId::new(segment),
            field: Some(field),
        }
    }

    pub const fn segment(segment: &str) -> Self {
        Location {
            segment: SegmentId::new(segment),
            field: None,
        }
    }

    /// The ERL form of ERR-2 (`PID^1^3`): segment, sequence 1 (samgate reads
    /// only the first of a repeated segment), field.
    pub fn erl(&self) -> String {
        match self.field {
            Some(f) => format!("{}^1^{f}", self.segment),
            None => format!("{}^1", self.segment),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(n) => write!(f, "{}-{n}", self.segment),
            None => f.write_str(self.segment.as_str()),
        }
    }
}

/// A message samgate refuses. `reason` never holds a value from the
/// message (no identity, name or free text): it is written into the ACK's
/// ERR segment and may be logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {reason}")]
pub struct Refusal {
    pub severity: Severity,
    pub code: ErrorCode,
    pub location: Location,
    pub reason: String,
}

impl Refusal {
    /// An AE refusal.
    pub fn error(code: ErrorCode, location: Location, reason: impl Into<String>) -> Self {
        Refusal {
            severity: Severity::Error,
            code,
            location,
            reason: reason.into(),
        }
    }

    /// An AR refusal.
    pub fn reject(code: ErrorCode, location: Location, reason: impl Into<String>) -> Self {
        Refusal {
            severity: Severity::Reject,
            code,
            location,
            reason: reason.into(),
        }
    }

    /// AR 100 for a message that is not HL7 or whose MSH cannot be read.
    pub fn unreadable(reason: impl Into<String>) -> Self {
        Refusal::reject(ErrorCode::SegmentSequence, Location::MESSAGE, reason)
    }

    /// AE 101 at a field.
    pub fn missing(location: Location, what: &str) -> Self {
        Refusal::error(
            ErrorCode::RequiredFieldMissing,
            location,
            format!("{what} is required"),
        )
    }

    /// AE 102 at a field.
    pub fn form(location: Location, reason: impl Into<String>) -> Self {
        Refusal::error(ErrorCode::DataType, location, reason)
    }

    /// AE 103 at a field.
    pub fn table(location: Location, reason: impl Into<String>) -> Self {
        Refusal::error(ErrorCode::TableValueNotFound, location, reason)
    }

    /// AE 205: the key was stored before with different content.
    pub fn duplicate_key() -> Self {
        Refusal::error(
            ErrorCode::DuplicateKey,
            Location::field("MSH", 10),
            "this message control id was used before by the same sender for a message with different content",
        )
    }

    /// AR 207: samgate cannot commit now; the sender should resend.
    pub fn cannot_commit() -> Self {
        Refusal::reject(
            ErrorCode::ApplicationInternal,
            Location::MESSAGE,
            "samgate cannot store the message now; resend it unchanged",
        )
    }
}

impl From<Refusal> for DecodeError {
    fn from(r: Refusal) -> Self {
        DecodeError::new(DIALECT, r.location.to_string(), r.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_read_as_hl7_writes_them() {
        let l = Location::field("PID", 3);
        assert_eq!(l.to_string(), "PID-3");
        assert_eq!(l.erl(), "PID^1^3");
        assert_eq!(Location::MESSAGE.erl(), "MSH^1");
        let e: DecodeError = Refusal::missing(l, "an identity").into();
        assert_eq!(e.to_string(), "hl7v2: PID-3: an identity is required");
    }
}
