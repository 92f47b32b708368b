//! The last hour's traffic, minute by minute: messages received and
//! deliveries the broker confirmed, for the console's Översikt (which
//! shows "in and out over the last hour" without a query over the event
//! table). Counted in this process since it started, like every counter
//! of the registry; Prometheus has the same numbers across gateways.

use std::sync::Mutex;

/// Minutes kept: the hour the console shows.
pub const MINUTES: usize = 60;

/// The console's rows: six of ten minutes each.
pub const SPANS: usize = 6;

/// One minute's counts.
#[derive(Debug, Clone, Copy, Default)]
struct Minute {
    /// Minutes since the Unix epoch: which minute the slot holds now.
    minute: i64,
    received: u64,
    delivered: u64,
}

/// A ring of [`MINUTES`] slots, one per minute, each reset when its
/// minute comes round again.
pub struct Recent {
    slots: Mutex<[Minute; MINUTES]>,
}

/// Received and delivered in one span of the hour, oldest span first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub received: u64,
    pub delivered: u64,
}

/// The hour up to now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastHour {
    pub received: u64,
    pub delivered: u64,
    /// [`SPANS`] spans of `MINUTES / SPANS` minutes, oldest first.
    pub spans: [Span; SPANS],
}

impl Recent {
    pub const fn new() -> Self {
        Recent {
            slots: Mutex::new(
                [Minute {
                    minute: 0,
                    received: 0,
                    delivered: 0,
                }; MINUTES],
            ),
        }
    }

    /// Counts into the slot of `now` (Unix seconds).
    fn count(&self, now: i64, received: u64, delivered: u64) {
        let minute = now.div_euclid(60);
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut slots[minute.rem_euclid(MINUTES as i64) as usize];
        if slot.minute != minute {
            *slot = Minute {
                minute,
                ..Minute::default()
            };
        }
        slot.received += received;
        slot.delivered += delivered;
    }

    /// A message came in at `now`.
    pub fn received(&self, now: i64) {
        self.count(now, 1, 0);
    }

    /// The broker confirmed a delivery at `now`.
    pub fn delivered(&self, now: i64) {
        self.count(now, 0, 1);
    }

    /// The [`MINUTES`] minutes up to and with the one of `now`.
    pub fn last_hour(&self, now: i64) -> LastHour {
        let current = now.div_euclid(60);
        let slots = *self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut hour = LastHour::default();
        for slot in slots.iter() {
            let ago = current - slot.minute;
            if !(0..MINUTES as i64).contains(&ago) {
                continue;
            }
            hour.received += slot.received;
            hour.delivered += slot.delivered;
            let span = SPANS - 1 - ago as usize / (MINUTES / SPANS);
            hour.spans[span].received += slot.received;
            hour.spans[span].delivered += slot.delivered;
        }
        hour
    }
}

impl Default for Recent {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_last_sixty_minutes_by_ten_minute_spans() {
        let recent = Recent::new();
        let t = 1_800_000_000; // a minute boundary
        recent.received(t - 3600); // 60 minutes ago: out of the hour
        recent.received(t - 59 * 60); // the oldest minute kept
        recent.received(t);
        recent.received(t + 59);
        recent.delivered(t + 30);
        let hour = recent.last_hour(t + 59);
        assert_eq!((hour.received, hour.delivered), (3, 1));
        assert_eq!(
            hour.spans[0],
            Span {
                received: 1,
                delivered: 0
            }
        );
        assert_eq!(
            hour.spans[5],
            Span {
                received: 2,
                delivered: 1
            }
        );
    }

    #[test]
    fn a_slot_is_reset_when_its_minute_comes_round_again() {
        let recent = Recent::new();
        let t = 1_800_000_000;
        recent.received(t);
        recent.received(t + 3600); // the same slot, an hour on
        let hour = recent.last_hour(t + 3600);
        assert_eq!(hour.received, 1);
        assert_eq!(recent.last_hour(t + 2 * 3600).received, 0);
    }
}
