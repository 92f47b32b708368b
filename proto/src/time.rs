//! Instants and dates of the model, and Swedish local time.
//!
//! The model carries instants as `google.protobuf.Timestamp` to the second
//! and dates as `YYYY-MM-DD`. Lifecare and SAMSA speak Swedish local time, and
//! the deadline rules ask which Swedish day an instant falls on, so the
//! Europe/Stockholm rules live here, at the bottom of the crate graph.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday,
};
use prost_types::Timestamp;

/// The instant a timestamp names, to the second (fractions are dropped, as
/// the model keeps seconds only). `None` when out of chrono's range.
pub fn to_utc(ts: &Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(ts.seconds, 0)
}

/// A timestamp to the second.
pub fn from_utc(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(ts: &Timestamp) -> String {
    match to_utc(ts) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => format!("@{}", ts.seconds),
    }
}

/// RFC 3339 with any offset; fractional seconds are truncated.
pub fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
    let t = DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("'{s}' is not an RFC 3339 time ({e})"))?;
    Ok(Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

/// The number written by ASCII digits `b` (None if any is not a digit).
/// Dates and times are parsed by hand: they sit on the decode hot path, and
/// a format-string parser costs more than the rest of a field.
pub fn number(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, c| {
        if !c.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u32::from(c - b'0'))
    })
}

/// A `YYYY-MM-DD` date that exists.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let b = s.as_bytes();
    let parts = (b.len() == 10 && b[4] == b'-' && b[7] == b'-')
        .then(|| Some((number(&b[..4])?, number(&b[5..7])?, number(&b[8..])?)))
        .flatten();
    let Some((y, m, d)) = parts else {
        return Err(format!("'{s}' is not a date YYYY-MM-DD"));
    };
    NaiveDate::from_ymd_opt(y as i32, m, d)
        .ok_or_else(|| format!("'{s}' is not a date that exists"))
}

/// The Europe/Stockholm time zone.
///
/// Written out rather than read from a tz database: the rules are three and
/// fixed, the conversion sits on the decode hot path, and the answer must not
/// depend on the machine's zoneinfo. Sweden has kept CET (+01:00) with summer
/// time (+02:00) since 1980: from 1996 on the EU rule (last Sunday of March
/// to last Sunday of October, switching at 01:00 UTC), 1981–1995 ending on the
/// last Sunday of September, and in 1980 from 6 April to 28 September. Before
/// 1980 the zone is taken as +01:00 throughout.
pub mod stockholm {
    use super::*;

    const STANDARD: i32 = 3600;
    const SUMMER: i32 = 7200;

