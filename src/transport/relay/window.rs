//! The relay's window: which published deliveries the store still holds
//! pending (so reads leave them out), which cases wait for a confirm, and
//! the choice of what a round may publish without breaking a case's order.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::watch;

use super::settler::Report;
use crate::store::Delivery;
use crate::transport::{FIRST_BACKOFF, next_backoff, pause};

/// The relay's published deliveries that the store still holds pending,
/// so the next read leaves out their rows; and the cases with a delivery
/// awaiting its confirm: a later event of a case waits until the earlier
/// one is confirmed.
#[derive(Default)]
pub(super) struct InFlight {
    /// Published, the confirm awaited.
    pub(super) unconfirmed: HashSet<i64>,
    /// Confirmed, the mark awaited.
    pub(super) unmarked: HashSet<i64>,
    pub(super) cases: HashSet<String>,
}

impl InFlight {
    /// The rows the store still holds pending that the relay has
    /// published: what its reads leave out.
    pub(super) fn rows(&self) -> Vec<i64> {
        self.unconfirmed
            .iter()
            .chain(&self.unmarked)
            .copied()
            .collect()
    }

    /// Takes in what the settler reports. When the broker refused any,
    /// waits (with growing backoff) before they are tried again.
    pub(super) async fn report(
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
/// pending event. The read left out the rows in flight (`InFlight::rows`).
pub(super) fn in_case_order(batch: Vec<Delivery>, in_flight: &InFlight) -> Vec<Delivery> {
    let mut first: HashMap<String, i64> = HashMap::new();
    batch
        .into_iter()
        .filter(|d| !in_flight.cases.contains(&d.case_id))
        .filter(|d| *first.entry(d.case_id.clone()).or_insert(d.sequence) == d.sequence)
        .collect()
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
