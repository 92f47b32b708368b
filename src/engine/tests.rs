//! The case rules, one test each, on the spec's example events.

use samgate_proto::v1::*;
use samgate_proto::{CaseEvent, Payload, canonical};

use super::{Engine, Facts, RuleViolation};

/// The tests build events by hand; each is checked before it is folded, as
/// the store does.
trait FoldEvent {
    fn fold_event(
        &self,
        prev: Option<&Case>,
        case_id: &str,
        event: &CaseEvent,
        facts: &Facts,
    ) -> Result<Case, RuleViolation>;
}

impl FoldEvent for Engine {
    fn fold_event(
        &self,
        prev: Option<&Case>,
        case_id: &str,
        event: &CaseEvent,
        facts: &Facts,
    ) -> Result<Case, RuleViolation> {
        let checked = samgate_proto::validate::check_event(event.clone()).expect("a valid event");
        self.fold(prev, case_id, &checked, facts)
    }
}

fn example(name: &str) -> CaseEvent {
    let path = format!(
        "{}/tests/data/examples/canonical/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    canonical::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn fold_all(engine: &Engine, names: &[&str]) -> Result<Case, RuleViolation> {
    let mut case: Option<Case> = None;
    for name in names {
        case =
            Some(engine.fold_event(case.as_ref(), "case-1", &example(name), &Facts::default())?);
    }
    Ok(case.unwrap())
}

const INPATIENT_STORY: &[&str] = &[
    "admissionNotice",
    "inNotice",
    "careContactAssigned",
    "dischargeReady",
    "sipInvitation",
    "sipPlan",
    "dischargeNotice",
    "threadMessage",
    "deviation",
];

#[test]
fn the_inpatient_story_folds_with_status_deadlines_and_participants() {
    let case = fold_all(&Engine::default(), INPATIENT_STORY).unwrap();
    assert_eq!(case.status, CaseStatus::Discharged as i32);
    assert_eq!(case.event_count, 9);
    assert_eq!(case.opened_by_hsa_id, "SE2321000164-7381");
    let mut ids: Vec<&str> = case
        .participants
        .iter()
        .map(|p| p.hsa_id.as_str())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "SE2120000449-BIST",
            "SE2120000449-KHSL",
            "SE2321000040-V2K1",
            "SE2321000164-7381"
        ]
    );
    assert_eq!(case.latest_sip.as_ref().unwrap().goals.len(), 2);
    let deadline = |k: DeadlineKind| -> Deadline {
        *case.deadlines.iter().find(|d| d.kind == k as i32).unwrap()
    };
    let fmt =
        |t: &Option<samgate_proto::Timestamp>| t.as_ref().map(samgate_proto::time::format_utc);
    // Admitted 2024-10-26 20:15Z: due 24 h later; the notice came at 06:40Z.
    let a = deadline(DeadlineKind::AdmissionNotice);
    assert_eq!(fmt(&a.due_at).unwrap(), "2024-10-27T20:15:00Z");
    assert_eq!(fmt(&a.met_at).unwrap(), "2024-10-27T06:40:00Z");
    // Ready Friday 2024-11-01 13:00Z: 24 h; the invitation came 15:20Z.
    let s = deadline(DeadlineKind::SipInvitation);
    assert_eq!(fmt(&s.due_at).unwrap(), "2024-11-02T13:00:00Z");
    assert_eq!(fmt(&s.met_at).unwrap(), "2024-11-01T15:20:00Z");
    // Ready Fri 1 Nov (day 0), grace Sat–Mon, liable from Tue 5 Nov: the
    // discharge on 5 Nov is one liable day.
    assert_eq!(case.payment_liability_days, 1);
}

#[test]
fn invitees_intervention_owners_and_coordinator_become_participants() {
    let case = fold_all(&Engine::default(), &["admissionNotice", "sipInvitation"]).unwrap();
    assert_eq!(case.participants.len(), 4);
    let kallad = case
        .participants
        .iter()
        .find(|p| p.hsa_id == "SE2120000449-KHSL")
        .unwrap();
    assert_eq!(kallad.kind, ActorKind::MunicipalHealthcare as i32);
}

#[test]
fn outpatient_information_needs_consent_first() {
    let engine = Engine::default();
    let opened = example("caseOpened");
    let mut plan = example("sipPlan");
    plan.case_ref = opened.case_ref.clone();
    plan.process = CareProcess::Outpatient as i32;
    let case = engine
        .fold_event(None, "c", &opened, &Facts::default())
        .unwrap();
    let err = engine
        .fold_event(Some(&case), "c", &plan, &Facts::default())
        .unwrap_err();
    assert_eq!(err.code(), "consent-required");
    let case = engine
        .fold_event(Some(&case), "c", &example("consent"), &Facts::default())
        .unwrap();
    assert_eq!(case.consent, ConsentState::Given as i32);
    engine
        .fold_event(Some(&case), "c", &plan, &Facts::default())
        .unwrap();
}

#[test]
fn consent_withdrawn_closes_the_case() {
    let engine = Engine::default();
    let case = fold_all(&engine, &["caseOpened", "consent"]).unwrap();
    let mut withdraw = example("consent");
    if let Some(Payload::Consent(c)) = &mut withdraw.payload {
        c.decision = ConsentDecision::Withdrawn as i32;
    }
    let case = engine
        .fold_event(Some(&case), "c", &withdraw, &Facts::default())
        .unwrap();
    assert_eq!(case.status, CaseStatus::Closed as i32);
    assert_eq!(case.close_reason, CloseReason::ConsentWithdrawn as i32);
    assert_eq!(case.consent, ConsentState::Withdrawn as i32);
}

