//! Push publication against a local HTTPS portal that demands a client
//! certificate: retried with backoff until the portal recovers, the same
//! document on every attempt, a permanent refusal quarantined with its
//! reason while the next plan goes, and a protected person never pushed.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::routing::put;
use common::pki::{Ca, tls_listener};
use common::*;
use samgate::api::mtls::Peer;
use samgate::engine::Engine;
use samgate::portal::PublishRules;
use samgate::portal::push::{PORTAL_RECIPIENT, PushConfig, PushSetupError, Pusher};
use samgate::routing::{Directory, Router};
use samgate::store::{Delivery, DeliveryStatus, Store};

const SAMGATE: &str = "SE0000000000-SAMGATE";

/// What the test portal saw: path, the client's HSA-id, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

#[derive(Clone)]
struct TestPortal {
    /// The statuses to answer with, in turn; 201 when empty.
    script: Arc<Mutex<VecDeque<u16>>>,
    seen: Seen,
}

async fn receive(
    State(portal): State<TestPortal>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Path(id): Path<String>,
    body: String,
) -> (StatusCode, String) {
    portal.seen.lock().unwrap().push((
        format!("/fhir/CarePlan/{id}"),
        peer.identity.hsa_id().unwrap_or_default().to_owned(),
        body,
    ));
    let status = portal.script.lock().unwrap().pop_front().unwrap_or(201);
    let text = if status == 400 {
        "unknown CarePlan.category".to_owned()
    } else {
        String::new()
    };
    (StatusCode::from_u16(status).unwrap(), text)
}

struct Fixture {
    store: Arc<dyn Store>,
    router: Router,
    config: PushConfig,
    portal: TestPortal,
    _dir: tempfile::TempDir,
}

/// A store, a router that publishes plans, and a portal on 127.0.0.1 that
/// answers with `script` first.
async fn fixture(script: &[u16]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "test");
    let samgate_cert = ca.client(dir.path(), SAMGATE);
    let portal = TestPortal {
        script: Arc::new(Mutex::new(script.iter().copied().collect())),
        seen: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/fhir/CarePlan/{id}", put(receive))
        .with_state(portal.clone());
    let (listener, port) = tls_listener(&ca, dir.path()).await;
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<Peer>()).await
    });
    let config = PushConfig {
        url: format!("https://localhost:{port}/fhir/"),
        ca: ca.cert_path.to_string_lossy().into_owned(),
        client_cert: samgate_cert.cert_path.to_string_lossy().into_owned(),
        client_key: samgate_cert.key_path.to_string_lossy().into_owned(),
        timeout_seconds: 10,
    };
    Fixture {
        store: samgate::store::open("", dir.path()).await.unwrap(),
        router: Router::new(Engine::default(), Directory::builtin()).publishing_plans(true),
        config,
        portal,
        _dir: dir,
    }
}

impl Fixture {
    fn pusher(&self) -> Pusher {
        Pusher::new(&self.config, self.store.clone(), PublishRules::default()).unwrap()
    }

    async fn publications(&self, case_id: &str) -> Vec<Delivery> {
        self.store
            .case_deliveries(case_id)
            .await
            .unwrap()
            .into_iter()
            .filter(|d| d.recipient == PORTAL_RECIPIENT)
            .collect()
    }

    fn seen(&self) -> Vec<(String, String, String)> {
        self.portal.seen.lock().unwrap().clone()
    }
}

/// The spec's SIP as version `version`, a message of its own.
fn plan(version: i32) -> samgate_proto::CaseEvent {
    let mut event = canonical_example("sipPlan");
    if version > 1 {
        event.source_message_id = format!("{}-v{version}", event.source_message_id);
        if let Some(samgate_proto::Payload::SipPlan(p)) = event.payload.as_mut() {
            p.version = version;
        }
    }
    event
}

#[tokio::test]
async fn a_plan_is_pushed_and_retried_until_the_portal_recovers() {
    let f = fixture(&[503, 503]).await;
    let case_id = f
        .store
        .submit(&checked(&plan(1)), &f.router)
        .await
        .unwrap()
        .case_id;
    // The publication was written with the event, before any push.
    let pending = f.publications(&case_id).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, DeliveryStatus::Pending);

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(f.pusher().run(stopped));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while f.publications(&case_id).await[0].status != DeliveryStatus::Delivered {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not published: {:?}",
            f.seen()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    running.await.unwrap();

    let seen = f.seen();
    assert_eq!(seen.len(), 3, "two failures, then the success");
    let document = format!("/fhir/CarePlan/{case_id}-sip-1");
    for (path, client, body) in &seen {
        assert_eq!(path, &document);
        assert_eq!(
            client, SAMGATE,
            "samgate's client certificate was presented"
        );
        // The same document, byte for byte, on every attempt.
        assert_eq!(body, &seen[0].2);
    }
    let resource: serde_json::Value = serde_json::from_str(&seen[0].2).unwrap();
    assert_eq!(resource["resourceType"], "CarePlan");
    assert_eq!(resource["id"], format!("{case_id}-sip-1"));
}

