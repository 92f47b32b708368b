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

/// A stay's key: (facility, visit number).
type StayKey = (String, String);

/// What a timer key ends as after a group: set (due, kind, payload) or
/// removed.
enum TimerEnd {
    Set {
        kind: &'static str,
        due_at: i64,
        payload: String,
    },
    Removed,
}

/// Commits a group of messages in one transaction (see the module doc):
/// three reads for the whole group (keys, stays, protected people), the
/// messages applied in memory in arrival order, then one multi-row write
/// per table, so a group costs about the same few statements whatever its
/// size. A person's protection changing (rare) is written on its own.
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
    let stay_keys: Vec<StayKey> = {
        let mut keys: Vec<StayKey> = messages
            .iter()
            .filter_map(|m| match &m.effect {
                JournalEffect::Stay(u) if u.touches_stay() => u
                    .visit_number
                    .as_ref()
                    .map(|v| (u.facility.clone(), v.clone())),
                _ => None,
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    };
    let _writer = match backend.write_lock() {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    let mut tx = backend.pool().begin().await?;
    // The journal's own lock now; the people's only for those whose
    // protection changes, before it is written (below).
    for (sql, class, key) in B::journal_locks(&[]) {
        sqlx::query(sql)
            .bind(class)
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    let now_s = now_ms.div_euclid(1000);

    // The reads, one statement each for the whole group.
    let mut taken: HashMap<IdempotencyKey, Vec<u8>> = HashMap::new();
    for chunk in messages.chunks(READ_CHUNK) {
        let mut q = sqlx::QueryBuilder::<B::Db>::new(
            "SELECT sending_application, facility, control_id, content_digest FROM hl7_messages WHERE ",
        );
        for (i, m) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            q.push("(sending_application = ")
                .push_bind(m.key.sending_application.as_str())
                .push(" AND facility = ")
                .push_bind(m.key.facility.as_str())
                .push(" AND control_id = ")
                .push_bind(m.key.control_id.as_str())
                .push(")");
        }
        let rows: Vec<(String, String, String, Vec<u8>)> =
            q.build_query_as().fetch_all(&mut *tx).await?;
        for (sending_application, facility, control_id, digest) in rows {
            taken.insert(
                IdempotencyKey {
                    sending_application,
                    facility,
                    control_id,
                },
                digest,
            );
        }
    }
    let mut stays_now: HashMap<StayKey, Option<Stay>> = HashMap::new();
    for chunk in stay_keys.chunks(READ_CHUNK) {
        let mut q = sqlx::QueryBuilder::<B::Db>::new(
            "SELECT facility, visit_number, body FROM stays WHERE ",
        );
        for (i, (facility, visit)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            q.push("(facility = ")
                .push_bind(facility.as_str())
                .push(" AND visit_number = ")
                .push_bind(visit.as_str())
                .push(")");
        }
        let rows: Vec<(String, String, String)> = q.build_query_as().fetch_all(&mut *tx).await?;
        for (facility, visit, body) in rows {
            stays_now.insert((facility, visit), Some(decode_stay(&body)?));
        }
    }
    let mut protected_now: HashMap<String, bool> =
        people.iter().map(|p| (p.clone(), false)).collect();
    for chunk in people.chunks(READ_CHUNK) {
        let mut q = sqlx::QueryBuilder::<B::Db>::new(
            "SELECT patient_id FROM protected_persons WHERE patient_id ",
        );
        B::push_in(&mut q, chunk);
        let rows: Vec<(String,)> = q.build_query_as().fetch_all(&mut *tx).await?;
        for (patient,) in rows {
            protected_now.insert(patient, true);
        }
    }

    // The messages, in arrival order, in memory.
    let mut results = Vec::with_capacity(messages.len());
    let mut protections: Vec<(String, bool)> = Vec::new();
    let mut municipalities: HashMap<String, String> = HashMap::new();
    let mut changed_stays: Vec<StayKey> = Vec::new();
    let mut timers: HashMap<String, TimerEnd> = HashMap::new();
    let mut recorded: Vec<(&JournalMessage, &'static str)> = Vec::new();
    for m in messages {
        if let Some(before) = taken.get(&m.key) {
            results.push(if before.as_slice() == m.digest {
                JournalCommit::Resent
            } else {
                JournalCommit::KeyReused
            });
            continue;
        }
        let outcome = match &m.effect {
            JournalEffect::Ignored => JournalCommit::Ignored,
            JournalEffect::Stay(u) => {
                let change = RegisterChange::of(u);
                if let Some(protect) = change.protected {
                    let was = protected_now.get(&u.person.id).copied().unwrap_or(false);
                    if protect != was {
                        protections.push((u.person.id.clone(), protect));
                        protected_now.insert(u.person.id.clone(), protect);
                    }
                }
                if let Some(municipality) = &change.municipality {
                    municipalities.insert(u.person.id.clone(), municipality.clone());
                }
                if let Some(visit) = u.visit_number.as_deref().filter(|_| u.touches_stay()) {
                    let at = (u.facility.clone(), visit.to_owned());
                    let prev = stays_now.get(&at).cloned().flatten();
                    let applied = stays::apply(prev, u);
                    if let Some(stay) = applied.stay {
                        match applied.timer {
                            TimerChange::Keep => {}
                            TimerChange::Start => {
                                let payload = serde_json::to_string(&StayRef {
                                    facility: stay.facility.clone(),
                                    visit_number: stay.visit_number.clone(),
                                })
                                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                                timers.insert(
                                    stay.timer_key(),
                                    TimerEnd::Set {
                                        kind: TIMER_DISCHARGE,
                                        due_at: now_ms + grace_ms,
                                        payload,
                                    },
                                );
                            }
                            TimerChange::Cancel => {
                                timers.insert(stay.timer_key(), TimerEnd::Removed);
                            }
                        }
                        if !changed_stays.contains(&at) {
                            changed_stays.push(at.clone());
                        }
                        stays_now.insert(at, Some(stay));
                    }
                    if let Some(c) = &applied.cancellation {
                        let key =
                            format!("cancel/{}/{}/{}", c.facility, c.visit_number, c.control_id);
                        let payload = serde_json::to_string(c)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        timers.insert(
                            key,
                            TimerEnd::Set {
                                kind: TIMER_CANCELLATION,
                                due_at: now_ms,
                                payload,
                            },
                        );
                    }
                }
                JournalCommit::Applied
            }
        };
        let label = if outcome == JournalCommit::Ignored {
            "ignored"
        } else {
            "applied"
        };
        recorded.push((m, label));
        taken.insert(m.key.clone(), m.digest.to_vec());
        results.push(outcome);
    }

    // The writes, one statement per table for the group. A person whose
    // protection changes is locked as the batches lock them first: a batch
    // that read them unprotected has committed before the quarantine
    // below, and one that reads them after waits for this commit.
    if !protections.is_empty() {
        let mut changed: Vec<String> = protections.iter().map(|(p, _)| p.clone()).collect();
        changed.sort_unstable();
        changed.dedup();
        for (sql, class, key) in B::journal_locks(&changed) {
            sqlx::query(sql)
                .bind(class)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
    }
    for (person, protect) in &protections {
        set_protection(&mut tx, person, *protect, now_s).await?;
    }
    let municipalities: Vec<(String, String)> = municipalities.into_iter().collect();
    for chunk in municipalities.chunks(WRITE_CHUNK) {
        let mut q = sqlx::QueryBuilder::<B::Db>::new(
            "INSERT INTO journal_persons (patient_id, municipality_code, updated_at) ",
        );
        q.push_values(chunk, |mut row, (person, code)| {
            row.push_bind(person.as_str())
                .push_bind(code.as_str())
                .push_bind(now_s);
        });
        q.push(
            " ON CONFLICT (patient_id) DO UPDATE SET municipality_code = excluded.municipality_code, \
             updated_at = excluded.updated_at",
        );
        q.build().execute(&mut *tx).await?;
    }
    let mut stays_out = Vec::with_capacity(changed_stays.len());
    for at in &changed_stays {
        if let Some(Some(stay)) = stays_now.get(at) {
            stays_out.push((stay, encode_stay(stay)?));
        }
    }
    for chunk in stays_out.chunks(WRITE_CHUNK) {
        let mut q = sqlx::QueryBuilder::<B::Db>::new(
            "INSERT INTO stays (facility, visit_number, patient_id, admitted_at, discharged_at, cancelled, case_id, updated_at, body) ",
        );
        q.push_values(chunk, |mut row, (stay, body)| {
            row.push_bind(stay.facility.as_str())
                .push_bind(stay.visit_number.as_str())
                .push_bind(stay.patient_id.as_str())
                .push_bind(stay.admitted_at)
                .push_bind(stay.discharged_at)
                .push_bind(stay.cancelled)
                .push_bind(stay.discharge_reached.as_deref())
                .push_bind(now_s)
                .push_bind(body.as_str());
        });
        q.push(
            " ON CONFLICT (facility, visit_number) DO UPDATE SET patient_id = excluded.patient_id, \
             admitted_at = excluded.admitted_at, discharged_at = excluded.discharged_at, \
             cancelled = excluded.cancelled, case_id = excluded.case_id, \
             updated_at = excluded.updated_at, body = excluded.body",
        );
        q.build().execute(&mut *tx).await?;
    }
    let removed: Vec<String> = timers
        .iter()
        .filter(|(_, end)| matches!(end, TimerEnd::Removed))
        .map(|(key, _)| key.clone())
        .collect();
    for chunk in removed.chunks(READ_CHUNK) {
        let mut q = sqlx::QueryBuilder::<B::Db>::new("DELETE FROM timers WHERE timer_key ");
        B::push_in(&mut q, chunk);
        q.build().execute(&mut *tx).await?;
    }
    let set: Vec<(&String, &'static str, i64, &String)> = timers
        .iter()
        .filter_map(|(key, end)| match end {
            TimerEnd::Set {
                kind,
                due_at,
                payload,
            } => Some((key, *kind, *due_at, payload)),
            TimerEnd::Removed => None,
        })
        .collect();
    for chunk in set.chunks(WRITE_CHUNK) {
        let mut q = sqlx::QueryBuilder::<B::Db>::new(
            "INSERT INTO timers (timer_key, kind, due_at, claimed_until, payload) ",
        );
        q.push_values(chunk, |mut row, (key, kind, due_at, payload)| {
            row.push_bind(key.as_str())
                .push_bind(*kind)
                .push_bind(*due_at)
                .push_bind(0_i64)
                .push_bind(payload.as_str());
        });
        q.push(
            " ON CONFLICT (timer_key) DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at, \
             claimed_until = 0, payload = excluded.payload",
        );
        q.build().execute(&mut *tx).await?;
    }
    for chunk in recorded.chunks(WRITE_CHUNK) {
        let mut q = sqlx::QueryBuilder::<B::Db>::new(
            "INSERT INTO hl7_messages (sending_application, facility, control_id, content_digest, outcome, received_at) ",
        );
        q.push_values(chunk, |mut row, (m, label)| {
            row.push_bind(m.key.sending_application.as_str())
                .push_bind(m.key.facility.as_str())
                .push_bind(m.key.control_id.as_str())
                .push_bind(m.digest.to_vec())
                .push_bind(*label)
                .push_bind(now_s);
        });
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(results)
}

/// Keys or ids per read statement: three parameters each, far below
/// SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const READ_CHUNK: usize = 1000;

/// Rows per multi-row write: nine parameters each at most.
const WRITE_CHUNK: usize = 500;

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
