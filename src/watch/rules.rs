//! Which alerts a case can raise, and when (issue: the deadline watch), as
//! plain functions of the case.
//!
//! - `sip-invitation-overdue`: discharge-ready was declared and its SIP
//!   invitation deadline (24 hours, 3 days over weekends and holidays)
//!   passed with no invitation.
//! - `payment-liability-begun`: the first day the municipality pays was
//!   reached and the patient is not discharged.
//! - `sip-follow-up-passed`: the latest SIP's follow-up date is over (the
//!   Swedish day after it has begun) and no newer version came.
//!
//! A closed case raises nothing, and whatever it raised is cleared.

use chrono::{Duration, NaiveDate};
use samgate_proto::time::stockholm::{LocalTime, from_local};
use samgate_proto::v1::{Case, CaseStatus, DeadlineKind};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    SipInvitationOverdue,
    PaymentLiabilityBegun,
    SipFollowUpPassed,
}

impl AlertKind {
    pub const ALL: [AlertKind; 3] = [
        AlertKind::SipInvitationOverdue,
        AlertKind::PaymentLiabilityBegun,
        AlertKind::SipFollowUpPassed,
    ];

    /// The name in the store, the alert messages and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::SipInvitationOverdue => "sip-invitation-overdue",
            AlertKind::PaymentLiabilityBegun => "payment-liability-begun",
            AlertKind::SipFollowUpPassed => "sip-follow-up-passed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Swedish, for the console.
    pub fn swedish(self) -> &'static str {
        match self {
            AlertKind::SipInvitationOverdue => "Kallelse till SIP försenad",
            AlertKind::PaymentLiabilityBegun => "Betalningsansvar har inträtt",
            AlertKind::SipFollowUpPassed => "SIP:ens uppföljningsdatum har passerat",
        }
    }

    fn deadline(self) -> Option<DeadlineKind> {
        match self {
            AlertKind::SipInvitationOverdue => Some(DeadlineKind::SipInvitation),
            AlertKind::PaymentLiabilityBegun => Some(DeadlineKind::PaymentLiability),
            AlertKind::SipFollowUpPassed => None,
        }
    }
}

/// The alerts `case` can still raise and when each falls due (Unix
/// seconds); an alert not listed cannot hold (met, or the case closed).
pub fn due(case: &Case) -> Vec<(AlertKind, i64)> {
    if case.status == CaseStatus::Closed as i32 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for kind in AlertKind::ALL {
        let due_at = match kind.deadline() {
            Some(deadline) => case
                .deadlines
                .iter()
                .find(|d| d.kind == deadline as i32 && d.met_at.is_none())
                .and_then(|d| d.due_at.as_ref())
                .map(|t| t.seconds),
            None => case
                .latest_sip
                .as_ref()
                .and_then(|p| NaiveDate::parse_from_str(&p.follow_up_date, "%Y-%m-%d").ok())
                .and_then(day_after_begins),
        };
        if let Some(due_at) = due_at {
            out.push((kind, due_at));
        }
    }
    out
}

/// Whether `kind` holds for `case` at `now` (Unix seconds).
pub fn holds(case: &Case, kind: AlertKind, now: i64) -> bool {
    due(case).iter().any(|(k, at)| *k == kind && *at <= now)
}

/// The instant the Swedish day after `date` begins.
fn day_after_begins(date: NaiveDate) -> Option<i64> {
    let midnight = (date + Duration::days(1)).and_hms_opt(0, 0, 0)?;
    match from_local(midnight) {
        LocalTime::Unique(t) | LocalTime::Repeated { first: t, .. } => Some(t.timestamp()),
        // Sweden never skips midnight; were it to, the day begins an hour on.
        LocalTime::Skipped => match from_local(midnight + Duration::hours(1)) {
            LocalTime::Unique(t) | LocalTime::Repeated { first: t, .. } => Some(t.timestamp()),
            LocalTime::Skipped => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use samgate_proto::Timestamp;
    use samgate_proto::v1::{Deadline, SipPlan};

    use super::*;

    fn deadline(kind: DeadlineKind, due: i64, met: Option<i64>) -> Deadline {
        Deadline {
            kind: kind as i32,
            due_at: Some(Timestamp {
                seconds: due,
                nanos: 0,
            }),
            met_at: met.map(|seconds| Timestamp { seconds, nanos: 0 }),
        }
    }

    #[test]
    fn open_deadlines_and_the_follow_up_date_fall_due() {
        let mut case = Case {
            status: CaseStatus::DischargeReady as i32,
            deadlines: vec![
                deadline(DeadlineKind::AdmissionNotice, 10, None),
                deadline(DeadlineKind::SipInvitation, 100, None),
                deadline(DeadlineKind::PaymentLiability, 200, None),
            ],
            latest_sip: Some(SipPlan {
                version: 1,
                follow_up_date: "2026-03-28".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let due = due(&case);
        // 2026-03-29 00:00 in Stockholm is still winter time (+01:00).
        assert_eq!(
            due,
            vec![
                (AlertKind::SipInvitationOverdue, 100),
                (AlertKind::PaymentLiabilityBegun, 200),
                (AlertKind::SipFollowUpPassed, 1_774_738_800),
            ]
        );
        assert!(holds(&case, AlertKind::SipInvitationOverdue, 100));
        assert!(!holds(&case, AlertKind::PaymentLiabilityBegun, 199));
        case.deadlines[1].met_at = Some(Timestamp {
            seconds: 90,
            nanos: 0,
        });
        assert!(!holds(&case, AlertKind::SipInvitationOverdue, 1000));
        case.status = CaseStatus::Closed as i32;
        assert!(super::due(&case).is_empty());
    }

    #[test]
    fn names_round_trip() {
        for k in AlertKind::ALL {
            assert_eq!(AlertKind::parse(k.as_str()), Some(k));
        }
    }
}
