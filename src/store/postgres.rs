//! The store on PostgreSQL (sqlx), for scale: several `samgate serve`
//! processes may share one database. Writers are kept apart per person by
//! an advisory lock held from a batch's read to its write, so a case's
//! events are folded one at a time and in order whichever process receives
//! them, while different people's cases proceed in parallel.

use std::str::FromStr;

use samgate_proto::v1::{CareProcess, CaseStatus};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::backend::Backend;
use super::batch::{Known, Needs, Writes};
use super::sql::{outbox_select, unix_now};
use super::{OutboxFeed, StoreError, migrate};

mod relay;

pub use relay::PgLease;

/// How long the first connection may take before the store is reported
/// unreachable: a server on the same network answers in milliseconds.
const FIRST_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connections per gateway process, all opened at start. A batch holds
/// one from its read to its write (the session holds its people's
/// locks), so batches of different people proceed at once as far as
/// there are connections; the relay's outbox reads and the API's reads
/// take the rest. Eight lets a few batches run beside them, while a
/// deployment of several gateways stays well below PostgreSQL's default
/// `max_connections` of 100: each process opens these, the
/// `RELAXED_CONNECTIONS`, the relay's listener and lease (12 in all),
/// so eight gateways fit with room for the administrator's sessions.
const MAX_CONNECTIONS: u32 = 8;

/// Connections for the writes a crash may lose (marks).
const RELAXED_CONNECTIONS: u32 = 2;

