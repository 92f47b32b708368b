//! The outbox relay: publishes pending deliveries to RabbitMQ in outbox
//! order, each rendered in its recipient's dialect, and marks them
//! delivered only when the broker confirms them.
//!
//! - Publisher confirms on; `mandatory` set; persistent; the delivery's
//!   UUIDv5 as `message_id`, so a consumer can drop the duplicate a crash
//!   between publish and mark may cause (delivery is at least once).
//! - A NACK is a failure, never "delivered": the delivery stays pending and
//!   is retried with backoff. A returned (unroutable) message is quarantined:
//!   no queue is bound for that recipient.
//! - Per-case order: of each case, only the deliveries of its earliest
//!   pending event are published in a round, so a later event never
//!   overtakes an earlier one.
//! - Units on the native interface are left to `DeliveryService`.
//! - One relay at a time: with several processes on one PostgreSQL, the
//!   others wait for the lease (`Store::relay_lease`), so no delivery is
//!   published twice by two relays and no case is reordered between them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::sync::watch;

use super::topology::Names;
use super::{FIRST_BACKOFF, TransportError, connect, next_backoff, pause};
use crate::gateway::{Gateway, render};
use crate::store::Delivery;

/// How often a standby process asks for the relay lease.
const LEASE_RETRY: Duration = Duration::from_secs(1);
/// Deliveries read from the outbox per round.
const ROUND: usize = 256;
/// How long the relay sleeps when nothing wakes it (a safety net: stored
/// events wake it at once).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Runs until `stop` turns true, reconnecting with backoff.
pub async fn run(
    gateway: Arc<Gateway>,
    url: String,
    names: Names,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = FIRST_BACKOFF;
    while !*stop.borrow() {
        match session(&gateway, &url, &names, &mut stop, &mut backoff).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!("relay: {e}; reconnecting in {backoff:?}");
                pause(&mut stop, backoff).await;
                backoff = next_backoff(backoff);
            }
        }
    }
}

async fn session(
    gateway: &Gateway,
    url: &str,
    names: &Names,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
) -> Result<(), TransportError> {
    // One relay at a time across processes sharing a database.
    let mut lease = loop {
        if let Some(lease) = gateway.store().relay_lease().await? {
            break lease;
        }
        tokio::select! {
            () = tokio::time::sleep(LEASE_RETRY) => {}
            _ = stop.changed() => return Ok(()),
        }
    };
    let connection = connect(url).await?;
    let channel = connection.create_channel().await?;
    // Declared on every connection: idempotent, and a broker that lost its
    // definitions gets them back before anything is published.
    let mut declared = gateway.router().directory_generation();
    super::topology::declare(&channel, names, &gateway.router().directory()).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut wake = gateway.subscribe();
    tracing::info!("relay connected");
    loop {
        if *stop.borrow() {
            let _ = connection.close(200, "samgate shutting down".into()).await;
            return Ok(());
        }
        if !gateway.store().lease_alive(&mut lease).await {
            return Err(TransportError::Closed("the relay lease was lost"));
        }
        // A reloaded directory may name new actors: their queues first.
        let generation = gateway.router().directory_generation();
        if generation != declared {
            super::topology::declare_actors(&channel, names, &gateway.router().directory()).await?;
            declared = generation;
        }
        let round = publish_round(gateway, &channel, names).await?;
        if round.failed {
            pause(stop, *backoff).await;
            *backoff = next_backoff(*backoff);
        } else {
            *backoff = FIRST_BACKOFF;
        }
        if round.published == 0 {
            tokio::select! {
                _ = wake.recv() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// What one round did.
pub struct Round {
    pub published: usize,
    pub failed: bool,
}

/// Of each case, the deliveries of its earliest pending event.
fn in_case_order(batch: &[Delivery]) -> Vec<&Delivery> {
    let mut first: HashMap<&str, i64> = HashMap::new();
    batch
        .iter()
        .filter(|d| *first.entry(d.case_id.as_str()).or_insert(d.sequence) == d.sequence)
        .collect()
}

fn properties(d: &Delivery, message_type: &str, content_type: &str) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from("x-samgate-case-id"),
        AMQPValue::LongString(d.case_id.as_str().into()),
    );
    headers.insert(
        ShortString::from("x-samgate-message-type"),
        AMQPValue::LongString(message_type.into()),
    );
    headers.insert(
        ShortString::from("x-samgate-sequence"),
        AMQPValue::LongLongInt(d.sequence),
    );
    BasicProperties::default()
        .with_message_id(d.message_id.as_str().into())
        .with_content_type(content_type.into())
        .with_delivery_mode(2)
        .with_headers(headers)
}

/// Publishes one round of the outbox and waits for its confirms.
pub async fn publish_round(
    gateway: &Gateway,
    channel: &Channel,
    names: &Names,
) -> Result<Round, TransportError> {
    let store = gateway.store();
    // The outbox leaves out native units (they read through
    // DeliveryService) and portal publications (pushed over HTTPS).
    let batch: Vec<Delivery> = store.outbox(ROUND).await?;
    let mut in_flight = Vec::new();
    for d in in_case_order(&batch) {
        let rendered = match render(d) {
            Ok(r) => r,
            Err(reason) => {
                tracing::warn!(message_id = %d.message_id, case_id = %d.case_id, "delivery quarantined: {reason}");
                store.quarantine_delivery(&d.message_id, &reason).await?;
                continue;
            }
        };
        let body = rendered.body;
        let confirm = channel
            .basic_publish(
                names.outbound_exchange().as_str().into(),
                d.recipient.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &body,
                properties(d, rendered.message_type, rendered.content_type),
            )
            .await?;
        in_flight.push((d, confirm));
    }
    let mut delivered = Vec::new();
    let mut failed = false;
    for (d, confirm) in in_flight {
        match confirm.await? {
            Confirmation::Ack(None) => delivered.push(d.message_id.clone()),
            Confirmation::Ack(Some(_returned)) => {
                tracing::warn!(message_id = %d.message_id, recipient = %d.recipient, "delivery returned: no queue for the recipient");
                store
                    .quarantine_delivery(
                        &d.message_id,
                        &format!("unroutable: no queue is bound for {}", d.recipient),
                    )
                    .await?;
            }
            Confirmation::Nack(_) | Confirmation::NotRequested => {
                tracing::warn!(message_id = %d.message_id, recipient = %d.recipient, "delivery not confirmed; will retry");
                store.record_attempt(&d.message_id).await?;
                failed = true;
            }
        }
    }
    store.mark_delivered(&delivered).await?;
    Ok(Round {
        published: delivered.len(),
        failed,
    })
}
