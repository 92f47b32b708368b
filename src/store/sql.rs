//! The SQL store, shared by SQLite and PostgreSQL: `Store` implemented
//! once, for every [`Backend`]. The SQL is written to run on both
//! (numbered `$n` parameters, `ON CONFLICT`); what differs (opening,
//! migrations, how writers are kept apart, how a batch is written and how
//! a list of values is bound) lives in `sqlite.rs` and `postgres.rs`,
//! behind the traits of `backend`.

/// Deliveries with their events, in outbox order; `$1` filters, `$2` limits.
macro_rules! delivery_select {
    ($where:literal) => {
        concat!(
            "SELECT d.id, d.message_id, d.case_id, d.sequence, d.recipient, d.system, d.kind, d.status, d.reason, e.body ",
            "FROM deliveries d JOIN events e ON e.case_id = d.case_id AND e.sequence = d.sequence WHERE ",
            $where,
            " ORDER BY d.id LIMIT $2"
        )
    };
}

/// The relay's read (`Store::outbox`), with the backend's way of leaving
/// out the rows `$1` names; `$2` limits. With the rows comes `top`, the
/// highest row id in the same snapshot (one row of it alone when nothing
/// is pending): the relay's proof of what the read covered
/// (`transport::relay::backlog`). Literal conditions, so that both
/// databases use the partial index `deliveries_outbox` (migration 3).
macro_rules! outbox_select {
    ($skip:literal) => {
        concat!(
            "SELECT r.id, r.message_id, r.case_id, r.sequence, r.recipient, r.system, r.kind, r.status, r.reason, r.body, t.top ",
            "FROM (SELECT coalesce(max(id), 0) AS top FROM deliveries) t LEFT JOIN ",
            "(SELECT d.id, d.message_id, d.case_id, d.sequence, d.recipient, d.system, d.kind, d.status, d.reason, e.body ",
            "FROM deliveries d JOIN events e ON e.case_id = d.case_id AND e.sequence = d.sequence ",
            "WHERE d.status = 'pending' AND ",
            $crate::channel::relay_condition!(),
            " AND ",
            $skip,
            " ORDER BY d.id LIMIT $2) r ON 1 = 1 ORDER BY r.id"
        )
    };
}
pub(crate) use outbox_select;

use async_trait::async_trait;
use prost::Message;
use samgate_proto::CaseEvent;
use samgate_proto::v1::{Case, StoredEvent};
use sqlx::{Database, Decode, Encode, Row, Type};
use tokio::sync::watch;

use super::backend::{Backend, RowsAffected};
use super::batch::{Batch, Known, KnownCase, Needs, Seen};
use super::journal::{self, JournalCommit, JournalMessage, Timer};
use super::{
    Alert, CaseFilter, Checked, DEFAULT_PAGE_SIZE, Delivery, DeliveryKind, DeliveryStatus,
    FeedReceiver, Folder, LiftedProtection, MAX_EVENT_PAGE, MAX_OUTBOX_READ, MAX_PAGE_SIZE,
    OperationsStats, OutboxFeed, OutboxRead, PendingBySystem, RelayLease, Store, StoreError,
    Submitted, TimerSpec,
};
use crate::channel::System;
use crate::stays::{RegisterEntry, Stay};

pub(crate) fn decode_case(body: &[u8]) -> Result<Case, StoreError> {
    Case::decode(body).map_err(|e| StoreError::Corrupt(format!("case: {e}")))
}

pub(crate) fn decode_event(body: &[u8]) -> Result<CaseEvent, StoreError> {
    CaseEvent::decode(body).map_err(|e| StoreError::Corrupt(format!("event: {e}")))
}

pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A stored system name: empty for an unknown recipient's; anything samgate
/// does not write is a corrupt store.
pub(crate) fn stored_system(name: &str) -> Result<Option<System>, StoreError> {
    if name.is_empty() {
        return Ok(None);
    }
    System::parse(name).map(Some).ok_or_else(|| {
        StoreError::Corrupt(format!("delivery system '{name}' is none samgate writes"))
    })
}

/// A delivery row of `delivery_select!`.
pub(crate) fn delivery_row<R>(row: &R) -> Result<Delivery, StoreError>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let body: Vec<u8> = row.get(9);
    Ok(Delivery {
        id: row.get(0),
        message_id: row.get(1),
        case_id: row.get(2),
        sequence: row.get(3),
        recipient: row.get(4),
        system: stored_system(&row.get::<String, _>(5))?,
        kind: DeliveryKind::parse(&row.get::<String, _>(6))?,
        status: DeliveryStatus::parse(&row.get::<String, _>(7))?,
        reason: row.get(8),
        event: decode_event(&body)?,
    })
}

