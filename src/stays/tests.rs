//! The stay rules of hl7v2.md, trigger by trigger, and the linking rule.

use samgate_hl7v2::{Person, StayUpdate, Trigger};
use samgate_proto::Timestamp;
use samgate_proto::v1::{
    Actor, CareProcess, Case, CaseStatus, DischargeDestination, ExternalRef, IdKind, SourceSystem,
};

use super::*;

const T0: i64 = 1_730_000_000;

fn update(trigger: Trigger, control: &str) -> StayUpdate {
    StayUpdate {
        trigger,
        sending_application: "COSMIC".into(),
        facility: "F".into(),
        visit_number: Some("V1".into()),
        message_control_id: control.into(),
        event_at: Timestamp {
            seconds: T0,
            nanos: 0,
        },
        patient_class: "I".into(),
        person: Person {
            id: "191212121212".into(),
            id_kind: IdKind::Personnummer,
            family_name: None,
            given_name: None,
            municipality_code: Some("0580".into()),
            protected_identity: None,
            deceased: None,
        },
        ward: Some("W1".into()),
        hospital: Some("H".into()),
        admitted_at: Some(Timestamp {
            seconds: T0,
            nanos: 0,
        }),
        discharged_at: None,
        destination: None,
    }
}

fn with_ward(mut u: StayUpdate, ward: &str) -> StayUpdate {
    u.ward = Some(ward.into());
    u
}

fn discharge(control: &str, at: i64) -> StayUpdate {
    let mut u = update(Trigger::A03, control);
    u.discharged_at = Some(Timestamp {
        seconds: at,
        nanos: 0,
    });
    u.destination = Some(DischargeDestination::Home);
    u
}

fn stay_after(updates: &[StayUpdate]) -> Option<Stay> {
    updates
        .iter()
        .fold(None, |prev, u| apply(prev.clone(), u).stay.or(prev))
}

#[test]
fn an_a01_creates_the_stay_and_a_second_corrects_it() {
    let s = stay_after(&[update(Trigger::A01, "1")]).unwrap();
    assert_eq!(s.wards, ["W1"]);
    assert_eq!(s.admitted_at, Some(T0));
    assert_eq!(s.hospital.as_deref(), Some("H"));
    let mut fix = with_ward(update(Trigger::A01, "2"), "W9");
    fix.admitted_at = Some(Timestamp {
        seconds: T0 + 60,
        nanos: 0,
    });
    let s = stay_after(&[update(Trigger::A01, "1"), fix]).unwrap();
    assert_eq!(s.wards, ["W9"]);
    assert_eq!(s.admitted_at, Some(T0 + 60));
    assert_eq!(s.history.len(), 2);
}

#[test]
fn an_a06_makes_an_outpatient_visit_an_inpatient_stay() {
    // The reader passes an A06 on only for patient class I.
    let mut a06 = update(Trigger::A06, "1");
    a06.admitted_at = Some(Timestamp {
        seconds: T0 + 600,
        nanos: 0,
    });
    let applied = apply(None, &a06);
    assert_eq!(applied.timer, TimerChange::Keep);
    let stay = applied.stay.unwrap();
    assert_eq!(stay.wards, ["W1"]);
    assert_eq!(stay.admitted_at, Some(T0 + 600));
    assert_eq!(stay.history[0].trigger, "A06");
}

#[test]
fn a_transfer_adds_a_ward_and_its_cancel_takes_it_away() {
    let a01 = update(Trigger::A01, "1");
    let a02 = with_ward(update(Trigger::A02, "2"), "W2");
    let s = stay_after(&[a01.clone(), a02.clone()]).unwrap();
    assert_eq!(s.wards, ["W1", "W2"]);
    let s = stay_after(&[a01, a02, update(Trigger::A12, "3")]).unwrap();
    assert_eq!(s.wards, ["W1"]);
    // An A02 for an unknown stay creates it.
    let s = stay_after(&[with_ward(update(Trigger::A02, "4"), "W2")]).unwrap();
    assert_eq!(s.wards, ["W2"]);
}

#[test]
fn a_discharge_starts_the_timer_and_a_second_replaces_it() {
    let first = apply(None, &discharge("1", T0 + 3600));
    assert_eq!(first.timer, TimerChange::Start);
    let stay = first.stay.unwrap();
    assert_eq!(stay.discharged_at, Some(T0 + 3600));
    assert_eq!(stay.destination, Some(DischargeDestination::Home as i32));
    assert_eq!(stay.discharge_control_id.as_deref(), Some("1"));
    let second = apply(Some(stay), &discharge("2", T0 + 7200));
    assert_eq!(second.timer, TimerChange::Start);
    let stay = second.stay.unwrap();
    assert_eq!(stay.discharged_at, Some(T0 + 7200));
    assert_eq!(stay.discharge_control_id.as_deref(), Some("2"));
}

#[test]
fn cancels_of_unknown_stays_change_nothing() {
    for t in [Trigger::A11, Trigger::A12, Trigger::A13] {
        let applied = apply(None, &update(t, "1"));
        assert_eq!(applied.stay, None, "{t:?}");
        assert_eq!(applied.timer, TimerChange::Keep);
    }
}

