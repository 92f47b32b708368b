//! Swedish public holidays and working days, for any year.
//!
//! The deadline rules ask whether a day is a Saturday, a Sunday or a public
//! holiday ("allmän helgdag", lag (1989:253) om allmänna helgdagar), and
//! payment-liability agreements may count working days. Holidays are
//! computed, Easter included, so no table runs out.
//!
//! The law has changed, and a stored case is judged by the law of its
//! day:
//! - from 1953 (lag (1952:48)), Midsummer Day is the Saturday 20–26 June and
//!   All Saints' Day the Saturday 31 October–6 November; before, they fell
//!   on 24 June and 1 November;
//! - Whit Monday (Annandag pingst) was a public holiday until 2004;
//! - the National Day (6 June) is one from 2005, in its place.
//!
//! Before 1953 this calendar assumes the 1953 law but for those two fixed
//! days: the older holidays that the 1952 act moved to Sundays
//! (Kyndelsmässodagen, Marie bebådelsedag) are not modelled. The store
//! holds no case from before 1900 (`samgate_proto::validate`).

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Easter Sunday of `year` (Gregorian; the anonymous algorithm of Meeus).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter is a date")
}

/// The first year of the 1952 act: Midsummer and All Saints' Day on
/// Saturdays.
const FLOATING_MIDSUMMER_FROM: i32 = 1953;
/// The last year Whit Monday was a public holiday.
const WHIT_MONDAY_UNTIL: i32 = 2004;
/// The first year the National Day was a public holiday.
const NATIONAL_DAY_FROM: i32 = 2005;

/// Midsummer Day of `year`: the Saturday 20–26 June from 1953, 24 June
/// before.
fn midsummer_day(year: i32) -> NaiveDate {
    if year >= FLOATING_MIDSUMMER_FROM {
        saturday_between(year, 6, 20)
    } else {
        NaiveDate::from_ymd_opt(year, 6, 24).expect("24 June exists")
    }
}

/// All Saints' Day of `year`: the Saturday 31 October–6 November from
/// 1953, 1 November before.
fn all_saints_day(year: i32) -> NaiveDate {
    if year >= FLOATING_MIDSUMMER_FROM {
        saturday_between(year, 10, 31)
    } else {
        NaiveDate::from_ymd_opt(year, 11, 1).expect("1 November exists")
    }
}

/// The Saturday in the inclusive range of `month` days `from..=to`.
fn saturday_between(year: i32, month: u32, from: u32) -> NaiveDate {
    let start = NaiveDate::from_ymd_opt(year, month, from).expect("date");
    let ahead =
        (Weekday::Sat.num_days_from_monday() + 7 - start.weekday().num_days_from_monday()) % 7;
    start + Duration::days(i64::from(ahead))
}

/// The name of the public holiday on `date`, if it is one.
pub fn public_holiday(date: NaiveDate) -> Option<&'static str> {
    let year = date.year();
    let easter = easter_sunday(year);
    let md = (date.month(), date.day());
    let fixed = match md {
        (1, 1) => Some("Nyårsdagen"),
        (1, 6) => Some("Trettondedag jul"),
        (5, 1) => Some("Första maj"),
        (6, 6) if year >= NATIONAL_DAY_FROM => Some("Sveriges nationaldag"),
        (12, 25) => Some("Juldagen"),
        (12, 26) => Some("Annandag jul"),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    let from_easter = (date - easter).num_days();
    match from_easter {
        -2 => return Some("Långfredagen"),
        0 => return Some("Påskdagen"),
        1 => return Some("Annandag påsk"),
        39 => return Some("Kristi himmelsfärdsdag"),
        49 => return Some("Pingstdagen"),
        50 if year <= WHIT_MONDAY_UNTIL => return Some("Annandag pingst"),
        _ => {}
    }
    if date == midsummer_day(year) {
        return Some("Midsommardagen");
    }
    if date == all_saints_day(year) {
        return Some("Alla helgons dag");
    }
    None
}

/// Midsommarafton, julafton and nyårsafton: not public holidays in law, but
/// days off under practically every collective agreement, so not working
/// days.
pub fn holiday_eve(date: NaiveDate) -> Option<&'static str> {
    match (date.month(), date.day()) {
        (12, 24) => Some("Julafton"),
        (12, 31) => Some("Nyårsafton"),
        _ if date + Duration::days(1) == midsummer_day(date.year()) => Some("Midsommarafton"),
        _ => None,
    }
}

/// Saturday, Sunday or a public holiday: the days that give the longer SIP
/// invitation deadline.
pub fn is_weekend_or_holiday(date: NaiveDate) -> bool {
    samgate_proto::time::is_weekend(date) || public_holiday(date).is_some()
}

