//! The dialects' time formats.
//!
//! - Lifecare: Swedish local time without offset, `YYYY-MM-DDTHH:MM:SS`.
//! - Cosmic Link: RFC 3339 (see `samgate_proto::time`).
//! - SAMSA: HL7 TS `YYYYMMDDHHMMSS±ZZZZ`, dates `YYYYMMDD`.
//!
//! Fractional seconds are accepted on input and truncated: the model keeps
//! seconds.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use samgate_proto::Timestamp;
use samgate_proto::time::{from_utc, stockholm, to_utc};

/// The length of `s` without a `.fraction` of seconds at byte `at`, and
/// what follows the fraction; `None` when a `.` has no digits after it.
fn split_fraction(s: &str, at: usize) -> Option<(&str, &str)> {
    match s.get(at..) {
        Some(rest) if rest.starts_with('.') => {
            let frac_len = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
            (frac_len > 0).then(|| (&s[..at], &rest[1 + frac_len..]))
        }
        Some(rest) => Some((&s[..at], rest)),
        None => Some((s, "")),
    }
}

/// `YYYYMMDDHHMMSS` (with separators at the given byte positions skipped)
/// as a wall-clock time that exists.
fn wall_clock(b: &[u8], fields: [(usize, usize); 6]) -> Option<NaiveDateTime> {
    let n = |(from, to): (usize, usize)| samgate_proto::time::number(b.get(from..to)?);
    let date = NaiveDate::from_ymd_opt(n(fields[0])? as i32, n(fields[1])?, n(fields[2])?)?;
    date.and_hms_opt(n(fields[3])?, n(fields[4])?, n(fields[5])?)
}

const ISO_FIELDS: [(usize, usize); 6] = [(0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19)];
const HL7_FIELDS: [(usize, usize); 6] = [(0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14)];

/// Reads a Swedish local time `YYYY-MM-DDTHH:MM:SS` as an instant. A time in
/// the hour repeated when summer time ends is its first occurrence (+02:00);
/// a time in the skipped hour does not exist.
pub fn parse_swedish_local(s: &str) -> Result<Timestamp, String> {
    let bad = || format!("'{s}' is not a local time YYYY-MM-DDTHH:MM:SS (no offset)");
    let (plain, rest) = split_fraction(s, 19).ok_or_else(bad)?;
    let b = plain.as_bytes();
    let shape = b.len() == 19
        && rest.is_empty()
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':';
    if !shape {
        return Err(bad());
    }
    let local = wall_clock(b, ISO_FIELDS).ok_or_else(bad)?;
    match stockholm::from_local(local) {
        stockholm::LocalTime::Unique(t) | stockholm::LocalTime::Repeated { first: t, .. } => {
            Ok(from_utc(t))
        }
        stockholm::LocalTime::Skipped => Err(format!(
            "'{s}' does not exist in Swedish time (the hour skipped when summer time starts)"
        )),
    }
}

/// Writes an instant as Swedish local time. The flag is true when the
/// instant is the second occurrence of the repeated autumn hour, which the
/// local form cannot tell from the first.
pub fn format_swedish_local(ts: &Timestamp) -> (String, bool) {
    let Some(t) = to_utc(ts) else {
        return (String::new(), false);
    };
    let local = stockholm::to_local(t);
    (
        local.format("%Y-%m-%dT%H:%M:%S").to_string(),
        stockholm::is_repeated_hour_second(t),
    )
}

