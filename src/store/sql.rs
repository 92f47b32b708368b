//! The SQL store, shared by SQLite and PostgreSQL: one implementation of
//! `Store`, expanded for each backend's pool and row types by
//! [`sql_store!`]. The SQL is written to run on both (numbered `$n`
//! parameters, `ON CONFLICT`); what differs (opening, migrations, how
//! writers are kept apart) lives in `sqlite.rs` and `postgres.rs`, each of
//! which provides `writer()` and `lock_person()`.

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
pub(crate) use delivery_select;

use prost::Message;
use samgate_proto::CaseEvent;
use samgate_proto::v1::Case;
use sqlx::Row;

use super::{Delivery, DeliveryKind, DeliveryStatus, StoreError};

pub(crate) fn decode_case(body: &[u8]) -> Result<Case, StoreError> {
    Case::decode(body).map_err(|e| StoreError::Corrupt(format!("case: {e}")))
}

pub(crate) fn decode_event(body: &[u8]) -> Result<CaseEvent, StoreError> {
    CaseEvent::decode(body).map_err(|e| StoreError::Corrupt(format!("event: {e}")))
}

pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
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
        system: row.get(5),
        kind: DeliveryKind::parse(&row.get::<String, _>(6)),
        status: DeliveryStatus::parse(&row.get::<String, _>(7)),
        reason: row.get(8),
        event: decode_event(&body)?,
    })
}

