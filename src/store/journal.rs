//! The journal feed's side of the store (hl7v2.md): messages by their
//! idempotency key, hospital stays, the journal's part of the person
//! register, and the durable timers.
//!
//! [`commit`] takes a group of read ADT messages and commits all their
//! effects in one transaction (group commit: one fsync for many senders),
//! in arrival order; an error of the store fails the whole group and
//! nothing of it is stored, so every sender is answered AR 207 and resends.
//! The case events a stay derives are not written here: a timer row is,
//! and the journal service fires it through the gateway's one submit path.

use std::collections::HashMap;

use prost::Message;
use samgate_hl7v2::{IdempotencyKey, StayUpdate};
use sqlx::{Database, Decode, Encode, Type};

use super::StoreError;
use super::backend::{Backend, RowsAffected};
use super::sql::decode_case;
use crate::channel::{QUARANTINE_PROTECTED_IDENTITY, System};
use crate::stays::{self, RegisterChange, RegisterEntry, Stay, TimerChange};

/// A timer's kind: a stay's discharge grace period
/// (`stays::timer_key`; its payload names the stay).
pub const TIMER_DISCHARGE: &str = "discharge";
/// A timer's kind: a cancellation after a reconciled discharge (its
/// payload is a `stays::Cancellation`).
pub const TIMER_CANCELLATION: &str = "stay-cancellation";

/// One ADT message, read, to commit.
#[derive(Debug, Clone)]
pub struct JournalMessage {
    pub key: IdempotencyKey,
    /// SHA-256 of the segments after MSH: tells a resend from a reused id.
    pub digest: [u8; 32],
    pub effect: JournalEffect,
}

/// What a message does.
#[derive(Debug, Clone)]
pub enum JournalEffect {
    /// An acting trigger.
    Stay(Box<StayUpdate>),
    /// Acknowledged AA and recorded as ignored.
    Ignored,
}

/// What committing one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalCommit {
    Applied,
    Ignored,
    /// The key was taken before with the same content: nothing changed.
    Resent,
    /// The key was taken before with other content (AE 205): nothing
    /// changed.
    KeyReused,
}

/// A timer claimed to be fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub key: String,
    pub kind: String,
    /// Unix milliseconds.
    pub due_at: i64,
    pub payload: String,
}

/// The payload of a discharge timer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StayRef {
    pub facility: String,
    pub visit_number: String,
}

/// SHA-256 of a message's content.
pub fn digest(content: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, content);
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn encode_stay(stay: &Stay) -> Result<String, StoreError> {
    serde_json::to_string(stay).map_err(|e| StoreError::Corrupt(format!("stay: {e}")))
}

pub(crate) fn decode_stay(body: &str) -> Result<Stay, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("stay: {e}")))
}

/// The systems a person with protected identity is never sent to: their
/// pending deliveries are quarantined when the person becomes protected.
fn forbidding_systems() -> impl Iterator<Item = System> {
    System::ALL
        .into_iter()
        .filter(|s| s.forbids_protected_identity())
}

