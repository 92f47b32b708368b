//! The deadline watch: which cases are about to break, or have broken, a
//! legal deadline, kept durably in the store.
//!
//! A follower reads the stored events after its cursor (a row in the
//! store, so it survives restarts) and, for each case they touched, sets a
//! durable timer for every alert the case can still raise ([`rules`]) and
//! clears the alerts whose condition has ended. The timers are the journal
//! feed's (`journal::timers` fires them): one row each, claimed by one
//! gateway at a time, so with several gateways on one PostgreSQL one
//! fires, not two. A fired timer raises its alert when the condition still
//! holds. Raised and cleared alerts are shown by `samgate alerts`, counted
//! in the metrics (`samgate_deadlines_overdue{kind}`), and published to the
//! quorum queue `samgate.alerts` (`transport::alerts`) without personal
//! data: case id, kind, due time, the responsible units' HSA-ids.

pub mod rules;

use std::time::Duration;

use samgate_proto::v1::Case;
use serde::{Deserialize, Serialize};

pub use rules::AlertKind;

use crate::store::journal::Timer;
use crate::store::{Alert, Store, StoreError, TimerSpec};

/// The timers' kind for the deadline watch.
pub const TIMER_DEADLINE: &str = "deadline";

/// The follower's cursor name in the store.
const CURSOR: &str = "deadline-watch";

/// How often the follower reads new events: alerts are about hours and
/// days, so a few seconds' delay costs nothing, and a read with nothing
/// new is one indexed query.
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(2);

/// Events read per step of the follower.
const PAGE: usize = 1000;

/// A deadline timer's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeadlineRef {
    case_id: String,
    kind: String,
}

fn timer_key(case_id: &str, kind: AlertKind) -> String {
    format!("deadline/{case_id}/{}", kind.as_str())
}

/// One step of the follower: the events stored after its cursor (a page
/// at most), each case they touched brought up to date; returns how many
/// events were read.
pub async fn follow(store: &dyn Store, now: i64) -> Result<usize, StoreError> {
    let after = store.cursor(CURSOR).await?;
    let page = store.events_page(after, PAGE).await?;
    let Some((last, _)) = page.last() else {
        return Ok(0);
    };
    let last = *last;
    let mut cases: Vec<&str> = Vec::new();
    for (_, stored) in &page {
        if !cases.contains(&stored.case_id.as_str()) {
            cases.push(&stored.case_id);
        }
    }
    // The page's timers are set in one transaction, not one a case.
    let (mut set, mut cancel) = (Vec::new(), Vec::new());
    for case_id in cases {
        plan_case(store, case_id, now, &mut set, &mut cancel).await?;
    }
    store.schedule(&set, &cancel).await?;
    store.advance_cursor(CURSOR, last).await?;
    Ok(page.len())
}

/// Sets one case's timers and clears what no longer holds (what
/// [`follow`] does for each case a page touched).
pub async fn watch_case(store: &dyn Store, case_id: &str, now: i64) -> Result<(), StoreError> {
    let (mut set, mut cancel) = (Vec::new(), Vec::new());
    plan_case(store, case_id, now, &mut set, &mut cancel).await?;
    store.schedule(&set, &cancel).await
}

/// Adds the case's timers to `set` and `cancel`, and clears the alerts
/// that no longer hold.
async fn plan_case(
    store: &dyn Store,
    case_id: &str,
    now: i64,
    set: &mut Vec<TimerSpec>,
    cancel: &mut Vec<String>,
) -> Result<(), StoreError> {
    let due = match store.get_case(case_id).await? {
        Some(case) => rules::due(&case),
        None => Vec::new(),
    };
    for kind in AlertKind::ALL {
        match due.iter().find(|(k, _)| *k == kind) {
            Some((_, due_at)) => {
                let payload = serde_json::to_string(&DeadlineRef {
                    case_id: case_id.to_owned(),
                    kind: kind.as_str().to_owned(),
                })
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                set.push(TimerSpec {
                    key: timer_key(case_id, kind),
                    kind: TIMER_DEADLINE.to_owned(),
                    due_at: due_at.saturating_mul(1000),
                    payload,
                });
                if *due_at > now && store.clear_alert(case_id, kind.as_str(), now).await? {
                    tracing::info!(
                        case_id,
                        kind = kind.as_str(),
                        "deadline alert cleared: the deadline moved"
                    );
                }
            }
            None => {
                cancel.push(timer_key(case_id, kind));
                if store.clear_alert(case_id, kind.as_str(), now).await? {
                    tracing::info!(case_id, kind = kind.as_str(), "deadline alert cleared");
                }
            }
        }
    }
    Ok(())
}

/// Fires a deadline timer: raises its alert when the condition holds at
/// `now` (Unix seconds); true when it raised one.
pub async fn fire(store: &dyn Store, timer: &Timer, now: i64) -> Result<bool, StoreError> {
    let r: DeadlineRef = serde_json::from_str(&timer.payload)
        .map_err(|e| StoreError::Corrupt(format!("deadline timer: {e}")))?;
    let Some(kind) = AlertKind::parse(&r.kind) else {
        return Err(StoreError::Corrupt(format!(
            "deadline timer kind '{}' is unknown to this samgate",
            r.kind
        )));
    };
    let Some(case) = store.get_case(&r.case_id).await? else {
        return Ok(false);
    };
    if !rules::holds(&case, kind, now) {
        return Ok(false);
    }
    let due_at = rules::due(&case)
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map_or(now, |(_, at)| at);
    let raised = store
        .raise_alert(&Alert {
            case_id: r.case_id.clone(),
            kind: kind.as_str().to_owned(),
            due_at,
            units: responsible_units(&case),
            raised_at: now,
            cleared_at: None,
            published: String::new(),
        })
        .await?;
    if raised {
        tracing::warn!(case_id = %r.case_id, kind = kind.as_str(), "deadline alert raised");
    }
    Ok(raised)
}

/// The units that answer for a case: its participants (units, never
/// persons).
fn responsible_units(case: &Case) -> Vec<String> {
    case.participants.iter().map(|p| p.hsa_id.clone()).collect()
}

/// Follows the events until `stop` says so.
pub async fn run(store: std::sync::Arc<dyn Store>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let now = chrono::Utc::now().timestamp();
        // A full page means more is waiting: read on at once.
        let read = match follow(store.as_ref(), now).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("deadline watch: cannot read the store: {e}");
                0
            }
        };
        if read < PAGE {
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_INTERVAL) => {}
                _ = stop.changed() => return,
            }
        }
        if *stop.borrow() {
            return;
        }
    }
}