/// Monday to Friday, not a public holiday and not a holiday eve.
pub fn is_working_day(date: NaiveDate) -> bool {
    !is_weekend_or_holiday(date) && holiday_eve(date).is_none()
}

/// The date `n` working days after `date` (n = 0 gives `date` itself).
pub fn add_working_days(date: NaiveDate, n: u32) -> NaiveDate {
    let mut d = date;
    let mut left = n;
    while left > 0 {
        d += Duration::days(1);
        if is_working_day(d) {
            left -= 1;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn easter_over_the_years() {
        let table = [
            (2024, day(2024, 3, 31)),
            (2025, day(2025, 4, 20)),
            (2026, day(2026, 4, 5)),
            (2027, day(2027, 3, 28)),
            (2038, day(2038, 4, 25)),
            (2285, day(2285, 3, 22)),
            (1818, day(1818, 3, 22)),
        ];
        for (year, want) in table {
            assert_eq!(easter_sunday(year), want, "{year}");
        }
    }

    #[test]
    fn public_holidays_of_2025() {
        let table = [
            (day(2025, 1, 1), Some("Nyårsdagen")),
            (day(2025, 1, 6), Some("Trettondedag jul")),
            (day(2025, 4, 18), Some("Långfredagen")),
            (day(2025, 4, 20), Some("Påskdagen")),
            (day(2025, 4, 21), Some("Annandag påsk")),
            (day(2025, 5, 1), Some("Första maj")),
            (day(2025, 5, 29), Some("Kristi himmelsfärdsdag")),
            (day(2025, 6, 8), Some("Pingstdagen")),
            (day(2025, 6, 6), Some("Sveriges nationaldag")),
            (day(2025, 6, 21), Some("Midsommardagen")),
            (day(2025, 11, 1), Some("Alla helgons dag")),
            (day(2025, 12, 25), Some("Juldagen")),
            (day(2025, 12, 26), Some("Annandag jul")),
            (day(2025, 6, 20), None),
            (day(2025, 12, 24), None),
            (day(2025, 4, 19), None),
        ];
        for (date, want) in table {
            assert_eq!(public_holiday(date), want, "{date}");
        }
        assert_eq!(public_holiday(day(2004, 6, 6)), None);
        assert_eq!(holiday_eve(day(2025, 6, 20)), Some("Midsommarafton"));
    }

    #[test]
    fn the_holiday_law_of_each_year() {
        // Whit Monday: a holiday until 2004, a working day from 2005.
        assert_eq!(easter_sunday(1990), day(1990, 4, 15));
        assert_eq!(public_holiday(day(1990, 6, 4)), Some("Annandag pingst"));
        assert_eq!(public_holiday(day(2004, 5, 31)), Some("Annandag pingst"));
        assert_eq!(public_holiday(day(2010, 5, 24)), None);
        assert!(is_working_day(day(2010, 5, 24)));
        assert!(!is_working_day(day(1990, 6, 4)));
        // The National Day in its place from 2005.
        assert_eq!(
            public_holiday(day(2005, 6, 6)),
            Some("Sveriges nationaldag")
        );
        assert_eq!(public_holiday(day(2005, 5, 16)), None);
        // Midsummer and All Saints' Day: Saturdays from 1953, fixed before.
        assert_eq!(public_holiday(day(1953, 6, 20)), Some("Midsommardagen"));
        assert_eq!(public_holiday(day(1952, 6, 24)), Some("Midsommardagen"));
        assert_eq!(holiday_eve(day(1952, 6, 23)), Some("Midsommarafton"));
        assert_eq!(public_holiday(day(1952, 6, 21)), None);
        assert_eq!(public_holiday(day(1952, 11, 1)), Some("Alla helgons dag"));
        assert_eq!(public_holiday(day(1953, 10, 31)), Some("Alla helgons dag"));
    }

    #[test]
    fn working_days_skip_weekends_holidays_and_eves() {
        // Thursday before Easter 2025 + 1 working day = Tuesday after.
        assert_eq!(add_working_days(day(2025, 4, 17), 1), day(2025, 4, 22));
        // Midsummer 2025: Thursday 19 June + 1 = Monday 23 June.
        assert_eq!(add_working_days(day(2025, 6, 19), 1), day(2025, 6, 23));
        // New Year: 30 December 2025 + 1 = 2 January 2026.
        assert_eq!(add_working_days(day(2025, 12, 30), 1), day(2026, 1, 2));
        assert!(is_working_day(day(2025, 11, 25)));
        assert!(!is_working_day(day(2025, 11, 29)));
    }
}
