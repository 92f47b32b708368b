//! The case rules that keep patients safe, end to end through the gateway
//! (the path every way in takes) on the embedded store: protected identity
//! that no later message lifts, consent that reopening does not bypass, a
//! message id that cannot be reused to read another person's case, authors
//! outside the directory, and the participant limit. Each test is a finding
//! of a hostile probe (issue 21).

mod common;

use common::*;
use samgate::dialects::DialectName;
use samgate::engine::{DEFAULT_MAX_PARTICIPANTS, Engine, RuleViolation};
use samgate::gateway::{Gateway, SubmitError};
use samgate::routing::{Directory, QUARANTINE_PROTECTED_IDENTITY, Router, System};
use samgate::store::{DeliveryKind, DeliveryStatus};
use samgate_proto::v1::*;
use samgate_proto::{CaseEvent, Payload};

const EKHOLMEN: &str = "SE2321000040-V2K1";
const KHSL: &str = "SE2120000449-KHSL";
const STRANGER: &str = "SE9999999999-STRANGER2";
/// A test personnummer other than Esther's (Skatteverket's test numbers).
const OTHER_PERSON: &str = "189001019802";

async fn gateway() -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    (
        Gateway::new(store, Router::new(Engine::default(), Directory::builtin())),
        dir,
    )
}

fn with_id(mut event: CaseEvent, message_id: &str) -> CaseEvent {
    event.source_message_id = message_id.to_owned();
    event
}

fn protected(mut event: CaseEvent, on: bool) -> CaseEvent {
    event.patient.as_mut().unwrap().protected_identity = on;
    event
}

fn authored_by(mut event: CaseEvent, hsa_id: &str) -> CaseEvent {
    event.author.as_mut().unwrap().hsa_id = hsa_id.to_owned();
    event
}

fn rule(result: Result<impl std::fmt::Debug, SubmitError>) -> RuleViolation {
    match result {
        Err(SubmitError::Rule(r)) => r,
        other => panic!("expected a rule violation, got {other:?}"),
    }
}

/// Submits `event` the way `way` says: canonical, or encoded in a dialect
/// and decoded again by the gateway.
async fn submit_as(
    g: &Gateway,
    way: Option<DialectName>,
    event: CaseEvent,
) -> samgate::store::Submitted {
    match way {
        None => g.submit_event(event).await.unwrap(),
        Some(dialect) => {
            let bytes = dialect
                .adapter()
                .encode(&checked(&event), None)
                .unwrap()
                .bytes;
            g.submit_raw(dialect, &bytes).await.unwrap().0
        }
    }
}

#[tokio::test]
async fn no_later_message_lifts_protected_identity_from_any_way_in() {
    let ways = [
        None,
        Some(DialectName::Lifecare),
        Some(DialectName::CosmicLink),
        Some(DialectName::Samsa),
    ];
    for way in ways {
        let (g, _dir) = gateway().await;
        let admitted = g
            .submit_event(protected(canonical_example("admissionNotice"), true))
            .await
            .unwrap();
        // A later message that says the person is not protected.
        let thread = protected(with_id(canonical_example("threadMessage"), "LIFT-1"), false);
        let s = submit_as(&g, way, thread).await;
        assert_eq!(s.case_id, admitted.case_id, "{way:?}");
        let case = g.store().get_case(&s.case_id).await.unwrap().unwrap();
        assert!(case.patient.unwrap().protected_identity, "{way:?}");

        // Its deliveries: never to Cosmic Link, and the rest carry the
        // protection, whatever the message said.
        let deliveries = g.store().case_deliveries(&s.case_id).await.unwrap();
        let later: Vec<_> = deliveries
            .iter()
            .filter(|d| d.sequence == s.sequence && d.kind == DeliveryKind::Event)
            .collect();
        assert!(!later.is_empty(), "{way:?}");
        for d in later {
            if d.system == Some(System::CosmicLink) {
                assert_eq!(
                    d.status,
                    DeliveryStatus::Quarantined,
                    "{way:?} {}",
                    d.recipient
                );
                assert!(d.reason.starts_with(QUARANTINE_PROTECTED_IDENTITY));
            }
            assert!(d.event.patient.as_ref().unwrap().protected_identity);
            let rendered = samgate::delivery::render(d.clone()).unwrap();
            if let Some(dialect) = d.system.and_then(|s| s.dialect()) {
                let back = dialect.adapter().decode(&rendered.body).unwrap().event;
                assert!(back.patient().protected_identity, "{way:?}");
            }
        }
        // No Cosmic Link unit has anything of this person to pull.
        assert!(g.pull(KHSL, 0).await.unwrap().is_empty(), "{way:?}");
    }
}

