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
//!   loop reads and publishes a round as soon as events are stored; a
//!   settler task beside it waits for the broker's confirms and marks
//!   what was confirmed, so neither the broker's confirm nor the store's
//!   mark holds up the next publish (up to [`MAX_IN_FLIGHT`] deliveries).
//! - Per-case order: of each case, only the deliveries of its earliest
//!   pending event are published in a round, and not while an earlier
//!   delivery of the case awaits its confirm, so a later event never
//!   overtakes an earlier one, even when the earlier one is refused.
//! - Units on the native interface are left to `DeliveryService`.
//! - One relay at a time: with several processes on one PostgreSQL, the
//!   others wait for the lease (`Store::relay_lease`), so no delivery is
//!   published twice by two relays and no case is reordered between them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, PublisherConfirm};
use samgate_proto::v1::StoredEvent;
use tokio::sync::{broadcast, mpsc, watch};

use super::topology::Names;
use super::{FIRST_BACKOFF, TransportError, connect, next_backoff, pause};
use crate::gateway::{Gateway, Rendered, render};
use crate::store::Delivery;

/// How often a standby process asks for the relay lease.
const LEASE_RETRY: Duration = Duration::from_secs(1);
/// How often the relay checks that it still holds its lease (on
/// PostgreSQL a round trip; before every read it cost each delivery about
/// 0.1 ms). A relay whose lease went with its connection may publish for
/// this long beside the next one: duplicates under the same message ids,
/// which at-least-once delivery allows.
const LEASE_CHECK: Duration = Duration::from_millis(100);
/// Deliveries read from the outbox per round.
const ROUND: usize = 256;
/// Deliveries published and awaiting their confirms at once.
const MAX_IN_FLIGHT: usize = 512;
/// How long confirmed deliveries wait to be marked, so that one write
/// marks many: each mark takes SQLite's one writer from the inbound
/// batches (at 1,000 msg/s they were some 280 marks a second).
const MARK_DELAY: Duration = Duration::from_millis(25);
/// How long a stopping relay waits for the confirms and marks in hand.
const FINAL_SETTLE: Duration = Duration::from_secs(5);
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
    let (rounds, settle_rounds) = mpsc::unbounded_channel();
    let (reports, mut settled) = mpsc::unbounded_channel();
    let mut settler = tokio::spawn(settler(gateway.clone(), settle_rounds, reports));
    let mut in_flight = InFlight::default();
    let mut lease_checked = Instant::now();
    tracing::info!("relay connected");
    let ended = loop {
        // What the settler has recorded leaves the window first.
        while let Ok(done) = settled.try_recv() {
            in_flight.report(done, stop, backoff).await;
        }
        if *stop.borrow() {
            break Ok(());
        }
        if lease_checked.elapsed() >= LEASE_CHECK {
            if !gateway.store().lease_alive(&mut lease).await {
                break Err(TransportError::Closed("the relay lease was lost"));
            }
            lease_checked = Instant::now();
        }
        // A reloaded directory may name new actors: their queues first.
        let generation = gateway.router().directory_generation();
        if generation != declared {
            super::topology::declare_actors(&channel, names, &gateway.router().directory()).await?;
            declared = generation;
        }
        if in_flight.unconfirmed.len() < MAX_IN_FLIGHT {
            // Every event stored so far is in the read that follows.
            drain(&mut wake);
            let (round, more) = publish_round(gateway, &channel, names, &mut in_flight).await?;
            if !round.is_empty() && rounds.send(round).is_err() {
                break Err(TransportError::Closed("the relay's settler stopped"));
            }
            // A read that did not fill a round took everything stored
            // before it; what is stored later wakes the relay, and what it
            // held back is read again when its case settles. Reading again
            // at once found nothing, most times, and cost a read.
            if more {
                continue;
            }
        }
        tokio::select! {
            _ = wake.recv() => {}
            Some(done) = settled.recv() => in_flight.report(done, stop, backoff).await,
            ended = &mut settler => {
                break match ended {
                    Ok(Err(e)) => Err(e),
                    _ => Err(TransportError::Closed("the relay's settler stopped")),
                };
            }
            () = tokio::time::sleep(IDLE_POLL) => {}
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
    let _ = connection.close(200, "samgate shutting down".into()).await;
    ended
}

/// Empties the wake-up feed without waiting.
fn drain(wake: &mut broadcast::Receiver<StoredEvent>) {
    loop {
        match wake.try_recv() {
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    }
}

/// A published round: each delivery with its pending confirm.
type Round = Vec<(Rendered, Result<PublisherConfirm, lapin::Error>)>;

/// What the settler tells the publishing loop.
enum Report {
    /// The broker answered for one or more rounds.
    Settled(Settled),
    /// These rows are now marked delivered in the store.
    Marked(Vec<i64>),
}

/// The broker's answers for one or more rounds.
struct Settled {
    /// The case of every delivery answered for, whatever the answer.
    cases: Vec<String>,
    /// Confirmed rows: pending in the store until they are marked.
    confirmed: Vec<i64>,
    /// Rows done with otherwise: returned (now quarantined) or refused
    /// (pending, to be read and published again).
    released: Vec<i64>,
    /// True when the broker refused any.
    refused: bool,
}

/// The relay's published deliveries that the store still holds pending,
/// so the next read leaves out their rows; and the cases with a delivery
/// awaiting its confirm: a later event of a case waits until the earlier
/// one is confirmed.
#[derive(Default)]
struct InFlight {
    /// Published, the confirm awaited.
    unconfirmed: HashSet<i64>,
    /// Confirmed, the mark awaited.
    unmarked: HashSet<i64>,
    cases: HashSet<String>,
}

impl InFlight {
    fn contains(&self, id: i64) -> bool {
        self.unconfirmed.contains(&id) || self.unmarked.contains(&id)
    }

    /// Takes in what the settler reports. When the broker refused any,
    /// waits (with growing backoff) before they are tried again.
    async fn report(
        &mut self,
        report: Report,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Duration,
    ) {
        let done = match report {
            Report::Marked(ids) => {
                for id in ids {
                    self.unmarked.remove(&id);
                }
                return;
            }
            Report::Settled(done) => done,
        };
        for case_id in done.cases {
            self.cases.remove(&case_id);
        }
        for id in done.released {
            self.unconfirmed.remove(&id);
        }
        for id in done.confirmed {
            self.unconfirmed.remove(&id);
            self.unmarked.insert(id);
        }
        if done.refused {
            pause(stop, *backoff).await;
            *backoff = next_backoff(*backoff);
        } else {
            *backoff = FIRST_BACKOFF;
        }
    }
}

/// Of each case with nothing in flight, the deliveries of its earliest
/// pending event.
fn in_case_order(batch: Vec<Delivery>, in_flight: &InFlight) -> Vec<Delivery> {
    let mut first: HashMap<String, i64> = HashMap::new();
    batch
        .into_iter()
        .filter(|d| !in_flight.contains(d.id) && !in_flight.cases.contains(&d.case_id))
        .filter(|d| *first.entry(d.case_id.clone()).or_insert(d.sequence) == d.sequence)
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

/// Reads the outbox past what is in flight and publishes it as one round;
/// returns the round (empty when there was nothing to publish) and whether
/// the read was full, so more may be waiting.
async fn publish_round(
    gateway: &Gateway,
    channel: &Channel,
    names: &Names,
    in_flight: &mut InFlight,
) -> Result<(Round, bool), TransportError> {
    let store = gateway.store();
    // The outbox leaves out native units (they read through
    // DeliveryService), portal publications (pushed over HTTPS) and the
    // rows in flight.
    let skip: Vec<i64> = in_flight
        .unconfirmed
        .iter()
        .chain(&in_flight.unmarked)
        .copied()
        .collect();
    let batch = store.outbox(ROUND, &skip).await?;
    let more = batch.len() == ROUND;
    let mut ready = Vec::new();
    for d in in_case_order(batch, in_flight) {
        match render(&d) {
            Ok(rendered) => ready.push(rendered),
            Err(reason) => {
                tracing::warn!(message_id = %d.message_id, case_id = %d.case_id, "delivery quarantined: {reason}");
                store.quarantine_delivery(&d.message_id, &reason).await?;
            }
        }
    }
    if ready.is_empty() {
        return Ok((Vec::new(), more));
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
    let confirms = futures_util::future::join_all(publishes).await;
    for r in &ready {
        in_flight.unconfirmed.insert(r.delivery.id);
        in_flight.cases.insert(r.delivery.case_id.clone());
    }
    Ok((ready.into_iter().zip(confirms).collect(), more))
}

/// Beside the publishing loop: waits for each round's confirms and records
/// them. Returned deliveries are quarantined, refused ones left pending
/// for a later round, and both are reported at once; confirmed ones are
/// reported too (their cases may go on) and marked delivered together,
/// once a round's worth has gathered or the oldest has waited
/// [`MARK_DELAY`]. Ends with the first error, or when the loop stops
/// sending rounds and everything is marked.
async fn settler(
    gateway: Arc<Gateway>,
    mut rounds: mpsc::UnboundedReceiver<Round>,
    reports: mpsc::UnboundedSender<Report>,
) -> Result<(), TransportError> {
    let store = gateway.store();
    let mut unmarked = Unmarked::default();
    loop {
        let first = match unmarked.due {
            None => rounds.recv().await,
            Some(due) => tokio::select! {
                round = rounds.recv() => round,
                () = tokio::time::sleep_until(due) => {
                    unmarked.mark(store.as_ref(), &reports).await?;
                    continue;
                }
            },
        };
        let Some(first) = first else {
            return unmarked.mark(store.as_ref(), &reports).await;
        };
        let mut done = Settled {
            cases: Vec::with_capacity(first.len()),
            confirmed: Vec::with_capacity(first.len()),
            released: Vec::new(),
            refused: false,
        };
        let mut next = Some(first);
        while let Some(round) = next {
            for (r, confirm) in round {
                let d = r.delivery;
                match confirm?.await? {
                    Confirmation::Ack(None) => {
                        done.confirmed.push(d.id);
                        unmarked.add(d.id, d.message_id);
                    }
                    Confirmation::Ack(Some(_returned)) => {
                        tracing::warn!(message_id = %d.message_id, recipient = %d.recipient, "delivery returned: no queue for the recipient");
                        store
                            .quarantine_delivery(
                                &d.message_id,
                                &format!("unroutable: no queue is bound for {}", d.recipient),
                            )
                            .await?;
                        done.released.push(d.id);
                    }
                    Confirmation::Nack(_) | Confirmation::NotRequested => {
                        tracing::warn!(message_id = %d.message_id, recipient = %d.recipient, "delivery not confirmed; will retry");
                        store.record_attempt(&d.message_id).await?;
                        done.released.push(d.id);
                        done.refused = true;
                    }
                }
                done.cases.push(d.case_id);
            }
            // Rounds published meanwhile join this report, up to a
            // round's worth, so the window keeps moving under load.
            next = if done.cases.len() < ROUND {
                rounds.try_recv().ok()
            } else {
                None
            };
        }
        if reports.send(Report::Settled(done)).is_err() {
            return Ok(());
        }
        if unmarked.rows.len() >= ROUND {
            unmarked.mark(store.as_ref(), &reports).await?;
        }
    }
}

/// Confirmed deliveries not yet marked, and when they are due to be.
#[derive(Default)]
struct Unmarked {
    rows: Vec<(i64, String)>,
    due: Option<tokio::time::Instant>,
}

impl Unmarked {
    fn add(&mut self, id: i64, message_id: String) {
        self.rows.push((id, message_id));
        self.due
            .get_or_insert_with(|| tokio::time::Instant::now() + MARK_DELAY);
    }

    /// Marks them all delivered, in one write, and reports it.
    async fn mark(
        &mut self,
        store: &dyn crate::store::Store,
        reports: &mpsc::UnboundedSender<Report>,
    ) -> Result<(), TransportError> {
        self.due = None;
        if self.rows.is_empty() {
            return Ok(());
        }
        let (ids, message_ids): (Vec<i64>, Vec<String>) =
            std::mem::take(&mut self.rows).into_iter().unzip();
        store.mark_delivered(&message_ids).await?;
        // The loop may have stopped; the marks are written either way.
        let _ = reports.send(Report::Marked(ids));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeliveryKind, DeliveryStatus};

    fn delivery(id: i64, case_id: &str, sequence: i64) -> Delivery {
        Delivery {
            id,
            message_id: format!("m{id}"),
            case_id: case_id.into(),
            sequence,
            recipient: "SE2120000449-KHSL".into(),
            system: "cosmic-link".into(),
            kind: DeliveryKind::Event,
            status: DeliveryStatus::Pending,
            reason: String::new(),
            event: Default::default(),
        }
    }

    #[test]
    fn a_round_takes_each_idle_cases_earliest_event_and_nothing_in_flight() {
        let mut in_flight = InFlight::default();
        // Case b's first event is awaiting its confirm (row 3, still
        // pending in the store).
        in_flight.unconfirmed.insert(3);
        in_flight.cases.insert("b".into());
        let batch = vec![
            delivery(1, "a", 1),
            delivery(2, "a", 1),
            delivery(3, "b", 1),
            delivery(4, "a", 2),
            delivery(5, "b", 2),
            delivery(6, "c", 4),
        ];
        let ids: Vec<i64> = in_case_order(batch, &in_flight)
            .iter()
            .map(|d| d.id)
            .collect();
        // a's first event (both recipients), c; not a's second event, and
        // nothing of b until its first event is settled.
        assert_eq!(ids, vec![1, 2, 6]);
    }
}