/// Reads an HL7 TS with a required offset: `YYYYMMDDHHMMSS[.f]±ZZZZ`.
pub fn parse_hl7_ts(s: &str) -> Result<Timestamp, String> {
    let bad = || format!("'{s}' is not an HL7 time YYYYMMDDHHMMSS±ZZZZ");
    let (plain, offset) = split_fraction(s, 14).ok_or_else(bad)?;
    let b = plain.as_bytes();
    if b.len() != 14 || !b.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    if offset.is_empty() {
        return Err(format!("'{s}' has no UTC offset (YYYYMMDDHHMMSS±ZZZZ)"));
    }
    let o = offset.as_bytes();
    let sign = match o.first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(bad()),
    };
    let (hours, minutes) = match (o.len(), samgate_proto::time::number(&o[1..])) {
        (5, Some(_)) => (
            samgate_proto::time::number(&o[1..3]).ok_or_else(bad)?,
            samgate_proto::time::number(&o[3..5]).ok_or_else(bad)?,
        ),
        _ => return Err(bad()),
    };
    if hours > 23 || minutes > 59 {
        return Err(bad());
    }
    let local = wall_clock(b, HL7_FIELDS).ok_or_else(bad)?;
    let offset_secs = sign * (hours * 3600 + minutes * 60) as i32;
    let offset = FixedOffset::east_opt(offset_secs).ok_or_else(bad)?;
    let t: DateTime<FixedOffset> = offset
        .from_local_datetime(&local)
        .single()
        .ok_or_else(bad)?;
    Ok(from_utc(t.with_timezone(&Utc)))
}

/// Writes an instant as HL7 TS in Swedish local time with its offset.
pub fn format_hl7_ts(ts: &Timestamp) -> String {
    match to_utc(ts) {
        Some(t) => stockholm::to_local(t).format("%Y%m%d%H%M%S%z").to_string(),
        None => String::new(),
    }
}

/// Reads an HL7 date `YYYYMMDD` into the model's `YYYY-MM-DD`.
pub fn parse_hl7_date(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let parts = (b.len() == 8)
        .then(|| {
            Some((
                samgate_proto::time::number(&b[..4])?,
                samgate_proto::time::number(&b[4..6])?,
                samgate_proto::time::number(&b[6..])?,
            ))
        })
        .flatten();
    let Some((y, m, d)) = parts else {
        return Err(format!("'{s}' is not a date YYYYMMDD"));
    };
    NaiveDate::from_ymd_opt(y as i32, m, d)
        .ok_or_else(|| format!("'{s}' is not a date that exists"))?;
    Ok(format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..]))
}

/// Writes the model's `YYYY-MM-DD` as `YYYYMMDD`.
pub fn format_hl7_date(date: &str) -> String {
    date.replace('-', "")
}

/// Reads a `YYYY-MM-DD` date (Lifecare, Cosmic Link), checked.
pub fn parse_iso_date(s: &str) -> Result<String, String> {
    samgate_proto::time::parse_date(s).map(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use samgate_proto::time::format_utc;

    #[test]
    fn swedish_local_times() {
        let t = parse_swedish_local("2024-10-27T07:40:00").unwrap();
        assert_eq!(format_utc(&t), "2024-10-27T06:40:00Z");
        let t = parse_swedish_local("2024-10-26T22:15:00.5").unwrap();
        assert_eq!(format_utc(&t), "2024-10-26T20:15:00Z");
        // Repeated hour: first occurrence.
        let t = parse_swedish_local("2024-10-27T02:30:00").unwrap();
        assert_eq!(format_utc(&t), "2024-10-27T00:30:00Z");
        assert!(
            parse_swedish_local("2024-03-31T02:30:00")
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(parse_swedish_local("2024-10-27T07:40:00Z").is_err());
        assert!(parse_swedish_local("2024-10-27 07:40:00").is_err());
        let second = samgate_proto::time::parse_rfc3339("2024-10-27T01:30:00Z").unwrap();
        assert_eq!(
            format_swedish_local(&second),
            ("2024-10-27T02:30:00".into(), true)
        );
    }

    #[test]
    fn hl7_times() {
        let t = parse_hl7_ts("20241027074000+0100").unwrap();
        assert_eq!(format_utc(&t), "2024-10-27T06:40:00Z");
        assert_eq!(format_hl7_ts(&t), "20241027074000+0100");
        let t = parse_hl7_ts("20240701120000.123+0000").unwrap();
        assert_eq!(format_hl7_ts(&t), "20240701140000+0200");
        assert!(
            parse_hl7_ts("20241027074000")
                .unwrap_err()
                .contains("no UTC offset")
        );
        assert!(parse_hl7_ts("2024102707400+0100").is_err());
        assert_eq!(parse_hl7_date("20241102").unwrap(), "2024-11-02");
        assert!(parse_hl7_date("20241302").is_err());
    }
}
