//! The deadline watch on real stores: a case's deadlines become durable
//! timers, a due one raises its alert once (of two gateways on one
//! PostgreSQL, one fires), the alert clears when the duty is done, and
//! what is published carries no personal data.

mod common;

use std::sync::Arc;

use samgate::dialects::DialectName;
use samgate::engine::Engine;
use samgate::gateway::Gateway;
use samgate::journal::timers::fire_due_at;
use samgate::routing::{Directory, Router};
use samgate::store::Store;
use samgate::watch;

fn gateway(store: Arc<dyn Store>) -> Arc<Gateway> {
    Arc::new(Gateway::new(
        store,
        Router::new(Engine::default(), Directory::builtin()),
    ))
}

async fn submit(gateway: &Gateway, dialect: DialectName, ty: &str) -> String {
    let bytes = common::example_bytes(dialect.as_str(), ty);
    gateway.submit_raw(dialect, &bytes).await.unwrap().0.case_id
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Esther's case in the examples: admitted, declared ready for discharge
/// on 1 November 2024 and never invited to a SIP meeting (in the
/// examples' past, so every deadline has passed).
async fn ready_case(gateway: &Gateway) -> String {
    submit(gateway, DialectName::Lifecare, "admissionNotice").await;
    submit(gateway, DialectName::Lifecare, "dischargeReady").await
}

async fn raises_once_and_clears(store: Arc<dyn Store>) {
    let gateway = gateway(store.clone());
    let case_id = ready_case(&gateway).await;
    assert!(watch::follow(store.as_ref(), now()).await.unwrap() > 0);
    assert_eq!(
        watch::follow(store.as_ref(), now()).await.unwrap(),
        0,
        "the cursor moved on"
    );
    assert!(store.next_timer_due().await.unwrap().is_some());
    let fired = fire_due_at(&gateway, chrono::Utc::now().timestamp_millis())
        .await
        .unwrap();
    // SIP invitation overdue and payment liability begun.
    assert_eq!(fired.appended, 2, "{fired:?}");
    let alerts = store.active_alerts().await.unwrap();
    let kinds: Vec<&str> = alerts.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["sip-invitation-overdue", "payment-liability-begun"]);
    let invitation = &alerts[0];
    assert_eq!(invitation.case_id, case_id);
    assert!(invitation.units.contains(&"SE2120000449-KHSL".to_owned()));
    // Fired timers are gone: nothing is raised twice.
    let again = fire_due_at(&gateway, chrono::Utc::now().timestamp_millis())
        .await
        .unwrap();
    assert_eq!(again.appended, 0);

    // The care contact calls the meeting: that alert clears, the other
    // stays until the discharge.
    submit(&gateway, DialectName::CosmicLink, "careContactAssigned").await;
    submit(&gateway, DialectName::CosmicLink, "sipInvitation").await;
    watch::follow(store.as_ref(), now()).await.unwrap();
    let kinds: Vec<String> = store
        .active_alerts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.kind)
        .collect();
    assert_eq!(kinds, ["payment-liability-begun"]);
    let unpublished = store.unpublished_alerts(10).await.unwrap();
    let cleared = unpublished
        .iter()
        .find(|a| a.kind == "sip-invitation-overdue")
        .unwrap();
    assert!(cleared.cleared_at.is_some());
    let body = samgate::transport::alerts::body(cleared).to_string();
    assert!(body.contains("\"state\":\"cleared\""), "{body}");
    for secret in ["194102069046", "Esther", "Åström"] {
        assert!(!body.contains(secret), "{secret} in {body}");
    }
    submit(&gateway, DialectName::Lifecare, "dischargeNotice").await;
    watch::follow(store.as_ref(), now()).await.unwrap();
    assert!(store.active_alerts().await.unwrap().is_empty());
    store.close().await;
}

#[tokio::test]
async fn a_due_deadline_raises_its_alert_once_and_it_clears_when_done() {
    let dir = tempfile::tempdir().unwrap();
    raises_once_and_clears(samgate::store::open("", dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn a_due_deadline_raises_its_alert_once_and_it_clears_when_done_on_postgresql() {
    let url = common::postgres_schema_url().await;
    let store = samgate::store::open(&url, std::path::Path::new("."))
        .await
        .unwrap();
    raises_once_and_clears(store).await;
}

#[tokio::test]
async fn of_two_gateways_on_one_postgresql_one_fires() {
    let url = common::postgres_schema_url().await;
    let open = async || {
        samgate::store::open(&url, std::path::Path::new("."))
            .await
            .unwrap()
    };
    let (a, b) = (gateway(open().await), gateway(open().await));
    ready_case(&a).await;
    watch::follow(a.store().as_ref(), now()).await.unwrap();
    // Both followed the same events: the timers are set once either way.
    watch::follow(b.store().as_ref(), now()).await.unwrap();
    let at = chrono::Utc::now().timestamp_millis();
    let (fa, fb) = tokio::join!(fire_due_at(&a, at), fire_due_at(&b, at));
    let (fa, fb) = (fa.unwrap(), fb.unwrap());
    assert_eq!(fa.appended + fb.appended, 2, "{fa:?} {fb:?}");
    assert_eq!(a.store().active_alerts().await.unwrap().len(), 2);
}

/// A gateway stopped while a deadline timer waits fires it when it comes
/// back (the clock is moved, not waited for).
#[tokio::test]
async fn a_restart_while_a_deadline_timer_waits_still_fires_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    let first = gateway(store.clone());
    ready_case(&first).await;
    watch::follow(store.as_ref(), now()).await.unwrap();
    let due = store.next_timer_due().await.unwrap().unwrap();
    // Before it is due nothing fires.
    assert_eq!(fire_due_at(&first, due - 1).await.unwrap().appended, 0);
    store.close().await;
    drop(first);

    let store = samgate::store::open("", dir.path()).await.unwrap();
    let again = gateway(store.clone());
    assert_eq!(store.next_timer_due().await.unwrap(), Some(due));
    let fired = fire_due_at(&again, due).await.unwrap();
    assert!(fired.appended >= 1, "{fired:?}");
    assert!(!store.active_alerts().await.unwrap().is_empty());
    store.close().await;
}
