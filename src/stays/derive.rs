//! The case events a stay derives, with source system `JOURNAL`
//! (hl7v2.md, "What a stay does to cases"): the reconciled discharge
//! notice when the grace period ends, and the deviation when the journal
//! cancels a discharge (or admission) that already reached a case.

use samgate_proto::v1::{
    CareProcess, CaseStatus, DeviationCategory, DischargeNotice, SourceSystem,
};
use samgate_proto::validate::MAX_ID_CHARS;
use samgate_proto::{CaseEvent, Payload, Timestamp};

use super::{Cancellation, Cancelled, Candidate, RegisterEntry, Stay};

/// The namespace of journal message ids too long to write out (UUIDv5).
const LONG_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x1f0e_8c2a_4b7d_5e39_9a64_2c1d_8e5f_7a03);

/// A derived event's source message id: the contract's form, or a UUID of
/// it when MSH-4, the visit number and MSH-10 together are longer than an
/// id may be.
fn message_id(id: String) -> String {
    if id.chars().count() <= MAX_ID_CHARS {
        return id;
    }
    format!(
        "journal/{}",
        uuid::Uuid::new_v5(&LONG_ID_NAMESPACE, id.as_bytes())
    )
}

/// Whether a fired discharge timer appends a notice to the linked case:
/// the case is OPEN or DISCHARGE_READY; or the journal discharged it before
/// and says something else now (another minute or destination).
pub fn should_reconcile(candidate: &Candidate, stay: &Stay) -> bool {
    let case = &candidate.case;
    if stay.cancelled || stay.discharged_at.is_none() {
        return false;
    }
    match CaseStatus::try_from(case.status) {
        Ok(CaseStatus::Open | CaseStatus::DischargeReady) => true,
        Ok(CaseStatus::Discharged) => {
            let minute = |s: i64| s.div_euclid(60);
            case.discharged_by == SourceSystem::Journal as i32
                && (case.discharged_at.as_ref().map(|t| minute(t.seconds))
                    != stay.discharged_at.map(minute)
                    || stay.destination.unwrap_or_default() != case.discharge_destination)
        }
        _ => false,
    }
}

/// The event's frame: the case's admission notice's system, ref, author;
/// its patient with municipality and protection from the register.
fn frame(
    candidate: &Candidate,
    register: &RegisterEntry,
    source_message_id: String,
    at: Timestamp,
    payload: Payload,
) -> Option<CaseEvent> {
    let admission = candidate.admission.as_ref()?;
    let mut patient = candidate
        .case
        .patient
        .clone()
        .unwrap_or_else(|| admission.patient.clone());
    patient.protected_identity |= register.protected;
    if let Some(m) = &register.municipality {
        patient.municipality_code = m.clone();
    }
    Some(CaseEvent {
        source_system: SourceSystem::Journal as i32,
        source_message_id: message_id(source_message_id),
        occurred_at: Some(at),
        case_ref: admission.case_ref.clone(),
        process: CareProcess::Inpatient as i32,
        author: Some(admission.author.clone()),
        patient: Some(patient),
        payload: Some(payload),
    })
}

/// The reconciled discharge notice of `stay` for its linked case, fired at
/// `at`; `None` when the case has no admission notice to take its frame
/// from.
pub fn discharge_notice(
    stay: &Stay,
    candidate: &Candidate,
    register: &RegisterEntry,
    at: Timestamp,
) -> Option<CaseEvent> {
    let id = format!(
        "{}/{}/discharge/{}",
        stay.facility,
        stay.visit_number,
        stay.discharge_control_id.as_deref().unwrap_or_default()
    );
    let payload = Payload::DischargeNotice(DischargeNotice {
        discharged_at: stay
            .discharged_at
            .map(|seconds| Timestamp { seconds, nanos: 0 }),
        destination: stay.destination.unwrap_or_default(),
    });
    frame(candidate, register, id, at, payload)
}

/// The deviation a cancellation after a reconciled discharge appends.
pub fn cancellation_deviation(
    c: &Cancellation,
    candidate: &Candidate,
    register: &RegisterEntry,
    at: Timestamp,
) -> Option<CaseEvent> {
    let (kind, description) = match &c.what {
        Cancelled::Discharge { date } => (
            "cancel-discharge",
            format!("the journal system cancelled the discharge of {date}"),
        ),
        Cancelled::Admission => (
            "cancel-admission",
            "the journal system cancelled the admission".to_owned(),
        ),
    };
    let id = format!("{}/{}/{kind}/{}", c.facility, c.visit_number, c.control_id);
    let payload = Payload::Deviation(samgate_proto::v1::Deviation {
        category: DeviationCategory::Discharge as i32,
        description,
    });
    frame(candidate, register, id, at, payload)
}
