//! Personal identity numbers: personnummer, samordningsnummer, reservnummer.
//!
//! The canonical form of a personnummer or samordningsnummer is 12 digits,
//! `YYYYMMDDNNNC`. Parsing also takes the hyphenated `YYYYMMDD-NNNC` and the
//! 10-digit forms `YYMMDD-NNNC` (under 100 years old) and `YYMMDD+NNNC` (100
//! or over), whose century depends on the day they are read.

use std::fmt;

use chrono::{Datelike, NaiveDate};

use super::{IdError, luhn_check_digit};
use crate::v1::IdKind;

/// A day-of-month offset that marks a samordningsnummer.
const SAMORDNING_DAY_OFFSET: u32 = 60;
/// The earliest birth year a personnummer or samordningsnummer may name:
/// nobody alive, or in a register a case could need, was born before it.
/// An older year is a typing or decoding error, not a person.
pub const EARLIEST_BIRTH_YEAR: u32 = 1870;
/// Longest reservnummer any region issues (the model's limit).
const MAX_RESERVNUMMER_LEN: usize = 20;

/// Splits any accepted form into 12 digits, given today's date for the
/// century of the 10-digit forms.
fn normalise(kind: &'static str, value: &str, today: NaiveDate) -> Result<[u8; 12], IdError> {
    let b = value.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let mut out = [0u8; 12];
    match b.len() {
        12 if digits(b) => out.copy_from_slice(b),
        13 if b[8] == b'-' && digits(&b[..8]) && digits(&b[9..]) => {
            out[..8].copy_from_slice(&b[..8]);
            out[8..].copy_from_slice(&b[9..]);
        }
        10 | 11 => {
            let (yymmdd, sep, rest) = if b.len() == 11 {
                (&b[..6], b[6], &b[7..])
            } else {
                (&b[..6], b'-', &b[6..])
            };
            if !(digits(yymmdd) && digits(rest)) || !(sep == b'-' || sep == b'+') {
                return Err(IdError::new(kind, value, "must be 12 digits YYYYMMDDNNNC"));
            }
            let yy = i32::from(yymmdd[0] - b'0') * 10 + i32::from(yymmdd[1] - b'0');
            let this_year = today.year();
            // The latest year ending in yy that is not in the future...
            let mut year = this_year - (this_year - yy).rem_euclid(100);
            // ...and '+' marks a person of 100 or more.
            if sep == b'+' {
                year -= 100;
            }
            let century = format!("{:02}", year / 100);
            out[..2].copy_from_slice(century.as_bytes());
            out[2..8].copy_from_slice(yymmdd);
            out[8..].copy_from_slice(rest);
        }
        _ => return Err(IdError::new(kind, value, "must be 12 digits YYYYMMDDNNNC")),
    }
    Ok(out)
}

fn number(d: &[u8]) -> u32 {
    d.iter().fold(0, |acc, b| acc * 10 + u32::from(b - b'0'))
}

/// The birth year of 12 digits, refused when no living person has it.
fn plausible_year(
    kind: &'static str,
    value: &str,
    d: &[u8; 12],
    today: NaiveDate,
) -> Result<u32, IdError> {
    let year = number(&d[..4]);
    if year < EARLIEST_BIRTH_YEAR {
        return Err(IdError::new(
            kind,
            value,
            format!("birth year {year} is before {EARLIEST_BIRTH_YEAR}"),
        ));
    }
    if i64::from(year) > i64::from(today.year()) {
        return Err(IdError::new(
            kind,
            value,
            format!("birth year {year} is in the future"),
        ));
    }
    Ok(year)
}

