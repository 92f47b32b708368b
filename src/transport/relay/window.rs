//! The relay's window: which published deliveries the store still holds
//! pending (so reads leave them out), and which cases wait for a confirm
//! (a round publishes nothing more of them: `backlog`).

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::watch;

use super::settler::Report;
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
    pub(super) fn rows(&self) -> impl Iterator<Item = i64> + '_ {
        self.unconfirmed.iter().chain(&self.unmarked).copied()
    }

    /// Takes in what the settler reports; returns the lowest row the
    /// broker did not take, if any (pending again, or quarantined). When
    /// the broker refused any, waits (with growing backoff) before they are
    /// tried again.
    pub(super) async fn report(
        &mut self,
        report: Report,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Duration,
    ) -> Option<i64> {
        let done = match report {
            Report::Marked(ids) => {
                for id in ids {
                    self.unmarked.remove(&id);
                }
                return None;
            }
            Report::Settled(done) => done,
        };
        let first_released = done.released.iter().min().copied();
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
        first_released
    }
}