#[tokio::test]
async fn protection_is_sticky_for_every_case_of_the_person() {
    let (g, _dir) = gateway().await;
    g.submit_event(protected(canonical_example("admissionNotice"), true))
        .await
        .unwrap();
    // A new stay, another case, from a source that does not know.
    let mut second = with_id(canonical_example("admissionNotice"), "ADM-2");
    second.case_ref = "SV-2025-0001".into();
    let s = g.submit_event(protected(second, false)).await.unwrap();
    assert!(s.case.patient.as_ref().unwrap().protected_identity);
    let to_cosmic: Vec<_> = g
        .store()
        .case_deliveries(&s.case_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.system == Some(System::CosmicLink) && d.kind == DeliveryKind::Event)
        .collect();
    assert!(!to_cosmic.is_empty());
    assert!(
        to_cosmic
            .iter()
            .all(|d| d.status == DeliveryStatus::Quarantined)
    );
    // A resend of the unprotected message is still a duplicate of what was
    // stored (with the protection added), not a reuse of its id.
    let mut again = with_id(canonical_example("admissionNotice"), "ADM-2");
    again.case_ref = "SV-2025-0001".into();
    assert!(
        g.submit_event(protected(again, false))
            .await
            .unwrap()
            .duplicate
    );
}

/// Outpatient: opened, consent given, a plan, consent withdrawn, reopened.
async fn withdrawn_and_reopened(g: &Gateway) -> String {
    for ty in ["caseOpened", "consent", "sipPlan"] {
        g.submit_event(outpatient(ty)).await.unwrap();
    }
    let withdraw = consent(ConsentDecision::Withdrawn, "WITHDRAW-1");
    let closed = g.submit_event(withdraw).await.unwrap();
    assert_eq!(closed.case.status, CaseStatus::Closed as i32);
    let reopen = g.submit_event(outpatient("caseReopened")).await.unwrap();
    assert_eq!(reopen.case.status, CaseStatus::Open as i32);
    reopen.case_id
}

fn outpatient(ty: &str) -> CaseEvent {
    let mut e = canonical_example(ty);
    e.process = CareProcess::Outpatient as i32;
    e.case_ref = "OV-2025-0042".into();
    e
}

fn consent(decision: ConsentDecision, message_id: &str) -> CaseEvent {
    let mut e = with_id(outpatient("consent"), message_id);
    e.author = canonical_example("caseOpened").author;
    if let Some(Payload::Consent(c)) = e.payload.as_mut() {
        c.decision = decision as i32;
    }
    e
}

#[tokio::test]
async fn reopening_after_withdrawn_consent_shares_nothing_until_consent_is_given_again() {
    let (g, _dir) = gateway().await;
    let case_id = withdrawn_and_reopened(&g).await;
    let case = g.store().get_case(&case_id).await.unwrap().unwrap();
    assert_eq!(case.consent, ConsentState::Withdrawn as i32);
    // The reopening itself is routed to nobody.
    let deliveries = g.store().case_deliveries(&case_id).await.unwrap();
    assert!(
        deliveries
            .iter()
            .all(|d| d.sequence != case.event_count || d.kind != DeliveryKind::Event)
    );
    // Nothing but consent is accepted.
    let plan = with_id(outpatient("sipPlan"), "PLAN-AFTER");
    assert_eq!(
        rule(g.submit_event(plan.clone()).await).code(),
        "consent-required"
    );
    let given = consent(ConsentDecision::Given, "GIVEN-AGAIN");
    let s = g.submit_event(given).await.unwrap();
    assert_eq!(s.case.consent, ConsentState::Given as i32);
    g.submit_event(plan).await.unwrap();
}

#[tokio::test]
async fn a_reused_message_id_with_another_patient_is_refused_and_reveals_nothing() {
    let (g, _dir) = gateway().await;
    let first = g
        .submit_event(canonical_example("admissionNotice"))
        .await
        .unwrap();
    let mut other = canonical_example("admissionNotice");
    let patient = other.patient.as_mut().unwrap();
    patient.id = OTHER_PERSON.into();
    patient.given_name = "Tolvan".into();
    patient.family_name = "Tolvansson".into();
    let refused = g.submit_event(other).await;
    let violation = rule(refused);
    assert_eq!(violation, RuleViolation::MessageIdReused);
    assert!(violation.to_string().contains("message id reused"));
    // Nothing was stored, and the first case is as it was.
    assert_eq!(g.store().events(&first.case_id, 1).await.unwrap().len(), 1);
    // The same message again is an idempotent success.
    let again = g
        .submit_event(canonical_example("admissionNotice"))
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.case_id, first.case_id);
}

