//! The store on PostgreSQL (sqlx), for scale: several `samgate serve`
//! processes may share one database. Writers are kept apart per person by a
//! transaction-scoped advisory lock, so a case's events are folded one at a
//! time and in order whichever process receives them, while different
//! people's cases proceed in parallel.

use std::str::FromStr;

use async_trait::async_trait;
use prost::Message;
use samgate_proto::v1::{CareProcess, Case, CaseStatus, ExternalRef, StoredEvent};
use samgate_proto::validate::payload_name;
use samgate_proto::{CaseEvent, Payload};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

use super::sql::{decode_case, delivery_row, delivery_select, unix_now};
use super::{
    CaseFilter, DEFAULT_PAGE_SIZE, Delivery, Folder, MAX_PAGE_SIZE, RelayLease, Store, StoreError,
    Submitted, delivery_message_id,
};
use crate::engine::Facts;

/// Embedded migrations, applied in order once each.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/postgres/0001_init.sql")),
    (2, include_str!("migrations/postgres/0002_outbox.sql")),
];

/// Connections per gateway process.
const MAX_CONNECTIONS: u32 = 8;

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host/db`, libpq style, `options`
    /// and `sslmode` included) and applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        let store = PostgresStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        // One process migrates at a time.
        sqlx::query("SELECT pg_advisory_lock(hashtext('samgate-migrations'))")
            .execute(&mut *conn)
            .await?;
        let result = async {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .execute(&mut *conn)
            .await?;
            for (version, sql) in MIGRATIONS {
                let applied: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *conn)
                    .await?;
                if applied.is_none() {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    sqlx::raw_sql(*sql).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                        .bind(version)
                        .bind(unix_now())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                }
            }
            Ok::<(), StoreError>(())
        }
        .await;
        sqlx::query("SELECT pg_advisory_unlock(hashtext('samgate-migrations'))")
            .execute(&mut *conn)
            .await?;
        result
    }

    /// Nothing process-wide: PostgreSQL keeps writers apart (see
    /// `lock_person`).
    async fn writer(&self) {}

    /// Serialises the transactions that touch one person's cases, across
    /// every gateway process sharing the database.
    async fn lock_person(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        patient_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(patient_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

super::sql::sql_store!(PostgresStore, sqlx::Postgres);

/// The advisory lock key of the relay lease.
const RELAY_LOCK: &str = "samgate-relay";

impl PostgresStore {
    /// One relay across all processes: a session-level advisory lock on a
    /// connection taken out of the pool, so that closing the session (or
    /// losing it) frees the lock for another process.
    async fn lease(&self) -> Result<Option<super::RelayLease>, StoreError> {
        let mut conn = self.pool.acquire().await?.detach();
        let granted: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(RELAY_LOCK)
            .fetch_one(&mut conn)
            .await?;
        Ok(granted.then_some(super::RelayLease::Postgres(conn)))
    }

    async fn lease_check(&self, lease: &mut super::RelayLease) -> bool {
        match lease {
            super::RelayLease::Local => false,
            super::RelayLease::Postgres(conn) => sqlx::Connection::ping(conn).await.is_ok(),
        }
    }
}
