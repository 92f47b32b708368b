//! Which case a stay belongs to (hl7v2.md, "Linking").
//!
//! A stay links to a not-CLOSED INPATIENT case of the same person when the
//! author of the case's admission notice, or any participant, is one of the
//! stay's wards or its hospital and the two admission times are at most
//! 24 hours apart; or when one of the case's refs is the visit number.
//! When several cases match, the latest admission wins.

use samgate_proto::v1::{Actor, CareProcess, Case, CaseStatus, Patient};

use super::Stay;

/// How far apart the journal's and the ward's admission times may be for
/// a stay and a case to be one hospital stay: the contract's 24 hours
/// (the ward's notice is often written the day after).
pub const ADMISSION_WINDOW_SECONDS: i64 = 24 * 3600;

/// What linking and the derived events need of a case's admission notice.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    /// The system the notice came from (`SourceSystem` as its number).
    pub system: i32,
    /// The case's ref in that system.
    pub case_ref: String,
    pub author: Actor,
    /// Unix seconds.
    pub admitted_at: Option<i64>,
    pub patient: Patient,
}

/// A case of the stay's person, with its admission notice if it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub case: Case,
    pub admission: Option<Admission>,
}

impl Candidate {
    fn matches(&self, stay: &Stay) -> bool {
        let case = &self.case;
        if case.status == CaseStatus::Closed as i32 || case.process != CareProcess::Inpatient as i32
        {
            return false;
        }
        if case
            .external_refs
            .iter()
            .any(|r| r.case_ref == stay.visit_number)
        {
            return true;
        }
        let Some(admission) = &self.admission else {
            return false;
        };
        let is_the_stays = |hsa_id: &str| !hsa_id.is_empty() && stay.units().any(|u| u == hsa_id);
        let unit_matches = is_the_stays(&admission.author.hsa_id)
            || case.participants.iter().any(|p| is_the_stays(&p.hsa_id));
        let close_in_time = match (admission.admitted_at, stay.admitted_at) {
            (Some(a), Some(b)) => (a - b).abs() <= ADMISSION_WINDOW_SECONDS,
            _ => false,
        };
        unit_matches && close_in_time
    }

    fn admitted_at(&self) -> i64 {
        self.admission
            .as_ref()
            .and_then(|a| a.admitted_at)
            .unwrap_or(i64::MIN)
    }
}

/// The case `stay` belongs to among its person's cases, if any.
pub fn link<'a>(stay: &Stay, candidates: &'a [Candidate]) -> Option<&'a Candidate> {
    candidates
        .iter()
        .filter(|c| c.matches(stay))
        .max_by_key(|c| c.admitted_at())
}
