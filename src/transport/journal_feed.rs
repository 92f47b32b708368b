//! The journal feed's queue `<p>.in.hl7v2` (hl7v2.md, "Transport"): the
//! same contract as the dialect queues. Each message (one ADT message, or
//! an FHS/BHS batch of them) goes to `Journal::receive`; it is acked only
//! after its effects are committed. One the feed refuses (AE or AR) is
//! published to `<p>.quarantine` with the reasons, confirmed, then acked.
//! One the store could not take (AR 207) goes back to its queue after a
//! wait that grows while the store keeps failing. No HL7 ACK is produced:
//! the queue's acknowledgement is the answer. Nothing is dropped.
//!
//! The messages that have already arrived are handed to the journal
//! together, in queue order, so they share its group commit.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use tokio::sync::watch;
use tokio_stream::StreamExt;

use super::topology::Names;
use super::{FIRST_BACKOFF, TransportError, close, confirming_channel, consumer, open_session};
use crate::journal::{DIALECT, Journal, Verdict};
use crate::metrics::Way;

/// Unacknowledged messages held at once, and the most handed to the
/// journal together (its committer takes up to 256 in one transaction).
const PREFETCH: u16 = 256;

/// The first wait before messages the store could not take go back to
/// their queue; it doubles while the store keeps failing, up to
/// [`MAX_STORE_RETRY`].
const FIRST_STORE_RETRY: Duration = Duration::from_secs(1);
const MAX_STORE_RETRY: Duration = Duration::from_secs(30);

/// One connected run of the consumer (`super::reconnecting` starts it
/// again after a lost connection).
pub(super) async fn session(
    journal: &Arc<Journal>,
    url: &str,
    names: &Names,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
) -> Result<(), TransportError> {
    let queue = names.journal_inbound();
    let opened = open_session(
        url,
        stop,
        "setting up the journal feed's consumer",
        async |connection| {
            let quarantine = confirming_channel(connection).await?;
            super::topology::declare_inbound(&quarantine, names).await?;
            let attached = consumer(connection, &queue, "samgate-hl7v2", PREFETCH).await?;
            Ok((quarantine, attached))
        },
    )
    .await?;
    // The consumer's channel is held for the session, as the consumer is.
    let Some((connection, (quarantine, (_channel, mut consumer)))) = opened else {
        return Ok(());
    };
    tracing::info!("journal feed consumer connected");
    *backoff = FIRST_BACKOFF;
    let mut retry = FIRST_STORE_RETRY;
    loop {
        let first = tokio::select! {
            _ = stop.changed() => {
                close(&connection, "samgate shutting down").await;
                return Ok(());
            }
            next = consumer.next() => match next {
                Some(d) => d?,
                None => return Err(TransportError::Closed("the journal feed consumer stopped")),
            },
        };
        let mut batch = vec![first];
        while batch.len() < usize::from(PREFETCH) {
            match consumer.next().now_or_never() {
                Some(Some(next)) => batch.push(next?),
                _ => break,
            }
        }
        // Polled in order, so they reach the committer in queue order.
        let receipts = futures_util::future::join_all(
            batch
                .iter()
                .map(|d| journal.receive_all(Way::Amqp, &d.data)),
        )
        .await;
        let mut waited = false;
        for (delivery, receipts) in batch.iter().zip(receipts) {
            if receipts.iter().any(|r| !r.verdict.is_final()) {
                if !waited {
                    tracing::error!(
                        "store unavailable, journal messages returned to their queue in {retry:?}"
                    );
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(MAX_STORE_RETRY);
                    waited = true;
                }
                delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await?;
                continue;
            }
            let reasons: Vec<String> = receipts
                .iter()
                .filter_map(|r| match &r.verdict {
                    Verdict::Refused {
                        ack_code,
                        code,
                        reason,
                    } => Some(format!("{ack_code} {code}: {reason}")),
                    _ => None,
                })
                .collect();
            if reasons.is_empty() {
                delivery.ack(BasicAckOptions::default()).await?;
                continue;
            }
            let quarantined = super::inbound::send_to_quarantine(
                &quarantine,
                names,
                DIALECT,
                &queue,
                delivery,
                &reasons.join("; "),
            )
            .await?;
            if quarantined {
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
        if !waited {
            retry = FIRST_STORE_RETRY;
        }
    }
}