#[test]
fn only_the_opener_closes_an_outpatient_case() {
    let engine = Engine::default();
    let case = fold_all(&engine, &["caseOpened", "consent"]).unwrap();
    let mut close = example("caseClosed");
    close.author.as_mut().unwrap().hsa_id = "SE2120000449-KHSL".into();
    let err = engine
        .fold_event(Some(&case), "c", &close, &Facts::default())
        .unwrap_err();
    assert_eq!(err.code(), "only-opener-may-close");
    let case = engine
        .fold_event(Some(&case), "c", &example("caseClosed"), &Facts::default())
        .unwrap();
    assert_eq!(case.close_reason, CloseReason::GoalsMet as i32);
}

#[test]
fn a_closed_case_is_reopened_by_a_participant_only() {
    let engine = Engine::default();
    let case = fold_all(&engine, &["caseOpened", "consent", "caseClosed"]).unwrap();
    // Linköping home health care has not taken part in this case.
    let err = engine
        .fold_event(
            Some(&case),
            "c",
            &example("caseReopened"),
            &Facts::default(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "not-a-participant");
    let mut reopen = example("caseReopened");
    reopen.author = example("caseOpened").author;
    let case = engine
        .fold_event(Some(&case), "c", &reopen, &Facts::default())
        .unwrap();
    assert_eq!(case.status, CaseStatus::Open as i32);
    // Reopening an open case is refused.
    assert_eq!(
        engine
            .fold_event(Some(&case), "c", &reopen, &Facts::default())
            .unwrap_err()
            .code(),
        "not-closed"
    );
}

#[test]
fn a_closed_case_accepts_nothing_but_reopening() {
    let engine = Engine::default();
    let case = fold_all(&engine, &["caseOpened", "consent", "caseClosed"]).unwrap();
    let mut msg = example("threadMessage");
    msg.process = CareProcess::Outpatient as i32;
    assert_eq!(
        engine
            .fold_event(Some(&case), "c", &msg, &Facts::default())
            .unwrap_err()
            .code(),
        "case-closed"
    );
}

#[test]
fn one_open_outpatient_case_per_person() {
    let engine = Engine::default();
    let facts = Facts {
        other_open_outpatient_case: Some("other".into()),
        ..Facts::default()
    };
    let err = engine
        .fold_event(None, "c", &example("caseOpened"), &facts)
        .unwrap_err();
    assert_eq!(err.code(), "one-open-outpatient-case");
    // Inpatient cases are not limited.
    engine
        .fold_event(None, "c", &example("admissionNotice"), &facts)
        .unwrap();
}

#[test]
fn process_and_patient_must_match_the_case() {
    let engine = Engine::default();
    let case = fold_all(&engine, &["admissionNotice"]).unwrap();
    let mut other = example("inNotice");
    other.process = CareProcess::PsychiatricCompulsory as i32;
    assert_eq!(
        engine
            .fold_event(Some(&case), "c", &other, &Facts::default())
            .unwrap_err()
            .code(),
        "process-mismatch"
    );
    let mut other = example("inNotice");
    other.patient.as_mut().unwrap().id = "191212121212".into();
    assert_eq!(
        engine
            .fold_event(Some(&case), "c", &other, &Facts::default())
            .unwrap_err()
            .code(),
        "patient-mismatch"
    );
}

#[test]
fn discharge_is_final_and_a_new_case_cannot_start_closed() {
    let engine = Engine::default();
    let case = fold_all(&engine, &["admissionNotice", "dischargeNotice"]).unwrap();
    let err = engine
        .fold_event(
            Some(&case),
            "c",
            &example("dischargeReady"),
            &Facts::default(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "already-discharged");
    assert_eq!(
        engine
            .fold_event(None, "c", &example("caseClosed"), &Facts::default())
            .unwrap_err()
            .code(),
        "no-such-case"
    );
}

#[test]
fn a_later_sip_version_replaces_an_earlier_one_but_not_the_reverse() {
    let engine = Engine::default();
    let mut v2 = example("sipPlan");
    if let Some(Payload::SipPlan(p)) = &mut v2.payload {
        p.version = 2;
        p.goals.truncate(1);
    }
    let case = engine
        .fold_event(None, "c", &v2, &Facts::default())
        .unwrap();
    let case = engine
        .fold_event(Some(&case), "c", &example("sipPlan"), &Facts::default())
        .unwrap();
    assert_eq!(case.latest_sip.unwrap().version, 2);
}

#[test]
fn county_agreements_change_payment_liability() {
    let mut engine = Engine::default();
    engine.liability.counties.insert(
        "05".into(),
        super::LiabilityRule {
            days: 5,
            ..Default::default()
        },
    );
    let case = fold_all(
        &engine,
        &["admissionNotice", "dischargeReady", "dischargeNotice"],
    )
    .unwrap();
    // Esther lives in Linköping (county 05): 5 days of grace, so no liability.
    assert_eq!(case.payment_liability_days, 0);
}