fn check_digit(kind: &'static str, value: &str, d: &[u8; 12]) -> Result<(), IdError> {
    let expected = luhn_check_digit(&d[2..11]);
    if d[11] - b'0' != expected {
        return Err(IdError::new(
            kind,
            value,
            format!("check digit should be {expected}"),
        ));
    }
    Ok(())
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// A personnummer whose birth date exists and whose check digit is right.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Personnummer(String);

impl Personnummer {
    /// Parses any accepted form; the 10-digit forms are read as of today.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        Self::parse_as_of(value, today())
    }

    /// Parses any accepted form, reading the 10-digit forms as of `today`.
    pub fn parse_as_of(value: &str, today: NaiveDate) -> Result<Self, IdError> {
        let d = Self::digits(value, today)?;
        Ok(Personnummer(String::from_utf8(d.to_vec()).expect("digits")))
    }

    /// The checked 12 digits.
    fn digits(value: &str, today: NaiveDate) -> Result<[u8; 12], IdError> {
        const KIND: &str = "personnummer";
        let d = normalise(KIND, value, today)?;
        let year = plausible_year(KIND, value, &d, today)?;
        let (month, day) = (number(&d[4..6]), number(&d[6..8]));
        if day > SAMORDNING_DAY_OFFSET {
            return Err(IdError::new(
                KIND,
                value,
                "day is over 60: this is a samordningsnummer",
            ));
        }
        if NaiveDate::from_ymd_opt(year as i32, month, day).is_none() {
            return Err(IdError::new(
                KIND,
                value,
                format!("{year:04}-{month:02}-{day:02} is not a date"),
            ));
        }
        check_digit(KIND, value, &d)?;
        Ok(d)
    }

    /// The 12-digit form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn birth_date(&self) -> NaiveDate {
        let d = self.0.as_bytes();
        NaiveDate::from_ymd_opt(number(&d[..4]) as i32, number(&d[4..6]), number(&d[6..8]))
            .expect("checked when parsed")
    }
}

/// A samordningsnummer (coordination number): a personnummer with 60 added
/// to the day. Month `00` and day `60` mean unknown and are valid; the day
/// minus 60 may be 1–31 whatever the month, because Skatteverket's own test
/// numbers include dates such as 30 February.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Samordningsnummer(String);

