//! HL7 DTM times: `YYYYMMDDHHMM[SS[.S…]][+/-ZZZZ]`, at least to the minute.
//!
//! Without an offset a time is Swedish local time, read as the Lifecare
//! dialect reads it: the hour repeated in autumn means its first occurrence
//! and a time in the hour skipped in spring does not exist. Fractions of a
//! second are dropped (the model keeps seconds).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use samgate_proto::Timestamp;
use samgate_proto::time::{from_utc, number, stockholm};

/// Reads a DTM; the error says what is wrong without repeating the value.
pub fn parse_dtm(s: &str) -> Result<Timestamp, &'static str> {
    const SHAPE: &str = "is not an HL7 time YYYYMMDDHHMM[SS[.S]][+/-ZZZZ] (to the minute at least)";
    let b = s.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits != 12 && digits != 14 {
        return Err(SHAPE);
    }
    let mut rest = &b[digits..];
    if let Some(frac) = rest.strip_prefix(b".") {
        if digits != 14 {
            return Err(SHAPE);
        }
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err(SHAPE);
        }
        rest = &frac[n..];
    }
    let n = |from: usize, to: usize| b.get(from..to).and_then(number);
    let date = NaiveDate::from_ymd_opt(
        n(0, 4).ok_or(SHAPE)? as i32,
        n(4, 6).ok_or(SHAPE)?,
        n(6, 8).ok_or(SHAPE)?,
    )
    .ok_or("is not a date that exists")?;
    let seconds = if digits == 14 {
        n(12, 14).ok_or(SHAPE)?
    } else {
        0
    };
    let local = date
        .and_hms_opt(n(8, 10).ok_or(SHAPE)?, n(10, 12).ok_or(SHAPE)?, seconds)
        .ok_or("is not a time of day that exists")?;
    let utc: DateTime<Utc> = match rest {
        [] => match stockholm::from_local(local) {
            stockholm::LocalTime::Unique(t) | stockholm::LocalTime::Repeated { first: t, .. } => t,
            stockholm::LocalTime::Skipped => {
                return Err(
                    "does not exist in Swedish time (the hour skipped when summer time starts)",
                );
            }
        },
        [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let hours = number(&[*h1, *h2]).ok_or(SHAPE)?;
            let minutes = number(&[*m1, *m2]).ok_or(SHAPE)?;
            if hours > 23 || minutes > 59 {
                return Err("has a UTC offset out of range");
            }
            let offset = Duration::minutes(i64::from(hours * 60 + minutes));
            let naive = if *sign == b'+' {
                local - offset
            } else {
                local + offset
            };
            Utc.from_utc_datetime(&naive)
        }
        _ => return Err(SHAPE),
    };
    Ok(from_utc(utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use samgate_proto::time::format_utc;

    fn utc(s: &str) -> String {
        format_utc(&parse_dtm(s).unwrap())
    }

    #[test]
    fn forms_the_contract_accepts() {
        assert_eq!(utc("202410270740"), "2024-10-27T06:40:00Z");
        assert_eq!(utc("20240701120030"), "2024-07-01T10:00:30Z");
        assert_eq!(utc("20240701120030.1234"), "2024-07-01T10:00:30Z");
        assert_eq!(utc("20240701120030+0000"), "2024-07-01T12:00:30Z");
        assert_eq!(utc("198908181126+0215"), "1989-08-18T09:11:00Z");
        assert_eq!(utc("20210817151943.4+0200"), "2021-08-17T13:19:43Z");
        assert_eq!(utc("20050110045504-0500"), "2005-01-10T09:55:04Z");
    }

    #[test]
    fn swedish_local_time_rules() {
        // The repeated autumn hour: its first occurrence (+02:00).
        assert_eq!(utc("202410270230"), "2024-10-27T00:30:00Z");
        // The skipped spring hour does not exist.
        assert!(parse_dtm("202403310230").unwrap_err().contains("skipped"));
    }

    #[test]
    fn refused_forms() {
        for s in [
            "",
            "20241027",
            "2024102707",
            "2024102707401",
            "20241327074000",
            "20241027254000",
            "20241027074000.",
            "202410270740.5",
            "20241027074000+01",
            "20241027074000+2500",
            "20241027074000Z",
            "2024102707400a",
        ] {
            assert!(parse_dtm(s).is_err(), "{s}");
        }
    }
}
