//! The store on PostgreSQL (sqlx), for scale: several `samgate serve`
//! processes may share one database. Writers are kept apart per person by a
//! transaction-scoped advisory lock, so a case's events are folded one at a
//! time and in order whichever process receives them, while different
//! people's cases proceed in parallel.

use std::str::FromStr;

use async_trait::async_trait;
use prost::Message;
use samgate_proto::CaseEvent;
use samgate_proto::v1::{CareProcess, Case, CaseStatus, StoredEvent};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

use super::batch::{Batch, Known, Needs, Writes};
use super::sql::{IN_LIST, decode_case, delivery_row, delivery_select, outbox_select, unix_now};
use super::{
    CaseFilter, DEFAULT_PAGE_SIZE, Delivery, FeedReceiver, Folder, MAX_OUTBOX_READ, MAX_PAGE_SIZE,
    OutboxFeed, OutboxRead, RelayLease, Store, StoreError, Submitted,
};

/// Embedded migrations, applied in order once each.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/postgres/0001_init.sql")),
    (2, include_str!("migrations/postgres/0002_outbox.sql")),
    (3, include_str!("migrations/postgres/0003_outbox_index.sql")),
];

/// Connections per gateway process.
const MAX_CONNECTIONS: u32 = 8;

/// Connections for the writes a crash may lose (marks).
const RELAXED_CONNECTIONS: u32 = 2;

