//! Submitting events: the one path every way in (gRPC, AMQP) takes from a
//! decoded or canonical event to a stored one.
//!
//! check the model's rules → store (which folds with the engine in its
//! transaction) → tell watchers. Logs carry the case id, the message id and
//! the payload type; never a person's identity number or name.

use std::sync::Arc;

use samgate_adapter_core::{DecodeError, Warning};
use samgate_proto::CaseEvent;
use samgate_proto::v1::StoredEvent;
use samgate_proto::validate::{Checked, FieldError, check_input, payload_name};
use tokio::sync::{broadcast, watch};

use crate::delivery::Rendered;
use crate::dialects::DialectName;
use crate::engine::RuleViolation;
use crate::routing::Router;
use crate::store::{Store, StoreError, Submitted};

/// Decodes a dialect message, its time counted in the metrics: what every
/// way in calls before it submits.
pub fn decode(
    dialect: DialectName,
    bytes: &[u8],
) -> Result<samgate_adapter_core::Decoded, DecodeError> {
    let started = std::time::Instant::now();
    let decoded = dialect.adapter().decode(bytes);
    crate::metrics::translation(dialect.as_str(), "decode", started.elapsed());
    decoded
}

/// How many stored events a slow watcher may fall behind before it is told
/// to catch up from the store.
const WATCH_BUFFER: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("invalid event: {0}")]
    Invalid(#[from] FieldError),
    #[error("{0}")]
    Refused(#[from] DecodeError),
    #[error("rule violation: {0}")]
    Rule(RuleViolation),
    #[error("store: {0}")]
    Store(StoreError),
}

impl SubmitError {
    /// The refusal's reason class, a bounded set (a metrics label):
    /// `invalid-field`, `decode`, `store`, or the rule's code.
    pub fn reason(&self) -> &'static str {
        match self {
            SubmitError::Invalid(_) => "invalid-field",
            SubmitError::Refused(_) => "decode",
            SubmitError::Rule(r) => r.code(),
            SubmitError::Store(_) => "store",
        }
    }
}

impl From<StoreError> for SubmitError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rule(r) => SubmitError::Rule(r),
            other => SubmitError::Store(other),
        }
    }
}

/// The gateway's core: engine and routing, store, and the feed of stored
/// events.
pub struct Gateway {
    store: Arc<dyn Store>,
    router: Router,
    stored: broadcast::Sender<StoredEvent>,
    /// Counts stored events: what the outbox readers wait on. A watch, not
    /// the feed above, so waking them clones no event.
    stored_count: watch::Sender<u64>,
}

