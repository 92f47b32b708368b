//! The recipient rules end to end on the embedded store: who receives what,
//! in which dialect, in what order, and what is quarantined and why.

mod common;

use std::sync::Arc;

use common::*;
use samgate::dialects::DialectName;
use samgate::engine::Engine;
use samgate::gateway::Gateway;
use samgate::routing::{Directory, Router};
use samgate::store::{DeliveryStatus, delivery_message_id};
use samgate_proto::{CaseEvent, Payload};

const WARD: &str = "SE2321000164-7381";
const EKHOLMEN: &str = "SE2321000040-V2K1";
const KHSL: &str = "SE2120000449-KHSL";
const BIST: &str = "SE2120000449-BIST";

async fn gateway() -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    (
        Gateway::new(store, Router::new(Engine::default(), Directory::builtin())),
        dir,
    )
}

async fn recipients(
    g: &Gateway,
    case_id: &str,
    sequence: i64,
) -> Vec<(String, String, DeliveryStatus)> {
    let mut out: Vec<_> = g
        .store()
        .case_deliveries(case_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.sequence == sequence)
        .map(|d| (d.recipient.clone(), d.system_name().to_owned(), d.status))
        .collect();
    out.sort();
    out
}

fn pending(hsa: &str, system: &str) -> (String, String, DeliveryStatus) {
    (hsa.to_owned(), system.to_owned(), DeliveryStatus::Pending)
}

#[tokio::test]
async fn a_lifecare_admission_reaches_linkoping_in_cosmic_link() {
    let (g, _dir) = gateway().await;
    let (s, _) = g
        .submit_raw(
            DialectName::Lifecare,
            &example_bytes("lifecare", "admissionNotice"),
        )
        .await
        .unwrap();
    // Home municipality (home health care, social services) and the listed
    // primary-care unit; never the author.
    assert_eq!(
        recipients(&g, &s.case_id, 1).await,
        [
            pending(BIST, "cosmic-link"),
            pending(KHSL, "cosmic-link"),
            pending(EKHOLMEN, "cosmic-link")
        ]
    );
    let pulled = g.pull(KHSL, 0).await.unwrap();
    assert_eq!(pulled.len(), 1);
    let delivered = &pulled[0];
    assert_eq!(delivered.message_type, "admissionNotice");
    assert!(delivered.content_type.contains("xml"));
    let decoded = DialectName::CosmicLink
        .adapter()
        .decode(&delivered.body)
        .unwrap()
        .event;
    let mut want = canonical_example("admissionNotice");
    want.source_system = decoded.source_system;
    assert_eq!(*decoded, want);
    // The message id is deterministic: UUIDv5 of the event and recipient.
    let original = DialectName::Lifecare
        .adapter()
        .decode(&example_bytes("lifecare", "admissionNotice"))
        .unwrap()
        .event;
    assert_eq!(
        delivered.delivery.message_id,
        delivery_message_id(&original, KHSL, samgate::store::DeliveryKind::Event)
    );
    // Pending until acknowledged; acknowledged once.
    assert_eq!(g.pull(KHSL, 0).await.unwrap().len(), 1);
    assert_eq!(
        g.ack(KHSL, std::slice::from_ref(&delivered.delivery.message_id))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        g.ack(KHSL, std::slice::from_ref(&delivered.delivery.message_id))
            .await
            .unwrap(),
        0
    );
    assert!(g.pull(KHSL, 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn every_later_event_goes_to_all_participants_but_its_author_in_order() {
    let (g, _dir) = gateway().await;
    let story = [
        (DialectName::Lifecare, "admissionNotice"),
        (DialectName::CosmicLink, "inNotice"),
        (DialectName::CosmicLink, "careContactAssigned"),
        (DialectName::Lifecare, "dischargeReady"),
        (DialectName::CosmicLink, "sipInvitation"),
        (DialectName::CosmicLink, "sipPlan"),
        (DialectName::Lifecare, "dischargeNotice"),
    ];
    let mut case_id = String::new();
    for (d, ty) in story {
        let (s, _) = g
            .submit_raw(d, &example_bytes(d.as_str(), ty))
            .await
            .unwrap();
        case_id = s.case_id;
    }
    // The SIP invitation (by Ekholmen) reaches the ward in Lifecare and both
    // Linköping units in Cosmic Link.
    assert_eq!(
        recipients(&g, &case_id, 5).await,
        [
            pending(BIST, "cosmic-link"),
            pending(KHSL, "cosmic-link"),
            pending(WARD, "lifecare")
        ]
    );
    // The ward receives, in order, everything it did not write itself.
    let ward: Vec<&str> = g
        .pull(WARD, 0)
        .await
        .unwrap()
        .iter()
        .map(|r| r.message_type)
        .collect();
    assert_eq!(
        ward,
        [
            "inNotice",
            "careContactAssigned",
            "sipInvitation",
            "sipPlan"
        ]
    );
    let lifecare_sip = g.pull(WARD, 0).await.unwrap()[3].body.clone();
    assert!(
        DialectName::Lifecare
            .adapter()
            .decode(&lifecare_sip)
            .is_ok()
    );
    // A redelivered message creates no second delivery.
    let before = g.store().case_deliveries(&case_id).await.unwrap().len();
    let (dup, _) = g
        .submit_raw(
            DialectName::Lifecare,
            &example_bytes("lifecare", "dischargeNotice"),
        )
        .await
        .unwrap();
    assert!(dup.duplicate);
    assert_eq!(
        g.store().case_deliveries(&case_id).await.unwrap().len(),
        before
    );
}

#[tokio::test]
async fn a_protected_person_is_never_routed_to_cosmic_link_and_the_author_is_told() {
    let (g, _dir) = gateway().await;
    let mut event = canonical_example("admissionNotice");
    event.patient.as_mut().unwrap().protected_identity = true;
    let s = g.submit_event(event).await.unwrap();
    let deliveries = g.store().case_deliveries(&s.case_id).await.unwrap();
    let quarantined: Vec<&str> = deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Quarantined)
        .map(|d| d.recipient.as_str())
        .collect();
    assert_eq!(quarantined.len(), 3);
    for d in deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Quarantined)
    {
        assert!(
            d.reason.starts_with("protected-identity-policy"),
            "{}",
            d.reason
        );
    }
    assert!(g.pull(KHSL, 0).await.unwrap().is_empty());
    let notice = g.pull(WARD, 0).await.unwrap();
    assert_eq!(notice.len(), 1);
    assert_eq!(notice[0].message_type, "notice");
    assert!(String::from_utf8_lossy(&notice[0].body).contains("protected-identity-policy"));
    // The notice names units, never the person.
    assert!(!notice[0].delivery.reason.contains("Esther"));
}

#[tokio::test]
async fn an_outpatient_case_routes_nothing_but_consent_before_consent() {
    let (g, _dir) = gateway().await;
    let opened = g
        .submit_event(canonical_example("caseOpened"))
        .await
        .unwrap();
    assert!(
        g.store()
            .case_deliveries(&opened.case_id)
            .await
            .unwrap()
            .is_empty()
    );
    g.submit_event(canonical_example("consent")).await.unwrap();
    // Consent GIVEN brings the home municipality in, and is routed to it.
    assert_eq!(
        recipients(&g, &opened.case_id, 2).await,
        [pending(BIST, "cosmic-link"), pending(KHSL, "cosmic-link")]
    );
}

#[tokio::test]
async fn an_unknown_recipient_is_quarantined_with_its_reason() {
    let (g, _dir) = gateway().await;
    g.submit_event(canonical_example("admissionNotice"))
        .await
        .unwrap();
    let mut invitation = canonical_example("sipInvitation");
    if let Some(Payload::SipInvitation(s)) = &mut invitation.payload {
        s.invitees[0].hsa_id = "SE9999999999-NOPE".into();
    }
    let s = g.submit_event(invitation).await.unwrap();
    let unknown: Vec<_> = g
        .store()
        .case_deliveries(&s.case_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.recipient == "SE9999999999-NOPE")
        .collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].status, DeliveryStatus::Quarantined);
    assert!(unknown[0].reason.starts_with("unknown-recipient"));
}