/// A `deadline_alerts` row: case, kind, due, units (JSON), raised,
/// cleared, published.
type AlertRow = (String, String, i64, String, i64, Option<i64>, String);

fn alert_row(
    (case_id, kind, due_at, units, raised_at, cleared_at, published): AlertRow,
) -> Result<Alert, StoreError> {
    Ok(Alert {
        case_id,
        kind,
        due_at,
        units: serde_json::from_str(&units)
            .map_err(|e| StoreError::Corrupt(format!("alert units: {e}")))?,
        raised_at,
        cleared_at,
        published,
    })
}

/// The `round`th thousand values of `list` (see `IN_LIST`).
pub(crate) fn chunk(list: &[String], round: usize) -> Option<&[String]> {
    list.chunks(IN_LIST).nth(round)
}

/// The answer (first column) of a batch's read that names a protected
/// person (in the patient id column) and no case.
pub(crate) const KNOWN_PROTECTED: i32 = 3;

/// The answer of a batch's read that gives a person's home municipality as
/// the journal feed gave it (the code in the case ref column, the patient
/// id in its column), and no case.
pub(crate) const KNOWN_MUNICIPALITY: i32 = 4;

/// Adds a row of a batch's read to `known`, each case decoded once. The
/// columns: what the row answers, source system, message id or case ref,
/// case id, sequence, patient id, the case, the stored event.
pub(crate) fn take_known_row<R>(row: &R, known: &mut Known) -> Result<(), StoreError>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r [u8]: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let answer = row.try_get::<i32, _>(0)?;
    if answer == KNOWN_PROTECTED {
        known.protected.insert(row.try_get(5)?);
        return Ok(());
    }
    if answer == KNOWN_MUNICIPALITY {
        known
            .municipalities
            .insert(row.try_get(5)?, row.try_get(2)?);
        return Ok(());
    }
    let case_id: String = row.try_get(3)?;
    match answer {
        0 => {
            let key = (row.try_get(1)?, row.try_get(2)?);
            let seen = Seen {
                case_id: case_id.clone(),
                sequence: row.try_get(4)?,
                body: row.try_get::<&[u8], _>(7)?.to_vec(),
            };
            known.seen.insert(key, seen);
        }
        1 => known
            .refs
            .push((row.try_get(1)?, row.try_get(2)?, case_id.clone())),
        _ => {}
    }
    if !known.cases.contains_key(&case_id) {
        let case = decode_case(row.try_get::<&[u8], _>(6)?)?;
        let patient_id = row.try_get(5)?;
        known.cases.insert(
            case_id.clone(),
            KnownCase {
                case_id,
                patient_id,
                case,
            },
        );
    }
    Ok(())
}

/// Values per `IN (…)` list (SQLite binds each as a parameter): far below
/// SQLite's 32,766 parameters.
pub(crate) const IN_LIST: usize = 1000;

/// Holds the backend's write lock, where it has one.
async fn writer<B: Backend>(backend: &B) -> Option<tokio::sync::MutexGuard<'_, ()>> {
    match backend.write_lock() {
        Some(lock) => Some(lock.lock().await),
        None => None,
    }
}

/// Marks pending deliveries delivered, `recipient`'s only when given;
/// returns how many were pending. One statement per thousand ids, each
/// committed on its own on the relaxed connections (committed without
/// waiting for the disk): a mark lost in a crash makes the delivery once
/// more, with the same message id, which at-least-once delivery allows,
/// and the next durable commit makes it durable. A mark needs nothing
/// atomic across ids, so no transaction wraps the statements: one round
/// trip for the usual mark.
async fn mark<B>(
    backend: &B,
    message_ids: &[String],
    recipient: Option<&str>,
) -> Result<u64, StoreError>
where
    B: Backend,
    for<'c> &'c mut <B::Db as Database>::Connection: sqlx::Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: sqlx::IntoArguments<B::Db>,
    for<'t> &'t str: Encode<'t, B::Db> + Type<B::Db>,
    for<'t> i64: Encode<'t, B::Db> + Type<B::Db>,
{
    if message_ids.is_empty() {
        return Ok(0);
    }
    let _writer = writer(backend).await;
    let mut done = 0;
    for chunk in message_ids.chunks(IN_LIST) {
        let mut q = sqlx::QueryBuilder::<B::Db>::new(
            "UPDATE deliveries SET status = 'delivered', delivered_at = ",
        );
        q.push_bind(unix_now())
            .push(", attempts = attempts + 1 WHERE status = 'pending'");
        if let Some(recipient) = recipient {
            q.push(" AND recipient = ").push_bind(recipient);
        }
        q.push(" AND message_id ");
        B::push_in(&mut q, chunk);
        done += q.build().execute(backend.relaxed()).await?.rows_affected();
    }
    Ok(done)
}

