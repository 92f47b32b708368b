//! Making a stored delivery: rendering it in its recipient's form, and the
//! pull a unit makes through `DeliveryService`.
//!
//! The relay (`transport::relay`) and `DeliveryService` (`api::delivery`)
//! both render with [`render`]; what channel a delivery takes is
//! `channel`'s to say.

use samgate_proto::validate::{check_event, payload_name};

use crate::channel::{Channel, System};
use crate::store::{Delivery, DeliveryKind, Store, StoreError};

/// Pull at most this many deliveries when none is asked for: a page a unit
/// acknowledges in one call.
const DEFAULT_PULL: usize = 100;

/// A delivery in the form its recipient takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub delivery: Delivery,
    /// The payload's name, or `notice`.
    pub message_type: &'static str,
    pub content_type: &'static str,
    /// The message in the recipient's dialect; empty for native recipients
    /// and notices.
    pub body: Vec<u8>,
}

/// A delivery that cannot be made in its recipient's form: which one, and
/// why (for the quarantine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRendered {
    pub message_id: String,
    pub case_id: String,
    pub reason: String,
}

/// A delivery in its recipient's form: the dialect's bytes, the canonical
/// event for native recipients, or a notice's text. Takes the delivery, so
/// its event is neither cloned for the check nor for the answer.
pub fn render(mut delivery: Delivery) -> Result<Rendered, NotRendered> {
    if delivery.kind == DeliveryKind::Notice {
        let body = delivery.reason.clone().into_bytes();
        return Ok(Rendered {
            delivery,
            message_type: "notice",
            content_type: "text/plain; charset=UTF-8",
            body,
        });
    }
    let message_type = delivery.event.payload.as_ref().map_or("none", payload_name);
    let refuse = |delivery: Delivery, reason: String| NotRendered {
        message_id: delivery.message_id,
        case_id: delivery.case_id,
        reason,
    };
    let Some(system) = delivery.system else {
        return Err(refuse(delivery, "the recipient's system is unknown".into()));
    };
    match system.dialect() {
        None if system == System::Native => Ok(Rendered {
            delivery,
            message_type,
            content_type: "application/x-protobuf",
            body: Vec::new(),
        }),
        None => {
            let reason = format!("{} deliveries are not rendered for a unit", system.as_str());
            Err(refuse(delivery, reason))
        }
        Some(dialect) => {
            let adapter = dialect.adapter();
            // Stored events were checked on their way in; checking again
            // here, once per delivery, is what lets the encoder trust it.
            let event = match check_event(std::mem::take(&mut delivery.event)) {
                Ok(event) => event,
                Err(e) => return Err(refuse(delivery, e.to_string())),
            };
            let started = std::time::Instant::now();
            let encoded = adapter.encode(&event, None);
            crate::metrics::translation(dialect.as_str(), "encode", started.elapsed());
            delivery.event = event.into_inner();
            match encoded {
                Ok(encoded) => Ok(Rendered {
                    delivery,
                    message_type,
                    content_type: adapter.content_type(),
                    body: encoded.bytes,
                }),
                Err(e) => Err(refuse(delivery, e.to_string())),
            }
        }
    }
}

/// The oldest pending deliveries to `recipient` that a unit may pull (all
/// but those pushed to the portal), rendered in its form; at most `max`
/// (0: [`DEFAULT_PULL`]). A delivery that cannot be rendered is
/// quarantined with the reason.
pub async fn pull(
    store: &dyn Store,
    recipient: &str,
    max: usize,
) -> Result<Vec<Rendered>, StoreError> {
    let max = if max == 0 { DEFAULT_PULL } else { max };
    let mut out = Vec::new();
    for delivery in store.pending_deliveries(recipient, max).await? {
        if delivery.channel() == Some(Channel::Push) {
            continue;
        }
        match render(delivery) {
            Ok(r) => out.push(r),
            Err(not) => {
                tracing::warn!(message_id = %not.message_id, case_id = %not.case_id, "delivery quarantined: {}", not.reason);
                store
                    .quarantine_delivery(&not.message_id, &not.reason)
                    .await?;
            }
        }
    }
    Ok(out)
}
