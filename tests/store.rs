//! The store, on SQLite and on PostgreSQL alike: idempotency, the
//! projection, reopening, linking a case across systems, listing,
//! durability and append-only events. Every test runs on both backends
//! (`both!`); PostgreSQL is the local server (SAMGATE_TEST_POSTGRES_URL),
//! one fresh schema per test, and a server that cannot be reached fails
//! the test.

mod common;

use std::sync::Arc;

use common::*;
use samgate::engine::Engine;
use samgate::store::{self, CaseFilter, SqliteStore, Store};
use samgate_proto::Payload;
use samgate_proto::v1::*;

/// A store to test, and what keeps its data alive.
struct Backend {
    store: Arc<dyn Store>,
    /// Opens the same data again (a restart).
    reopen: String,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("samgate.db");
    Backend {
        store: Arc::new(SqliteStore::open(&path).await.unwrap()),
        reopen: format!("sqlite://{}", path.display()),
        _dir: Some(dir),
    }
}

async fn postgres() -> Backend {
    let url = postgres_schema_url().await;
    Backend {
        store: store::open(&url, std::path::Path::new("unused"))
            .await
            .unwrap(),
        reopen: url,
        _dir: None,
    }
}

/// Runs one test body on SQLite and on PostgreSQL.
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$body(super::sqlite().await).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$body(super::postgres().await).await;
            }
        }
    };
}

both!(
    a_duplicate_returns_the_first_result_and_stores_nothing,
    a_duplicate_returns_the_first_result_and_stores_nothing_on
);

async fn a_duplicate_returns_the_first_result_and_stores_nothing_on(b: Backend) {
    let store = b.store.clone();
    let engine = Engine::default();
    let first = store
        .submit(&checked(&canonical_example("admissionNotice")), &engine)
        .await
        .unwrap();
    assert!(!first.duplicate);
    let again = store
        .submit(&checked(&canonical_example("admissionNotice")), &engine)
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

both!(
    a_batch_larger_than_one_lookup_statement_finds_its_duplicates,
    a_batch_larger_than_one_lookup_statement_finds_its_duplicates_on
);

/// The store looks up a batch's message ids and case refs a thousand
/// values to a statement: 1,500 events take several, and a second
/// submission of the same events is all duplicates of the first.
async fn a_batch_larger_than_one_lookup_statement_finds_its_duplicates_on(b: Backend) {
    let store = b.store.clone();
    let engine = Engine::default();
    let events: Vec<_> = (0..1500)
        .map(|i| {
            let mut e = canonical_example("admissionNotice");
            e.source_message_id = format!("MSG-{i}");
            e.case_ref = format!("REF-{i}");
            e
        })
        .collect();
    let first = store
        .submit_batch(&checked_all(&events), &engine)
        .await
        .unwrap();
    assert!(first.iter().all(|r| !r.as_ref().unwrap().duplicate));
    let again = store
        .submit_batch(&checked_all(&events), &engine)
        .await
        .unwrap();
    for (a, b) in first.iter().zip(&again) {
        let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
        assert!(b.duplicate);
        assert_eq!((&b.case_id, b.sequence), (&a.case_id, a.sequence));
    }
}

both!(
    the_projection_is_the_fold_of_the_stored_events,
    the_projection_is_the_fold_of_the_stored_events_on
);

async fn the_projection_is_the_fold_of_the_stored_events_on(b: Backend) {
    let store = b.store.clone();
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
        let s = store
            .submit(&checked(&canonical_example(ty)), &engine)
            .await
            .unwrap();
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
                    &checked(e.event.as_ref().unwrap()),
                    &Default::default(),
                )
                .unwrap(),
        );
    }
    assert_eq!(folded.unwrap(), case);
    assert_eq!(store.events(&case_id, 6).await.unwrap().len(), 2);
}

both!(
    a_closed_case_is_reopened_and_a_refused_event_is_not_stored,
    a_closed_case_is_reopened_and_a_refused_event_is_not_stored_on
);

async fn a_closed_case_is_reopened_and_a_refused_event_is_not_stored_on(b: Backend) {
    let store = b.store.clone();
    let engine = Engine::default();
    let opened = store
        .submit(&checked(&canonical_example("caseOpened")), &engine)
        .await
        .unwrap();
    store
        .submit(&checked(&canonical_example("consent")), &engine)
        .await
        .unwrap();
    let closed = store
        .submit(&checked(&canonical_example("caseClosed")), &engine)
        .await
        .unwrap();
    assert_eq!(closed.case.status, CaseStatus::Closed as i32);
    // Linköping home health care has not taken part: refused, not stored.
    let err = store
        .submit(&checked(&canonical_example("caseReopened")), &engine)
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
    let reopened = store.submit(&checked(&reopen), &engine).await.unwrap();
    assert_eq!(reopened.case_id, opened.case_id);
    assert_eq!(reopened.case.status, CaseStatus::Open as i32);
    assert_eq!(reopened.sequence, 4);
}

