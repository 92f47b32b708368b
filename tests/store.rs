//! The embedded store: idempotency, the projection, reopening, linking a
//! case across systems, listing, durability and append-only events.

mod common;

use common::*;
use samgate::engine::Engine;
use samgate::store::{self, CaseFilter, SqliteStore, Store};
use samgate_proto::Payload;
use samgate_proto::v1::*;

async fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("samgate.db"))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_duplicate_returns_the_first_result_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let engine = Engine::default();
    let first = store
        .submit(&canonical_example("admissionNotice"), &engine)
        .await
        .unwrap();
    assert!(!first.duplicate);
    let again = store
        .submit(&canonical_example("admissionNotice"), &engine)
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(
        (again.case_id.as_str(), again.sequence),
        (first.case_id.as_str(), 1)
    );
    assert_eq!(store.events(&first.case_id, 1).await.unwrap().len(), 1);
    assert_eq!(again.case, first.case);
}

#[tokio::test]
async fn the_projection_is_the_fold_of_the_stored_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let engine = Engine::default();
    let mut case_id = String::new();
    for ty in [
        "admissionNotice",
        "inNotice",
        "careContactAssigned",
        "dischargeReady",
        "sipInvitation",
        "sipPlan",
        "dischargeNotice",
    ] {
        let s = store.submit(&canonical_example(ty), &engine).await.unwrap();
        if case_id.is_empty() {
            case_id = s.case_id.clone();
        }
        assert_eq!(s.case_id, case_id, "{ty} joins the case");
    }
    let case = store.get_case(&case_id).await.unwrap().unwrap();
    assert_eq!(case.status, CaseStatus::Discharged as i32);
    assert_eq!(case.event_count, 7);
    let events = store.events(&case_id, 1).await.unwrap();
    let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5, 6, 7]);
    // Folding the stored events again gives the stored projection.
    let mut folded: Option<Case> = None;
    for e in &events {
        folded = Some(
            engine
                .fold(
                    folded.as_ref(),
                    &case_id,
                    e.event.as_ref().unwrap(),
                    &Default::default(),
                )
                .unwrap(),
        );
    }
    assert_eq!(folded.unwrap(), case);
    assert_eq!(store.events(&case_id, 6).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_closed_case_is_reopened_and_a_refused_event_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let engine = Engine::default();
    let opened = store
        .submit(&canonical_example("caseOpened"), &engine)
        .await
        .unwrap();
    store
        .submit(&canonical_example("consent"), &engine)
        .await
        .unwrap();
    let closed = store
        .submit(&canonical_example("caseClosed"), &engine)
        .await
        .unwrap();
    assert_eq!(closed.case.status, CaseStatus::Closed as i32);
    // Linköping home health care has not taken part: refused, not stored.
    let err = store
        .submit(&canonical_example("caseReopened"), &engine)
        .await
        .unwrap_err();
    assert!(
        matches!(err, store::StoreError::Rule(ref r) if r.code() == "not-a-participant"),
        "{err}"
    );
    assert_eq!(store.events(&opened.case_id, 1).await.unwrap().len(), 3);
    // The opener reopens it.
    let mut reopen = canonical_example("caseReopened");
    reopen.author = canonical_example("caseOpened").author;
    let reopened = store.submit(&reopen, &engine).await.unwrap();
    assert_eq!(reopened.case_id, opened.case_id);
    assert_eq!(reopened.case.status, CaseStatus::Open as i32);
    assert_eq!(reopened.sequence, 4);
}

#[tokio::test]
async fn one_open_outpatient_case_per_person_across_cases() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let engine = Engine::default();
    store
        .submit(&canonical_example("caseOpened"), &engine)
        .await
        .unwrap();
    let mut second = canonical_example("caseOpened");
    second.case_ref = "OV-2025-0099".into();
    second.source_message_id = "MSG-9999".into();
    let err = store.submit(&second, &engine).await.unwrap_err();
    assert!(err.to_string().contains("open outpatient case"), "{err}");
}

#[tokio::test]
async fn a_reply_from_another_system_joins_the_case_by_ref_and_patient() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let engine = Engine::default();
    let mut admission = canonical_example("admissionNotice");
    admission.source_system = SourceSystem::Lifecare as i32;
    let first = store.submit(&admission, &engine).await.unwrap();
    let mut reply = canonical_example("inNotice");
    reply.source_system = SourceSystem::CosmicLink as i32;
    let second = store.submit(&reply, &engine).await.unwrap();
    assert_eq!(second.case_id, first.case_id);
    assert_eq!(second.case.external_refs.len(), 2);
    // The same ref for another person is another case.
    let mut stranger = canonical_example("inNotice");
    stranger.source_message_id = "MSG-STRANGER".into();
    stranger.patient.as_mut().unwrap().id = "191212121212".into();
    let third = store.submit(&stranger, &engine).await.unwrap();
    assert_ne!(third.case_id, first.case_id);
}

#[tokio::test]
async fn list_cases_by_participant_and_status_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let engine = Engine::default();
    for i in 0..5 {
        let mut e = canonical_example("admissionNotice");
        e.case_ref = format!("SV-{i}");
        e.source_message_id = format!("M-{i}");
        store.submit(&e, &engine).await.unwrap();
    }
    store
        .submit(&canonical_example("caseOpened"), &engine)
        .await
        .unwrap();
    let all = |hsa: &str, status| CaseFilter {
        participant_hsa_id: Some(hsa.to_owned()),
        status,
    };
    let (page, next) = store
        .list_cases(&all("SE2321000164-7381", None), 2, None)
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    let (page2, next2) = store
        .list_cases(&all("SE2321000164-7381", None), 2, next.as_deref())
        .await
        .unwrap();
    assert_eq!(page2.len(), 2);
    assert!(page2[0].id > page[1].id);
    let (page3, next3) = store
        .list_cases(&all("SE2321000164-7381", None), 2, next2.as_deref())
        .await
        .unwrap();
    assert_eq!((page3.len(), next3), (1, None));
    let (open_outpatient, _) = store
        .list_cases(&all("SE2321000040-V2K1", Some(CaseStatus::Open)), 0, None)
        .await
        .unwrap();
    assert_eq!(open_outpatient.len(), 1);
    let (none, _) = store
        .list_cases(&all("SE2321000040-V2K1", Some(CaseStatus::Closed)), 0, None)
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn cases_survive_a_restart_and_events_are_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let case_id = {
        let store = open(&dir).await;
        let s = store
            .submit(&canonical_example("admissionNotice"), &Engine::default())
            .await
            .unwrap();
        store.close().await;
        s.case_id
    };
    let store = open(&dir).await;
    let case = store.get_case(&case_id).await.unwrap().unwrap();
    assert!(matches!(
        store.events(&case_id, 1).await.unwrap()[0]
            .event
            .as_ref()
            .unwrap()
            .payload,
        Some(Payload::AdmissionNotice(_))
    ));
    assert_eq!(case.event_count, 1);
    store.close().await;
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("samgate.db").display()
    ))
    .await
    .unwrap();
    let err = sqlx::query("UPDATE events SET payload_type = 'x'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = sqlx::query("DELETE FROM events")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}
