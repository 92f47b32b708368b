//! The relay's backlog: the pending deliveries it knows of and has not
//! published, in outbox order, and how far that knowledge reaches.
//!
//! Deliveries come in two ways: reads of the outbox, and (on SQLite) the
//! store's feed of what it has just committed (`store::feed`), which
//! spares a read after every stored batch. Either way the backlog keeps
//! `known_to`: every pending row up to it is here or in flight, so a case's
//! earliest pending event is known, and a round may publish it.
//!
//! - A read leaves out the rows the relay holds (backlog and in flight),
//!   so it returns the lowest unknown ones. A full read makes its last row
//!   `known_to`; a read that was not full saw everything, up to the top
//!   row id of its snapshot.
//! - After a read that was not full the backlog is *complete* while the
//!   feed lost nothing: every later row arrives fed, in id order (SQLite
//!   gives out ids in commit order), and no read is needed until the
//!   safety poll. A fed row at or below `known_to` was already read and is
//!   dropped: that is why a read reports its top.
//! - Anything that breaks the chain (the feed lost a row, the broker
//!   refused a delivery, the backlog is full) makes it incomplete again:
//!   rows past `known_to` are kept but not published until a read has
//!   covered what came before them.

use std::collections::{BTreeMap, HashMap};

use super::window::InFlight;
use crate::store::{Delivery, FeedReceiver, OutboxRead};

/// The most deliveries the backlog holds; past it, rows are left to the
/// next read (a broker that is down does not fill memory).
const CAPACITY: usize = 8192;

pub(super) struct Backlog {
    waiting: BTreeMap<i64, Delivery>,
    /// Every pending row up to here is waiting or in flight.
    known_to: i64,
    /// Rows past `known_to` arrive through the feed.
    complete: bool,
    feed: Option<FeedReceiver>,
    /// Whether the next turn of the loop reads the outbox.
    read_due: bool,
}

impl Backlog {
    /// A backlog that knows nothing yet: the first turn reads.
    pub(super) fn new(feed: Option<FeedReceiver>) -> Self {
        Backlog {
            waiting: BTreeMap::new(),
            known_to: 0,
            complete: false,
            feed,
            read_due: true,
        }
    }

    /// Whether the loop should read the outbox now: asked for, and room
    /// to take in what it finds (a full backlog waits for cases to move).
    pub(super) fn read_due(&self) -> bool {
        self.read_due && self.waiting.len() < CAPACITY
    }

    /// Asks for a read on the next turn (the safety poll), or, when
    /// something was stored, only if the feed does not bring it.
    pub(super) fn ask_read(&mut self, stored_only: bool) {
        if !(stored_only && self.complete) {
            self.read_due = true;
        }
    }