/// Implements `Store` for a backend type with `pool`, `writer()` and
/// `lock_person()`.
macro_rules! sql_store {
    ($store:ty, $db:ty) => {

        impl $store {
            /// Checks, folds and writes one event inside `tx`.
            async fn submit_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                event: &CaseEvent,
                folder: &dyn Folder,
            ) -> Result<Submitted, StoreError> {
                let patient_id = event.patient.as_ref().map(|p| p.id.clone()).unwrap_or_default();
                // Idempotency: a message seen before returns its first result.
                let seen = sqlx::query("SELECT case_id, sequence FROM events WHERE source_system = $1 AND source_message_id = $2")
                    .bind(event.source_system)
                    .bind(&event.source_message_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                if let Some(row) = seen {
                    let case_id: String = row.get(0);
                    let body: Vec<u8> = sqlx::query_scalar("SELECT body FROM cases WHERE case_id = $1")
                        .bind(&case_id)
                        .fetch_one(&mut **tx)
                        .await?;
                    return Ok(Submitted {
                        case_id,
                        sequence: row.get(1),
                        duplicate: true,
                        case: decode_case(&body)?,
                    });
                }

                // The case: this system's ref first; else the same ref for the
                // same person from another system (the gateway forwards refs
                // unchanged). One statement finds it and reads it.
                let found: Option<(String, Vec<u8>)> = sqlx::query_as(
                    "SELECT c.case_id, c.body FROM case_refs r JOIN cases c ON c.case_id = r.case_id \
                     WHERE (r.source_system = $1 OR c.patient_id = $2) AND r.case_ref = $3 \
                     ORDER BY CASE WHEN r.source_system = $1 THEN 0 ELSE 1 END, r.case_id LIMIT 1",
                )
                .bind(event.source_system)
                .bind(&patient_id)
                .bind(&event.case_ref)
                .fetch_optional(&mut **tx)
                .await?;
                let (case_id, prev) = match found {
                    Some((id, body)) => (id, Some(decode_case(&body)?)),
                    None => (uuid::Uuid::now_v7().to_string(), None),
                };
                // Only the outpatient rules ask about the person's other cases.
                let other_open_outpatient_case: Option<String> = if event.process == CareProcess::Outpatient as i32 {
                    sqlx::query_scalar(
                        "SELECT case_id FROM cases WHERE patient_id = $1 AND process = $2 AND status != $3 AND case_id != $4 LIMIT 1",
                    )
                    .bind(&patient_id)
                    .bind(CareProcess::Outpatient as i32)
                    .bind(CaseStatus::Closed as i32)
                    .bind(&case_id)
                    .fetch_optional(&mut **tx)
                    .await?
                } else {
                    None
                };

                let outcome = folder.fold(
                    prev.as_ref(),
                    &case_id,
                    event,
                    &Facts {
                        other_open_outpatient_case,
                    },
                )?;
                let case = outcome.case;

                let updated_at = case.updated_at.as_ref().map_or(0, |t| t.seconds);
                sqlx::query(
                    "INSERT INTO cases (case_id, process, status, patient_id, updated_at, event_count, body) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (case_id) DO UPDATE SET status = excluded.status, patient_id = excluded.patient_id, \
                     updated_at = excluded.updated_at, event_count = excluded.event_count, body = excluded.body",
                )
                .bind(&case.id)
                .bind(case.process)
                .bind(case.status)
                .bind(&patient_id)
                .bind(updated_at)
                .bind(case.event_count)
                .bind(case.encode_to_vec())
                .execute(&mut **tx)
                .await?;
                // Only what this event added: a long case does not rewrite
                // its refs and participants with every message.
                let new_refs: Vec<&ExternalRef> = case
                    .external_refs
                    .iter()
                    .filter(|r| prev.as_ref().is_none_or(|p| !p.external_refs.contains(r)))
                    .collect();
                if !new_refs.is_empty() {
                    let mut q = sqlx::QueryBuilder::<$db>::new("INSERT INTO case_refs (source_system, case_ref, case_id) ");
                    q.push_values(&new_refs, |mut row, r| {
                        row.push_bind(r.system).push_bind(r.case_ref.clone()).push_bind(case.id.clone());
                    });
                    q.push(" ON CONFLICT DO NOTHING");
                    q.build().execute(&mut **tx).await?;
                }
                let new_participants: Vec<&str> = case
                    .participants
                    .iter()
                    .filter(|a| prev.as_ref().is_none_or(|p| !p.participants.iter().any(|b| b.hsa_id == a.hsa_id)))
                    .map(|a| a.hsa_id.as_str())
                    .collect();
                if !new_participants.is_empty() {
                    let mut q = sqlx::QueryBuilder::<$db>::new("INSERT INTO participants (case_id, hsa_id) ");
                    q.push_values(&new_participants, |mut row, hsa| {
                        row.push_bind(case.id.clone()).push_bind(hsa.to_string());
                    });
                    q.push(" ON CONFLICT DO NOTHING");
                    q.build().execute(&mut **tx).await?;
                }
                let sequence = case.event_count;
                let payload: Option<&Payload> = event.payload.as_ref();
                sqlx::query(
                    "INSERT INTO events (case_id, sequence, source_system, source_message_id, payload_type, occurred_at, \
                     received_at, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&case.id)
                .bind(sequence)
                .bind(event.source_system)
                .bind(&event.source_message_id)
                .bind(payload.map(payload_name).unwrap_or_default())
                .bind(event.occurred_at.as_ref().map_or(0, |t| t.seconds))
                .bind(unix_now())
                .bind(event.encode_to_vec())
                .execute(&mut **tx)
                .await?;
                let now = unix_now();
                if !outcome.deliveries.is_empty() {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO deliveries (message_id, case_id, sequence, recipient, system, kind, status, reason, created_at) ",
                    );
                    q.push_values(&outcome.deliveries, |mut row, d| {
                        row.push_bind(delivery_message_id(event, &d.recipient, d.kind))
                            .push_bind(case.id.clone())
                            .push_bind(sequence)
                            .push_bind(d.recipient.clone())
                            .push_bind(d.system.clone())
                            .push_bind(d.kind.as_str())
                            .push_bind(d.status.as_str())
                            .push_bind(d.reason.clone())
                            .push_bind(now);
                    });
                    q.push(" ON CONFLICT DO NOTHING");
                    q.build().execute(&mut **tx).await?;
                }
                Ok(Submitted {
                    case_id: case.id.clone(),
                    sequence,
                    duplicate: false,
                    case,
                })
            }
        }
        #[async_trait]
        impl Store for $store {
            async fn submit(
                &self,
                event: &CaseEvent,
                folder: &dyn Folder,
            ) -> Result<Submitted, StoreError> {
                let patient_id = event.patient.as_ref().map(|p| p.id.clone()).unwrap_or_default();
                let _writer = self.writer().await;
                let mut tx = self.pool.begin().await?;
                // One writer per person at a time: case creation, case linking and
                // the one-open-outpatient-case rule all look at the person's cases.
                Self::lock_person(&mut tx, &patient_id).await?;

                let submitted = Self::submit_in(&mut tx, event, folder).await?;
                tx.commit().await?;
                Ok(submitted)
            }

            async fn submit_batch(
                &self,
                events: &[CaseEvent],
                folder: &dyn Folder,
            ) -> Result<Vec<Result<Submitted, StoreError>>, StoreError> {
                let _writer = self.writer().await;
                let mut tx = self.pool.begin().await?;
                let mut results = Vec::with_capacity(events.len());
                for event in events {
                    let patient_id = event.patient.as_ref().map(|p| p.id.clone()).unwrap_or_default();
                    Self::lock_person(&mut tx, &patient_id).await?;
                    // A broken rule refuses this event alone: it fails
                    // before anything of it is written.
                    match Self::submit_in(&mut tx, event, folder).await {
                        Ok(s) => results.push(Ok(s)),
                        Err(StoreError::Rule(r)) => results.push(Err(StoreError::Rule(r))),
                        Err(other) => return Err(other),
                    }
                }
                tx.commit().await?;
                Ok(results)
            }

            async fn get_case(&self, case_id: &str) -> Result<Option<Case>, StoreError> {
                let body: Option<Vec<u8>> = sqlx::query_scalar("SELECT body FROM cases WHERE case_id = $1")
                    .bind(case_id)
                    .fetch_optional(&self.pool)
                    .await?;
                body.map(|b| decode_case(&b)).transpose()
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
                .fetch_all(&self.pool)
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
                let rows: Vec<(i64, Vec<u8>)> =
                    sqlx::query_as("SELECT sequence, body FROM events WHERE case_id = $1 AND sequence >= $2 ORDER BY sequence")
                        .bind(case_id)
                        .bind(from_sequence)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter()
                    .map(|(sequence, body)| {
                        Ok(StoredEvent {
                            case_id: case_id.to_owned(),
                            sequence,
                            event: Some(
                                CaseEvent::decode(body.as_slice())
                                    .map_err(|e| StoreError::Corrupt(format!("event: {e}")))?,
                            ),
                        })
                    })
                    .collect()
            }

            async fn pending_deliveries(
                &self,
                recipient: &str,
                limit: usize,
            ) -> Result<Vec<Delivery>, StoreError> {
                let rows = sqlx::query(delivery_select!("d.recipient = $1 AND d.status = 'pending'"))
                    .bind(recipient)
                    .bind(limit.clamp(1, MAX_PAGE_SIZE) as i64)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(delivery_row).collect()
            }

            async fn ack_deliveries(
                &self,
                recipient: &str,
                message_ids: &[String],
            ) -> Result<u64, StoreError> {
                let _writer = self.writer().await;
                let mut tx = self.pool.begin().await?;
                let mut acked = 0;
                for id in message_ids {
                    acked += sqlx::query(
                        "UPDATE deliveries SET status = 'delivered', delivered_at = $1, attempts = attempts + 1 \
                         WHERE message_id = $2 AND recipient = $3 AND status = 'pending'",
                    )
                    .bind(unix_now())
                    .bind(id)
                    .bind(recipient)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                tx.commit().await?;
                Ok(acked)
            }

            async fn quarantine_delivery(&self, message_id: &str, reason: &str) -> Result<(), StoreError> {
                let _writer = self.writer().await;
                sqlx::query("UPDATE deliveries SET status = 'quarantined', reason = $1 WHERE message_id = $2 AND status = 'pending'")
                    .bind(reason)
                    .bind(message_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn outbox(&self, limit: usize) -> Result<Vec<Delivery>, StoreError> {
                let rows = sqlx::query(delivery_select!("d.status = $1 AND d.kind <> 'publication' AND d.system <> 'native'"))
                    .bind("pending")
                    .bind(limit.clamp(1, MAX_PAGE_SIZE) as i64)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(delivery_row).collect()
            }

            async fn mark_delivered(&self, message_ids: &[String]) -> Result<u64, StoreError> {
                let _writer = self.writer().await;
                let mut tx = self.pool.begin().await?;
                let mut done = 0;
                for id in message_ids {
                    done += sqlx::query(
                        "UPDATE deliveries SET status = 'delivered', delivered_at = $1, attempts = attempts + 1 \
                         WHERE message_id = $2 AND status = 'pending'",
                    )
                    .bind(unix_now())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                tx.commit().await?;
                Ok(done)
            }

            async fn record_attempt(&self, message_id: &str) -> Result<(), StoreError> {
                let _writer = self.writer().await;
                sqlx::query("UPDATE deliveries SET attempts = attempts + 1 WHERE message_id = $1")
                    .bind(message_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn relay_lease(&self) -> Result<Option<RelayLease>, StoreError> {
                self.lease().await
            }

            async fn lease_alive(&self, lease: &mut RelayLease) -> bool {
                self.lease_check(lease).await
            }

            async fn cases_for_patient(&self, patient_id: &str) -> Result<Vec<Case>, StoreError> {
                let bodies: Vec<Vec<u8>> = sqlx::query_scalar("SELECT body FROM cases WHERE patient_id = $1 ORDER BY case_id")
                    .bind(patient_id)
                    .fetch_all(&self.pool)
                    .await?;
                bodies.iter().map(|b| decode_case(b)).collect()
            }

            async fn case_deliveries(&self, case_id: &str) -> Result<Vec<Delivery>, StoreError> {
                let rows = sqlx::query(delivery_select!("d.case_id = $1"))
                    .bind(case_id)
                    .bind(i64::MAX)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(delivery_row).collect()
            }

            async fn close(&self) {
                let _writer = self.writer().await;
                self.pool.close().await;
            }
        }
    };
}
pub(crate) use sql_store;