/// The store on any [`Backend`]. The bounds say which Rust types each
/// database binds and decodes (both do all of them).
#[async_trait]
impl<B> Store for B
where
    B: Backend,
    for<'c> &'c mut <B::Db as Database>::Connection: sqlx::Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: sqlx::IntoArguments<B::Db>,
    usize: sqlx::ColumnIndex<<B::Db as Database>::Row>,
    for<'t> &'t str: Encode<'t, B::Db> + Type<B::Db>,
    for<'t> Option<&'t str>: Encode<'t, B::Db> + Type<B::Db>,
    for<'t> Option<i32>: Encode<'t, B::Db> + Type<B::Db>,
    for<'t> Option<i64>: Encode<'t, B::Db> + Type<B::Db>,
    for<'t> bool: Encode<'t, B::Db> + Type<B::Db>,
    for<'t> i32: Encode<'t, B::Db> + Type<B::Db>,
    for<'t> i64: Encode<'t, B::Db> + Decode<'t, B::Db> + Type<B::Db>,
    for<'t> Option<i64>: Decode<'t, B::Db>,
    for<'t> String: Decode<'t, B::Db> + Type<B::Db>,
    for<'t> Vec<u8>: Encode<'t, B::Db> + Decode<'t, B::Db> + Type<B::Db>,
{
    // Case events.

    async fn submit(
        &self,
        event: &Checked<CaseEvent>,
        folder: &dyn Folder,
    ) -> Result<Submitted, StoreError> {
        let mut results = self
            .submit_batch(std::slice::from_ref(event), folder)
            .await?;
        results.pop().expect("one result per event")
    }

    async fn submit_batch(
        &self,
        events: &[Checked<CaseEvent>],
        folder: &dyn Folder,
    ) -> Result<Vec<Result<Submitted, StoreError>>, StoreError> {
        let needs = Needs::of(events);
        let _writer = writer(self).await;
        // One writer per person at a time: case creation, case linking and
        // the one-open-outpatient-case rule all look at the person's
        // cases. (The read and the write carry debug spans for timing,
        // free when not enabled.)
        let (tx, known) = tracing::Instrument::instrument(
            self.begin_and_read(&needs),
            tracing::debug_span!("store.read"),
        )
        .await?;
        let mut batch = Batch::new(known);
        let mut results = Vec::with_capacity(events.len());
        for event in events {
            // A broken rule refuses this event alone.
            match batch.submit(event, folder) {
                Err(StoreError::Rule(r)) => results.push(Err(StoreError::Rule(r))),
                Err(other) => return Err(other),
                ok => results.push(ok),
            }
        }
        let writes = batch.into_writes();
        let feed = self.feed().filter(|f| f.followed());
        let written = tracing::Instrument::instrument(
            B::write_and_commit(tx, &writes, feed.is_some()),
            tracing::debug_span!("store.write"),
        )
        .await?;
        // Still under the write lock: fed in commit order.
        if let Some(feed) = feed {
            feed.send(super::feed::committed(
                written,
                &writes.deliveries,
                events,
                &results,
                &writes.amended,
            ));
        }
        Ok(results)
    }

    async fn get_case(&self, case_id: &str) -> Result<Option<Case>, StoreError> {
        let body: Option<Vec<u8>> = sqlx::query_scalar("SELECT body FROM cases WHERE case_id = $1")
            .bind(case_id)
            .fetch_optional(self.pool())
            .await?;
        body.map(|b| decode_case(&b)).transpose()
    }

    async fn cases_for_patient(&self, patient_id: &str) -> Result<Vec<Case>, StoreError> {
        let bodies: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT body FROM cases WHERE patient_id = $1 ORDER BY case_id")
                .bind(patient_id)
                .fetch_all(self.pool())
                .await?;
        bodies.iter().map(|b| decode_case(b)).collect()
    }

    async fn list_cases(
        &self,
        filter: &CaseFilter,
        page_size: usize,
        page_token: Option<&str>,
    ) -> Result<(Vec<Case>, Option<String>), StoreError> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        // One more than the page tells whether another page follows.
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT c.case_id, c.body FROM cases c \
             WHERE ($1 IS NULL OR EXISTS (SELECT 1 FROM participants p WHERE p.case_id = c.case_id AND p.hsa_id = $1)) \
             AND ($2 IS NULL OR c.status = $2) AND c.case_id > $3 \
             ORDER BY c.case_id LIMIT $4",
        )
        .bind(filter.participant_hsa_id.as_deref())
        .bind(filter.status.map(|s| s as i32))
        .bind(page_token.unwrap_or(""))
        .bind((size + 1) as i64)
        .fetch_all(self.pool())
        .await?;
        let more = rows.len() > size;
        let cases = rows
            .iter()
            .take(size)
            .map(|(_, body)| decode_case(body))
            .collect::<Result<Vec<_>, _>>()?;
        let next = more.then(|| cases.last().map(|c| c.id.clone())).flatten();
        Ok((cases, next))
    }

    async fn events(
        &self,
        case_id: &str,
        from_sequence: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT sequence, body FROM events WHERE case_id = $1 AND sequence >= $2 ORDER BY sequence",
        )
        .bind(case_id)
        .bind(from_sequence)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(sequence, body)| {
                Ok(StoredEvent {
                    case_id: case_id.to_owned(),
                    sequence,
                    event: Some(decode_event(&body)?),
                })
            })
            .collect()
    }

    async fn events_page(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, StoredEvent)>, StoreError> {
        let limit = limit.clamp(1, MAX_EVENT_PAGE) as i64;
        let rows: Vec<(i64, String, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT id, case_id, sequence, body FROM events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, case_id, sequence, body)| {
                let event = Some(decode_event(&body)?);
                Ok((
                    id,
                    StoredEvent {
                        case_id,
                        sequence,
                        event,
                    },
                ))
            })
            .collect()
    }

    async fn lift_protection(&self, patient_id: &str) -> Result<LiftedProtection, StoreError> {
        // A batch of the same person that read the register before this
        // commits may still write its case protected: the safe way round,
        // and the command can be run again.
        let _writer = writer(self).await;
        let mut tx = self.pool().begin().await?;
        let registered = sqlx::query_scalar::<_, i64>(
            "SELECT protected_at FROM protected_persons WHERE patient_id = $1",
        )
        .bind(patient_id)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        let cases = journal::set_protection(&mut tx, patient_id, false, unix_now()).await?;
        tx.commit().await?;
        Ok(LiftedProtection { registered, cases })
    }

    // Deliveries and the outbox.

    async fn pending_deliveries(
        &self,
        recipient: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(delivery_select!(
            "d.recipient = $1 AND d.status = 'pending'"
        ))
        .bind(recipient)
        .bind(limit.clamp(1, MAX_PAGE_SIZE) as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(delivery_row).collect()
    }

    async fn ack_deliveries(
        &self,
        recipient: &str,
        message_ids: &[String],
    ) -> Result<u64, StoreError> {
        mark(self, message_ids, Some(recipient)).await
    }

    async fn quarantine_delivery(&self, message_id: &str, reason: &str) -> Result<(), StoreError> {
        let _writer = writer(self).await;
        sqlx::query(
            "UPDATE deliveries SET status = 'quarantined', reason = $1 WHERE message_id = $2 AND status = 'pending'",
        )
        .bind(reason)
        .bind(message_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn quarantined(&self, after: i64, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(delivery_select!("d.status = 'quarantined' AND d.id > $1"))
            .bind(after)
            .bind(limit.clamp(1, MAX_PAGE_SIZE) as i64)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(delivery_row).collect()
    }

    async fn delivery(&self, message_id: &str) -> Result<Option<Delivery>, StoreError> {
        let row = sqlx::query(delivery_select!("d.message_id = $1"))
            .bind(message_id)
            .bind(1_i64)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(delivery_row).transpose()
    }

    async fn requeue_delivery(&self, message_id: &str, system: System) -> Result<bool, StoreError> {
        let _writer = writer(self).await;
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'pending', system = $1, reason = '' \
             WHERE message_id = $2 AND status = 'quarantined'",
        )
        .bind(system.as_str())
        .bind(message_id)
        .execute(self.pool())
        .await?;
        let requeued = done.rows_affected() == 1;
        if requeued {
            self.outbox_changed().await?;
        }
        Ok(requeued)
    }

    async fn discard_delivery(&self, message_id: &str, reason: &str) -> Result<bool, StoreError> {
        let _writer = writer(self).await;
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'discarded', reason = $1 \
             WHERE message_id = $2 AND status = 'quarantined'",
        )
        .bind(reason)
        .bind(message_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn cases_by_ref(&self, case_ref: &str, limit: usize) -> Result<Vec<Case>, StoreError> {
        let bodies: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT body FROM cases WHERE case_id IN \
             (SELECT case_id FROM case_refs WHERE case_ref = $1) ORDER BY case_id LIMIT $2",
        )
        .bind(case_ref)
        .bind(limit.clamp(1, MAX_PAGE_SIZE) as i64)
        .fetch_all(self.pool())
        .await?;
        bodies.iter().map(|b| decode_case(b)).collect()
    }

    async fn outbox(&self, limit: usize, skip: &[i64]) -> Result<OutboxRead, StoreError> {
        // The partial index keeps the read's cost the same however many
        // deliveries were made before (`outbox_select!`).
        let rows = sqlx::query(B::OUTBOX)
            .bind(B::skip_list(skip))
            .bind(limit.clamp(1, MAX_OUTBOX_READ) as i64)
            .fetch_all(self.pool())
            .await?;
        let mut read = OutboxRead {
            top: rows.first().map_or(Ok(0), |r| r.try_get(10))?,
            deliveries: Vec::with_capacity(rows.len()),
        };
        for row in &rows {
            // The one row without a delivery when none is pending.
            if row.try_get::<Option<i64>, _>(0)?.is_some() {
                read.deliveries.push(delivery_row(row)?);
            }
        }
        Ok(read)
    }

    async fn follow_outbox(&self) -> Option<FeedReceiver> {
        // Under the write lock: a batch that began before this, when
        // nobody followed, is committed by the time it returns.
        let _writer = writer(self).await;
        self.feed().map(OutboxFeed::follow)
    }

    async fn mark_delivered(&self, message_ids: &[String]) -> Result<u64, StoreError> {
        mark(self, message_ids, None).await
    }

    async fn record_attempt(&self, message_id: &str) -> Result<(), StoreError> {
        let _writer = writer(self).await;
        sqlx::query("UPDATE deliveries SET attempts = attempts + 1 WHERE message_id = $1")
            .bind(message_id)
            .execute(self.relaxed())
            .await?;
        Ok(())
    }

    async fn case_deliveries(&self, case_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(delivery_select!("d.case_id = $1"))
            .bind(case_id)
            .bind(i64::MAX)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(delivery_row).collect()
    }

    // The journal feed.

    async fn commit_journal(
        &self,
        messages: &[JournalMessage],
        grace_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<JournalCommit>, StoreError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        journal::commit(self, messages, grace_ms, now_ms).await
    }

    async fn claim_due_timers(
        &self,
        now_ms: i64,
        claim_until_ms: i64,
        limit: usize,
    ) -> Result<Vec<Timer>, StoreError> {
        // Re-checked per row by the UPDATE: of two gateways claiming at
        // once, the second finds the rows claimed and takes none of them.
        let _writer = writer(self).await;
        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "UPDATE timers SET claimed_until = $1 WHERE timer_key IN \
             (SELECT timer_key FROM timers WHERE due_at <= $2 AND claimed_until <= $2 ORDER BY due_at LIMIT $3) \
             AND due_at <= $2 AND claimed_until <= $2 \
             RETURNING timer_key, kind, due_at, payload",
        )
        .bind(claim_until_ms)
        .bind(now_ms)
        .bind(limit.clamp(1, MAX_OUTBOX_READ) as i64)
        .fetch_all(self.pool())
        .await?;
        let mut timers: Vec<Timer> = rows
            .into_iter()
            .map(|(key, kind, due_at, payload)| Timer {
                key,
                kind,
                due_at,
                payload,
            })
            .collect();
        timers.sort_by_key(|t| t.due_at);
        Ok(timers)
    }

    async fn finish_timer(&self, timer: &Timer) -> Result<(), StoreError> {
        let _writer = writer(self).await;
        sqlx::query("DELETE FROM timers WHERE timer_key = $1 AND due_at = $2")
            .bind(timer.key.as_str())
            .bind(timer.due_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn timers_due_between(
        &self,
        kind: &str,
        from_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<TimerSpec>, StoreError> {
        // timers_by_due bounds the read to the window.
        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "SELECT timer_key, kind, due_at, payload FROM timers \
             WHERE due_at >= $1 AND due_at < $2 AND kind = $3 ORDER BY due_at, timer_key LIMIT $4",
        )
        .bind(from_ms)
        .bind(until_ms)
        .bind(kind)
        .bind(limit.clamp(1, MAX_PAGE_SIZE) as i64)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(key, kind, due_at, payload)| TimerSpec {
                key,
                kind,
                due_at,
                payload,
            })
            .collect())
    }

    async fn next_timer_due(&self) -> Result<Option<i64>, StoreError> {
        let due: Option<i64> =
            sqlx::query_scalar("SELECT due_at FROM timers ORDER BY due_at LIMIT 1")
                .fetch_optional(self.pool())
                .await?;
        Ok(due)
    }

    async fn stay(&self, facility: &str, visit_number: &str) -> Result<Option<Stay>, StoreError> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM stays WHERE facility = $1 AND visit_number = $2")
                .bind(facility)
                .bind(visit_number)
                .fetch_optional(self.pool())
                .await?;
        body.map(|b| journal::decode_stay(&b)).transpose()
    }

    async fn stays_of_person(&self, patient_id: &str) -> Result<Vec<Stay>, StoreError> {
        let bodies: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM stays WHERE patient_id = $1 ORDER BY admitted_at, facility, visit_number",
        )
        .bind(patient_id)
        .fetch_all(self.pool())
        .await?;
        bodies.iter().map(|b| journal::decode_stay(b)).collect()
    }

    async fn operations_stats(&self) -> Result<OperationsStats, StoreError> {
        // Both reads use the partial indexes of migration 6 (SQLite) / 7
        // (PostgreSQL): the cost follows what is pending or quarantined,
        // not every delivery ever made.
        let pending: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT system, count(*), min(created_at) FROM deliveries WHERE status = 'pending' GROUP BY system",
        )
        .fetch_all(self.pool())
        .await?;
        let quarantined: i64 =
            sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'quarantined'")
                .fetch_one(self.pool())
                .await?;
        let timers: i64 = sqlx::query_scalar("SELECT count(*) FROM timers")
            .fetch_one(self.pool())
            .await?;
        let alerts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT kind, count(*) FROM deadline_alerts WHERE cleared_at IS NULL GROUP BY kind",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(OperationsStats {
            pending: pending
                .into_iter()
                .map(|(system, count, oldest_created_at)| PendingBySystem {
                    system,
                    count,
                    oldest_created_at,
                })
                .collect(),
            quarantined,
            timers,
            alerts,
        })
    }

    async fn cursor(&self, name: &str) -> Result<i64, StoreError> {
        let position: Option<i64> =
            sqlx::query_scalar("SELECT position FROM cursors WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        Ok(position.unwrap_or(0))
    }

    async fn advance_cursor(&self, name: &str, position: i64) -> Result<(), StoreError> {
        let _writer = writer(self).await;
        sqlx::query(
            "INSERT INTO cursors (name, position) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET position = excluded.position \
             WHERE cursors.position < excluded.position",
        )
        .bind(name)
        .bind(position)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn schedule(&self, set: &[TimerSpec], cancel: &[String]) -> Result<(), StoreError> {
        if set.is_empty() && cancel.is_empty() {
            return Ok(());
        }
        let _writer = writer(self).await;
        let mut tx = self.pool().begin().await?;
        for t in set {
            sqlx::query(
                "INSERT INTO timers (timer_key, kind, due_at, claimed_until, payload) VALUES ($1, $2, $3, 0, $4) \
                 ON CONFLICT (timer_key) DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at, \
                 payload = excluded.payload, \
                 claimed_until = CASE WHEN timers.due_at = excluded.due_at THEN timers.claimed_until ELSE 0 END",
            )
            .bind(t.key.as_str())
            .bind(t.kind.as_str())
            .bind(t.due_at)
            .bind(t.payload.as_str())
            .execute(&mut *tx)
            .await?;
        }
        for key in cancel {
            sqlx::query("DELETE FROM timers WHERE timer_key = $1")
                .bind(key.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn raise_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        let _writer = writer(self).await;
        let units = serde_json::to_string(&alert.units)
            .map_err(|e| StoreError::Corrupt(format!("alert units: {e}")))?;
        let raised = sqlx::query(
            "INSERT INTO deadline_alerts (case_id, kind, due_at, units, raised_at, cleared_at, published) \
             VALUES ($1, $2, $3, $4, $5, NULL, '') \
             ON CONFLICT (case_id, kind) DO UPDATE SET due_at = excluded.due_at, units = excluded.units, \
             raised_at = excluded.raised_at, cleared_at = NULL, published = '' \
             WHERE deadline_alerts.cleared_at IS NOT NULL",
        )
        .bind(alert.case_id.as_str())
        .bind(alert.kind.as_str())
        .bind(alert.due_at)
        .bind(units.as_str())
        .bind(alert.raised_at)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(raised > 0)
    }

    async fn clear_alert(&self, case_id: &str, kind: &str, at: i64) -> Result<bool, StoreError> {
        let _writer = writer(self).await;
        let cleared = sqlx::query(
            "UPDATE deadline_alerts SET cleared_at = $1 \
             WHERE case_id = $2 AND kind = $3 AND cleared_at IS NULL",
        )
        .bind(at)
        .bind(case_id)
        .bind(kind)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(cleared > 0)
    }

    async fn active_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<AlertRow> = sqlx::query_as(
            "SELECT case_id, kind, due_at, units, raised_at, cleared_at, published FROM deadline_alerts \
             WHERE cleared_at IS NULL ORDER BY due_at, case_id, kind",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(alert_row).collect()
    }

    async fn unpublished_alerts(&self, limit: usize) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<AlertRow> = sqlx::query_as(
            "SELECT case_id, kind, due_at, units, raised_at, cleared_at, published FROM deadline_alerts \
             WHERE (cleared_at IS NULL AND published <> 'raised') \
                OR (cleared_at IS NOT NULL AND published <> 'cleared') \
             ORDER BY raised_at, case_id, kind LIMIT $1",
        )
        .bind(limit.clamp(1, MAX_OUTBOX_READ) as i64)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(alert_row).collect()
    }

    async fn mark_alert_published(
        &self,
        case_id: &str,
        kind: &str,
        state: &str,
    ) -> Result<(), StoreError> {
        let _writer = writer(self).await;
        sqlx::query("UPDATE deadline_alerts SET published = $1 WHERE case_id = $2 AND kind = $3")
            .bind(state)
            .bind(case_id)
            .bind(kind)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn stay_admissions(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT patient_id, admitted_at FROM stays WHERE NOT cancelled AND admitted_at IS NOT NULL",
        )
        .fetch_all(self.pool())
        .await?)
    }

    async fn mark_discharge_reached(
        &self,
        facility: &str,
        visit_number: &str,
        case_id: &str,
    ) -> Result<(), StoreError> {
        let _writer = writer(self).await;
        let mut tx = self.pool().begin().await?;
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM stays WHERE facility = $1 AND visit_number = $2")
                .bind(facility)
                .bind(visit_number)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(body) = body {
            let mut stay = journal::decode_stay(&body)?;
            stay.discharge_reached = Some(case_id.to_owned());
            let body = serde_json::to_string(&stay)
                .map_err(|e| StoreError::Corrupt(format!("stay: {e}")))?;
            sqlx::query(
                "UPDATE stays SET case_id = $1, body = $2 WHERE facility = $3 AND visit_number = $4",
            )
            .bind(case_id)
            .bind(body.as_str())
            .bind(facility)
            .bind(visit_number)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn register_entry(&self, patient_id: &str) -> Result<RegisterEntry, StoreError> {
        journal::register_entry(self.pool(), patient_id).await
    }

    // Relay coordination.

    async fn relay_lease(&self) -> Result<Option<RelayLease>, StoreError> {
        self.lease().await
    }

    async fn lease_alive(&self, lease: &mut RelayLease) -> bool {
        self.lease_check(lease).await
    }

    fn other_writers(&self) -> Option<watch::Receiver<u64>> {
        self.listen_for_other_writers()
    }

    async fn close(&self) {
        let _writer = writer(self).await;
        self.close_pools().await;
    }
}
