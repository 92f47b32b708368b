//! The durable timers (the journal feed's, and the deadline watch's,
//! `watch::fire`): a row in the store's `timers`
//! table per pending piece of work, claimed and fired by whichever gateway
//! gets it first, removed once done. A gateway that stops (or is killed)
//! leaves its rows; the next one fires them, so a grace period survives
//! restarts. The events fired go through the gateway's one submit path,
//! idempotent on their source message id, so a timer fired twice (a crash
//! between the event's commit and the row's removal) stores its event once.
//!
//! - `discharge`: the grace period after a journal A03 ended. When the
//!   stay's case is OPEN or DISCHARGE_READY (or the journal's own earlier
//!   discharge differs), a `dischargeNotice` from `JOURNAL` is appended.
//! - `stay-cancellation`: an A11 or A13 after the journal's discharge
//!   reached a case: a `deviation` (DISCHARGE) is appended there.

use std::sync::Arc;
use std::time::Duration;

use samgate_proto::v1::{CareProcess, CaseStatus};
use samgate_proto::validate::check_event;
use samgate_proto::{Payload, Timestamp};

use crate::gateway::{Gateway, SubmitError};
use crate::stays::{Admission, Cancellation, Candidate, Stay, derive, link};
use crate::store::journal::{StayRef, TIMER_CANCELLATION, TIMER_DISCHARGE, Timer};
use crate::store::{Store, StoreError};

/// How often the loop looks for due timers: the contract wants a due timer
/// fired within 10 seconds; a second keeps a grace of 0 prompt and costs
/// one indexed read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long a claimed timer is kept from other gateways: far longer than
/// firing one takes (a few reads and one commit); after it, a timer whose
/// gateway died is fired by another.
pub const CLAIM: Duration = Duration::from_secs(60);

/// Timers fired per pass.
const PER_PASS: usize = 100;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fired {
    /// Events appended to cases.
    pub appended: usize,
    /// Timers done without an event (no linked case, nothing to change).
    pub settled: usize,
    /// Timers left for a later pass (the store failed).
    pub left: usize,
}