both!(
    one_open_outpatient_case_per_person_across_cases,
    one_open_outpatient_case_per_person_across_cases_on
);

async fn one_open_outpatient_case_per_person_across_cases_on(b: Backend) {
    let store = b.store.clone();
    let engine = Engine::default();
    store
        .submit(&checked(&canonical_example("caseOpened")), &engine)
        .await
        .unwrap();
    let mut second = canonical_example("caseOpened");
    second.case_ref = "OV-2025-0099".into();
    second.source_message_id = "MSG-9999".into();
    let err = store.submit(&checked(&second), &engine).await.unwrap_err();
    assert!(err.to_string().contains("open outpatient case"), "{err}");
}

both!(
    a_reply_from_another_system_joins_the_case_by_ref_and_patient,
    a_reply_from_another_system_joins_the_case_by_ref_and_patient_on
);

async fn a_reply_from_another_system_joins_the_case_by_ref_and_patient_on(b: Backend) {
    let store = b.store.clone();
    let engine = Engine::default();
    let mut admission = canonical_example("admissionNotice");
    admission.source_system = SourceSystem::Lifecare as i32;
    let first = store.submit(&checked(&admission), &engine).await.unwrap();
    let mut reply = canonical_example("inNotice");
    reply.source_system = SourceSystem::CosmicLink as i32;
    let second = store.submit(&checked(&reply), &engine).await.unwrap();
    assert_eq!(second.case_id, first.case_id);
    assert_eq!(second.case.external_refs.len(), 2);
    // The same ref for another person is another case.
    let mut stranger = canonical_example("inNotice");
    stranger.source_message_id = "MSG-STRANGER".into();
    stranger.patient.as_mut().unwrap().id = "191212121212".into();
    let third = store.submit(&checked(&stranger), &engine).await.unwrap();
    assert_ne!(third.case_id, first.case_id);
}

both!(
    list_cases_by_participant_and_status_in_pages,
    list_cases_by_participant_and_status_in_pages_on
);

