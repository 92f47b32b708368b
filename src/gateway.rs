//! Submitting events: the one path every way in (gRPC today, AMQP next)
//! takes from a decoded or canonical event to a stored one.
//!
//! check the model's rules → store (which folds with the engine in its
//! transaction) → tell watchers. Logs carry the case id, the message id and
//! the payload type; never a person's identity number or name.

use std::sync::Arc;

use samgate_adapter_core::{DecodeError, Warning};
use samgate_proto::CaseEvent;
use samgate_proto::v1::StoredEvent;
use samgate_proto::validate::{FieldError, check_event, payload_name};
use tokio::sync::broadcast;

use crate::dialects::DialectName;
use crate::engine::{Engine, RuleViolation};
use crate::store::{Store, StoreError, Submitted};

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

impl From<StoreError> for SubmitError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rule(r) => SubmitError::Rule(r),
            other => SubmitError::Store(other),
        }
    }
}

/// The gateway's core: engine, store and the feed of stored events.
pub struct Gateway {
    store: Arc<dyn Store>,
    engine: Engine,
    stored: broadcast::Sender<StoredEvent>,
}

impl Gateway {
    pub fn new(store: Arc<dyn Store>, engine: Engine) -> Self {
        let (stored, _) = broadcast::channel(WATCH_BUFFER);
        Gateway {
            store,
            engine,
            stored,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Events as they are stored, for `WatchCase`.
    pub fn subscribe(&self) -> broadcast::Receiver<StoredEvent> {
        self.stored.subscribe()
    }

    /// Checks, folds and stores a canonical event.
    pub async fn submit_event(&self, event: CaseEvent) -> Result<Submitted, SubmitError> {
        let kind = event.payload.as_ref().map_or("none", payload_name);
        if let Err(e) = check_event(&event) {
            tracing::warn!(message_id = %event.source_message_id, field = %e.field, "event refused: invalid field");
            return Err(e.into());
        }
        match self.store.submit(&event, &self.engine).await {
            Ok(s) => {
                tracing::info!(
                    case_id = %s.case_id,
                    message_id = %event.source_message_id,
                    payload = kind,
                    sequence = s.sequence,
                    duplicate = s.duplicate,
                    "event stored"
                );
                if !s.duplicate {
                    // No watcher is not an error.
                    let _ = self.stored.send(StoredEvent {
                        case_id: s.case_id.clone(),
                        sequence: s.sequence,
                        event: Some(event),
                    });
                }
                Ok(s)
            }
            Err(e) => {
                let e = SubmitError::from(e);
                match &e {
                    SubmitError::Rule(r) => {
                        tracing::warn!(message_id = %event.source_message_id, payload = kind, rule = r.code(), "event refused: {r}")
                    }
                    other => {
                        tracing::error!(message_id = %event.source_message_id, "event not stored: {other}")
                    }
                }
                Err(e)
            }
        }
    }

    /// Decodes a dialect message, then submits it.
    pub async fn submit_raw(
        &self,
        dialect: DialectName,
        bytes: &[u8],
    ) -> Result<(Submitted, Vec<Warning>), SubmitError> {
        let decoded = dialect.adapter().decode(bytes).inspect_err(|e| {
            // The reason may quote the refused value (an identity number):
            // the log gets the dialect and the element path only.
            tracing::warn!(dialect = e.dialect, path = %e.path, "message refused by the decoder");
        })?;
        let submitted = self.submit_event(decoded.event).await?;
        Ok((submitted, decoded.warnings))
    }
}
