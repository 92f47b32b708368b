//! The legal deadlines a case is under, and municipal payment liability.
//!
//! - Admission notice (inskrivningsmeddelande): due 24 hours after admission.
//! - SIP invitation (kallelse till SIP): due 24 hours after the patient was
//!   declared discharge-ready, or 3 days when that happened on a Saturday,
//!   a Sunday or a Swedish public holiday (Swedish local date).
//! - Payment liability (betalningsansvar): the municipality pays from the
//!   day after the agreed number of days has passed since discharge-ready,
//!   until discharge. Counties agree the details ([`LiabilityRule`]).

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar;
use samgate_proto::time::stockholm;

/// The admission notice is due this long after admission.
pub const ADMISSION_NOTICE_WITHIN: Duration = Duration::hours(24);
/// The SIP invitation is due this long after discharge-ready on a weekday.
pub const SIP_INVITATION_WITHIN: Duration = Duration::hours(24);
/// ...and this long when discharge-ready fell on a weekend or holiday.
pub const SIP_INVITATION_WITHIN_HOLIDAY: Duration = Duration::days(3);

pub fn admission_notice_due(admitted_at: DateTime<Utc>) -> DateTime<Utc> {
    admitted_at + ADMISSION_NOTICE_WITHIN
}

pub fn sip_invitation_due(ready_at: DateTime<Utc>) -> DateTime<Utc> {
    let local_day = stockholm::local_date(ready_at);
    if calendar::is_weekend_or_holiday(local_day) {
        ready_at + SIP_INVITATION_WITHIN_HOLIDAY
    } else {
        ready_at + SIP_INVITATION_WITHIN
    }
}

/// How days are counted towards payment liability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DayCounting {
    /// Every calendar day counts (the national default).
    #[default]
    Calendar,
    /// Only working days count (see `calendar::is_working_day`).
    Working,
}

/// A county agreement on payment liability. The national default: 3
/// calendar days, the discharge-ready day itself is day 0, no cut-off hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiabilityRule {
    /// Days the municipality has before it becomes liable.
    pub days: u32,
    pub counting: DayCounting,
    /// When true the discharge-ready day is day 0 and does not count; when
    /// false it is day 1.
    pub day_zero: bool,
    /// A notice at or after this local hour counts as given the next day.
    pub cutoff_hour: Option<u32>,
}

impl Default for LiabilityRule {
    fn default() -> Self {
        LiabilityRule {
            days: 3,
            counting: DayCounting::Calendar,
            day_zero: true,
            cutoff_hour: None,
        }
    }
}

/// The most grace days an agreement may give: a year. More is a typing
/// error, and the working-day count walks the calendar day by day.
pub const MAX_LIABILITY_DAYS: u32 = 365;

impl LiabilityRule {
    /// Whether the agreement's numbers are in range: `days` at most
    /// [`MAX_LIABILITY_DAYS`], `cutoff_hour` an hour of the day.
    pub fn check(&self) -> Result<(), String> {
        if self.days > MAX_LIABILITY_DAYS {
            return Err(format!(
                "days: {} is more than {MAX_LIABILITY_DAYS}",
                self.days
            ));
        }
        if let Some(hour) = self.cutoff_hour.filter(|h| *h > 23) {
            return Err(format!("cutoff_hour: {hour} is not an hour 0 to 23"));
        }
        Ok(())
    }

    /// The first Swedish day on which the municipality is liable for a
    /// patient declared discharge-ready at `ready_at`.
    pub fn first_liable_day(&self, ready_at: DateTime<Utc>) -> NaiveDate {
        let local = stockholm::to_local(ready_at);
        let mut day0 = local.date_naive();
        if let Some(cutoff) = self.cutoff_hour
            && local.hour() >= cutoff
        {
            day0 += Duration::days(1);
        }
        // The last day of grace: day `days` counting from day 0, or from 1.
        let grace = if self.day_zero {
            self.days
        } else {
            self.days.saturating_sub(1)
        };
        let last_grace_day = match self.counting {
            DayCounting::Calendar => day0 + Duration::days(i64::from(grace)),
            DayCounting::Working => calendar::add_working_days(day0, grace),
        };
        last_grace_day + Duration::days(1)
    }

    /// The instant liability starts: local midnight of the first liable day.
    pub fn liability_starts(&self, ready_at: DateTime<Utc>) -> DateTime<Utc> {
        let midnight = self
            .first_liable_day(ready_at)
            .and_hms_opt(0, 0, 0)
            .expect("midnight");
        match stockholm::from_local(midnight) {
            stockholm::LocalTime::Unique(t) | stockholm::LocalTime::Repeated { first: t, .. } => t,
            // Summer time never starts at midnight in Sweden.
            stockholm::LocalTime::Skipped => midnight.and_utc(),
        }
    }