pub struct PostgresStore {
    pool: PgPool,
    /// Connections that commit without waiting for the WAL flush
    /// (`synchronous_commit = off`), for the writes a crash may lose.
    relaxed: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host/db`, libpq style, `options`
    /// and `sslmode` included) and applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let port = options.get_port();
        // Every connection is opened at the start: one opened under load
        // held the batches waiting on it for its setup (about 90 ms here).
        let pool_options = |max| {
            PgPoolOptions::new()
                .max_connections(max)
                .min_connections(max)
                .after_connect(move |_, _| {
                    Box::pin(async move {
                        nodelay::set_on_connections_to(port);
                        Ok(())
                    })
                })
        };
        let pool = pool_options(MAX_CONNECTIONS)
            .connect_with(options.clone())
            .await?;
        let relaxed = pool_options(RELAXED_CONNECTIONS)
            .connect_with(options.options([("synchronous_commit", "off")]))
            .await?;
        let store = PostgresStore { pool, relaxed };
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

    /// Row ids as `OUTBOX` takes them: one array.
    fn id_list(ids: &[i64]) -> &[i64] {
        ids
    }

    /// `= ANY($n)` with the values as one array: the statement's text is
    /// the same however many values there are, so it is prepared once
    /// (see `write_batch`).
    fn push_in(q: &mut sqlx::QueryBuilder<sqlx::Postgres>, values: &[String]) {
        q.push("= ANY(").push_bind(values).push(")");
    }

    /// Begins a batch's transaction, holding its people's locks
    /// (`begin_for_people`), and reads what it needs: two round trips.
    async fn begin_and_read(
        &self,
        needs: &Needs,
    ) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, Known), StoreError> {
        // The locks must be held before the read's snapshot is taken (one
        // per statement here), so they cannot share its statement.
        let mut tx = self.begin_for_people(&needs.people).await?;
        let known = Self::read_known(&mut tx, needs, "").await?;
        Ok((tx, known))
    }

    /// Writes a folded batch and commits it: two round trips.
    async fn write_and_commit(
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        writes: &Writes,
        want_ids: bool,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let written = Self::write_batch(&mut tx, writes, want_ids).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// Writes a folded batch in one statement and one round trip: each
    /// table's rows go as arrays (one per column) that `unnest` turns back
    /// into rows, and the five inserts are data-modifying CTEs of one
    /// statement. The text is the same whatever the batch's size, so the
    /// connection prepares it once; multi-row `VALUES` would be a new
    /// statement for every row count, each prepared at one more round trip
    /// and crowding the others out of the statement cache. The foreign
    /// keys hold: PostgreSQL checks them at the end of the statement, when
    /// every CTE has run.
    ///
    /// Returns no row ids: PostgreSQL has no outbox feed (`feed`), so
    /// `_want_ids` is never set.
    async fn write_batch(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        writes: &Writes,
        _want_ids: bool,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let now = unix_now();
        let cases = &writes.cases;
        let (refs, participants) = (&writes.refs, &writes.participants);
        let (events, deliveries) = (&writes.events, &writes.deliveries);
        sqlx::query(WRITE_BATCH)
            .bind(column(cases, |c| c.case_id.as_str()))
            .bind(column(cases, |c| c.process))
            .bind(column(cases, |c| c.status))
            .bind(column(cases, |c| c.patient_id.as_str()))
            .bind(column(cases, |c| c.updated_at))
            .bind(column(cases, |c| c.event_count))
            .bind(column(cases, |c| c.body.as_slice()))
            .bind(column(refs, |r| r.0))
            .bind(column(refs, |r| r.1.as_str()))
            .bind(column(refs, |r| r.2.as_str()))
            .bind(column(participants, |p| p.0.as_str()))
            .bind(column(participants, |p| p.1.as_str()))
            .bind(column(events, |e| e.case_id.as_str()))
            .bind(column(events, |e| e.sequence))
            .bind(column(events, |e| e.source_system))
            .bind(column(events, |e| e.source_message_id.as_str()))
            .bind(column(events, |e| e.payload_type))
            .bind(column(events, |e| e.occurred_at))
            .bind(column(events, |e| e.body.as_slice()))
            .bind(column(deliveries, |d| d.message_id.as_str()))
            .bind(column(deliveries, |d| d.case_id.as_str()))
            .bind(column(deliveries, |d| d.sequence))
            .bind(column(deliveries, |d| d.recipient.as_str()))
            .bind(column(deliveries, |d| d.system.as_str()))
            .bind(column(deliveries, |d| d.kind))
            .bind(column(deliveries, |d| d.status))
            .bind(column(deliveries, |d| d.reason.as_str()))
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(Vec::new())
    }

    /// No outbox feed: concurrent transactions take row ids from the
    /// sequence in one order and commit in another, so a fed row proves
    /// nothing about the rows before it. The relay reads.
    fn feed(&self) -> Option<&OutboxFeed> {
        None
    }

    /// Nothing process-wide: PostgreSQL keeps writers apart (see
    /// `begin_for_people`).
    async fn writer(&self) {}

    /// Begins a batch's transaction holding the locks of the people it
    /// touches: transactions that touch one person's cases are serialised
    /// across every gateway process sharing the database, by one
    /// transaction-scoped advisory lock per person, all taken in key
    /// order, so two batches that share people cannot deadlock. The locks
    /// go with `BEGIN` in one simple query, one round trip for both; the
    /// keys are integers this process computed, written into the text.
    async fn begin_for_people(
        &self,
        people: &[String],
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        let mut keys: Vec<i32> = people.iter().map(|p| person_lock_key(p)).collect();
        keys.sort_unstable();
        keys.dedup();
        let list = keys
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        // unnest yields the keys in array order, and each row takes its
        // lock as it is produced.
        let begin = format!(
            "BEGIN; SELECT pg_advisory_xact_lock({PERSON_LOCK_CLASS}, k) FROM unnest('{{{list}}}'::int4[]) AS k"
        );
        Ok(self.pool.begin_with(sqlx::AssertSqlSafe(begin)).await?)
    }
}

/// The relay's read (`Store::outbox`): the rows to leave out as one array
/// (a hashed set in the plan).
const OUTBOX: &str = outbox_select!("d.id NOT IN (SELECT unnest($1::int8[]))");

/// A batch's writes (see `write_batch`): `$1`–`$7` the cases, `$8`–`$10`
/// the case refs, `$11`–`$12` the participants, `$13`–`$19` the events,
/// `$20`–`$27` the deliveries, `$28` the time of writing.
const WRITE_BATCH: &str = "\
WITH cases_written AS (
    INSERT INTO cases (case_id, process, status, patient_id, updated_at, event_count, body)
    SELECT * FROM unnest($1::text[], $2::int4[], $3::int4[], $4::text[], $5::int8[], $6::int8[], $7::bytea[])
    ON CONFLICT (case_id) DO UPDATE SET status = excluded.status, patient_id = excluded.patient_id,
        updated_at = excluded.updated_at, event_count = excluded.event_count, body = excluded.body
), refs_written AS (
    INSERT INTO case_refs (source_system, case_ref, case_id)
    SELECT * FROM unnest($8::int4[], $9::text[], $10::text[])
    ON CONFLICT DO NOTHING
), participants_written AS (
    INSERT INTO participants (case_id, hsa_id)
    SELECT * FROM unnest($11::text[], $12::text[])
    ON CONFLICT DO NOTHING
), events_written AS (
    INSERT INTO events (case_id, sequence, source_system, source_message_id, payload_type, occurred_at, received_at, body)
    SELECT e.case_id, e.sequence, e.source_system, e.source_message_id, e.payload_type, e.occurred_at, $28, e.body
    FROM unnest($13::text[], $14::int8[], $15::int4[], $16::text[], $17::text[], $18::int8[], $19::bytea[])
        AS e (case_id, sequence, source_system, source_message_id, payload_type, occurred_at, body)
)
INSERT INTO deliveries (message_id, case_id, sequence, recipient, system, kind, status, reason, created_at)
SELECT d.*, $28 FROM unnest($20::text[], $21::text[], $22::int8[], $23::text[], $24::text[], $25::text[], $26::text[], $27::text[])
    AS d (message_id, case_id, sequence, recipient, system, kind, status, reason)
ON CONFLICT DO NOTHING";

/// One column of `rows`, as the array parameter `unnest` takes.
fn column<'r, R, T>(rows: &'r [R], field: impl Fn(&'r R) -> T) -> Vec<T> {
    rows.iter().map(field).collect()
}

/// The first half of the two-part advisory lock keys of people, which keeps
/// them apart from the single-key locks of the relay and the migrations.
const PERSON_LOCK_CLASS: i32 = 0x5347_0001;

/// A person's lock key: FNV-1a of the identity, 32 bits. Two people who
/// share a key only wait for each other; the key is computed here, not by
/// the database, so that the keys can be sorted before they are taken.
fn person_lock_key(patient_id: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in patient_id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash as i32
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

/// sqlx 0.9.0 leaves Nagle's algorithm on for its TCP connections
/// (transact-rs/sqlx#4335; fixed upstream, not yet in a release). A
/// statement larger than one segment then waits for the server's delayed
/// ACK: 40 ms for each of a batch's multi-row INSERTs, which held the
/// gateway on PostgreSQL to about 350 messages/s. Until a release carries
/// the fix, each new pool connection sets TCP_NODELAY on the process's
/// sockets to the database's port (the connection's own socket among them;
/// sqlx does not hand it out). Nothing happens for Unix-socket connections
/// or off Linux.
mod nodelay {
    #[cfg(target_os = "linux")]
    pub fn set_on_connections_to(port: u16) {
        use std::os::fd::{BorrowedFd, RawFd};
        let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
            return;
        };
        for entry in fds.flatten() {
            let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<RawFd>().ok())
            else {
                continue;
            };
            // SAFETY: the descriptor is open (it is listed) and is only
            // borrowed for the calls below; a descriptor that is not a TCP
            // socket to `port` fails them or is left alone.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            let socket = socket2::SockRef::from(&fd);
            if !matches!(socket.r#type(), Ok(socket2::Type::STREAM)) {
                continue;
            }
            let to_database = socket
                .peer_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .is_some_and(|a| a.port() == port);
            if to_database {
                let _ = socket.set_tcp_nodelay(true);
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn set_on_connections_to(_port: u16) {}
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::PostgresStore;

    /// A store in a schema of its own on the test database (the local
    /// PostgreSQL that scripts/test starts).
    async fn store() -> PostgresStore {
        use sqlx::Connection;
        let base = std::env::var("SAMGATE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let mut conn = sqlx::PgConnection::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {base} is needed by this test: {e}"));
        let schema = format!("samgate_test_lock_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let joiner = if base.contains('?') { '&' } else { '?' };
        PostgresStore::open(&format!(
            "{base}{joiner}options=-c%20search_path%3D{schema}"
        ))
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_persons_transaction_waits_for_the_one_before_and_no_one_else_does() {
        let store = Arc::new(store().await);
        let esther = vec!["194102069046".to_string()];
        let first = store.begin_for_people(&esther).await.unwrap();
        // Someone else's batch goes ahead.
        let other = tokio::time::timeout(
            Duration::from_secs(5),
            store.begin_for_people(&["191212121212".to_string()]),
        )
        .await
        .expect("another person's transaction does not wait")
        .unwrap();
        other.commit().await.unwrap();
        // Esther's next batch waits until the first commits.
        let second = {
            let store = store.clone();
            tokio::spawn(async move { store.begin_for_people(&esther).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!second.is_finished(), "the second transaction did not wait");
        first.commit().await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the second transaction goes on after the commit")
            .unwrap()
            .unwrap();
    }
}
