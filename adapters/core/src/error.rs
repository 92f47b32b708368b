//! Refusals and warnings of the adapters.

use std::fmt;

/// A message the decoder refuses: which dialect, where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{dialect}: {path}: {reason}")]
pub struct DecodeError {
    pub dialect: &'static str,
    /// Element path (`/Meddelande/Patient/@id`), or `/` for the document.
    pub path: String,
    pub reason: String,
}

impl DecodeError {
    pub fn new(dialect: &'static str, path: impl Into<String>, reason: impl Into<String>) -> Self {
        DecodeError {
            dialect,
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// An event the encoder cannot write: which dialect, which canonical field,
/// and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{dialect}: cannot encode {field}: {reason}")]
pub struct EncodeError {
    pub dialect: &'static str,
    pub field: String,
    pub reason: String,
}

impl EncodeError {
    pub fn new(dialect: &'static str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        EncodeError {
            dialect,
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Something a translation could not carry exactly, reported beside the
/// result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Stable kebab-case code (`extension-dropped`, `repeated-hour`).
    pub code: &'static str,
    pub message: String,
}

impl Warning {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Warning {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning[{}]: {}", self.code, self.message)
    }
}
