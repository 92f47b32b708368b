//! Swedish identifiers as types that cannot hold an invalid value.
//!
//! Each type is built by `parse`, which checks the form and every rule the
//! case model states; the error says what is wrong in words a person acting on
//! it understands ("check digit should be 2"). Error texts name the value
//! because translate and validate report them to the message's owner; the
//! gateway's logs never print them (see `IdError::kind`).

mod hsa;
mod kommun;
mod person;

pub use hsa::HsaId;
pub use kommun::{County, Kommunkod, Lanskod, Municipality, counties, municipalities};
pub use person::{PatientId, Personnummer, Reservnummer, Samordningsnummer};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {value}: {reason}")]
pub struct IdError {
    /// What the value was meant to be ("personnummer", "HSA-id", …).
    pub kind: &'static str,
    /// The refused value, as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl IdError {
    pub(crate) fn new(kind: &'static str, value: &str, reason: impl Into<String>) -> Self {
        IdError {
            kind,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    /// The error without the value, safe for a log line.
    pub fn redacted(&self) -> String {
        format!("{}: {}", self.kind, self.reason)
    }
}

/// The Luhn (mod 10) check digit over `digits`, as Skatteverket computes it
/// for the nine digits `YYMMDDNNN`.
pub fn luhn_check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let v = u32::from(d - b'0') * if i % 2 == 0 { 2 } else { 1 };
            v / 10 + v % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_matches_skatteverkets_example() {
        // 811218-9876 is Skatteverket's worked example.
        assert_eq!(luhn_check_digit(b"811218987"), 6);
        assert_eq!(luhn_check_digit(b"121212121"), 2);
    }
}