#[test]
fn a_cancel_stops_the_timer_and_after_a_reconciled_discharge_asks_for_a_deviation() {
    let mut stay = apply(None, &discharge("1", T0 + 3600)).stay.unwrap();
    let a13 = apply(Some(stay.clone()), &update(Trigger::A13, "2"));
    assert_eq!(a13.timer, TimerChange::Cancel);
    assert_eq!(a13.cancellation, None);
    assert_eq!(a13.stay.unwrap().discharged_at, None);

    stay.discharge_reached = Some("case-1".into());
    let a13 = apply(Some(stay.clone()), &update(Trigger::A13, "2"));
    let c = a13.cancellation.unwrap();
    assert_eq!(c.case_id, "case-1");
    assert_eq!(c.control_id, "2");
    assert_eq!(
        c.what,
        Cancelled::Discharge {
            date: swedish_date(T0 + 3600)
        }
    );
    let a11 = apply(Some(stay), &update(Trigger::A11, "3"));
    assert!(a11.stay.as_ref().unwrap().cancelled);
    assert_eq!(a11.cancellation.unwrap().what, Cancelled::Admission);
}

#[test]
fn an_a08_and_other_classes_leave_stays_alone() {
    assert_eq!(apply(None, &update(Trigger::A08, "1")).stay, None);
    let mut outpatient = update(Trigger::A01, "1");
    outpatient.patient_class = "O".into();
    assert_eq!(apply(None, &outpatient).stay, None);
}

#[test]
fn the_history_is_bounded() {
    let mut stay = None;
    for i in 0..MAX_STAY_HISTORY + 10 {
        stay = apply(stay, &update(Trigger::A01, &i.to_string())).stay;
    }
    let stay = stay.unwrap();
    assert_eq!(stay.history.len(), MAX_STAY_HISTORY);
    assert_eq!(
        stay.history.last().unwrap().control_id,
        (MAX_STAY_HISTORY + 9).to_string()
    );
}

#[test]
fn register_changes_follow_the_triggers() {
    let mut a01 = update(Trigger::A01, "1");
    a01.person.protected_identity = Some(false);
    assert_eq!(
        RegisterChange::of(&a01).protected,
        None,
        "only an A08 lifts"
    );
    let mut a08 = update(Trigger::A08, "2");
    a08.person.protected_identity = Some(false);
    assert_eq!(RegisterChange::of(&a08).protected, Some(false));
    a01.person.protected_identity = Some(true);
    assert_eq!(RegisterChange::of(&a01).protected, Some(true));
    assert!(RegisterChange::of(&update(Trigger::A02, "3")).is_empty());
}

fn candidate(id: &str, author: &str, admitted_at: i64, status: CaseStatus) -> Candidate {
    Candidate {
        case: Case {
            id: id.into(),
            process: CareProcess::Inpatient as i32,
            status: status as i32,
            ..Default::default()
        },
        admission: Some(Admission {
            system: SourceSystem::Lifecare as i32,
            case_ref: format!("ref-{id}"),
            author: Actor {
                hsa_id: author.into(),
                ..Default::default()
            },
            admitted_at: Some(admitted_at),
            patient: Default::default(),
        }),
    }
}

#[test]
fn a_stay_links_by_unit_within_24_hours_or_by_visit_number() {
    let stay = stay_after(&[update(Trigger::A01, "1")]).unwrap();
    let day = link::ADMISSION_WINDOW_SECONDS;
    let exactly = [candidate("a", "W1", T0 + day, CaseStatus::Open)];
    assert_eq!(link(&stay, &exactly).unwrap().case.id, "a");
    let late = [candidate("a", "W1", T0 + day + 1, CaseStatus::Open)];
    assert!(link(&stay, &late).is_none());
    let elsewhere = [candidate("a", "W7", T0, CaseStatus::Open)];
    assert!(link(&stay, &elsewhere).is_none());
    let by_hospital = [candidate("a", "H", T0, CaseStatus::Open)];
    assert!(link(&stay, &by_hospital).is_some());
    let closed = [candidate("a", "W1", T0, CaseStatus::Closed)];
    assert!(link(&stay, &closed).is_none());
    let mut by_ref = candidate("a", "W7", T0 - 10 * day, CaseStatus::Open);
    by_ref.case.external_refs.push(ExternalRef {
        system: SourceSystem::Lifecare as i32,
        case_ref: "V1".into(),
    });
    assert!(link(&stay, &[by_ref]).is_some());
    let both = [
        candidate("older", "W1", T0 - 3600, CaseStatus::Open),
        candidate("newer", "W1", T0 + 3600, CaseStatus::Open),
    ];
    assert_eq!(link(&stay, &both).unwrap().case.id, "newer");
}

#[test]
fn only_an_open_case_or_a_differing_journal_discharge_is_reconciled() {
    let stay = apply(None, &discharge("1", T0 + 3600)).stay.unwrap();
    let open = candidate("a", "W1", T0, CaseStatus::Open);
    assert!(derive::should_reconcile(&open, &stay));
    let mut done = candidate("a", "W1", T0, CaseStatus::Discharged);
    done.case.discharged_by = SourceSystem::Journal as i32;
    done.case.discharged_at = Some(Timestamp {
        seconds: T0 + 3600 + 30,
        nanos: 0,
    });
    done.case.discharge_destination = DischargeDestination::Home as i32;
    assert!(!derive::should_reconcile(&done, &stay), "the same minute");
    done.case.discharge_destination = DischargeDestination::ShortTermCare as i32;
    assert!(derive::should_reconcile(&done, &stay));
    done.case.discharged_by = SourceSystem::Lifecare as i32;
    assert!(!derive::should_reconcile(&done, &stay), "the ward's own");
}