#[tokio::test]
async fn a_permanent_refusal_is_quarantined_with_its_reason_and_the_next_plan_goes() {
    let f = fixture(&[400]).await;
    let case_id = f
        .store
        .submit(&checked(&plan(1)), &f.router)
        .await
        .unwrap()
        .case_id;
    f.store.submit(&checked(&plan(2)), &f.router).await.unwrap();
    let round = f.pusher().round().await.unwrap();
    assert_eq!(
        (round.published, round.quarantined, round.waiting),
        (1, 1, false)
    );
    let publications = f.publications(&case_id).await;
    assert_eq!(publications[0].status, DeliveryStatus::Quarantined);
    assert!(
        publications[0].reason.contains("400")
            && publications[0].reason.contains("unknown CarePlan.category"),
        "{}",
        publications[0].reason
    );
    assert_eq!(publications[1].status, DeliveryStatus::Delivered);
    let paths: Vec<String> = f.seen().into_iter().map(|s| s.0).collect();
    assert_eq!(
        paths,
        [
            format!("/fhir/CarePlan/{case_id}-sip-1"),
            format!("/fhir/CarePlan/{case_id}-sip-2")
        ]
    );
    // Nothing is left to push, and nothing is pushed twice.
    let again = f.pusher().round().await.unwrap();
    assert_eq!((again.published, again.quarantined), (0, 0));
    assert_eq!(f.seen().len(), 2);
}

#[tokio::test]
async fn a_person_with_protected_identity_is_never_pushed() {
    let f = fixture(&[]).await;
    let mut hidden = plan(1);
    hidden.patient.as_mut().unwrap().protected_identity = true;
    let case_id = f
        .store
        .submit(&checked(&hidden), &f.router)
        .await
        .unwrap()
        .case_id;
    assert!(f.publications(&case_id).await.is_empty());
    let round = f.pusher().round().await.unwrap();
    assert_eq!(round.published, 0);
    assert!(f.seen().is_empty());
}

/// The publications of `case_id` after one push round: none was sent, and
/// each was quarantined as withheld.
async fn assert_withheld_at_push_time(f: &Fixture, case_id: &str, why: &str) {
    let round = f.pusher().round().await.unwrap();
    assert_eq!(round.published, 0);
    assert!(f.seen().is_empty(), "{:?}", f.seen());
    let publications = f.publications(case_id).await;
    assert!(!publications.is_empty());
    for p in publications {
        assert_eq!(p.status, DeliveryStatus::Quarantined);
        assert!(
            p.reason.starts_with("withheld: ") && p.reason.contains(why),
            "{}",
            p.reason
        );
    }
}

#[tokio::test]
async fn a_plan_is_not_pushed_when_another_case_of_the_person_is_protected() {
    let f = fixture(&[]).await;
    // Case B, not protected: its publication waits in the outbox.
    let case_b = f
        .store
        .submit(&checked(&plan(1)), &f.router)
        .await
        .unwrap()
        .case_id;
    // Case A of the same person, protected, before the push.
    let mut protected = plan(1);
    protected.patient.as_mut().unwrap().protected_identity = true;
    protected.source_message_id.push_str("-A");
    protected.case_ref.push_str("-A");
    f.store
        .submit(&checked(&protected), &f.router)
        .await
        .unwrap();
    assert_withheld_at_push_time(&f, &case_b, "protected-identity").await;
}

#[tokio::test]
async fn a_plan_reopened_after_withdrawn_consent_is_not_pushed() {
    use samgate_proto::v1::ConsentDecision;
    let f = fixture(&[]).await;
    let consent = |id: &str, decision: ConsentDecision| {
        let mut c = canonical_example("consent");
        c.source_message_id = id.into();
        if let Some(samgate_proto::Payload::Consent(c)) = &mut c.payload {
            c.decision = decision as i32;
        }
        c
    };
    let mut sip = plan(1);
    sip.case_ref = "OV-2025-0042".into();
    sip.process = samgate_proto::v1::CareProcess::Outpatient as i32;
    for event in [
        canonical_example("caseOpened"),
        consent("MSG-GIVEN", ConsentDecision::Given),
        sip,
        consent("MSG-WITHDRAWN", ConsentDecision::Withdrawn),
        canonical_example("caseReopened"),
    ] {
        f.store.submit(&checked(&event), &f.router).await.unwrap();
    }
    let case_id = f
        .store
        .cases_for_patient("194102069046")
        .await
        .unwrap()
        .pop()
        .unwrap()
        .id;
    assert_withheld_at_push_time(&f, &case_id, "consent is not GIVEN").await;
}

#[tokio::test]
async fn push_settings_are_checked() {
    let f = fixture(&[]).await;
    let plain = PushConfig {
        url: "http://portal.example/fhir".into(),
        ..f.config.clone()
    };
    let err = Pusher::new(&plain, f.store.clone(), PublishRules::default())
        .err()
        .unwrap();
    assert!(matches!(err, PushSetupError::NotHttps(_)));
    let no_ca = PushConfig {
        ca: String::new(),
        ..f.config.clone()
    };
    let err = Pusher::new(&no_ca, f.store.clone(), PublishRules::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("portal.push.ca"), "{err}");
    let missing = PushConfig {
        client_cert: "/nonexistent/samgate.pem".into(),
        ..f.config.clone()
    };
    let err = Pusher::new(&missing, f.store.clone(), PublishRules::default())
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("/nonexistent/samgate.pem"),
        "{err}"
    );
}