/// Commits a group of messages in one transaction (see the module doc).
pub(crate) async fn commit<B>(
    backend: &B,
    messages: &[JournalMessage],
    grace_ms: i64,
    now_ms: i64,
) -> Result<Vec<JournalCommit>, StoreError>
where
    B: Backend,
    for<'c> &'c mut <B::Db as Database>::Connection: sqlx::Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: sqlx::IntoArguments<B::Db>,
    usize: sqlx::ColumnIndex<<B::Db as Database>::Row>,
    for<'t> &'t str: Encode<'t, B::Db> + Type<B::Db>,
    for<'t> Option<&'t str>: Encode<'t, B::Db> + Type<B::Db>,
    for<'t> Option<i64>: Encode<'t, B::Db> + Type<B::Db>,
    for<'t> bool: Encode<'t, B::Db> + Type<B::Db>,
    for<'t> i32: Encode<'t, B::Db> + Type<B::Db>,
    for<'t> i64: Encode<'t, B::Db> + Decode<'t, B::Db> + Type<B::Db>,
    for<'t> String: Decode<'t, B::Db> + Type<B::Db>,
    for<'t> Vec<u8>: Encode<'t, B::Db> + Decode<'t, B::Db> + Type<B::Db>,
{
    let mut people: Vec<String> = messages
        .iter()
        .filter_map(|m| match &m.effect {
            JournalEffect::Stay(u) => Some(u.person.id.clone()),
            JournalEffect::Ignored => None,
        })
        .collect();
    people.sort_unstable();
    people.dedup();
    let _writer = match backend.write_lock() {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    let mut tx = backend.pool().begin().await?;
    for (sql, class, key) in B::journal_locks(&people) {
        sqlx::query(sql)
            .bind(class)
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    let now_s = now_ms.div_euclid(1000);
    // What this group took and wrote so far (a key or stay may come twice).
    let mut taken: HashMap<IdempotencyKey, [u8; 32]> = HashMap::new();
    let mut stays_now: HashMap<(String, String), Option<Stay>> = HashMap::new();
    let mut protected_now: HashMap<String, bool> = HashMap::new();
    let mut results = Vec::with_capacity(messages.len());
    for m in messages {
        let before = match taken.get(&m.key) {
            Some(d) => Some(d.to_vec()),
            None => sqlx::query_scalar::<_, Vec<u8>>(
                "SELECT content_digest FROM hl7_messages WHERE sending_application = $1 AND facility = $2 AND control_id = $3",
            )
            .bind(m.key.sending_application.as_str())
            .bind(m.key.facility.as_str())
            .bind(m.key.control_id.as_str())
            .fetch_optional(&mut *tx)
            .await?,
        };
        if let Some(before) = before {
            results.push(if before == m.digest {
                JournalCommit::Resent
            } else {
                JournalCommit::KeyReused
            });
            continue;
        }
        let outcome = match &m.effect {
            JournalEffect::Ignored => JournalCommit::Ignored,
            JournalEffect::Stay(u) => {
                // The person register.
                let change = RegisterChange::of(u);
                if let Some(protect) = change.protected {
                    let was = match protected_now.get(&u.person.id) {
                        Some(p) => *p,
                        None => sqlx::query_scalar::<_, i64>(
                            "SELECT protected_at FROM protected_persons WHERE patient_id = $1",
                        )
                        .bind(u.person.id.as_str())
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_some(),
                    };
                    if protect != was {
                        set_protection(&mut tx, &u.person.id, protect, now_s).await?;
                    }
                    protected_now.insert(u.person.id.clone(), protect);
                }
                if let Some(municipality) = &change.municipality {
                    sqlx::query(
                        "INSERT INTO journal_persons (patient_id, municipality_code, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (patient_id) DO UPDATE SET municipality_code = excluded.municipality_code, updated_at = excluded.updated_at",
                    )
                    .bind(u.person.id.as_str())
                    .bind(municipality.as_str())
                    .bind(now_s)
                    .execute(&mut *tx)
                    .await?;
                }
                // The stay.
                if let Some(visit) = u.visit_number.as_deref().filter(|_| u.touches_stay()) {
                    let at = (u.facility.clone(), visit.to_owned());
                    let prev = match stays_now.get(&at) {
                        Some(s) => s.clone(),
                        None => sqlx::query_scalar::<_, String>(
                            "SELECT body FROM stays WHERE facility = $1 AND visit_number = $2",
                        )
                        .bind(u.facility.as_str())
                        .bind(visit)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|b| decode_stay(&b))
                        .transpose()?,
                    };
                    let applied = stays::apply(prev, u);
                    if let Some(stay) = &applied.stay {
                        write_stay(&mut tx, stay, now_s).await?;
                        match applied.timer {
                            TimerChange::Keep => {}
                            TimerChange::Start => {
                                let payload = serde_json::to_string(&StayRef {
                                    facility: stay.facility.clone(),
                                    visit_number: stay.visit_number.clone(),
                                })
                                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                                set_timer(
                                    &mut tx,
                                    &stay.timer_key(),
                                    TIMER_DISCHARGE,
                                    now_ms + grace_ms,
                                    &payload,
                                )
                                .await?;
                            }
                            TimerChange::Cancel => {
                                sqlx::query("DELETE FROM timers WHERE timer_key = $1")
                                    .bind(stay.timer_key().as_str())
                                    .execute(&mut *tx)
                                    .await?;
                            }
                        }
                        stays_now.insert(at, Some(stay.clone()));
                    }
                    if let Some(c) = &applied.cancellation {
                        let key =
                            format!("cancel/{}/{}/{}", c.facility, c.visit_number, c.control_id);
                        let payload = serde_json::to_string(c)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        set_timer(&mut tx, &key, TIMER_CANCELLATION, now_ms, &payload).await?;
                    }
                }
                JournalCommit::Applied
            }
        };
        let recorded = if outcome == JournalCommit::Ignored {
            "ignored"
        } else {
            "applied"
        };
        sqlx::query(
            "INSERT INTO hl7_messages (sending_application, facility, control_id, content_digest, outcome, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(m.key.sending_application.as_str())
        .bind(m.key.facility.as_str())
        .bind(m.key.control_id.as_str())
        .bind(m.digest.to_vec())
        .bind(recorded)
        .bind(now_s)
        .execute(&mut *tx)
        .await?;
        taken.insert(m.key.clone(), m.digest);
        results.push(outcome);
    }
    tx.commit().await?;
    Ok(results)
}

async fn write_stay<'c, DB>(
    tx: &mut sqlx::Transaction<'c, DB>,
    stay: &Stay,
    now_s: i64,
) -> Result<(), StoreError>
where
    DB: Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'t> bool: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let body = encode_stay(stay)?;
    sqlx::query(
        "INSERT INTO stays (facility, visit_number, patient_id, admitted_at, discharged_at, cancelled, case_id, updated_at, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (facility, visit_number) DO UPDATE SET patient_id = excluded.patient_id, \
         admitted_at = excluded.admitted_at, discharged_at = excluded.discharged_at, \
         cancelled = excluded.cancelled, case_id = excluded.case_id, updated_at = excluded.updated_at, body = excluded.body",
    )
    .bind(stay.facility.as_str())
    .bind(stay.visit_number.as_str())
    .bind(stay.patient_id.as_str())
    .bind(stay.admitted_at)
    .bind(stay.discharged_at)
    .bind(stay.cancelled)
    .bind(stay.discharge_reached.as_deref())
    .bind(now_s)
    .bind(body.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn set_timer<'c, DB>(
    tx: &mut sqlx::Transaction<'c, DB>,
    key: &str,
    kind: &str,
    due_at: i64,
    payload: &str,
) -> Result<(), StoreError>
where
    DB: Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    sqlx::query(
        "INSERT INTO timers (timer_key, kind, due_at, claimed_until, payload) VALUES ($1, $2, $3, 0, $4) \
         ON CONFLICT (timer_key) DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at, \
         claimed_until = 0, payload = excluded.payload",
    )
    .bind(key)
    .bind(kind)
    .bind(due_at)
    .bind(payload)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Protects a person (register row, every case's flag, pending deliveries
/// to systems that forbid protected identity quarantined at once), or
/// lifts it; returns the cases whose flag changed.
pub(crate) async fn set_protection<'c, DB>(
    tx: &mut sqlx::Transaction<'c, DB>,
    patient_id: &str,
    protect: bool,
    now_s: i64,
) -> Result<Vec<String>, StoreError>
where
    DB: Database<QueryResult: RowsAffected>,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> String: Decode<'t, DB> + Type<DB>,
    for<'t> Vec<u8>: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
{
    if protect {
        sqlx::query(
            "INSERT INTO protected_persons (patient_id, protected_at) VALUES ($1, $2) ON CONFLICT (patient_id) DO NOTHING",
        )
        .bind(patient_id)
        .bind(now_s)
        .execute(&mut **tx)
        .await?;
        for system in forbidding_systems() {
            sqlx::query(
                "UPDATE deliveries SET status = 'quarantined', reason = $1 \
                 WHERE status = 'pending' AND system = $2 \
                 AND case_id IN (SELECT case_id FROM cases WHERE patient_id = $3)",
            )
            .bind(format!(
                "{QUARANTINE_PROTECTED_IDENTITY}: the journal system says the person has a protected identity, which {} never receives",
                system.as_str()
            ).as_str())
            .bind(system.as_str())
            .bind(patient_id)
            .execute(&mut **tx)
            .await?;
        }
    } else {
        sqlx::query("DELETE FROM protected_persons WHERE patient_id = $1")
            .bind(patient_id)
            .execute(&mut **tx)
            .await?;
    }
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT case_id, body FROM cases WHERE patient_id = $1 ORDER BY case_id")
            .bind(patient_id)
            .fetch_all(&mut **tx)
            .await?;
    let mut changed = Vec::new();
    for (case_id, body) in rows {
        let mut case = decode_case(&body)?;
        if let Some(patient) = case
            .patient
            .as_mut()
            .filter(|p| p.protected_identity != protect)
        {
            patient.protected_identity = protect;
            sqlx::query("UPDATE cases SET body = $1 WHERE case_id = $2")
                .bind(case.encode_to_vec())
                .bind(case_id.as_str())
                .execute(&mut **tx)
                .await?;
            changed.push(case_id);
        }
    }
    Ok(changed)
}

/// What the register holds of a person.
pub(crate) async fn register_entry<'c, E, DB>(
    conn: E,
    patient_id: &str,
) -> Result<RegisterEntry, StoreError>
where
    DB: Database,
    E: sqlx::Executor<'c, Database = DB> + Copy,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Decode<'t, DB> + Type<DB>,
    for<'t> String: Decode<'t, DB> + Type<DB>,
{
    let protected = sqlx::query_scalar::<_, i64>(
        "SELECT protected_at FROM protected_persons WHERE patient_id = $1",
    )
    .bind(patient_id)
    .fetch_optional(conn)
    .await?
    .is_some();
    let municipality = sqlx::query_scalar::<_, String>(
        "SELECT municipality_code FROM journal_persons WHERE patient_id = $1",
    )
    .bind(patient_id)
    .fetch_optional(conn)
    .await?;
    Ok(RegisterEntry {
        protected,
        municipality,
    })
}
