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
//! - Pipelined: publishing and settling run side by side. The publishing
//!   loop (here) publishes a round as soon as events are stored, from its
//!   backlog (`backlog`: what the store fed it on commit, or what it read
//!   from the outbox); a settler task beside it (`settler`) waits for the
//!   broker's confirms and marks what was confirmed, so neither the
//!   broker's confirm nor the store's mark holds up the next publish (up to
//!   `MAX_IN_FLIGHT` deliveries awaiting confirms). What is published
//!   and not yet marked is the loop's window (`window`).
//! - Per-case order: of each case, only the deliveries of its earliest
//!   pending event are published in a round (the backlog publishes
//!   nothing past a row it has not seen), and not while an earlier
//!   delivery of the case awaits its confirm, so a later event never
//!   overtakes an earlier one, even when the earlier one is refused.
//! - Units on the native interface are left to `DeliveryService`.
//! - One relay at a time: with several processes on one PostgreSQL, the
//!   others wait for the lease (`Store::relay_lease`), so two relays do
//!   not publish side by side, save for up to `LEASE_CHECK` after a
//!   relay's lease connection is lost (duplicates under the same message
//!   ids, which consumers drop).

use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, PublisherConfirm};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

mod backlog;
mod settler;
mod window;

use super::topology::Names;
use super::{
    CONFIRM_TIMEOUT, SETUP_TIMEOUT, TransportError, close, confirming_channel, open_session, within,
};
use crate::delivery::{Rendered, render};
use crate::gateway::Gateway;
use crate::store::{Delivery, RelayLease};
use backlog::Backlog;
use settler::{Report, settler};
use window::InFlight;

/// How often a standby process asks for the relay lease.
const LEASE_RETRY: Duration = Duration::from_secs(1);
/// How often the relay checks that it still holds its lease (on
/// PostgreSQL a round trip; before every read it cost each delivery about
/// 0.1 ms). A relay whose lease went with its connection may publish for
/// this long beside the next one: duplicates under the same message ids,
/// which at-least-once delivery allows.
const LEASE_CHECK: Duration = Duration::from_millis(100);
/// Deliveries read from the outbox per round: the inbound consumers'
/// prefetch, so one stored batch's deliveries fit one read, and a read
/// stays one quick statement (about 0.5 ms on PostgreSQL at this size).
const ROUND: usize = 256;
/// Deliveries published and awaiting their confirms at once.
const MAX_IN_FLIGHT: usize = 512;
/// How long a stopping relay waits for the confirms and marks in hand.
const FINAL_SETTLE: Duration = Duration::from_secs(5);
/// How often the relay reads the outbox even when nothing asks it to: a
/// safety net for rows no wake-up or feed told it of (a delivery replayed
/// by `samgate delivery replay` in another process, or one whose
/// notification from another process on PostgreSQL was lost).
const SAFETY_POLL: Duration = Duration::from_millis(500);

/// The tracing target of the trace event the relay gives for each
/// delivery the broker confirmed (field `message_id`), for tools that time
/// the path to it (the e2e bench); off unless trace is on for it.
pub const CONFIRMED_EVENT: &str = "samgate::relay::confirmed";

/// One connected run of the relay (`super::reconnecting` starts it
/// again after a lost connection).
pub(super) async fn session(
    gateway: &Arc<Gateway>,
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
    let ended = leased(gateway, url, names, stop, backoff, &mut lease).await;
    lease.release().await;
    ended
}

