//! The outbox feed: deliveries handed to the relay as they are committed,
//! so that it need not read back what was just written.
//!
//! Only a backend whose row ids are given out in commit order offers one
//! (SQLite: one writer at a time), because the relay takes a fed row as
//! proof that every row before it has been seen (see
//! `transport::relay::backlog`). The store sends after each commit, still
//! holding its write lock, so rows arrive in id order; and it lets a
//! relay follow only under that lock too, so each batch is either
//! committed before the relay follows (its first read sees it) or fed
//! whole: a batch begun with nobody following and committed after the
//! relay's read would be a gap no one reports. The feed is a
//! help, never the record: a row that does not fit (the relay is behind)
//! is left for the relay's next read of the outbox, and the feed says so
//! (`FeedReceiver::take_lost`) before any later row can be acted on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use samgate_proto::CaseEvent;
use samgate_proto::validate::Checked;

use super::batch::DeliveryRow;
use super::{Delivery, StoreError, Submitted};

/// Deliveries a follower may fall behind by before rows are left to its
/// next read.
const CAPACITY: usize = 4096;

/// The sending side, kept by the store.
#[derive(Default)]
pub struct OutboxFeed {
    follower: std::sync::Mutex<Option<Follower>>,
}

struct Follower {
    sender: mpsc::Sender<Delivery>,
    lost: Arc<AtomicBool>,
}

/// The relay's side of the feed.
pub struct FeedReceiver {
    receiver: mpsc::Receiver<Delivery>,
    lost: Arc<AtomicBool>,
}

impl OutboxFeed {
    /// A new follower; any earlier one is let go (there is one relay per
    /// process).
    pub fn follow(&self) -> FeedReceiver {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        let lost = Arc::new(AtomicBool::new(false));
        *self.lock() = Some(Follower {
            sender,
            lost: lost.clone(),
        });
        FeedReceiver { receiver, lost }
    }

    /// Whether anyone follows: the store builds the rows only then.
    pub fn followed(&self) -> bool {
        self.lock().is_some()
    }

    /// Hands committed deliveries to the follower, in id order.
    pub fn send(&self, deliveries: Vec<Delivery>) {
        let mut follower = self.lock();
        let Some(f) = follower.as_ref() else {
            return;
        };
        for d in deliveries {
            match f.sender.try_send(d) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => f.lost.store(true, Ordering::SeqCst),
                Err(TrySendError::Closed(_)) => {
                    *follower = None;
                    return;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Follower>> {
        // A panic elsewhere while holding this lock leaves nothing half
        // done: the follower is replaced whole.
        self.follower.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl FeedReceiver {
    /// The next fed delivery, if one is waiting.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        self.receiver.try_recv().ok()
    }

    /// Waits for the next fed delivery; `None` once the store is closed.
    pub async fn recv(&mut self) -> Option<Delivery> {
        self.receiver.recv().await
    }

    /// True when a row was left out since the last call. Ask after taking
    /// rows in: a row left out was left out before any row received after
    /// it was sent.
    pub fn take_lost(&self) -> bool {
        self.lost.swap(false, Ordering::SeqCst)
    }
}

/// The deliveries a committed batch gives the relay: of the rows written
/// (`written`: row id and message id, as the insert returned them), those
/// it publishes, each with its event, in id order.
pub(crate) fn committed(
    mut written: Vec<(i64, String)>,
    rows: &[DeliveryRow],
    events: &[Checked<CaseEvent>],
    results: &[Result<Submitted, StoreError>],
    amended: &std::collections::HashMap<(String, i64), Checked<CaseEvent>>,
) -> Vec<Delivery> {
    written.sort_unstable();
    let rows: std::collections::HashMap<&str, &DeliveryRow> =
        rows.iter().map(|r| (r.message_id.as_str(), r)).collect();
    let stored: std::collections::HashMap<(&str, i64), &CaseEvent> = events
        .iter()
        .zip(results)
        .filter_map(|(e, r)| match r {
            Ok(s) if !s.duplicate => Some(((s.case_id.as_str(), s.sequence), e.get())),
            _ => None,
        })
        .collect();
    written
        .into_iter()
        .filter_map(|(id, message_id)| {
            let row = rows.get(message_id.as_str())?;
            // As stored: the protection the register added, if any.
            let event = match amended.get(&(row.case_id.clone(), row.sequence)) {
                Some(amended) => amended.get(),
                None => *stored.get(&(row.case_id.as_str(), row.sequence))?,
            };
            let d = Delivery {
                id,
                message_id,
                case_id: row.case_id.clone(),
                sequence: row.sequence,
                recipient: row.recipient.clone(),
                system: row.system,
                kind: row.kind,
                status: row.status,
                reason: row.reason.clone(),
                event: event.clone(),
            };
            d.goes_through_relay().then_some(d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: i64) -> Delivery {
        Delivery {
            id,
            message_id: format!("m{id}"),
            case_id: "c".into(),
            sequence: id,
            recipient: "SE2120000449-KHSL".into(),
            system: Some(crate::channel::System::CosmicLink),
            kind: super::super::DeliveryKind::Event,
            status: super::super::DeliveryStatus::Pending,
            reason: String::new(),
            event: Default::default(),
        }
    }

    #[test]
    fn rows_that_do_not_fit_are_reported_lost_and_the_rest_arrive_in_order() {
        let feed = OutboxFeed::default();
        feed.send(vec![delivery(1)]); // nobody follows yet: nothing kept
        let mut receiver = feed.follow();
        assert!(feed.followed());
        feed.send((1..=CAPACITY as i64 + 2).map(delivery).collect());
        let mut ids = Vec::new();
        while let Some(d) = receiver.try_recv() {
            ids.push(d.id);
        }
        assert_eq!(ids, (1..=CAPACITY as i64).collect::<Vec<_>>());
        assert!(receiver.take_lost());
        assert!(!receiver.take_lost());
    }

    #[test]
    fn a_follower_that_went_away_is_let_go() {
        let feed = OutboxFeed::default();
        drop(feed.follow());
        feed.send(vec![delivery(1)]);
        assert!(!feed.followed());
    }
}