pub struct PostgresStore {
    pool: PgPool,
    /// Connections that commit without waiting for the WAL flush
    /// (`synchronous_commit = off`), for the writes a crash may lose.
    relaxed: PgPool,
    /// How to connect, for the relay's listener (`relay`).
    options: PgConnectOptions,
    /// Whether this process holds the relay lease: while it does, its
    /// batches wake the relay themselves; while it does not, each batch
    /// that writes deliveries notifies whichever process does.
    relay_here: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host/db`, libpq style, `options`
    /// and `sslmode` included) and applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        // Generic plans for every prepared statement. The batch's statements
        // take arrays whose lengths the planner cannot know in advance, so
        // a generic plan's estimate never beats a custom one and the server
        // planned each batch's lock-and-read and write anew: about half of
        // their time on the server (`log_min_duration_statement`, a paced
        // bench run: 1.1 and 1.2 ms p50 each, 0.49 and 0.60 with generic
        // plans). Every statement here looks rows up by key, which a
        // generic plan does as well as a custom one.
        let options =
            PgConnectOptions::from_str(url)?.options([("plan_cache_mode", "force_generic_plan")]);
        // One connection first, so that a server that refuses or a wrong
        // database is reported at once, naming where, rather than after
        // the pool has retried until its timeout.
        let target = format!(
            "postgres://{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        let first = tokio::time::timeout(FIRST_CONNECT_TIMEOUT, async {
            sqlx::ConnectOptions::connect(&options).await
        })
        .await;
        match first {
            Ok(Ok(conn)) => {
                let _ = sqlx::Connection::close(conn).await;
            }
            Ok(Err(e)) => {
                return Err(StoreError::Unreachable {
                    target,
                    reason: e.to_string(),
                });
            }
            Err(_) => {
                return Err(StoreError::Unreachable {
                    target,
                    reason: format!("no answer in {} s", FIRST_CONNECT_TIMEOUT.as_secs()),
                });
            }
        }
        // Every connection is opened at the start: one opened under load
        // held the batches waiting on it for its setup (about 90 ms here).
        let pool_options = |max| {
            PgPoolOptions::new()
                .max_connections(max)
                .min_connections(max)
        };
        let pool = pool_options(MAX_CONNECTIONS)
            .connect_with(options.clone())
            .await?;
        let relaxed = pool_options(RELAXED_CONNECTIONS)
            .connect_with(options.clone().options([("synchronous_commit", "off")]))
            .await?;
        let store = PostgresStore {
            pool,
            relaxed,
            options,
            relay_here: Default::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations not yet applied (`migrate`; sqlx's
    /// migrator takes an advisory lock, so one process migrates at a
    /// time), adopting a store of samgate's own runner first, under a lock
    /// of its own so that two processes opening it at once adopt it once.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('samgate-migrations'))")
            .execute(&mut *tx)
            .await?;
        let (old, new): (bool, bool) =
            sqlx::query_as("SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL")
                .bind(migrate::OLD_TABLE)
                .bind(&*migrate::POSTGRES.table_name)
                .fetch_one(&mut *tx)
                .await?;
        if old && !new {
            let applied: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT version FROM {} ORDER BY version",
                migrate::OLD_TABLE
            )))
            .fetch_all(&mut *tx)
            .await?;
            migrate::adopt(&mut *tx, &migrate::POSTGRES, &applied).await?;
        }
        tx.commit().await?;
        migrate::POSTGRES.run(&self.pool).await?;
        Ok(())
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
    /// With `notify`, a batch that writes deliveries also notifies the
    /// relay of another process (`relay`), in the same statement; the
    /// notification goes out with the commit, and not without it.
    ///
    /// Returns no row ids: PostgreSQL has no outbox feed (`feed`), so
    /// `_want_ids` is never set.
    async fn write_batch(
        conn: &mut sqlx::PgConnection,
        writes: &Writes,
        _want_ids: bool,
        notify: bool,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let now = unix_now();
        let cases = &writes.cases;
        let (refs, participants) = (&writes.refs, &writes.participants);
        let (events, deliveries) = (&writes.events, &writes.deliveries);
        let statement = if notify {
            WRITE_BATCH_NOTIFYING
        } else {
            WRITE_BATCH
        };
        sqlx::query(statement)
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
            .bind(column(deliveries, |d| d.system_name()))
            .bind(column(deliveries, |d| d.kind.as_str()))
            .bind(column(deliveries, |d| d.status.as_str()))
            .bind(column(deliveries, |d| d.reason.as_str()))
            .bind(now)
            .bind(&writes.protected_people)
            .execute(&mut *conn)
            .await?;
        Ok(Vec::new())
    }
}

impl Backend for PostgresStore {
    type Db = sqlx::Postgres;
    type Batch = PeopleHeld;
    type SkipList = Vec<i64>;

    /// The rows to leave out as one array (a hashed set in the plan).
    const OUTBOX: &'static str = outbox_select!("d.id NOT IN (SELECT unnest($1::int8[]))");

    /// Row ids as `OUTBOX` takes them: one array.
    fn skip_list(ids: &[i64]) -> Vec<i64> {
        ids.to_vec()
    }

    /// `= ANY($n)` with the values as one array: the statement's text is
    /// the same however many values there are, so it is prepared once
    /// (see `write_batch`).
    fn push_in(q: &mut sqlx::QueryBuilder<sqlx::Postgres>, values: &[String]) {
        q.push("= ANY(").push_bind(values).push(")");
    }

    /// Takes the locks of the people a batch touches and reads what it
    /// needs, in one round trip (`samgate_lock_and_read`, migration 4).
    ///
    /// The locks keep batches that touch one person's cases apart across
    /// every gateway process sharing the database: one advisory lock per
    /// person, all taken in key order, so two batches that share people
    /// cannot deadlock. They are session-level, held from this read until
    /// the batch's write has committed (`write_and_commit`), which lets
    /// the batch run without `BEGIN` and `COMMIT` of its own: the read
    /// needs no transaction, and the write is one statement, atomic and
    /// durable by itself. Two round trips a batch instead of four. (This
    /// needs each pool connection to be its own database session, as it
    /// is unless a pooler in transaction mode stands between.)
    async fn begin_and_read(&self, needs: &Needs) -> Result<(PeopleHeld, Known), StoreError> {
        let mut keys: Vec<i32> = needs.people.iter().map(|p| person_lock_key(p)).collect();
        keys.sort_unstable();
        keys.dedup();
        let (systems, ids): (Vec<i32>, Vec<&str>) = needs
            .message_ids
            .iter()
            .flat_map(|(system, ids)| ids.iter().map(move |id| (*system, id.as_str())))
            .unzip();
        let mut held = PeopleHeld {
            conn: Some(self.pool.acquire().await?),
            notify: !self.relay_here.load(std::sync::atomic::Ordering::SeqCst),
        };
        let conn = held.conn.as_mut().expect("held until released");
        let rows =
            sqlx::query("SELECT * FROM samgate_lock_and_read($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(PERSON_LOCK_CLASS)
                .bind(&keys)
                .bind(&systems)
                .bind(&ids)
                .bind(&needs.case_refs)
                .bind(&needs.outpatients)
                .bind(CareProcess::Outpatient as i32)
                .bind(CaseStatus::Closed as i32)
                .bind(&needs.people)
                .fetch_all(&mut **conn)
                .await;
        let read = rows.map_err(StoreError::from).and_then(|rows| {
            let mut known = Known::default();
            for row in &rows {
                super::sql::take_known_row(row, &mut known)?;
            }
            Ok(known)
        });
        match read {
            Ok(known) => Ok((held, known)),
            Err(e) => {
                held.release();
                Err(e)
            }
        }
    }

    /// Writes a folded batch (one statement, its own transaction) and
    /// lets its people go.
    async fn write_and_commit(
        mut held: PeopleHeld,
        writes: &Writes,
        want_ids: bool,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let notify = held.notify;
        let conn = held.conn.as_mut().expect("held until released");
        let written = Self::write_batch(conn, writes, want_ids, notify).await;
        held.release();
        written
    }

    /// No outbox feed: concurrent transactions take row ids from the
    /// sequence in one order and commit in another, so a fed row proves
    /// nothing about the rows before it. The relay reads.
    fn feed(&self) -> Option<&OutboxFeed> {
        None
    }

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn relaxed(&self) -> &PgPool {
        &self.relaxed
    }

    /// None process-wide: PostgreSQL keeps writers apart (see
    /// `begin_and_read`).
    fn write_lock(&self) -> Option<&tokio::sync::Mutex<()>> {
        None
    }

    fn journal_locks(people: &[String]) -> Vec<(&'static str, i32, i32)> {
        const LOCK: &str = "SELECT pg_advisory_xact_lock($1, $2)";
        let mut keys: Vec<i32> = people.iter().map(|p| person_lock_key(p)).collect();
        keys.sort_unstable();
        keys.dedup();
        std::iter::once((LOCK, JOURNAL_LOCK_CLASS, 0))
            .chain(keys.into_iter().map(|k| (LOCK, PERSON_LOCK_CLASS, k)))
            .collect()
    }

    async fn close_pools(&self) {
        self.relaxed.close().await;
        self.pool.close().await;
    }
}

/// A batch's writes (see `write_batch`): `$1`–`$7` the cases, `$8`–`$10`
/// the case refs, `$11`–`$12` the participants, `$13`–`$19` the events,
/// `$20`–`$27` the deliveries, `$28` the time of writing, `$29` the people
/// who became protected (the person register); `$tail` ends the
/// statement with the deliveries' insert (`insert_deliveries!`).
macro_rules! write_batch {
    ($tail:expr) => {
        concat!(
            "\
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
), protected_written AS (
    INSERT INTO protected_persons (patient_id, protected_at)
    SELECT p, $28 FROM unnest($29::text[]) AS p
    ON CONFLICT DO NOTHING
)",
            $tail
        )
    };
}

/// The deliveries' part of a batch's writes.
macro_rules! insert_deliveries {
    () => {
        "
INSERT INTO deliveries (message_id, case_id, sequence, recipient, system, kind, status, reason, created_at)
SELECT d.*, $28 FROM unnest($20::text[], $21::text[], $22::int8[], $23::text[], $24::text[], $25::text[], $26::text[], $27::text[])
    AS d (message_id, case_id, sequence, recipient, system, kind, status, reason)
ON CONFLICT DO NOTHING"
    };
}

/// A batch's writes.
const WRITE_BATCH: &str = write_batch!(insert_deliveries!());

/// A batch's writes, notifying the relay's channel when any delivery was
/// written.
const WRITE_BATCH_NOTIFYING: &str = write_batch!(concat!(
    ", deliveries_written AS (",
    insert_deliveries!(),
    "
    RETURNING 1
)
SELECT pg_notify('samgate_outbox', current_schema()) WHERE EXISTS (SELECT 1 FROM deliveries_written)"
));

/// One column of `rows`, as the array parameter `unnest` takes.
fn column<'r, R, T>(rows: &'r [R], field: impl Fn(&'r R) -> T) -> Vec<T> {
    rows.iter().map(field).collect()
}

/// A batch's hold on its people: the pool connection whose session holds
/// their advisory locks (`begin_and_read`).
pub(crate) struct PeopleHeld {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
    /// Whether the batch's write notifies the relay of another process.
    notify: bool,
}

impl PeopleHeld {
    /// Lets the people go. The unlock is sent by a task of its own, so the
    /// batch's results go out without waiting for it; the next batch of
    /// the same people waits for it in the database. A connection that
    /// cannot unlock is closed, which frees its locks.
    fn release(mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        tokio::spawn(async move {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock_all()")
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                conn.close_on_drop();
            }
        });
    }
}

impl Drop for PeopleHeld {
    /// Dropped unreleased (the batch's future dropped, or a fold that
    /// failed): the connection is closed rather than returned to the pool
    /// still holding the locks.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

/// The first half of the two-part advisory lock keys of people, which keeps
/// them apart from the single-key locks of the relay and the migrations.
const PERSON_LOCK_CLASS: i32 = 0x5347_0001;

/// The two-part advisory lock key class of the journal feed's
/// transactions: one at a time across gateways, so that two senders'
/// messages for one stay are applied in the order they were committed.
const JOURNAL_LOCK_CLASS: i32 = 0x5347_0002;

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::PostgresStore;
    use crate::store::backend::{Backend, RelaySupport};
    use crate::store::batch::Needs;

    /// A store in a schema of its own on the test database (the local
    /// PostgreSQL that scripts/test starts).
    async fn store() -> PostgresStore {
        PostgresStore::open(&schema_url().await).await.unwrap()
    }

    /// A new schema's URL on the test database.
    async fn schema_url() -> String {
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
        let _ = conn.close().await;
        let joiner = if base.contains('?') { '&' } else { '?' };
        format!("{base}{joiner}options=-c%20search_path%3D{schema}")
    }

    /// The store's sessions plan generically (see `open`), and the options
    /// of the URL (here the test's schema) still hold beside that.
    #[tokio::test]
    async fn sessions_plan_generically_and_keep_the_urls_options() {
        let store = store().await;
        let (mode, path): (String, String) = sqlx::query_as(
            "SELECT current_setting('plan_cache_mode'), current_setting('search_path')",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        assert_eq!(mode, "force_generic_plan");
        assert!(path.starts_with("samgate_test_lock_"), "{path}");
    }

    /// A store made by samgate's own runner (its SQL and its
    /// `schema_migrations`, written by hand here) is adopted by sqlx's
    /// migrator, not migrated again (the `CREATE TABLE`s would fail), and
    /// once only when two processes open it at once.
    #[tokio::test]
    async fn a_store_the_old_runner_migrated_is_adopted_once() {
        use sqlx::Connection;
        const OLD: &[&str] = &[
            include_str!("migrations/postgres/0001_init.sql"),
            include_str!("migrations/postgres/0002_outbox.sql"),
            include_str!("migrations/postgres/0003_outbox_index.sql"),
            include_str!("migrations/postgres/0004_lock_and_read.sql"),
            include_str!("migrations/postgres/0005_protected_persons.sql"),
        ];
        let url = schema_url().await;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        for (i, sql) in OLD.iter().enumerate() {
            sqlx::raw_sql(*sql).execute(&mut conn).await.unwrap();
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)")
                .bind(i as i64 + 1)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let (one, two) = tokio::join!(PostgresStore::open(&url), PostgresStore::open(&url));
        let (one, two) = (one.unwrap(), two.unwrap());
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let embedded: Vec<(i64, Vec<u8>)> = crate::store::migrate::POSTGRES
            .iter()
            .map(|m| (m.version, m.checksum.to_vec()))
            .collect();
        assert_eq!(rows, embedded);
        let _ = conn.close().await;
        one.close_pools().await;
        two.close_pools().await;
    }

    /// Two stores on one new schema, as two gateway processes would have.
    async fn two_processes() -> (PostgresStore, PostgresStore) {
        let url = schema_url().await;
        let one = PostgresStore::open(&url).await.unwrap();
        (one, PostgresStore::open(&url).await.unwrap())
    }

    /// One process at a time holds the relay lease; one that asks while
    /// another holds it is refused, and gets the lease once it is given
    /// up.
    #[tokio::test]
    async fn the_relay_lease_passes_on_when_given_up() {
        let (one, two) = two_processes().await;
        let lease = one.lease().await.unwrap().expect("the first asks first");
        for _ in 0..3 {
            assert!(two.lease().await.unwrap().is_none());
        }
        lease.release().await;
        let taken = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Some(lease) = two.lease().await.unwrap() {
                    break lease;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the lease passes on");
        taken.release().await;
    }

    /// A process without the relay notifies the one with it when it has
    /// written deliveries; the relay's own process does not (its relay is
    /// woken by the gateway).
    #[tokio::test]
    async fn another_process_s_deliveries_wake_the_relay() {
        use crate::store::Store;
        let (here, other) = two_processes().await;
        let lease = here.lease().await.unwrap().expect("granted");
        let mut heard = here.other_writers().expect("PostgreSQL listens");
        hears(&mut heard, "the listener is up").await;
        // The engine, and one delivery per event to a unit on the relay:
        // what routing would give, without the store's tests knowing
        // routing.
        struct OneDelivery(crate::engine::Engine);
        impl crate::store::Folder for OneDelivery {
            fn fold(
                &self,
                prev: Option<&samgate_proto::v1::Case>,
                case_id: &str,
                event: &crate::store::Checked<samgate_proto::CaseEvent>,
                facts: &crate::engine::Facts,
            ) -> Result<crate::store::Outcome, crate::engine::RuleViolation> {
                Ok(crate::store::Outcome {
                    case: self.0.fold(prev, case_id, event, facts)?,
                    deliveries: vec![crate::store::NewDelivery::pending(
                        "SE2120000449-KHSL",
                        Some(crate::channel::System::CosmicLink),
                        crate::store::DeliveryKind::Event,
                    )],
                })
            }
        }
        let router = OneDelivery(crate::engine::Engine::default());
        let admission = |id: &str| {
            let text = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/examples/canonical/admissionNotice.json"
            ))
            .unwrap();
            let mut e = samgate_proto::canonical::from_str(&text).unwrap();
            e.source_message_id = id.into();
            e.case_ref = id.into();
            samgate_proto::validate::check_event(e).unwrap()
        };

        other
            .submit(&admission("from-the-other"), &router)
            .await
            .unwrap();
        hears(&mut heard, "the other process's batch is heard of").await;

        here.submit(&admission("from-here"), &router).await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(500), heard.changed())
                .await
                .is_err(),
            "the relay's own process does not notify"
        );

        // A delivery replayed from another process (the command line).
        let delivery = other
            .case_deliveries(&other.outbox(10, &[]).await.unwrap().deliveries[0].case_id)
            .await
            .unwrap()
            .remove(0);
        here.quarantine_delivery(&delivery.message_id, "test")
            .await
            .unwrap();
        assert!(
            other
                .requeue_delivery(&delivery.message_id, delivery.system.unwrap())
                .await
                .unwrap()
        );
        hears(&mut heard, "the replay is heard of").await;

        // Once the lease is given up, this process notifies too.
        lease.release().await;
        let _other_lease = other.lease().await.unwrap().expect("free now");
        let mut heard_there = other.other_writers().expect("PostgreSQL listens");
        hears(&mut heard_there, "the listener is up").await;
        here.submit(&admission("after"), &router).await.unwrap();
        hears(&mut heard_there, "heard of by the new relay").await;
    }

    /// Waits (five seconds at most) for `heard` to change; fails with
    /// `what` otherwise.
    async fn hears(heard: &mut tokio::sync::watch::Receiver<u64>, what: &str) {
        tokio::time::timeout(Duration::from_secs(5), heard.changed())
            .await
            .unwrap_or_else(|_| panic!("{what}"))
            .unwrap();
    }

    /// A batch that needs `person`.
    fn needs(person: &str) -> Needs {
        Needs {
            people: vec![person.to_string()],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_persons_batch_waits_for_the_one_before_and_no_one_else_does() {
        let store = Arc::new(store().await);
        let (first, _) = store.begin_and_read(&needs("194102069046")).await.unwrap();
        // Someone else's batch goes ahead.
        let (other, _) = tokio::time::timeout(
            Duration::from_secs(5),
            store.begin_and_read(&needs("191212121212")),
        )
        .await
        .expect("another person's batch does not wait")
        .unwrap();
        other.release();
        // Esther's next batch waits until the first lets her go.
        let second = {
            let store = store.clone();
            tokio::spawn(async move {
                let (held, _) = store.begin_and_read(&needs("194102069046")).await?;
                held.release();
                Ok::<_, super::StoreError>(())
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!second.is_finished(), "the second batch did not wait");
        PostgresStore::write_and_commit(first, &Default::default(), false)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the second batch goes on once the first has written")
            .unwrap()
            .unwrap();
    }

    /// A batch dropped before it wrote (its future dropped) does not keep
    /// its people locked: the connection holding them is closed.
    #[tokio::test]
    async fn a_dropped_batch_lets_its_people_go() {
        let store = store().await;
        let (held, _) = store.begin_and_read(&needs("194102069046")).await.unwrap();
        drop(held);
        let (again, _) = tokio::time::timeout(
            Duration::from_secs(5),
            store.begin_and_read(&needs("194102069046")),
        )
        .await
        .expect("the person was let go")
        .unwrap();
        again.release();
    }
}