    /// The rows a read leaves out, besides those in flight.
    pub(super) fn held(&self) -> impl Iterator<Item = i64> + '_ {
        self.waiting.keys().copied()
    }

    /// Takes in a read made with `limit`.
    pub(super) fn take_read(&mut self, read: OutboxRead, limit: usize) {
        let full = read.deliveries.len() >= limit;
        let last = read.deliveries.last().map(|d| d.id);
        for d in read.deliveries {
            self.waiting.insert(d.id, d);
        }
        match (full, last) {
            (true, Some(last)) => {
                self.known_to = last;
                self.complete = false;
                self.read_due = true;
            }
            _ => {
                self.known_to = self.known_to.max(read.top);
                self.complete = self.feed.is_some();
                self.read_due = false;
            }
        }
        self.trim();
    }

    /// Takes in what the feed holds.
    pub(super) fn take_fed(&mut self) {
        while let Some(d) = self.feed.as_mut().and_then(FeedReceiver::try_recv) {
            self.fed(d);
        }
    }

    /// Waits for the next fed delivery and takes it in with any behind it;
    /// never returns when there is no feed.
    pub(super) async fn next_fed(&mut self) {
        let Some(feed) = self.feed.as_mut() else {
            return std::future::pending().await;
        };
        match feed.recv().await {
            Some(d) => {
                self.fed(d);
                self.take_fed();
            }
            None => {
                self.feed = None;
                self.forget_from(i64::MAX);
            }
        }
    }

    fn fed(&mut self, d: Delivery) {
        // A row lost ahead of this one was reported lost before this one
        // was sent: known now, before `known_to` moves past it.
        self.check_lost();
        if d.id <= self.known_to {
            // Read already, when the read's snapshot held it.
            return;
        }
        if self.waiting.len() >= CAPACITY {
            self.complete = false;
            self.read_due = true;
            return;
        }
        if self.complete {
            self.known_to = d.id;
        }
        self.waiting.insert(d.id, d);
    }

    fn check_lost(&mut self) {
        if self.feed.as_ref().is_some_and(FeedReceiver::take_lost) {
            self.complete = false;
            self.read_due = true;
        }
    }

    /// Rows from `id` on may be pending without the backlog knowing (the
    /// broker refused them): nothing past them is published until a read
    /// has covered them.
    pub(super) fn forget_from(&mut self, id: i64) {
        self.known_to = self.known_to.min(id.saturating_sub(1));
        self.complete = false;
        self.read_due = true;
    }

    /// Keeps the backlog within its capacity: the highest rows go, to be
    /// read again.
    fn trim(&mut self) {
        while self.waiting.len() > CAPACITY {
            if let Some((id, _)) = self.waiting.pop_last() {
                self.forget_from(id);
            }
        }
    }

    /// At most `max` deliveries to publish now, taken out of the backlog:
    /// of each case with nothing in flight, the deliveries of its earliest
    /// pending event, as far as the backlog is known to be whole.
    pub(super) fn round(&mut self, in_flight: &InFlight, max: usize) -> Vec<Delivery> {
        // A row lost with nothing fed after it: read it now, not at the
        // safety poll (rows fed after a loss find it in `fed`).
        self.check_lost();
        let horizon = if self.complete {
            i64::MAX
        } else {
            self.known_to
        };
        let mut first: HashMap<&str, i64> = HashMap::new();
        let mut chosen = Vec::new();
        for d in self.waiting.range(..=horizon).map(|(_, d)| d) {
            let earliest = *first.entry(d.case_id.as_str()).or_insert(d.sequence);
            if earliest == d.sequence && !in_flight.cases.contains(&d.case_id) {
                chosen.push(d.id);
                if chosen.len() == max {
                    break;
                }
            }
        }
        chosen
            .into_iter()
            .filter_map(|id| self.waiting.remove(&id))
            .collect()
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
            system: Some(crate::channel::System::CosmicLink),
            kind: DeliveryKind::Event,
            status: DeliveryStatus::Pending,
            reason: String::new(),
            event: Default::default(),
        }
    }

    fn read(deliveries: Vec<Delivery>, top: i64) -> OutboxRead {
        OutboxRead { deliveries, top }
    }

    /// A feed, a backlog that follows it, and an empty window.
    fn fed() -> (crate::store::OutboxFeed, Backlog, InFlight) {
        let feed = crate::store::OutboxFeed::default();
        let backlog = Backlog::new(Some(feed.follow()));
        (feed, backlog, InFlight::default())
    }

    fn ids(round: Vec<Delivery>) -> Vec<i64> {
        round.iter().map(|d| d.id).collect()
    }

    #[test]
    fn a_round_takes_each_idle_cases_earliest_event_and_nothing_in_flight() {
        let mut in_flight = InFlight::default();
        // Case b's first event is awaiting its confirm (row 3).
        in_flight.unconfirmed.insert(3);
        in_flight.cases.insert("b".into());
        let mut backlog = Backlog::new(None);
        backlog.take_read(
            read(
                vec![
                    delivery(1, "a", 1),
                    delivery(2, "a", 1),
                    delivery(4, "a", 2),
                    delivery(5, "b", 2),
                    delivery(6, "c", 4),
                ],
                6,
            ),
            10,
        );
        // a's first event (both recipients), c; not a's second event, and
        // nothing of b until its first event is settled.
        assert_eq!(ids(backlog.round(&in_flight, 10)), vec![1, 2, 6]);
        in_flight.cases.clear();
        assert_eq!(ids(backlog.round(&in_flight, 10)), vec![4, 5]);
    }

    #[test]
    fn past_a_full_read_nothing_is_published_until_it_is_read() {
        let in_flight = InFlight::default();
        let mut backlog = Backlog::new(None);
        backlog.take_read(read(vec![delivery(1, "a", 1), delivery(2, "b", 1)], 9), 2);
        assert!(backlog.read_due());
        // Row 7 is known, but rows 3 to 6 are not: one may be case c's
        // earlier event.
        backlog.waiting.insert(7, delivery(7, "c", 2));
        assert_eq!(ids(backlog.round(&in_flight, 10)), vec![1, 2]);
        backlog.take_read(read(vec![delivery(5, "c", 1)], 9), 2);
        assert!(!backlog.read_due());
        assert_eq!(ids(backlog.round(&in_flight, 10)), vec![5]);
    }

    #[test]
    fn with_the_feed_rows_after_a_read_need_no_read_and_rows_read_are_not_fed_twice() {
        let (feed, mut backlog, in_flight) = fed();
        // Row 2 was committed before the read's snapshot and is fed after
        // it: the read has it, the feed's copy is dropped.
        backlog.take_read(read(vec![delivery(2, "a", 1)], 2), 10);
        assert!(!backlog.read_due());
        feed.send(vec![delivery(2, "a", 1), delivery(3, "b", 1)]);
        backlog.take_fed();
        assert_eq!(ids(backlog.round(&in_flight, 10)), vec![2, 3]);
        // A stored event needs no read: the feed brings it.
        backlog.ask_read(true);
        assert!(!backlog.read_due());
        backlog.ask_read(false);
        assert!(backlog.read_due());
    }

    #[test]
    fn a_refused_row_holds_back_later_rows_until_read_again() {
        let (feed, mut backlog, in_flight) = fed();
        backlog.take_read(read(vec![], 0), 10);
        feed.send(vec![delivery(1, "a", 1)]);
        backlog.take_fed();
        assert_eq!(ids(backlog.round(&in_flight, 10)), vec![1]);
        // Row 1 refused by the broker while case a's next event is fed.
        feed.send(vec![delivery(2, "a", 2)]);
        backlog.take_fed();
        backlog.forget_from(1);
        assert!(backlog.round(&in_flight, 10).is_empty());
        backlog.take_read(read(vec![delivery(1, "a", 1)], 2), 10);
        assert_eq!(ids(backlog.round(&in_flight, 10)), vec![1]);
    }

    #[test]
    fn a_row_the_feed_lost_stops_rows_fed_after_it() {
        let (feed, mut backlog, in_flight) = fed();
        backlog.take_read(read(vec![], 0), 10);
        // Fill the feed so row `lost` does not fit, then free it.
        let fill: Vec<Delivery> = (1..=4096).map(|i| delivery(i, "x", i)).collect();
        feed.send(fill);
        let lost = 4097;
        feed.send(vec![delivery(lost, "a", 1)]);
        backlog.take_fed();
        feed.send(vec![delivery(lost + 1, "a", 2)]);
        backlog.take_fed();
        // Nothing is published until a read has covered the lost row.
        assert!(backlog.read_due());
        assert!(backlog.round(&in_flight, 10_000).is_empty());
        backlog.take_read(read(vec![delivery(lost, "a", 1)], lost + 1), 10);
        // Case x's first event and case a's, not a's second.
        assert_eq!(ids(backlog.round(&in_flight, 10_000)), vec![1, lost]);
    }

    #[test]
    fn a_full_backlog_reads_no_more_and_publishes_nothing_it_let_go() {
        let mut in_flight = InFlight::default();
        let mut backlog = Backlog::new(None);
        // One case's events fill it: only the first may go.
        let rows: Vec<Delivery> = (1..=CAPACITY as i64 + 2)
            .map(|i| delivery(i, "a", i))
            .collect();
        backlog.take_read(read(rows, CAPACITY as i64 + 2), CAPACITY + 10);
        // The highest rows were let go, to be read again later.
        assert_eq!(backlog.waiting.len(), CAPACITY);
        assert_eq!(backlog.known_to, CAPACITY as i64);
        assert!(!backlog.read_due(), "no room: reading now would spin");
        assert_eq!(ids(backlog.round(&in_flight, 10)), vec![1]);
        in_flight.cases.insert("a".into());
        assert!(backlog.round(&in_flight, 10).is_empty());
        // Room again: the read asked for when rows were let go is due.
        assert!(backlog.read_due());
    }
}
