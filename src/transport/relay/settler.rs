//! The relay's settler: beside the publishing loop, it waits for the
//! broker's answer to each published round, records it in the store
//! (quarantine for a returned delivery, an attempt for a refused one, a
//! mark for a confirmed one) and reports to the loop, whose window
//! (`window::InFlight`) moves on with the reports.

use std::sync::Arc;
use std::time::Duration;

use lapin::Confirmation;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::{ROUND, Round};
use crate::gateway::Gateway;
use crate::store::Store;
use crate::transport::{CONFIRM_TIMEOUT, TransportError};

/// How long confirmed deliveries wait to be marked, so that one write
/// marks many: each mark takes SQLite's one writer from the inbound
/// batches (at 1,000 msg/s they were some 280 marks a second).
const MARK_DELAY: Duration = Duration::from_millis(25);

/// What the settler tells the publishing loop.
pub(super) enum Report {
    /// The broker answered for one or more rounds.
    Settled(Settled),
    /// These rows are now marked delivered in the store.
    Marked(Vec<i64>),
}

/// The broker's answers for one or more rounds.
pub(super) struct Settled {
    /// The case of every delivery answered for, whatever the answer.
    pub(super) cases: Vec<String>,
    /// Confirmed rows: pending in the store until they are marked.
    pub(super) confirmed: Vec<i64>,
    /// Rows done with otherwise: returned (now quarantined) or refused
    /// (pending, to be read and published again).
    pub(super) released: Vec<i64>,
    /// True when the broker refused any.
    pub(super) refused: bool,
}

/// Beside the publishing loop: waits for each round's confirms and records
/// them. Returned deliveries are quarantined, refused ones left pending
/// for a later round, and both are reported at once; confirmed ones are
/// reported too (their cases may go on) and marked delivered together,
/// once a round's worth has gathered or the oldest has waited
/// [`MARK_DELAY`]. Ends with the first error, or when the loop stops
/// sending rounds and everything is marked.
pub(super) async fn settler(
    gateway: Arc<Gateway>,
    broker: lapin::ConnectionStatus,
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
            for (r, confirm, published) in round {
                let d = r.delivery;
                let answer = confirmed(confirm?, &broker).await?;
                crate::metrics::relay_confirm(published.elapsed());
                match answer {
                    Confirmation::Ack(None) => {
                        tracing::trace!(target: super::CONFIRMED_EVENT, message_id = %d.message_id, "delivery confirmed");
                        crate::metrics::delivery(system(&d), "confirmed");
                        done.confirmed.push(d.id);
                        unmarked.add(d.id, d.message_id);
                    }
                    Confirmation::Ack(Some(_returned)) => {
                        // Not delivered. The returned message (the whole
                        // body) is dropped unread and never logged; lapin's
                        // own WARN of it is filtered out (telemetry.rs).
                        tracing::warn!(message_id = %d.message_id, recipient = %d.recipient, "delivery returned: no queue for the recipient");
                        crate::metrics::delivery(system(&d), "returned");
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
                        crate::metrics::delivery(system(&d), "refused");
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

/// The broker's answer to one publish. It must come within
/// [`CONFIRM_TIMEOUT`], except while the broker holds the connection back
/// (`connection.blocked`, a memory or disk alarm): confirms wait for the
/// alarm to end, and publishing again on a new connection would only be
/// held back the same way.
async fn confirmed(
    confirm: lapin::PublisherConfirm,
    broker: &lapin::ConnectionStatus,
) -> Result<Confirmation, TransportError> {
    let mut confirm = std::pin::pin!(confirm);
    loop {
        match tokio::time::timeout(CONFIRM_TIMEOUT, &mut confirm).await {
            Ok(answer) => return Ok(answer?),
            Err(_) if broker.blocked() => {
                tracing::warn!(
                    "the broker holds samgate's publishes back (a resource alarm); waiting for it"
                );
            }
            Err(_) => return Err(TransportError::Timeout("a delivery's confirm")),
        }
    }
}

/// A delivery's target system as a metrics label.
fn system(d: &crate::store::Delivery) -> &'static str {
    d.system.map_or("unknown", crate::channel::System::as_str)
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
        store: &dyn Store,
        reports: &mpsc::UnboundedSender<Report>,
    ) -> Result<(), TransportError> {
        self.due = None;
        if self.rows.is_empty() {
            return Ok(());
        }
        let (ids, message_ids): (Vec<i64>, Vec<String>) =
            std::mem::take(&mut self.rows).into_iter().unzip();
        store
            .mark_delivered(&message_ids)
            .instrument(tracing::debug_span!(
                "relay.mark",
                deliveries = message_ids.len()
            ))
            .await?;
        // The loop may have stopped; the marks are written either way.
        let _ = reports.send(Report::Marked(ids));
        Ok(())
    }
}