    fn last_sunday(year: i32, month: u32) -> NaiveDate {
        let first_of_next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        }
        .expect("valid month");
        let last = first_of_next - Duration::days(1);
        last - Duration::days(i64::from(last.weekday().num_days_from_sunday()))
    }

    /// The summer-time interval of `year` in UTC, [start, end).
    pub fn summer_time(year: i32) -> Option<(NaiveDateTime, NaiveDateTime)> {
        let at_one = |d: NaiveDate| d.and_hms_opt(1, 0, 0).expect("01:00 exists");
        match year {
            1996.. => Some((at_one(last_sunday(year, 3)), at_one(last_sunday(year, 10)))),
            1981..=1995 => Some((at_one(last_sunday(year, 3)), at_one(last_sunday(year, 9)))),
            1980 => Some((
                at_one(NaiveDate::from_ymd_opt(1980, 4, 6).expect("date")),
                at_one(NaiveDate::from_ymd_opt(1980, 9, 28).expect("date")),
            )),
            _ => None,
        }
    }

    /// The UTC offset in force at an instant.
    pub fn offset_at(t: DateTime<Utc>) -> FixedOffset {
        let naive = t.naive_utc();
        let summer =
            summer_time(naive.year()).is_some_and(|(start, end)| naive >= start && naive < end);
        FixedOffset::east_opt(if summer { SUMMER } else { STANDARD }).expect("offset")
    }

    /// Swedish local time at an instant.
    pub fn to_local(t: DateTime<Utc>) -> DateTime<FixedOffset> {
        t.with_timezone(&offset_at(t))
    }

    /// The Swedish calendar day an instant falls on.
    pub fn local_date(t: DateTime<Utc>) -> NaiveDate {
        to_local(t).date_naive()
    }

    /// Whether an instant lies in the second occurrence of the hour repeated
    /// when summer time ends (its local time reads back an hour earlier).
    pub fn is_repeated_hour_second(t: DateTime<Utc>) -> bool {
        let local = to_local(t).naive_local();
        matches!(from_local(local), LocalTime::Repeated { first, .. } if first != t)
    }

    /// What a wall-clock reading in Stockholm means.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum LocalTime {
        Unique(DateTime<Utc>),
        /// In the hour repeated at the end of summer time.
        Repeated {
            first: DateTime<Utc>,
            second: DateTime<Utc>,
        },
        /// In the hour skipped at the start of summer time.
        Skipped,
    }

    /// Interprets a wall-clock reading.
    pub fn from_local(local: NaiveDateTime) -> LocalTime {
        let candidate = |offset: i32| {
            let utc = Utc.from_utc_datetime(&(local - Duration::seconds(i64::from(offset))));
            (offset_at(utc).local_minus_utc() == offset).then_some(utc)
        };
        match (candidate(SUMMER), candidate(STANDARD)) {
            (Some(first), Some(second)) => LocalTime::Repeated { first, second },
            (Some(t), None) | (None, Some(t)) => LocalTime::Unique(t),
            (None, None) => LocalTime::Skipped,
        }
    }
}

/// True for Saturday and Sunday.
pub fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

#[cfg(test)]
mod tests {
    use super::stockholm::*;
    use super::*;

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap()
    }

    #[test]
    fn summer_and_winter_offsets() {
        let t = Utc.with_ymd_and_hms(2024, 7, 1, 12, 0, 0).unwrap();
        assert_eq!(offset_at(t).local_minus_utc(), 7200);
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap();
        assert_eq!(offset_at(t).local_minus_utc(), 3600);
    }

    #[test]
    fn repeated_hour_of_2024_reads_as_first_occurrence() {
        // 27 October 2024: 03:00 summer time became 02:00 winter time.
        match from_local(local("2024-10-27T02:30:00")) {
            LocalTime::Repeated { first, second } => {
                assert_eq!(first, Utc.with_ymd_and_hms(2024, 10, 27, 0, 30, 0).unwrap());
                assert_eq!(
                    second,
                    Utc.with_ymd_and_hms(2024, 10, 27, 1, 30, 0).unwrap()
                );
                assert!(is_repeated_hour_second(second));
                assert!(!is_repeated_hour_second(first));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn skipped_hour_does_not_exist() {
        assert_eq!(from_local(local("2024-03-31T02:30:00")), LocalTime::Skipped);
        assert!(matches!(
            from_local(local("2024-03-31T03:00:00")),
            LocalTime::Unique(_)
        ));
        assert!(matches!(
            from_local(local("2024-03-31T01:59:59")),
            LocalTime::Unique(_)
        ));
    }

    #[test]
    fn older_rules() {
        // 1990 ended summer time on the last Sunday of September (30th).
        let t = Utc.with_ymd_and_hms(1990, 10, 5, 12, 0, 0).unwrap();
        assert_eq!(offset_at(t).local_minus_utc(), 3600);
        let t = Utc.with_ymd_and_hms(1970, 7, 1, 12, 0, 0).unwrap();
        assert_eq!(offset_at(t).local_minus_utc(), 3600);
    }

    #[test]
    fn dates_and_times() {
        assert!(parse_date("2024-02-29").is_ok());
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2024-2-29").is_err());
        let ts = parse_rfc3339("2024-10-26T22:15:00.999+02:00").unwrap();
        assert_eq!(format_utc(&ts), "2024-10-26T20:15:00Z");
    }
}