/// Fires timers until `stop` says so.
pub async fn run(gateway: Arc<Gateway>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match fire_due(&gateway).await {
            Ok(fired) if fired.appended + fired.settled > 0 => {
                tracing::info!(
                    appended = fired.appended,
                    settled = fired.settled,
                    left = fired.left,
                    "journal timers fired"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("journal timers: cannot read the store: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// One pass: claims the due timers and fires each.
pub async fn fire_due(gateway: &Gateway) -> Result<Fired, StoreError> {
    fire_due_at(gateway, chrono::Utc::now().timestamp_millis()).await
}

/// One pass as at `now` (Unix milliseconds): what [`fire_due`] does once
/// that time has come (tests move the clock this way).
pub async fn fire_due_at(gateway: &Gateway, now: i64) -> Result<Fired, StoreError> {
    let store = gateway.store();
    let timers = store
        .claim_due_timers(now, now + CLAIM.as_millis() as i64, PER_PASS)
        .await?;
    let mut fired = Fired::default();
    for timer in timers {
        match fire(gateway, &timer, now).await {
            Ok(appended) => {
                store.finish_timer(&timer).await?;
                if appended {
                    fired.appended += 1;
                } else {
                    fired.settled += 1;
                }
            }
            Err(e) => {
                tracing::warn!(kind = %timer.kind, "journal timer left for later: {e}");
                fired.left += 1;
            }
        }
    }
    Ok(fired)
}

/// Fires one timer; true when it appended an event. An error leaves the
/// timer to be fired again once its claim runs out.
async fn fire(gateway: &Gateway, timer: &Timer, now_ms: i64) -> Result<bool, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("timer {}: {e}", timer.kind));
    match timer.kind.as_str() {
        TIMER_DISCHARGE => {
            let at: StayRef = serde_json::from_str(&timer.payload).map_err(corrupt)?;
            reconcile(gateway, &at, fired_at(now_ms)).await
        }
        TIMER_CANCELLATION => {
            let c: Cancellation = serde_json::from_str(&timer.payload).map_err(corrupt)?;
            cancelled(gateway, &c, fired_at(now_ms)).await
        }
        crate::watch::TIMER_DEADLINE => {
            crate::watch::fire(gateway.store().as_ref(), timer, now_ms.div_euclid(1000)).await
        }
        other => {
            // A kind a newer samgate wrote: left for it, never dropped.
            Err(StoreError::Corrupt(format!(
                "timer kind '{other}' is unknown to this samgate"
            )))
        }
    }
}

/// The grace period after an A03 ended.
async fn reconcile(gateway: &Gateway, at: &StayRef, now: Timestamp) -> Result<bool, StoreError> {
    let store = gateway.store();
    let Some(stay) = store.stay(&at.facility, &at.visit_number).await? else {
        return Ok(false);
    };
    let candidates = candidates(store.as_ref(), &stay.patient_id).await?;
    let Some(candidate) = link(&stay, &candidates) else {
        tracing::info!(facility = %stay.facility, "journal discharge: no case linked to the stay; nothing to reconcile");
        return Ok(false);
    };
    if !derive::should_reconcile(candidate, &stay) {
        return Ok(false);
    }
    let register = store.register_entry(&stay.patient_id).await?;
    let Some(event) = derive::discharge_notice(&stay, candidate, &register, now) else {
        return Ok(false);
    };
    let appended = submit(gateway, event).await?;
    if let Some(case_id) = &appended {
        store
            .mark_discharge_reached(&stay.facility, &stay.visit_number, case_id)
            .await?;
        tracing::info!(case_id = %case_id, "journal discharge reconciled: a discharge notice from JOURNAL was appended");
    }
    Ok(appended.is_some())
}

/// An A11 or A13 after the journal's discharge reached a case.
async fn cancelled(
    gateway: &Gateway,
    c: &Cancellation,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let store = gateway.store();
    let Some(case) = store.get_case(&c.case_id).await? else {
        return Ok(false);
    };
    let candidate = candidate(store.as_ref(), case).await?;
    let patient_id = candidate
        .case
        .patient
        .as_ref()
        .map(|p| p.id.clone())
        .unwrap_or_default();
    let register = store.register_entry(&patient_id).await?;
    let Some(event) = derive::cancellation_deviation(c, &candidate, &register, now) else {
        return Ok(false);
    };
    Ok(submit(gateway, event).await?.is_some())
}

/// Submits a derived event: the case id when stored (or stored before);
/// `None` when the case's rules refuse it (it never will be taken).
async fn submit(
    gateway: &Gateway,
    event: samgate_proto::CaseEvent,
) -> Result<Option<String>, StoreError> {
    let event = match check_event(event) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(field = %e.field, "journal event not valid, not appended: {}", e.reason);
            return Ok(None);
        }
    };
    match gateway.submit_checked(event).await {
        Ok(s) => Ok(Some(s.case_id)),
        Err(SubmitError::Store(e)) => Err(e),
        Err(other) => {
            tracing::warn!(
                reason = other.reason(),
                "journal event refused by the case's rules: {other}"
            );
            Ok(None)
        }
    }
}

/// When a pass fired its timers: the derived events' occurredAt.
fn fired_at(now_ms: i64) -> Timestamp {
    Timestamp {
        seconds: now_ms.div_euclid(1000),
        nanos: 0,
    }
}

/// A person's inpatient cases that are not closed, each with its
/// admission notice.
pub async fn candidates(store: &dyn Store, patient_id: &str) -> Result<Vec<Candidate>, StoreError> {
    let mut out = Vec::new();
    for case in store.cases_for_patient(patient_id).await? {
        if case.process == CareProcess::Inpatient as i32 && case.status != CaseStatus::Closed as i32
        {
            out.push(candidate(store, case).await?);
        }
    }
    Ok(out)
}

/// A case with its admission notice (its first, if it has several).
async fn candidate(
    store: &dyn Store,
    case: samgate_proto::v1::Case,
) -> Result<Candidate, StoreError> {
    let admission = store
        .events(&case.id, 1)
        .await?
        .into_iter()
        .filter_map(|s| s.event)
        .find(|e| matches!(e.payload, Some(Payload::AdmissionNotice(_))))
        .map(|e| {
            let admitted_at = match &e.payload {
                Some(Payload::AdmissionNotice(a)) => a.admitted_at.as_ref().map(|t| t.seconds),
                _ => None,
            };
            Admission {
                system: e.source_system,
                case_ref: e.case_ref.clone(),
                author: e.author.clone().unwrap_or_default(),
                admitted_at,
                patient: e.patient.clone().unwrap_or_default(),
            }
        });
    Ok(Candidate { case, admission })
}

/// The stays linked to a case: those whose discharge reached it, and those
/// the linking rule gives it now (`samgate case show`).
pub async fn stays_of_case(store: &dyn Store, case_id: &str) -> Result<Vec<Stay>, StoreError> {
    let Some(case) = store.get_case(case_id).await? else {
        return Ok(Vec::new());
    };
    let Some(patient_id) = case.patient.as_ref().map(|p| p.id.clone()) else {
        return Ok(Vec::new());
    };
    let candidates = candidates(store, &patient_id).await?;
    Ok(store
        .stays_of_person(&patient_id)
        .await?
        .into_iter()
        .filter(|stay| {
            stay.discharge_reached.as_deref() == Some(case_id)
                || link(stay, &candidates).is_some_and(|c| c.case.id == case_id)
        })
        .collect())
}