impl Gateway {
    pub fn new(store: Arc<dyn Store>, router: Router) -> Self {
        let (stored, _) = broadcast::channel(WATCH_BUFFER);
        Gateway {
            store,
            router,
            stored,
            stored_count: watch::Sender::new(0),
        }
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Events as they are stored, for `WatchCase`.
    pub fn subscribe(&self) -> broadcast::Receiver<StoredEvent> {
        self.stored.subscribe()
    }

    /// Changes each time events are stored: the wake-up of the relay and
    /// of `DeliveryService` streams. Marking
    /// it seen before a read of the outbox means any change after is
    /// stored after that read began.
    pub fn stored_changes(&self) -> watch::Receiver<u64> {
        self.stored_count.subscribe()
    }

    /// Checks, folds and stores a canonical event from a sender (who may
    /// not claim samgate's own source system `JOURNAL`).
    pub async fn submit_event(&self, event: CaseEvent) -> Result<Submitted, SubmitError> {
        // Kept for the refusal's log line; hashed only if that line is
        // written, not for every event.
        let message_id = event.source_message_id.clone();
        match check_input(event) {
            Ok(event) => self.submit_checked(event).await,
            Err(e) => {
                tracing::warn!(message_hash = %crate::telemetry::log_id(&message_id), field = %e.field, "event refused: invalid field");
                Err(e.into())
            }
        }
    }

    /// Folds and stores an event that was checked on its way in.
    pub async fn submit_checked(
        &self,
        event: Checked<CaseEvent>,
    ) -> Result<Submitted, SubmitError> {
        let kind = payload_name(event.payload());
        let started = std::time::Instant::now();
        let result = self.store.submit(&event, &self.router).await;
        crate::metrics::store_commit(started.elapsed());
        match result {
            Ok(s) => {
                let stored = self.stored_event(&s, event);
                self.count_stored(u64::from(stored));
                Ok(s)
            }
            Err(e) => {
                let e = SubmitError::from(e);
                match &e {
                    SubmitError::Rule(r) => {
                        tracing::warn!(message_hash = %crate::telemetry::log_id(&event.source_message_id), payload = kind, rule = r.code(), "event refused: {r}")
                    }
                    other => {
                        tracing::error!(message_hash = %crate::telemetry::log_id(&event.source_message_id), "event not stored: {other}")
                    }
                }
                Err(e)
            }
        }
    }

    /// Decodes and submits several messages of one dialect in one store
    /// transaction (group commit): one result per message, in order. A
    /// store failure fails them all and stores none.
    #[tracing::instrument(name = "gateway.batch", level = "debug", skip_all, fields(messages = messages.len()))]
    pub async fn submit_raw_batch(
        &self,
        dialect: DialectName,
        messages: &[&[u8]],
    ) -> Vec<Result<Submitted, SubmitError>> {
        let mut results: Vec<Option<Result<Submitted, SubmitError>>> =
            Vec::with_capacity(messages.len());
        let mut events = Vec::new();
        let mut slots = Vec::new();
        for bytes in messages {
            match decode(dialect, bytes) {
                Ok(decoded) => {
                    slots.push(results.len());
                    events.push(decoded.event);
                    results.push(None);
                }
                Err(e) => {
                    tracing::warn!(dialect = e.dialect, path = %e.path, "message refused by the decoder");
                    results.push(Some(Err(e.into())));
                }
            }
        }
        for (slot, result) in slots
            .into_iter()
            .zip(self.submit_checked_batch(events).await)
        {
            results[slot] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.expect("every message has a result"))
            .collect()
    }

    /// Submits events checked on their way in (`samgate import`) in one
    /// store transaction: one result per event, in order. A store failure
    /// fails them all and stores none.
    pub async fn submit_checked_batch(
        &self,
        events: Vec<Checked<CaseEvent>>,
    ) -> Vec<Result<Submitted, SubmitError>> {
        if events.is_empty() {
            return Vec::new();
        }
        let started = std::time::Instant::now();
        let result = self.store.submit_batch(&events, &self.router).await;
        crate::metrics::store_commit(started.elapsed());
        match result {
            Ok(stored) => {
                let mut new = 0;
                let results = events
                    .into_iter()
                    .zip(stored)
                    .map(|(event, result)| {
                        let result = result.map_err(SubmitError::from);
                        if let Ok(s) = &result {
                            new += u64::from(self.stored_event(s, event));
                        }
                        result
                    })
                    .collect();
                // Once for the batch: the outbox readers read it whole.
                self.count_stored(new);
                results
            }
            Err(e) => {
                tracing::error!("batch not stored: {e}");
                let e = Arc::new(e);
                events
                    .iter()
                    .map(|_| Err(SubmitError::Store(StoreError::BatchFailed(e.clone()))))
                    .collect()
            }
        }
    }

    /// Logs a stored event and tells `WatchCase` watchers; true when it is
    /// new (not a duplicate), for `count_stored`.
    fn stored_event(&self, s: &Submitted, event: Checked<CaseEvent>) -> bool {
        let kind = payload_name(event.payload());
        tracing::info!(
            case_id = %s.case_id,
            message_hash = %crate::telemetry::log_id(&event.source_message_id),
            payload = kind,
            sequence = s.sequence,
            duplicate = s.duplicate,
            "event stored"
        );
        if s.duplicate {
            return false;
        }
        // Watchers see the event as stored: with the person's protection
        // kept when the store's register added it.
        let mut event = event.into_inner();
        if let (Some(case), Some(patient)) = (s.case.patient.as_ref(), event.patient.as_mut()) {
            patient.protected_identity |= case.protected_identity;
        }
        let _ = self.stored.send(StoredEvent {
            case_id: s.case_id.clone(),
            sequence: s.sequence,
            event: Some(event),
        });
        true
    }

    /// Wakes the outbox readers when anything new was stored.
    fn count_stored(&self, new: u64) {
        crate::metrics::stored(new);
        if new > 0 {
            self.stored_count.send_modify(|n| *n += new);
        }
    }

    /// Decodes a dialect message, then submits it.
    pub async fn submit_raw(
        &self,
        dialect: DialectName,
        bytes: &[u8],
    ) -> Result<(Submitted, Vec<Warning>), SubmitError> {
        let decoded = decode(dialect, bytes).inspect_err(|e| {
            // The reason may quote the refused value (an identity number):
            // the log gets the dialect and the element path only.
            tracing::warn!(dialect = e.dialect, path = %e.path, "message refused by the decoder");
        })?;
        let submitted = self.submit_checked(decoded.event).await?;
        Ok((submitted, decoded.warnings))
    }

    /// The oldest pending deliveries to `recipient`, rendered in its form
    /// (see [`delivery::pull`](crate::delivery::pull)).
    pub async fn pull(&self, recipient: &str, max: usize) -> Result<Vec<Rendered>, StoreError> {
        crate::delivery::pull(self.store.as_ref(), recipient, max).await
    }

    /// Acknowledges deliveries to `recipient`.
    pub async fn ack(&self, recipient: &str, message_ids: &[String]) -> Result<u64, StoreError> {
        self.store.ack_deliveries(recipient, message_ids).await
    }
}
