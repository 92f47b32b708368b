//! When samgate's relay saw each outbound publish confirmed, for the e2e
//! bench's second latency figure: from the moment a message is in the
//! inbound queue (its publish confirmed to the bench) to the moment its
//! delivery's publish is confirmed to samgate, the span issue 5's target
//! names. A tracing layer catches the relay's trace event for each
//! confirmed delivery (target `CONFIRMED_EVENT`, with the delivery's
//! message id) and keeps its time, while `arm`ed: only the paced runs
//! need it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use samgate::transport::relay::CONFIRMED_EVENT;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Confirm times by message id, gathered while armed.
#[derive(Clone, Default)]
pub struct ConfirmTimes {
    armed: Arc<AtomicBool>,
    times: Arc<Mutex<HashMap<String, Instant>>>,
}

impl ConfirmTimes {
    /// Starts gathering, from nothing.
    pub fn arm(&self) {
        self.times.lock().unwrap().clear();
        self.armed.store(true, Ordering::Release);
    }

    /// Stops gathering and hands over what was gathered.
    pub fn take(&self) -> HashMap<String, Instant> {
        self.armed.store(false, Ordering::Release);
        std::mem::take(&mut *self.times.lock().unwrap())
    }
}

/// The `message_id` field of an event.
#[derive(Default)]
struct MessageId(Option<String>);

impl Visit for MessageId {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message_id" {
            self.0 = Some(format!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message_id" {
            self.0 = Some(value.to_owned());
        }
    }
}

impl<S: Subscriber> Layer<S> for ConfirmTimes {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !self.armed.load(Ordering::Acquire) || event.metadata().target() != CONFIRMED_EVENT {
            return;
        }
        let at = Instant::now();
        let mut id = MessageId::default();
        event.record(&mut id);
        if let Some(id) = id.0 {
            self.times.lock().unwrap().insert(id, at);
        }
    }
}
