//! Prometheus metrics and the probes (`/metrics`, `/healthz`, `/readyz`)
//! on their own listener (`[metrics] listen`; off when empty).
//!
//! The metrics live in one process-wide registry, so that each way in,
//! the gateway and the relay count with one call (`metrics::received`,
//! …) and nothing is threaded through. Every label is a bounded set of
//! samgate's own words: a way in, a dialect, a refusal's reason class or
//! rule code, a target system, an outcome. Never a case id, a message id,
//! an HSA-id of a person or anything read from a message body: the
//! listener has no authentication and carries no personal data.
//!
//! [`recent`] keeps the last hour minute by minute for the console.

pub mod recent;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::store::Store;

/// The content type of the text `/metrics` serves (OpenMetrics 1.0, which
/// Prometheus reads).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long `/readyz` waits for the store's answer: a probe must answer
/// within Kubernetes' default probe timeout (1 s) whatever the store does.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// `[metrics]`: where the listener listens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// e.g. "127.0.0.1:9464"; empty: not served.
    pub listen: String,
}

/// A way a message comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Amqp,
    Grpc,
    /// The journal feed's MLLP listener.
    Mllp,
    /// `samgate import`.
    Import,
}

impl Way {
    fn as_str(self) -> &'static str {
        match self {
            Way::Amqp => "amqp",
            Way::Grpc => "grpc",
            Way::Mllp => "mllp",
            Way::Import => "import",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Received {
    way: &'static str,
    dialect: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Refused {
    way: &'static str,
    dialect: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Delivered {
    system: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Translated {
    dialect: &'static str,
    /// `decode` (a message in) or `encode` (a delivery out).
    direction: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByAction {
    /// `replay` or `discard`.
    action: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByKind {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BySystem {
    system: &'static str,
}

/// The registry and the metrics in it.
struct Metrics {
    registry: Registry,
    received: Family<Received, Counter>,
    refused: Family<Refused, Counter>,
    stored: Counter,
    commit: Histogram,
    deliveries: Family<Delivered, Counter>,
    amqp_connected: Gauge,
    operator_actions: Family<ByAction, Counter>,
    confirm: Histogram,
    translation: Family<Translated, Histogram>,
    /// Read from the store at each scrape ([`refresh_from_store`]).
    outbox_pending: Family<BySystem, Gauge>,
    outbox_oldest_age: Gauge,
    quarantined: Gauge,
    timers_pending: Gauge,
    deadlines_overdue: Family<ByKind, Gauge>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The last hour, for the console's Översikt.
static RECENT: recent::Recent = recent::Recent::new();

/// Seconds since the Unix epoch, now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Messages received and deliveries confirmed in this process over the
/// last hour.
pub fn last_hour() -> recent::LastHour {
    RECENT.last_hour(unix_now())
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("samgate");
        let received = Family::<Received, Counter>::default();
        registry.register(
            "messages_received",
            "Messages received, by way in and dialect",
            received.clone(),
        );
        let refused = Family::<Refused, Counter>::default();
        registry.register(
            "messages_refused",
            "Messages refused, by way in, dialect and reason class (invalid-field, decode, store, or the rule's code)",
            refused.clone(),
        );
        let stored = Counter::default();
        registry.register(
            "events_stored",
            "Events stored (duplicates not counted)",
            stored.clone(),
        );
        // 0.5 ms to about 4 s.
        let commit = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "store_commit_seconds",
            "Time of the store's submit transaction (one event or a batch)",
            commit.clone(),
        );
        let deliveries = Family::<Delivered, Counter>::default();
        registry.register(
            "deliveries",
            "Deliveries the relay published, by target system and the broker's answer (confirmed, returned, refused)",
            deliveries.clone(),
        );
        let operator_actions = Family::<ByAction, Counter>::default();
        registry.register(
            "operator_actions",
            "Quarantined deliveries an operator replayed or discarded in the console",
            operator_actions.clone(),
        );
        let amqp_connected = Gauge::default();
        registry.register(
            "amqp_connected",
            "1 while the relay is connected to the AMQP broker",
            amqp_connected.clone(),
        );
        // 0.5 ms to about 4 s.
        let confirm = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "relay_confirm_seconds",
            "Time from a delivery's publish to the broker's confirm",
            confirm.clone(),
        );
        let translation = Family::<Translated, Histogram>::new_with_constructor(|| {
            // 5 µs to about 80 ms.
            Histogram::new(exponential_buckets(0.000_005, 2.0, 15))
        });
        registry.register(
            "translation_seconds",
            "Time to decode a dialect message or encode a delivery, by dialect and direction",
            translation.clone(),
        );
        let outbox_pending = Family::<BySystem, Gauge>::default();
        registry.register(
            "outbox_pending",
            "Deliveries waiting to be made, by target system",
            outbox_pending.clone(),
        );
        let outbox_oldest_age = Gauge::default();
        registry.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest delivery waiting to be made (0 when none waits)",
            outbox_oldest_age.clone(),
        );
        let quarantined = Gauge::default();
        registry.register(
            "quarantine_deliveries",
            "Deliveries in quarantine, waiting for an operator",
            quarantined.clone(),
        );
        let timers_pending = Gauge::default();
        registry.register(
            "timers_pending",
            "Durable timers waiting to fire (the journal feed's discharge grace and derived events)",
            timers_pending.clone(),
        );
        let deadlines_overdue = Family::<ByKind, Gauge>::default();
        registry.register(
            "deadlines_overdue",
            "Cases whose legal deadline alert is raised and not cleared, by kind (sip-invitation-overdue, payment-liability-begun, sip-follow-up-passed)",
            deadlines_overdue.clone(),
        );
        let build = Family::<Build, Gauge>::default();
        build
            .get_or_create(&Build {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "samgate's version; always 1", build);
        Metrics {
            registry,
            received,
            refused,
            stored,
            commit,
            deliveries,
            amqp_connected,
            operator_actions,
            confirm,
            translation,
            outbox_pending,
            outbox_oldest_age,
            quarantined,
            timers_pending,
            deadlines_overdue,
        }
    }
}

/// A message came in by `way` in `dialect` ("canonical" for a
/// `CaseEvent`).
pub fn received(way: Way, dialect: &'static str) {
    RECENT.received(unix_now());
    METRICS
        .received
        .get_or_create(&Received {
            way: way.as_str(),
            dialect,
        })
        .inc();
}

/// A message that came in was refused for `reason`: a reason class or a
/// rule's code, never free text.
pub fn refused(way: Way, dialect: &'static str, reason: &'static str) {
    METRICS
        .refused
        .get_or_create(&Refused {
            way: way.as_str(),
            dialect,
            reason,
        })
        .inc();
}

/// `n` new events were stored.
pub fn stored(n: u64) {
    METRICS.stored.inc_by(n);
}

/// A store transaction took `elapsed`.
pub fn store_commit(elapsed: Duration) {
    METRICS.commit.observe(elapsed.as_secs_f64());
}

/// The broker answered `outcome` for a delivery to `system`.
pub fn delivery(system: &'static str, outcome: &'static str) {
    if outcome == "confirmed" {
        RECENT.delivered(unix_now());
    }
    METRICS
        .deliveries
        .get_or_create(&Delivered { system, outcome })
        .inc();
}

/// An operator replayed (`replay`) or discarded (`discard`) a quarantined
/// delivery.
pub fn operator_action(action: &'static str) {
    METRICS
        .operator_actions
        .get_or_create(&ByAction { action })
        .inc();
}

/// The broker confirmed a delivery `elapsed` after its publish.
pub fn relay_confirm(elapsed: Duration) {
    METRICS.confirm.observe(elapsed.as_secs_f64());
}

/// Translating one message in `dialect` (`decode` or `encode`) took
/// `elapsed`.
pub fn translation(dialect: &'static str, direction: &'static str, elapsed: Duration) {
    METRICS
        .translation
        .get_or_create(&Translated { dialect, direction })
        .observe(elapsed.as_secs_f64());
}

/// Sets the gauges the store knows (outbox, quarantine, timers), read at
/// each scrape; left as they were when the store does not answer in time.
pub async fn refresh_from_store(store: &dyn Store) {
    let read = tokio::time::timeout(STORE_PROBE_TIMEOUT, store.operations_stats()).await;
    let Ok(Ok(stats)) = read else {
        return;
    };
    METRICS.outbox_pending.clear();
    for system in crate::channel::System::ALL {
        let pending = stats
            .pending
            .iter()
            .find(|p| p.system == system.as_str())
            .map_or(0, |p| p.count);
        METRICS
            .outbox_pending
            .get_or_create(&BySystem {
                system: system.as_str(),
            })
            .set(pending);
    }
    let unknown: i64 = stats
        .pending
        .iter()
        .filter(|p| crate::channel::System::parse(&p.system).is_none())
        .map(|p| p.count)
        .sum();
    if unknown > 0 {
        METRICS
            .outbox_pending
            .get_or_create(&BySystem { system: "unknown" })
            .set(unknown);
    }
    let now = chrono::Utc::now().timestamp();
    let oldest = stats.pending.iter().map(|p| p.oldest_created_at).min();
    METRICS
        .outbox_oldest_age
        .set(oldest.map_or(0, |t| (now - t).max(0)));
    METRICS.quarantined.set(stats.quarantined);
    METRICS.timers_pending.set(stats.timers);
    for kind in crate::watch::AlertKind::ALL {
        let raised = stats
            .alerts
            .iter()
            .find(|(k, _)| k == kind.as_str())
            .map_or(0, |(_, n)| *n);
        METRICS
            .deadlines_overdue
            .get_or_create(&ByKind {
                kind: kind.as_str(),
            })
            .set(raised);
    }
}

/// Whether the relay is connected to the broker now.
pub fn amqp_connected(connected: bool) {
    METRICS.amqp_connected.set(i64::from(connected));
}

fn amqp_is_connected() -> bool {
    METRICS.amqp_connected.get() > 0
}

/// The registry in the text format.
pub fn render() -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &METRICS.registry);
    text
}

/// What `/readyz` asks.
#[derive(Clone)]
pub struct Readiness {
    pub store: Arc<dyn Store>,
    /// Whether AMQP is configured: then the relay must be connected.
    pub amqp: bool,
    /// Turns true when samgate begins to shut down.
    pub draining: tokio::sync::watch::Receiver<bool>,
}

impl Readiness {
    /// `None` when ready, else a short reason.
    async fn check(&self) -> Option<&'static str> {
        if *self.draining.borrow() {
            return Some("draining");
        }
        // A trivial read: a case that cannot exist.
        let read = self.store.get_case("00000000-0000-0000-0000-000000000000");
        match tokio::time::timeout(STORE_PROBE_TIMEOUT, read).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Some("store unreachable"),
            Err(_) => return Some("store not answering"),
        }
        if self.amqp && !amqp_is_connected() {
            return Some("AMQP broker not connected");
        }
        None
    }
}

async fn metrics(State(readiness): State<Readiness>) -> impl IntoResponse {
    refresh_from_store(readiness.store.as_ref()).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render())
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(readiness): State<Readiness>) -> (StatusCode, String) {
    match readiness.check().await {
        None => (StatusCode::OK, "ready\n".to_owned()),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        ),
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until
/// `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    readiness: Readiness,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(readiness);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions() {
        received(Way::Grpc, "lifecare");
        refused(Way::Amqp, "samsa", "decode");
        store_commit(Duration::from_millis(3));
        delivery("lifecare", "confirmed");
        let text = render();
        for name in [
            "samgate_messages_received_total{way=\"grpc\",dialect=\"lifecare\"}",
            "samgate_messages_refused_total{way=\"amqp\",dialect=\"samsa\",reason=\"decode\"}",
            "samgate_store_commit_seconds_bucket",
            "samgate_deliveries_total{system=\"lifecare\",outcome=\"confirmed\"}",
            "samgate_build_info{version=\"",
            "samgate_events_stored_total",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