/// The relay's run while it holds the lease.
async fn leased(
    gateway: &Arc<Gateway>,
    url: &str,
    names: &Names,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
    lease: &mut RelayLease,
) -> Result<(), TransportError> {
    let mut declared = gateway.router().directory_generation();
    let opened = open_session(
        url,
        stop,
        "setting up the relay's channel",
        async |connection| {
            let channel = confirming_channel(connection).await?;
            // Declared on every connection: idempotent, and a broker that lost
            // its definitions gets them back before anything is published.
            super::topology::declare(&channel, names, &gateway.router().directory()).await?;
            Ok(channel)
        },
    )
    .await?;
    let Some((connection, channel)) = opened else {
        return Ok(());
    };
    let mut wake = gateway.stored_changes();
    // Other processes' batches (PostgreSQL): heard of once the listener is
    // up, which itself asks for a read to cover what came before.
    let mut elsewhere = gateway.store().other_writers();
    // Subscribed before the first read, so that nothing committed after
    // that read's snapshot can be missed by both.
    let mut backlog = Backlog::new(gateway.store().follow_outbox().await);
    let (rounds, settle_rounds) = mpsc::unbounded_channel();
    let (reports, mut settled) = mpsc::unbounded_channel();
    let mut settler = tokio::spawn(settler(
        gateway.clone(),
        connection.status().clone(),
        settle_rounds,
        reports,
    ));
    let mut in_flight = InFlight::default();
    let mut lease_checked = Instant::now();
    let mut next_poll = Instant::now() + SAFETY_POLL;
    tracing::info!("relay connected");
    crate::metrics::amqp_connected(true);
    let ended = loop {
        // What the settler has recorded leaves the window first.
        while let Ok(done) = settled.try_recv() {
            take_report(&mut in_flight, &mut backlog, done, stop, backoff).await;
        }
        if *stop.borrow() {
            break Ok(());
        }
        if lease_checked.elapsed() >= LEASE_CHECK {
            if !gateway.store().lease_alive(lease).await {
                break Err(TransportError::Closed("the relay lease was lost"));
            }
            lease_checked = Instant::now();
        }
        // A reloaded directory may name new actors: their queues first.
        let generation = gateway.router().directory_generation();
        if generation != declared {
            within(
                SETUP_TIMEOUT,
                "declaring the reloaded directory's queues",
                super::topology::declare_actors(&channel, names, &gateway.router().directory()),
            )
            .await?;
            declared = generation;
        }
        if Instant::now() >= next_poll {
            backlog.ask_read(false);
            next_poll = Instant::now() + SAFETY_POLL;
        }
        backlog.take_fed();
        if in_flight.unconfirmed.len() < MAX_IN_FLIGHT {
            if backlog.read_due() {
                // Every event stored so far is in the read that follows.
                wake.borrow_and_update();
                let skip: Vec<i64> = in_flight.rows().chain(backlog.held()).collect();
                let read = gateway
                    .store()
                    .outbox(ROUND, &skip)
                    .instrument(tracing::debug_span!("relay.read"))
                    .await?;
                backlog.take_read(read, ROUND);
            }
            let chosen = backlog.round(&in_flight, ROUND);
            let full = chosen.len() == ROUND;
            let round = publish_round(gateway, &channel, names, &mut in_flight, chosen).await?;
            if !round.is_empty() && rounds.send(round).is_err() {
                break Err(TransportError::Closed("the relay's settler stopped"));
            }
            if full || backlog.read_due() {
                continue;
            }
        }
        tokio::select! {
            Ok(()) = wake.changed() => backlog.ask_read(true),
            Ok(()) = changed(&mut elsewhere) => backlog.ask_read(false),
            () = backlog.next_fed() => {}
            Some(done) = settled.recv() => {
                take_report(&mut in_flight, &mut backlog, done, stop, backoff).await;
            }
            ended = &mut settler => {
                break match ended {
                    Ok(Err(e)) => Err(e),
                    _ => Err(TransportError::Closed("the relay's settler stopped")),
                };
            }
            () = tokio::time::sleep_until(next_poll.into()) => {}
            _ = stop.changed() => {}
        }
    };
    // On a clean stop the settler records the confirms still to come and
    // marks what is confirmed; otherwise, or if that takes too long, what
    // is unconfirmed or unmarked stays pending and the next session
    // publishes it again under the same message ids.
    drop(rounds);
    if ended.is_err()
        || tokio::time::timeout(FINAL_SETTLE, &mut settler)
            .await
            .is_err()
    {
        settler.abort();
    }
    close(&connection, "samgate shutting down").await;
    ended
}

/// Waits for a change of `watched`; never returns without one.
async fn changed(
    watched: &mut Option<watch::Receiver<u64>>,
) -> Result<(), watch::error::RecvError> {
    match watched {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

/// A published round: each delivery with its pending confirm and when it
/// was published (for the confirm latency).
type Round = Vec<(
    Rendered,
    Result<PublisherConfirm, lapin::Error>,
    std::time::Instant,
)>;

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

/// Takes in a settler's report; rows the broker did not take leave a gap
/// the backlog must read again before it publishes past it.
async fn take_report(
    in_flight: &mut InFlight,
    backlog: &mut Backlog,
    report: Report,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
) {
    if let Some(first) = in_flight.report(report, stop, backoff).await {
        backlog.forget_from(first);
    }
}

/// Renders the deliveries a round chose and publishes them; returns the
/// round (empty when there was nothing to publish). A delivery that cannot
/// be rendered is quarantined with the reason.
async fn publish_round(
    gateway: &Gateway,
    channel: &Channel,
    names: &Names,
    in_flight: &mut InFlight,
    chosen: Vec<Delivery>,
) -> Result<Round, TransportError> {
    let store = gateway.store();
    let mut ready = Vec::with_capacity(chosen.len());
    for d in chosen {
        match render(d) {
            Ok(rendered) => ready.push(rendered),
            Err(not) => {
                tracing::warn!(message_id = %not.message_id, case_id = %not.case_id, "delivery quarantined: {}", not.reason);
                store
                    .quarantine_delivery(&not.message_id, &not.reason)
                    .await?;
            }
        }
    }
    if ready.is_empty() {
        return Ok(Vec::new());
    }
    // All of the round's messages go out together: a publish hands its
    // frames to the connection as soon as it is first polled, so joining
    // them keeps their order on the channel and spares a hand-over to
    // lapin's I/O thread for each one.
    let publishes = ready.iter().map(|r| {
        channel.basic_publish(
            names.outbound_exchange().as_str().into(),
            r.delivery.recipient.as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            &r.body,
            properties(&r.delivery, r.message_type, r.content_type),
        )
    });
    let published = std::time::Instant::now();
    // Handing the frames over waits only for room on the connection; a
    // broker that stops reading leaves none.
    let confirms = tokio::time::timeout(
        CONFIRM_TIMEOUT,
        futures_util::future::join_all(publishes).instrument(tracing::debug_span!(
            "relay.publish",
            deliveries = ready.len()
        )),
    )
    .await
    .map_err(|_| TransportError::Timeout("publishing a round"))?;
    for r in &ready {
        in_flight.unconfirmed.insert(r.delivery.id);
        in_flight.cases.insert(r.delivery.case_id.clone());
    }
    Ok(ready
        .into_iter()
        .zip(confirms)
        .map(|(r, confirm)| (r, confirm, published))
        .collect())
}