#[tokio::test]
async fn a_stranger_cannot_withdraw_consent_or_post_into_a_case() {
    let (g, _dir) = gateway().await;
    let opened = g.submit_event(outpatient("caseOpened")).await.unwrap();
    g.submit_event(outpatient("consent")).await.unwrap();
    // Not in the directory, not a participant: refused.
    let stranger_withdraws =
        authored_by(consent(ConsentDecision::Withdrawn, "STRANGER-W"), STRANGER);
    assert_eq!(
        rule(g.submit_event(stranger_withdraws).await).code(),
        "unknown-author"
    );
    let stranger_posts = authored_by(with_id(outpatient("threadMessage"), "STRANGER-T"), STRANGER);
    assert_eq!(
        rule(g.submit_event(stranger_posts).await).code(),
        "unknown-author"
    );
    let case = g.store().get_case(&opened.case_id).await.unwrap().unwrap();
    assert_eq!(case.status, CaseStatus::Open as i32);
    assert!(!case.participants.iter().any(|p| p.hsa_id == STRANGER));
    // A known participant that did not open the case: the closing rule.
    let home_care_withdraws = authored_by(consent(ConsentDecision::Withdrawn, "KHSL-W"), KHSL);
    assert_eq!(
        rule(g.submit_event(home_care_withdraws).await).code(),
        "only-opener-may-close"
    );
    // The opener may.
    let withdrawn = g
        .submit_event(consent(ConsentDecision::Withdrawn, "OPENER-W"))
        .await
        .unwrap();
    assert_eq!(withdrawn.case.status, CaseStatus::Closed as i32);
    assert_eq!(
        canonical_example("caseOpened").author.unwrap().hsa_id,
        EKHOLMEN
    );
    // A stranger may still open a case of its own: that is how a new
    // sender first appears.
    let mut own = authored_by(
        with_id(canonical_example("admissionNotice"), "S-ADM"),
        STRANGER,
    );
    own.case_ref = "STRANGER-1".into();
    g.submit_event(own).await.unwrap();
}

#[tokio::test]
async fn a_plan_naming_thousands_of_units_is_refused() {
    let (g, _dir) = gateway().await;
    let admitted = g
        .submit_event(canonical_example("admissionNotice"))
        .await
        .unwrap();
    let mut plan = canonical_example("sipPlan");
    name_invented_units(&mut plan, 10_000);
    let violation = rule(g.submit_event(plan).await);
    assert_eq!(violation.code(), "too-many-participants");
    assert!(
        violation
            .to_string()
            .contains(&DEFAULT_MAX_PARTICIPANTS.to_string())
    );
    assert_eq!(
        g.store().events(&admitted.case_id, 1).await.unwrap().len(),
        1
    );
    let case = g
        .store()
        .get_case(&admitted.case_id)
        .await
        .unwrap()
        .unwrap();
    assert!(case.participants.len() <= DEFAULT_MAX_PARTICIPANTS);
}

#[tokio::test]
async fn only_an_audited_operator_act_lifts_protection() {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    let g = Gateway::new(store, Router::new(Engine::default(), Directory::builtin()));
    let s = g
        .submit_event(protected(canonical_example("admissionNotice"), true))
        .await
        .unwrap();
    g.store().close().await;
    drop(g);

    let samgate = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_samgate"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    // Who and why are required.
    let refused = samgate(&["person", "unprotect", "19410206-9046"]);
    assert!(!refused.status.success());
    let lifted = samgate(&[
        "person",
        "unprotect",
        "19410206-9046",
        "--operator",
        "Anna Operatör",
        "--reason",
        "Skatteverket hävde skyddet 2026-12-01",
    ]);
    assert!(
        lifted.status.success(),
        "{}",
        String::from_utf8_lossy(&lifted.stderr)
    );
    assert!(String::from_utf8_lossy(&lifted.stdout).contains("1 case(s)"));
    let stderr = String::from_utf8_lossy(&lifted.stderr);
    assert!(!stderr.contains("194102069046") && !stderr.contains("Åström"));
    let audit = std::fs::read_to_string(dir.path().join("person-register.log")).unwrap();
    let act: serde_json::Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    assert_eq!(act["operator"], "Anna Operatör");
    assert_eq!(act["patientId"], "194102069046");
    assert_eq!(act["what"], "lift-protected-identity");
    assert_eq!(act["registered"], true);
    assert_eq!(act["cases"][0], s.case_id.as_str());

    // The case is no longer protected, and a new message decides again.
    let store = samgate::store::open("", dir.path()).await.unwrap();
    let case = store.get_case(&s.case_id).await.unwrap().unwrap();
    assert!(!case.patient.unwrap().protected_identity);
    let g = Gateway::new(store, Router::new(Engine::default(), Directory::builtin()));
    let later = g
        .submit_event(with_id(canonical_example("threadMessage"), "AFTER-LIFT"))
        .await
        .unwrap();
    assert!(!later.case.patient.unwrap().protected_identity);
}
