//! Inbound consumers: one per dialect queue (`<p>.in.<dialect>`).
//!
//! Each message is decoded in its queue's dialect and submitted like any
//! other event; it is acknowledged only after the event (and its outbox
//! rows) are committed. Messages that have already arrived are committed
//! together (group commit), in queue order. A redelivered duplicate is
//! recognised by its source message id and acknowledged without a second
//! event.
//!
//! What retrying cannot fix goes to quarantine: a message refused by the
//! decoder, the checks or the case rules, or one the store refuses for
//! good (`StoreError::is_transient` is false: a constraint, data the
//! database cannot hold). It is published there with its reason,
//! confirmed, and only then acknowledged. A store that refuses a whole
//! batch for good is given its messages one at a time, so that only the
//! one at fault is quarantined. Only what may pass (a lost connection, a
//! locked database, a serialization failure) returns the messages to their
//! queue, after a wait that grows while it lasts. Nothing is dropped.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicNackOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::sync::watch;
use tokio_stream::StreamExt;

use super::topology::Names;
use super::{
    CONFIRM_TIMEOUT, FIRST_BACKOFF, TransportError, close, confirming_channel, consumer,
    open_session, within,
};
use crate::dialects::DialectName;
use crate::gateway::{Gateway, SubmitError};
use crate::store::StoreError;

/// How long a consumer waits before returning messages the store could
/// not take for now; the wait doubles while the store keeps failing.
const FIRST_STORE_RETRY: Duration = Duration::from_secs(1);
/// The longest such wait: a store that stays down is tried twice a
/// minute, its messages waiting in their queue meanwhile, and one that
/// comes back is used again within half a minute.
const MAX_STORE_RETRY: Duration = Duration::from_secs(30);
/// How long a stop waits for the consumers to store and acknowledge what
/// they hold: a batch commits in milliseconds; a store that hangs must not
/// hold up a shutdown (what is unacknowledged goes back to its queue).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Unacknowledged messages a consumer holds at once, and the largest batch
/// committed together. A batch is acknowledged only after its commit, so
/// the batch being committed and the one gathering share this window:
/// at 64 they averaged some 36 messages under load, and the commit (an
/// fsync) per batch bounded the rate.
const PREFETCH: u16 = 256;

/// One connected run of the consumers (`super::reconnecting` starts them
/// again after a lost connection).
pub(super) async fn session(
    gateway: &Arc<Gateway>,
    url: &str,
    names: &Names,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
) -> Result<(), TransportError> {
    let opened = open_session(
        url,
        stop,
        "setting up the inbound consumers",
        async |connection| {
            let quarantine = confirming_channel(connection).await?;
            // Before anything consumes: a broker that lost its definitions, or
            // never had them, gets them back first (idempotent).
            super::topology::declare_inbound(&quarantine, names).await?;
            let mut attached = Vec::new();
            for dialect in DialectName::ALL {
                let tag = format!("samgate-{}", dialect.as_str());
                let (channel, consumer) =
                    consumer(connection, &names.inbound(dialect), &tag, PREFETCH).await?;
                attached.push((dialect, channel, tag, consumer));
            }
            Ok((quarantine, attached))
        },
    )
    .await?;
    let Some((connection, (quarantine, attached))) = opened else {
        return Ok(());
    };
    let mut tasks = tokio::task::JoinSet::new();
    // Each consumer's channel and tag, to cancel them at a stop.
    let mut consumers = Vec::new();
    for (dialect, channel, tag, consumer) in attached {
        consumers.push((channel, tag));
        tasks.spawn(consume(
            gateway.clone(),
            dialect,
            consumer,
            quarantine.clone(),
            names.clone(),
        ));
    }
    tracing::info!("inbound consumers connected");
    // The next failure, however much later, starts again from the
    // shortest wait.
    *backoff = FIRST_BACKOFF;
    tokio::select! {
        _ = stop.changed() => {
            // No new messages; the batch in hand is stored and
            // acknowledged before the connection closes, so a stop sends
            // nothing back to be delivered again (which would be safe,
            // the source message id makes it a duplicate, but slow).
            let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
                for (channel, tag) in &consumers {
                    let _ = channel
                        .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                        .await;
                }
                while tasks.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                tracing::warn!("inbound consumers still busy after {DRAIN_TIMEOUT:?}: what they hold goes back to its queue");
                tasks.shutdown().await;
            }
            close(&connection, "samgate shutting down").await;
            Ok(())
        }
        Some(ended) = tasks.join_next() => {
            tasks.shutdown().await;
            match ended {
                Ok(Err(e)) => Err(e),
                _ => Err(TransportError::Closed("a consumer stopped")),
            }
        }
    }
}