impl Samordningsnummer {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        Self::parse_as_of(value, today())
    }

    pub fn parse_as_of(value: &str, today: NaiveDate) -> Result<Self, IdError> {
        let d = Self::digits(value, today)?;
        Ok(Samordningsnummer(
            String::from_utf8(d.to_vec()).expect("digits"),
        ))
    }

    /// The checked 12 digits.
    fn digits(value: &str, today: NaiveDate) -> Result<[u8; 12], IdError> {
        const KIND: &str = "samordningsnummer";
        let d = normalise(KIND, value, today)?;
        plausible_year(KIND, value, &d, today)?;
        let (month, day) = (number(&d[4..6]), number(&d[6..8]));
        if month > 12 {
            return Err(IdError::new(
                KIND,
                value,
                format!("month {month:02} does not exist"),
            ));
        }
        if !(SAMORDNING_DAY_OFFSET..=SAMORDNING_DAY_OFFSET + 31).contains(&day) {
            return Err(IdError::new(
                KIND,
                value,
                "day must be 60 to 91 (the birth day plus 60)",
            ));
        }
        check_digit(KIND, value, &d)?;
        Ok(d)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A region's reserve number: 1–20 characters of `0-9A-Z`, no check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reservnummer(String);

impl Reservnummer {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        const KIND: &str = "reservnummer";
        if value.is_empty() || value.len() > MAX_RESERVNUMMER_LEN {
            return Err(IdError::new(KIND, value, "must be 1 to 20 characters"));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            return Err(IdError::new(KIND, value, "may hold only 0-9 and A-Z"));
        }
        Ok(Reservnummer(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A patient identifier of any kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PatientId {
    Personnummer(Personnummer),
    Samordningsnummer(Samordningsnummer),
    Reservnummer(Reservnummer),
}

impl PatientId {
    /// A personnummer or a samordningsnummer, whichever `value` is written
    /// as (a day over 60 marks a samordningsnummer), as a person types it
    /// on the command line. A refusal is the one for that kind, so a wrong
    /// check digit is called a wrong check digit.
    pub fn parse_number(value: &str) -> Result<Self, IdError> {
        let today = today();
        let d = normalise("personnummer", value, today)?;
        if number(&d[6..8]) > SAMORDNING_DAY_OFFSET {
            Samordningsnummer::parse_as_of(value, today).map(PatientId::Samordningsnummer)
        } else {
            Personnummer::parse_as_of(value, today).map(PatientId::Personnummer)
        }
    }

    /// Checks `value` as the given kind; an unspecified kind means
    /// personnummer, the model's default.
    pub fn parse(kind: IdKind, value: &str) -> Result<Self, IdError> {
        Ok(match kind {
            IdKind::Unspecified | IdKind::Personnummer => {
                PatientId::Personnummer(Personnummer::parse(value)?)
            }
            IdKind::Samordningsnummer => {
                PatientId::Samordningsnummer(Samordningsnummer::parse(value)?)
            }
            IdKind::Reservnummer => PatientId::Reservnummer(Reservnummer::parse(value)?),
        })
    }

    /// Checks `value` as the given kind without keeping it.
    pub fn check(kind: IdKind, value: &str) -> Result<(), IdError> {
        let today = today();
        match kind {
            IdKind::Unspecified | IdKind::Personnummer => {
                Personnummer::digits(value, today).map(drop)
            }
            IdKind::Samordningsnummer => Samordningsnummer::digits(value, today).map(drop),
            IdKind::Reservnummer => Reservnummer::parse(value).map(drop),
        }
    }

    /// The canonical form (12 digits, or the reserve number as is).
    pub fn as_str(&self) -> &str {
        match self {
            PatientId::Personnummer(p) => p.as_str(),
            PatientId::Samordningsnummer(s) => s.as_str(),
            PatientId::Reservnummer(r) => r.as_str(),
        }
    }
}

impl fmt::Display for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn personnummer_forms() {
        let today = day(2026, 11, 25);
        for form in ["191212121212", "19121212-1212", "121212+1212"] {
            assert_eq!(
                Personnummer::parse_as_of(form, today).unwrap().as_str(),
                "191212121212",
                "{form}"
            );
        }
        assert_eq!(
            Personnummer::parse_as_of("121212-1212", today)
                .unwrap()
                .as_str(),
            "201212121212"
        );
        assert_eq!(
            Personnummer::parse_as_of("4102069046", today)
                .unwrap()
                .as_str(),
            "194102069046"
        );
    }

    #[test]
    fn personnummer_refusals_say_why() {
        let e = Personnummer::parse("191212121213").unwrap_err();
        assert_eq!(
            e.to_string(),
            "personnummer 191212121213: check digit should be 2"
        );
        assert!(Personnummer::parse("19410230904 6").is_err());
        let e = Personnummer::parse("194102309046").unwrap_err();
        assert!(e.reason.contains("not a date"), "{e}");
        let e = Personnummer::parse("194102669046").unwrap_err();
        assert!(e.reason.contains("samordningsnummer"), "{e}");
        assert!(Personnummer::parse("1941020690").is_err());
        assert!(Personnummer::parse("").is_err());
        assert!(Personnummer::parse("19410206+9046").is_err());
    }

    #[test]
    fn samordningsnummer_edge_cases_of_skatteverket() {
        for n in [
            "191500722390",
            "191711602399",
            "192004912388",
            "195102892386",
        ] {
            Samordningsnummer::parse(n).unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(Samordningsnummer::parse("191212121212").is_err());
        assert!(Samordningsnummer::parse("191213722390").is_err());
    }

    #[test]
    fn reservnummer_form() {
        assert!(Reservnummer::parse("98240301AA06").is_ok());
        assert!(Reservnummer::parse("abc").is_err());
        assert!(Reservnummer::parse(&"1".repeat(21)).is_err());
        assert!(Reservnummer::parse("").is_err());
    }
}