async fn list_cases_by_participant_and_status_in_pages_on(b: Backend) {
    let store = b.store.clone();
    let engine = Engine::default();
    for i in 0..5 {
        let mut e = canonical_example("admissionNotice");
        e.case_ref = format!("SV-{i}");
        e.source_message_id = format!("M-{i}");
        store.submit(&checked(&e), &engine).await.unwrap();
    }
    store
        .submit(&checked(&canonical_example("caseOpened")), &engine)
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

both!(
    cases_survive_a_restart_and_events_are_append_only,
    cases_survive_a_restart_and_events_are_append_only_on
);

async fn cases_survive_a_restart_and_events_are_append_only_on(b: Backend) {
    let case_id = {
        let s = b
            .store
            .submit(
                &checked(&canonical_example("admissionNotice")),
                &Engine::default(),
            )
            .await
            .unwrap();
        b.store.close().await;
        s.case_id
    };
    let store = store::open(&b.reopen, std::path::Path::new("unused"))
        .await
        .unwrap();
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
    for statement in ["UPDATE events SET payload_type = 'x'", "DELETE FROM events"] {
        let err = execute_raw(&b.reopen, statement).await.unwrap_err();
        assert!(err.contains("append-only"), "{err}");
    }
}

/// Runs one statement on the backend behind `url`, bypassing the store.
async fn execute_raw(url: &str, statement: &'static str) -> Result<(), String> {
    use sqlx::Connection;
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

both!(
    a_batch_commits_together_and_refuses_only_the_broken_event,
    a_batch_commits_together_and_refuses_only_the_broken_event_on
);

async fn a_batch_commits_together_and_refuses_only_the_broken_event_on(b: Backend) {
    let store = b.store.clone();
    let engine = Engine::default();
    let events = vec![
        canonical_example("admissionNotice"),
        // Refused: closing a case that does not exist.
        canonical_example("caseClosed"),
        canonical_example("inNotice"),
        // The same message again, inside the same batch: a duplicate.
        canonical_example("admissionNotice"),
    ];
    let results = store
        .submit_batch(&checked_all(&events), &engine)
        .await
        .unwrap();
    assert_eq!(results.len(), 4);
    let first = results[0].as_ref().unwrap();
    assert!(
        matches!(results[1], Err(store::StoreError::Rule(ref r)) if r.code() == "no-such-case")
    );
    let second = results[2].as_ref().unwrap();
    assert_eq!(
        (second.case_id.as_str(), second.sequence),
        (first.case_id.as_str(), 2)
    );
    let again = results[3].as_ref().unwrap();
    assert!(again.duplicate);
    assert_eq!(store.events(&first.case_id, 1).await.unwrap().len(), 2);
}

both!(
    a_batch_the_database_refuses_leaves_nothing_behind,
    a_batch_the_database_refuses_leaves_nothing_behind_on
);

/// A batch whose writes the database refuses is rolled back whole (its
/// case row, written before the refused event, too), and the connection
/// it ran on goes back to the pool with no transaction open: on SQLite the
/// batch begins and commits inside its own statements, so a transaction
/// left open there would hold the write lock against every later batch.
async fn a_batch_the_database_refuses_leaves_nothing_behind_on(b: Backend) {
    let (refuse, allow) = if b.reopen.starts_with("sqlite") {
        (
            "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            "DROP TRIGGER refuse",
        )
    } else {
        (
            "ALTER TABLE events ADD CONSTRAINT refuse_all CHECK (false) NOT VALID",
            "ALTER TABLE events DROP CONSTRAINT refuse_all",
        )
    };
    let engine = Engine::default();
    let events = [canonical_example("admissionNotice")];
    execute_raw(&b.reopen, refuse).await.unwrap();
    // More times than the pool has connections.
    for _ in 0..6 {
        assert!(
            b.store
                .submit_batch(&checked_all(&events), &engine)
                .await
                .is_err()
        );
    }
    let (cases, _) = b
        .store
        .list_cases(&Default::default(), 0, None)
        .await
        .unwrap();
    assert!(cases.is_empty(), "{cases:?}");
    execute_raw(&b.reopen, allow).await.unwrap();
    let results = b
        .store
        .submit_batch(&checked_all(&events), &engine)
        .await
        .unwrap();
    let stored = results[0].as_ref().unwrap();
    assert!(!stored.duplicate);
    assert_eq!(stored.sequence, 1);
    assert_eq!(b.store.events(&stored.case_id, 1).await.unwrap().len(), 1);
}

both!(
    the_relays_outbox_holds_neither_native_nor_portal_deliveries,
    the_relays_outbox_holds_neither_native_nor_portal_deliveries_on
);

/// Deliveries to native units wait for their units to pull them, and
/// publications for the pusher: however many pile up, the relay's window
/// must not fill with them, or AMQP deliveries behind them would stall.
async fn the_relays_outbox_holds_neither_native_nor_portal_deliveries_on(b: Backend) {
    let store = b.store.clone();
    let router =
        samgate::routing::Router::new(Engine::default(), samgate::routing::Directory::builtin())
            .publishing_plans(true);
    // Five admissions of Jönköping residents: three native deliveries each.
    for i in 0..5 {
        let mut event = canonical_example("admissionNotice");
        event.source_message_id = format!("native-{i}");
        event.case_ref = format!("native-case-{i}");
        let patient = event.patient.as_mut().unwrap();
        patient.municipality_code = "0680".into();
        patient.listed_unit_hsa_id = "SE2321000065-VCHU".into();
        store.submit(&checked(&event), &router).await.unwrap();
    }
    // A SIP, whose publication waits for the pusher.
    store
        .submit(&checked(&canonical_example("sipPlan")), &router)
        .await
        .unwrap();
    // A Linköping resident's admission: Cosmic Link deliveries.
    let mut event = canonical_example("admissionNotice");
    event.source_message_id = "cosmic".into();
    event.case_ref = "cosmic-case".into();
    store.submit(&checked(&event), &router).await.unwrap();

    let read = store.outbox(10, &[]).await.unwrap();
    let window = read.deliveries;
    assert!(read.top >= window.iter().map(|d| d.id).max().unwrap());
    assert!(
        window
            .iter()
            .all(|d| d.system_name() != "native" && d.recipient != "portal"),
        "{window:?}"
    );
    assert!(window.iter().any(|d| d.system_name() == "cosmic-link"));
    // The rows the relay has in flight are left out.
    let in_flight: Vec<i64> = window.iter().take(2).map(|d| d.id).collect();
    let rest = store.outbox(10, &in_flight).await.unwrap().deliveries;
    assert_eq!(rest.len(), window.len() - in_flight.len(), "{rest:?}");
    assert!(rest.iter().all(|d| !in_flight.contains(&d.id)));
    // A read that finds nothing still tells how far it looked.
    let all: Vec<i64> = window.iter().map(|d| d.id).collect();
    let none = store.outbox(10, &all).await.unwrap();
    assert!(window.len() < 10, "the example routes fewer than 10");
    assert!(none.deliveries.is_empty(), "{none:?}");
    assert_eq!(none.top, read.top);
}

/// On SQLite the relay is handed what each batch commits instead of
/// reading it back: exactly the rows a read would give, with their ids, in
/// outbox order. PostgreSQL, whose ids do not follow commit order, has no
/// feed.
#[tokio::test]
async fn the_sqlite_store_feeds_the_relay_what_a_read_would_give() {
    let b = sqlite().await;
    let router =
        samgate::routing::Router::new(Engine::default(), samgate::routing::Directory::builtin())
            .publishing_plans(true);
    let mut feed = b
        .store
        .follow_outbox()
        .await
        .expect("SQLite feeds the relay");
    let mut admission = canonical_example("admissionNotice");
    admission.source_message_id = "fed".into();
    let events = vec![admission, canonical_example("sipPlan")];
    let results = b
        .store
        .submit_batch(&checked_all(&events), &router)
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut fed = Vec::new();
    while let Some(d) = feed.try_recv() {
        fed.push(d);
    }
    assert!(!feed.take_lost());
    let read = b.store.outbox(100, &[]).await.unwrap().deliveries;
    assert!(!fed.is_empty());
    assert_eq!(fed, read, "neither the portal's nor native units' rows");

    let pg = postgres().await;
    assert!(pg.store.follow_outbox().await.is_none());
}

both!(
    a_batch_folds_as_one_event_at_a_time_would,
    a_batch_folds_as_one_event_at_a_time_would_on
);

/// One batch is folded in memory against what the store held before it;
/// the results must be those of the same events submitted one by one:
/// case linking across systems, another person's case under the same ref,
/// the outpatient rule against a case opened earlier in the batch, and
/// duplicates from the store and from the batch itself.
async fn a_batch_folds_as_one_event_at_a_time_would_on(b: Backend) {
    let engine = Engine::default();
    let mut admission = canonical_example("admissionNotice");
    admission.source_system = SourceSystem::Lifecare as i32;
    let mut reply = canonical_example("inNotice");
    reply.source_system = SourceSystem::CosmicLink as i32;
    let mut stranger = canonical_example("inNotice");
    stranger.source_message_id = "MSG-STRANGER".into();
    stranger.patient.as_mut().unwrap().id = "191212121212".into();
    let opened = canonical_example("caseOpened");
    let mut second_opened = opened.clone();
    second_opened.case_ref = "OV-2025-0099".into();
    second_opened.source_message_id = "MSG-9999".into();
    let before = vec![admission.clone()];
    let batch = vec![
        reply.clone(),
        stranger,
        admission.clone(),
        opened.clone(),
        second_opened,
        canonical_example("caseClosed"),
        reply,
    ];

    // The store under test takes the batch whole; a second store of the
    // same backend takes the same events one by one.
    let one_by_one = match b.reopen.starts_with("sqlite") {
        true => sqlite().await,
        false => postgres().await,
    };
    for e in &before {
        b.store.submit(&checked(e), &engine).await.unwrap();
        one_by_one.store.submit(&checked(e), &engine).await.unwrap();
    }
    let batched = b
        .store
        .submit_batch(&checked_all(&batch), &engine)
        .await
        .unwrap();
    let mut single = Vec::new();
    for e in &batch {
        single.push(one_by_one.store.submit(&checked(e), &engine).await);
    }

    // Case ids are new UUIDs in each store: compare what they stand for.
    let shape = |results: &[Result<store::Submitted, store::StoreError>]| {
        let ids: Vec<Option<&str>> = results
            .iter()
            .map(|r| r.as_ref().ok().map(|s| s.case_id.as_str()))
            .collect();
        results
            .iter()
            .enumerate()
            .map(|(i, r)| match r {
                Ok(s) => format!(
                    "case#{} seq {} dup {} events {} status {} refs {} participants {}",
                    ids.iter().position(|id| *id == ids[i]).unwrap(),
                    s.sequence,
                    s.duplicate,
                    s.case.event_count,
                    s.case.status,
                    s.case.external_refs.len(),
                    s.case.participants.len()
                ),
                Err(store::StoreError::Rule(r)) => format!("refused {}", r.code()),
                Err(e) => panic!("store error: {e}"),
            })
            .collect::<Vec<_>>()
    };
    let expected = shape(&single);
    assert_eq!(shape(&batched), expected);
    // What the sequence shows: the reply joined the admission's case, the
    // stranger got a case of their own, the outpatient rule saw the case
    // opened earlier in the batch, and both repeats were duplicates.
    assert!(
        expected[0].starts_with("case#0 seq 2 dup false"),
        "{expected:?}"
    );
    assert!(expected[1].starts_with("case#1 seq 1"), "{expected:?}");
    assert!(expected[2].contains("dup true"), "{expected:?}");
    assert!(expected[4].starts_with("refused"), "{expected:?}");
    assert!(expected[6].contains("dup true"), "{expected:?}");
    // And what was written is what one by one writes.
    for (r, s) in batched.iter().zip(&single) {
        if let (Ok(r), Ok(s)) = (r, s) {
            let stored = b.store.events(&r.case_id, 1).await.unwrap().len();
            let expected = one_by_one.store.events(&s.case_id, 1).await.unwrap().len();
            assert_eq!(stored, expected);
        }
    }
}

both!(
    protection_is_remembered_per_person_and_a_reused_id_is_refused,
    protection_is_remembered_per_person_and_a_reused_id_is_refused_on
);

/// The person register and the message-id check run in the store's
/// transaction: a person protected in one case is protected in the next,
/// whatever its messages say, across a restart; an id reused for another
/// message is refused and stores nothing; a resend is a duplicate.
async fn protection_is_remembered_per_person_and_a_reused_id_is_refused_on(b: Backend) {
    let store = b.store.clone();
    let engine = Engine::default();
    let mut first = canonical_example("admissionNotice");
    first.patient.as_mut().unwrap().protected_identity = true;
    store.submit(&checked(&first), &engine).await.unwrap();
    store.close().await;
    let store = store::open(&b.reopen, std::path::Path::new("unused"))
        .await
        .unwrap();
    let mut second = canonical_example("admissionNotice");
    second.source_message_id = "ADM-2".into();
    second.case_ref = "SV-2025-0002".into();
    let s = store.submit(&checked(&second), &engine).await.unwrap();
    assert!(!s.duplicate);
    assert!(s.case.patient.as_ref().unwrap().protected_identity);
    let stored = store.events(&s.case_id, 1).await.unwrap();
    let stored = stored[0].event.as_ref().unwrap();
    assert!(stored.patient.as_ref().unwrap().protected_identity);
    // The unprotected resend is the same message.
    assert!(
        store
            .submit(&checked(&second), &engine)
            .await
            .unwrap()
            .duplicate
    );
    // Another message under the same id is not.
    let mut reused = second.clone();
    reused.patient.as_mut().unwrap().id = "189001019802".into();
    let refused = store.submit(&checked(&reused), &engine).await.unwrap_err();
    assert!(
        matches!(
            refused,
            store::StoreError::Rule(samgate::engine::RuleViolation::MessageIdReused)
        ),
        "{refused:?}"
    );
    assert_eq!(store.events(&s.case_id, 1).await.unwrap().len(), 1);
    // Lifting (the audited operator act) clears the register and the
    // cases; the next message decides again.
    let lifted = store.lift_protection("194102069046").await.unwrap();
    assert!(lifted.registered);
    assert_eq!(lifted.cases.len(), 2);
    let mut third = canonical_example("threadMessage");
    third.case_ref = "SV-2025-0002".into();
    let s = store.submit(&checked(&third), &engine).await.unwrap();
    assert!(!s.case.patient.as_ref().unwrap().protected_identity);
}

both!(
    every_event_is_read_in_arrival_order_a_page_at_a_time,
    every_event_is_read_in_arrival_order_a_page_at_a_time_on
);

async fn every_event_is_read_in_arrival_order_a_page_at_a_time_on(b: Backend) {
    let store = b.store.clone();
    let engine = Engine::default();
    let mut submitted = Vec::new();
    for ty in ["admissionNotice", "dischargeReady", "dischargeNotice"] {
        let event = canonical_example(ty);
        let s = store.submit(&checked(&event), &engine).await.unwrap();
        submitted.push((s.case_id, s.sequence, event));
    }
    let mut read = Vec::new();
    let mut after = 0;
    loop {
        let page = store.events_page(after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some((last, _)) = page.last() else { break };
        after = *last;
        read.extend(page);
    }
    let ids: Vec<i64> = read.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let events: Vec<_> = read
        .into_iter()
        .map(|(_, e)| (e.case_id, e.sequence, e.event.unwrap()))
        .collect();
    assert_eq!(events, submitted);
    assert!(store.events_page(after, 10).await.unwrap().is_empty());
}