/// A message as the broker delivered it (not a `store::Delivery`, which
/// is samgate's own outbound delivery).
type InboundMessage = lapin::message::Delivery;
type Submission = Result<crate::store::Submitted, SubmitError>;

async fn consume(
    gateway: Arc<Gateway>,
    dialect: DialectName,
    mut consumer: lapin::Consumer,
    quarantine: Channel,
    names: Names,
) -> Result<(), TransportError> {
    let acks = InboundAcks {
        dialect,
        quarantine,
        names,
    };
    // The acknowledgement of the last batch stored, still on its way: the
    // next batch is gathered and stored meanwhile (the hand-over to
    // lapin's connection costs about 0.2 ms), and it is awaited before any
    // other acknowledgement, so they reach the broker in order.
    //
    // One batch at a time: storing the next while one commits was tried
    // and made both stores slower at 1,000 msg/s (twice the commits and
    // outbox reads for the same messages on two cores).
    let mut acking: Option<Acking> = None;
    let mut retry = FIRST_STORE_RETRY;
    while let Some(first) = consumer.next().await {
        let batch = gather(first?, &mut consumer)?;
        let results = submit(&gateway, dialect, &batch).await;
        acks.batch(&batch, results, &mut acking, &mut retry).await?;
    }
    finish(&mut acking).await
}

/// True for a store error that retrying cannot fix.
fn refused_by_store(result: &Submission) -> bool {
    matches!(result, Err(SubmitError::Store(e)) if !e.is_transient())
}

/// Stores a batch. A store that refuses the whole batch for good does not
/// say which message is at fault: the messages it failed are then tried
/// one at a time, in queue order, so that the others are stored.
async fn submit(
    gateway: &Gateway,
    dialect: DialectName,
    batch: &[InboundMessage],
) -> Vec<Submission> {
    let bodies: Vec<&[u8]> = batch.iter().map(|d| d.data.as_slice()).collect();
    let mut results = gateway.submit_raw_batch(dialect, &bodies).await;
    let failed_together = results
        .iter()
        .filter(|r| matches!(r, Err(SubmitError::Store(StoreError::BatchFailed(_)))))
        .count();
    if failed_together > 1 && results.iter().any(refused_by_store) {
        for (result, body) in results.iter_mut().zip(&bodies) {
            if matches!(result, Err(SubmitError::Store(_)))
                && let Some(alone) = gateway.submit_raw_batch(dialect, &[body]).await.pop()
            {
                *result = alone;
            }
        }
    }
    for result in &results {
        crate::metrics::received(crate::metrics::Way::Amqp, dialect.as_str());
        if let Err(e) = result {
            crate::metrics::refused(crate::metrics::Way::Amqp, dialect.as_str(), e.reason());
        }
    }
    results
}

/// Group commit: whatever else has already arrived joins `first` in its
/// batch (one transaction, one fsync); nothing waits for more.
fn gather(
    first: InboundMessage,
    consumer: &mut lapin::Consumer,
) -> Result<Vec<InboundMessage>, TransportError> {
    let mut batch = vec![first];
    while batch.len() < usize::from(PREFETCH) {
        // Polled once, not under a zero timeout: tokio rounds a timer up
        // to the next millisecond, and waiting for it cost every batch
        // 0.8 ms (p50) to 4.5 ms (p99).
        match consumer.next().now_or_never() {
            Some(Some(next)) => batch.push(next?),
            _ => break,
        }
    }
    Ok(batch)
}

/// Acknowledges, quarantines or returns each message of a stored batch:
/// what the inbound side does with the broker once the store has answered
/// (the relay's `settler` is the outbound side's, for confirms).
struct InboundAcks {
    dialect: DialectName,
    quarantine: Channel,
    names: Names,
}