    /// Days of liability for a stay from `ready_at` to `discharged_at`:
    /// every Swedish calendar day from the first liable day to the discharge
    /// day, both included.
    pub fn liable_days(&self, ready_at: DateTime<Utc>, discharged_at: DateTime<Utc>) -> i32 {
        let first = self.first_liable_day(ready_at);
        let last = stockholm::local_date(discharged_at);
        if last < first {
            0
        } else {
            ((last - first).num_days() + 1) as i32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn sip_invitation_deadline_table() {
        // (discharge-ready in UTC, due in UTC, why)
        let table = [
            (
                utc(2024, 11, 1, 13, 0),
                utc(2024, 11, 2, 13, 0),
                "Friday: 24 h",
            ),
            (
                utc(2024, 11, 2, 13, 0),
                utc(2024, 11, 5, 13, 0),
                "Saturday (Alla helgons dag): 3 days",
            ),
            (
                utc(2024, 11, 3, 13, 0),
                utc(2024, 11, 6, 13, 0),
                "Sunday: 3 days",
            ),
            // 23:30 UTC on Friday 20 June 2025 is 01:30 on Midsommardagen.
            (
                utc(2025, 6, 20, 23, 30),
                utc(2025, 6, 23, 23, 30),
                "local date is Midsommardagen",
            ),
            (
                utc(2025, 6, 20, 9, 0),
                utc(2025, 6, 21, 9, 0),
                "Midsommarafton is not a public holiday",
            ),
            (
                utc(2025, 4, 18, 8, 0),
                utc(2025, 4, 21, 8, 0),
                "Långfredagen",
            ),
            (
                utc(2025, 4, 21, 8, 0),
                utc(2025, 4, 24, 8, 0),
                "Annandag påsk",
            ),
            (
                utc(2025, 12, 31, 23, 30),
                utc(2026, 1, 3, 23, 30),
                "local New Year's Day",
            ),
            (
                utc(2025, 12, 31, 12, 0),
                utc(2026, 1, 1, 12, 0),
                "New Year's Eve, a weekday",
            ),
            // Across the autumn DST change: 24 hours are 24 real hours.
            (
                utc(2024, 10, 26, 6, 0),
                utc(2024, 10, 29, 6, 0),
                "Saturday before DST ends",
            ),
            (
                utc(2025, 3, 28, 12, 0),
                utc(2025, 3, 29, 12, 0),
                "Friday before DST starts",
            ),
            // Whit Monday was a public holiday until 2004 (the law of the
            // day decides), a working day since.
            (
                utc(1990, 6, 4, 8, 0),
                utc(1990, 6, 7, 8, 0),
                "Whit Monday 1990, a holiday",
            ),
            (
                utc(2010, 5, 24, 8, 0),
                utc(2010, 5, 25, 8, 0),
                "Whit Monday 2010, a working day",
            ),
        ];
        for (ready, due, why) in table {
            assert_eq!(sip_invitation_due(ready), due, "{why}");
        }
    }

    #[test]
    fn admission_notice_deadline() {
        assert_eq!(
            admission_notice_due(utc(2024, 10, 26, 20, 15)),
            utc(2024, 10, 27, 20, 15)
        );
    }

    #[test]
    fn payment_liability_default_rule() {
        let rule = LiabilityRule::default();
        // Ready Monday 4 Nov 2024 (day 0): grace Tue–Thu, liable from Friday.
        let ready = utc(2024, 11, 4, 10, 0);
        assert_eq!(rule.first_liable_day(ready), day(2024, 11, 8));
        assert_eq!(rule.liable_days(ready, utc(2024, 11, 7, 15, 0)), 0);
        assert_eq!(rule.liable_days(ready, utc(2024, 11, 8, 9, 0)), 1);
        assert_eq!(rule.liable_days(ready, utc(2024, 11, 11, 9, 0)), 4);
        // Liability starts at Swedish midnight (23:00 UTC in winter).
        assert_eq!(rule.liability_starts(ready), utc(2024, 11, 7, 23, 0));
    }

    #[test]
    fn payment_liability_agreements() {
        let ready = utc(2024, 12, 20, 10, 0); // Friday before Christmas
        let working = LiabilityRule {
            counting: DayCounting::Working,
            ..LiabilityRule::default()
        };
        // Working days after Fri 20 Dec: Mon 23, Fri 27, Mon 30 → liable 31 Dec.
        assert_eq!(working.first_liable_day(ready), day(2024, 12, 31));
        let day_one = LiabilityRule {
            day_zero: false,
            ..LiabilityRule::default()
        };
        assert_eq!(day_one.first_liable_day(ready), day(2024, 12, 23));
        let cutoff = LiabilityRule {
            cutoff_hour: Some(12),
            ..LiabilityRule::default()
        };
        // 11:00 UTC is 12:00 local: at the cut-off, so day 0 is Saturday.
        assert_eq!(
            cutoff.first_liable_day(utc(2024, 12, 20, 11, 0)),
            day(2024, 12, 25)
        );
        assert_eq!(
            cutoff.first_liable_day(utc(2024, 12, 20, 10, 59)),
            day(2024, 12, 24)
        );
        let five = LiabilityRule {
            days: 5,
            ..LiabilityRule::default()
        };
        assert_eq!(five.first_liable_day(ready), day(2024, 12, 26));
    }
}
