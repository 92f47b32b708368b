//! HSA-id: the national directory id of a care unit or person.

use std::fmt;

use super::IdError;

/// Longest local part after the organisation number (HSA's own limit).
const MAX_LOCAL_PART: usize = 31;

/// `SE` + 10-digit organisation number + `-` + 1–31 characters of
/// `A-Za-z0-9`, e.g. `SE2321000164-7381`. The organisation number's own check
/// digit is not checked: HSA itself issues ids whose prefix predates it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HsaId(String);

impl HsaId {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        Self::check(value)?;
        Ok(HsaId(value.to_owned()))
    }

    /// Checks the form without keeping the value.
    pub fn check(value: &str) -> Result<(), IdError> {
        let err = |reason: &str| IdError::new("HSA-id", value, reason);
        let bytes = value.as_bytes();
        if !value.starts_with("SE") {
            return Err(err("must start with SE"));
        }
        if bytes.len() < 12 || !bytes[2..12].iter().all(u8::is_ascii_digit) {
            return Err(err("SE must be followed by a 10-digit organisation number"));
        }
        if bytes.get(12) != Some(&b'-') {
            return Err(err("the organisation number must be followed by '-'"));
        }
        let local = &bytes[13..];
        if local.is_empty() || local.len() > MAX_LOCAL_PART {
            return Err(err("the part after '-' must be 1 to 31 characters"));
        }
        if !local.iter().all(u8::is_ascii_alphanumeric) {
            return Err(err("the part after '-' may hold only A-Z, a-z and 0-9"));
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 10-digit organisation number (`2321000164`).
    pub fn organisation_number(&self) -> &str {
        &self.0[2..12]
    }
}

impl fmt::Display for HsaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_spec_examples() {
        for id in [
            "SE2321000164-7381",
            "SE2321000040-V2K1",
            "SE2120000449-KHSL",
        ] {
            assert_eq!(HsaId::parse(id).unwrap().as_str(), id);
        }
        let long = format!("SE2321000164-{}", "a".repeat(31));
        assert!(HsaId::parse(&long).is_ok());
    }

    #[test]
    fn refuses_wrong_forms_with_a_reason() {
        let cases = [
            ("se2321000164-7381", "must start with SE"),
            ("SE232100016-7381", "10-digit"),
            ("SE2321000164_7381", "followed by '-'"),
            ("SE2321000164-", "1 to 31"),
            ("SE2321000164-ÅÄÖ", "only A-Z"),
            ("SE2321000164-ab cd", "only A-Z"),
        ];
        for (id, reason) in cases {
            let e = HsaId::parse(id).unwrap_err();
            assert!(e.reason.contains(reason), "{id}: {e}");
        }
        let too_long = format!("SE2321000164-{}", "a".repeat(32));
        assert!(HsaId::parse(&too_long).is_err());
    }
}