impl InboundAcks {
    /// Acknowledges a stored batch's messages, quarantines those refused
    /// and returns to their queue those the store could not take for now,
    /// after a wait (`retry`, which grows while the store keeps failing).
    async fn batch(
        &self,
        batch: &[InboundMessage],
        results: Vec<Submission>,
        acking: &mut Option<Acking>,
        retry: &mut Duration,
    ) -> Result<(), TransportError> {
        let dialect = self.dialect;
        // The common case, all stored: one acknowledgement covers the batch
        // (deliveries on a channel are acknowledged up to a tag).
        if results.iter().all(Result::is_ok) {
            let acker = batch
                .last()
                .expect("a batch has a first message")
                .acker
                .clone();
            finish(acking).await?;
            *acking = Some(tokio::spawn(async move {
                acker.ack(BasicAckOptions { multiple: true }).await
            }));
            *retry = FIRST_STORE_RETRY;
            return Ok(());
        }
        finish(acking).await?;
        // A store that failed the batch failed all of it: one wait before
        // its messages go back, not one per message.
        let transient = results.iter().find_map(|r| match r {
            Err(SubmitError::Store(e)) if e.is_transient() => Some(e),
            _ => None,
        });
        if let Some(e) = transient {
            tracing::error!(
                dialect = dialect.as_str(),
                "store unavailable, messages returned to their queue in {retry:?}: {e}"
            );
            tokio::time::sleep(*retry).await;
            *retry = (*retry * 2).min(MAX_STORE_RETRY);
        } else {
            *retry = FIRST_STORE_RETRY;
        }
        for (delivery, result) in batch.iter().zip(results) {
            match result {
                Ok(_) => {
                    delivery.ack(BasicAckOptions::default()).await?;
                }
                Err(SubmitError::Store(e)) if e.is_transient() => {
                    delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..Default::default()
                        })
                        .await?;
                }
                Err(refused) => {
                    if let SubmitError::Store(e) = &refused {
                        tracing::error!(
                            dialect = dialect.as_str(),
                            "the store refused a message for good, it goes to quarantine: {e}"
                        );
                    }
                    let reason = refused.to_string();
                    let queue = self.names.inbound(dialect);
                    if send_to_quarantine(
                        &self.quarantine,
                        &self.names,
                        dialect.as_str(),
                        &queue,
                        delivery,
                        &reason,
                    )
                    .await?
                    {
                        delivery.ack(BasicAckOptions::default()).await?;
                    } else {
                        delivery
                            .nack(BasicNackOptions {
                                requeue: true,
                                ..Default::default()
                            })
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// An acknowledgement sent from a task of its own.
type Acking = tokio::task::JoinHandle<Result<bool, lapin::Error>>;

/// Waits for the acknowledgement on its way, if any.
async fn finish(acking: &mut Option<Acking>) -> Result<(), TransportError> {
    if let Some(ack) = acking.take() {
        ack.await
            .map_err(|_| TransportError::Closed("an acknowledgement task stopped"))??;
    }
    Ok(())
}

/// Publishes the original to quarantine with the reason in its headers;
/// true when the broker confirmed it.
pub(super) async fn send_to_quarantine(
    channel: &Channel,
    names: &Names,
    dialect: &str,
    original_queue: &str,
    original: &lapin::message::Delivery,
    reason: &str,
) -> Result<bool, TransportError> {
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from("x-samgate-reason"),
        AMQPValue::LongString(reason.into()),
    );
    headers.insert(
        ShortString::from("x-samgate-dialect"),
        AMQPValue::LongString(dialect.into()),
    );
    headers.insert(
        ShortString::from("x-samgate-original-queue"),
        AMQPValue::LongString(original_queue.into()),
    );
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(headers);
    if let Some(id) = original.properties.message_id() {
        props = props.with_message_id(id.clone());
    }
    if let Some(ct) = original.properties.content_type() {
        props = props.with_content_type(ct.clone());
    }
    let publish = channel.basic_publish(
        names.dead_letter_exchange().as_str().into(),
        names.quarantine().as_str().into(),
        BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        },
        &original.data,
        props,
    );
    let confirm = within(CONFIRM_TIMEOUT, "a quarantined message's confirm", async {
        publish.await?.await
    })
    .await?;
    tracing::warn!(dialect, "message quarantined");
    Ok(matches!(confirm, Confirmation::Ack(None)))
}
