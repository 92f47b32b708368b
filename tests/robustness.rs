//! Inputs a hostile probe found that samgate accepted and then could not
//! handle (issue 22, item 7): instants whose deadlines overflow, nanos out
//! of range, huge fields, white space for a value, impossible birth years,
//! UTF-8 read as ISO-8859-1, endless input. Each is refused at the way in,
//! naming the field, and nothing is stored.

mod common;

use common::*;
use samgate::engine::Engine;
use samgate::gateway::{Gateway, SubmitError};
use samgate::routing::{Directory, Router};
use samgate_proto::{CaseEvent, Payload};

async fn gateway() -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    (
        Gateway::new(store, Router::new(Engine::default(), Directory::builtin())),
        dir,
    )
}

/// Submits `event` and returns the field it was refused for.
async fn refused_field(g: &Gateway, event: CaseEvent) -> String {
    match g.submit_event(event).await {
        Err(SubmitError::Invalid(e)) => e.field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

fn admission(f: impl FnOnce(&mut CaseEvent)) -> CaseEvent {
    let mut e = canonical_example("admissionNotice");
    f(&mut e);
    e
}

fn admitted_at(e: &mut CaseEvent) -> &mut prost_types::Timestamp {
    match e.payload.as_mut() {
        Some(Payload::AdmissionNotice(a)) => a.admitted_at.as_mut().unwrap(),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn instants_outside_the_window_are_refused_before_any_deadline_is_computed() {
    let (g, _dir) = gateway().await;
    // The probe's instant: its deadline overflowed chrono and killed the
    // stream.
    let far = admission(|e| admitted_at(e).seconds = 8_210_266_876_799);
    assert_eq!(refused_field(&g, far).await, "admissionNotice.admittedAt");
    // 9999-12-31 was accepted and its deadline written as +10000-01-01.
    let mut ready = canonical_example("dischargeReady");
    if let Some(Payload::DischargeReady(d)) = ready.payload.as_mut() {
        d.ready_at.as_mut().unwrap().seconds = 253_402_214_400;
    }
    assert_eq!(refused_field(&g, ready).await, "dischargeReady.readyAt");
    let early = admission(|e| e.occurred_at.as_mut().unwrap().seconds = -62_135_596_800);
    assert_eq!(refused_field(&g, early).await, "occurredAt");
    for nanos in [-1, 1_000_000_000] {
        let e = admission(|e| e.occurred_at.as_mut().unwrap().nanos = nanos);
        assert_eq!(refused_field(&g, e).await, "occurredAt.nanos");
    }
    // The window's edges: 1900-01-01 is in, 2200-01-01 is out.
    let first = admission(|e| admitted_at(e).seconds = samgate_proto::validate::EARLIEST_INSTANT);
    g.submit_event(first).await.unwrap();
    let mut last = admission(|e| admitted_at(e).seconds = samgate_proto::validate::END_OF_INSTANTS);
    last.source_message_id = "LAST".into();
    assert_eq!(refused_field(&g, last).await, "admissionNotice.admittedAt");
}

#[tokio::test]
async fn huge_fields_and_blank_values_are_refused() {
    let (g, _dir) = gateway().await;
    let long_reason = admission(|e| {
        if let Some(Payload::AdmissionNotice(a)) = e.payload.as_mut() {
            a.reason = "x".repeat(3_500_000);
        }
    });
    // Over the 1 MiB message limit first.
    assert_eq!(refused_field(&g, long_reason).await, "event");
    let reason = admission(|e| {
        if let Some(Payload::AdmissionNotice(a)) = e.payload.as_mut() {
            a.reason = "x".repeat(65 * 1024);
        }
    });
    assert_eq!(refused_field(&g, reason).await, "admissionNotice.reason");
    let case_ref = admission(|e| e.case_ref = "R".repeat(3_000));
    assert_eq!(refused_field(&g, case_ref).await, "caseRef");
    let id = admission(|e| e.source_message_id = "M".repeat(129));
    assert_eq!(refused_field(&g, id).await, "sourceMessageId");
    let blank = admission(|e| e.case_ref = "   ".into());
    assert_eq!(refused_field(&g, blank).await, "caseRef");
    let mut thread = canonical_example("threadMessage");
    if let Some(Payload::ThreadMessage(m)) = thread.payload.as_mut() {
        m.body = " \n\t ".into();
    }
    assert_eq!(refused_field(&g, thread).await, "threadMessage.body");
    // Nothing of it was stored.
    let (cases, _) = g
        .store()
        .list_cases(&Default::default(), 0, None)
        .await
        .unwrap();
    assert!(cases.is_empty());
}

#[tokio::test]
async fn impossible_birth_years_are_refused() {
    let (g, _dir) = gateway().await;
    for id in ["000101019040", "180001019041", "209912319044"] {
        let e = admission(|e| e.patient.as_mut().unwrap().id = id.into());
        let field = refused_field(&g, e).await;
        assert_eq!(field, "patient.id", "{id}");
    }
    let err = samgate_proto::ids::Personnummer::parse("180001019041").unwrap_err();
    assert!(err.reason.contains("before 1870"), "{err}");
    let err = samgate_proto::ids::Personnummer::parse("209912319044").unwrap_err();
    assert!(err.reason.contains("future"), "{err}");
    // A wrong check digit is called so, whichever kind the number is.
    let err = samgate_proto::ids::PatientId::parse_number("194102069047").unwrap_err();
    assert!(err.reason.contains("check digit"), "{err}");
}

#[tokio::test]
async fn utf8_declared_as_latin1_is_refused_naming_the_element() {
    let (g, _dir) = gateway().await;
    // The example is declared ISO-8859-1; with the family name written as
    // UTF-8 bytes, "Åström" reads as "Ã\u{85}strÃ¶m", a C1 control in it.
    let latin1 = example_bytes("lifecare", "admissionNotice");
    let name_latin1: &[u8] = b"\xC5str\xF6m";
    let at = latin1
        .windows(name_latin1.len())
        .position(|w| w == name_latin1)
        .unwrap();
    let mut utf8 = latin1[..at].to_vec();
    utf8.extend_from_slice("Åström".as_bytes());
    utf8.extend_from_slice(&latin1[at + name_latin1.len()..]);
    let refused = g
        .submit_raw(samgate::dialects::DialectName::Lifecare, &utf8)
        .await
        .unwrap_err();
    let message = refused.to_string();
    assert!(message.contains("U+0085"), "{message}");
    assert!(message.contains("patient.familyName"), "{message}");
}

#[test]
fn translate_reads_no_more_than_the_message_limit() {
    // /dev/zero never ends: translate must stop reading at the limit.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_samgate"))
        .args([
            "translate",
            "--from",
            "lifecare",
            "--to",
            "json",
            "/dev/zero",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1048576"), "{err}");
    let json = std::process::Command::new(env!("CARGO_BIN_EXE_samgate"))
        .args(["translate", "--from", "json", "--to", "samsa", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
}

fn samgate(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_samgate"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// Another program's SQLite database: one table, no samgate migrations, in
/// the default rollback journal.
fn make_foreign_database(path: &std::path::Path) {
    use sqlx::ConnectOptions;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE TABLE patients (x)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::Connection::close(conn).await.unwrap();
    });
}

#[test]
fn commands_that_read_a_store_refuse_a_missing_or_foreign_one() {
    let dir = tempfile::tempdir().unwrap();
    let mistyped = dir.path().join("samgate-dta");
    let out = samgate(&mistyped, &[], &["case", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no store at") && err.contains("samgate-dta"),
        "{err}"
    );
    assert!(!mistyped.exists(), "nothing was created");

    // Another program's SQLite file is refused and left as it was.
    let foreign = dir.path().join("other.db");
    let url = format!("sqlite://{}", foreign.display());
    make_foreign_database(&foreign);
    let before = std::fs::read(&foreign).unwrap();
    let out = samgate(
        dir.path(),
        &[("SAMGATE_STORE_URL", &url)],
        &["case", "list"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a samgate store"), "{err}");
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
    assert!(!dir.path().join("other.db-wal").exists());
}

#[test]
fn an_unreachable_postgresql_is_reported_at_once_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: refused at once, not after the pool's
    // timeout.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let started = std::time::Instant::now();
    let out = samgate(
        dir.path(),
        &[("SAMGATE_STORE_URL", &url)],
        &["case", "list"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}/test")), "{err}");
    assert!(err.contains("refused"), "{err}");
    // Each cause once.
    assert_eq!(err.matches("refused").count(), 1, "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test]
async fn two_gateways_opening_a_new_store_at_once_both_start() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = tokio::join!(
            samgate::store::open("", dir.path()),
            samgate::store::open("", dir.path())
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        a.close().await;
        b.close().await;
    }
}

#[test]
fn too_many_namespace_declarations_are_refused_in_samgates_words() {
    let declarations: Vec<String> = (0..300)
        .map(|i| format!("xmlns:p{i}=\"urn:x:{i}\""))
        .collect();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Meddelande xmlns=\"urn:lifecare:sp:meddelande:2\" {}></Meddelande>",
        declarations.join(" ")
    );
    let err = samgate::dialects::DialectName::Lifecare
        .adapter()
        .decode(xml.as_bytes())
        .unwrap_err();
    assert!(err.reason.contains("namespace declarations"), "{err}");
    assert!(!err.reason.contains("NamespaceResolver"), "{err}");
}