#[tokio::test]
async fn native_recipients_get_the_canonical_event() {
    let (g, _dir) = gateway().await;
    // A Jönköping resident listed at a Jönköping unit on native gRPC.
    let mut event: CaseEvent = canonical_example("admissionNotice");
    let p = event.patient.as_mut().unwrap();
    p.municipality_code = "0680".into();
    p.listed_unit_hsa_id = "SE2321000065-VCHU".into();
    g.submit_event(event.clone()).await.unwrap();
    let pulled = g.pull("SE2321000065-VCHU", 0).await.unwrap();
    assert_eq!(pulled.len(), 1);
    assert_eq!(pulled[0].delivery.system_name(), "native");
    assert_eq!(pulled[0].delivery.event, event);
    assert_eq!(pulled[0].content_type, "application/x-protobuf");
}

#[tokio::test]
async fn a_reloaded_directory_is_used_for_the_next_event() {
    let (g, _dir) = gateway().await;
    let g = Arc::new(g);
    let extra = "county = \"05\"\nsystem = \"samsa\"\n[[unit]]\nhsa_id = \"SE2120000449-KHSL\"\nname = \"Linköping HSL\"\nkind = \"MUNICIPAL_HEALTHCARE\"\nmunicipality = \"0580\"\n";
    g.router().replace_directory(
        Directory::from_files([("x.toml".to_string(), extra.to_string())]).unwrap(),
    );
    let s = g
        .submit_event(canonical_example("admissionNotice"))
        .await
        .unwrap();
    // Now only KHSL is known, on SAMSA; the listed unit is unknown.
    let r = recipients(&g, &s.case_id, 1).await;
    assert_eq!(r[0], pending(KHSL, "samsa"));
    assert_eq!(r[1].2, DeliveryStatus::Quarantined);
}
