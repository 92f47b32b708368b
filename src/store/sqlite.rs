//! The embedded store on SQLite (sqlx): one file under the data directory,
//! WAL journal, `synchronous=FULL` so a committed event survives a power cut.
//! Writes are serialised by a lock (SQLite has one writer anyway), which
//! also makes read-fold-write free of races.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use samgate_proto::v1::{CareProcess, CaseStatus};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::{Mutex, watch};

use super::backend::{Backend, RelaySupport};
use super::batch::{Known, Needs, Writes};
use super::sql::{IN_LIST, outbox_select, unix_now};
use super::{OutboxFeed, RelayLease, StoreError, migrate};

/// How long a connection waits for another writer (e.g. `samgate case
/// list` reading while `serve` writes), and an opener for another
/// (`lock_opening`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections of the main pool: the reads (the API's, the relay's
/// outbox reads, pulls) and the writes outside batches. In WAL mode
/// readers run beside the one writer, each on a connection and thread of
/// its own; four lets the relay's read and a few API reads go at once,
/// and more would each keep a page cache of their own (2 MB by default)
/// for reads that, on a small machine, mostly wait for a core. (A choice,
/// not a measurement: batches, the load that matters, have a connection
/// of their own.)
const READ_CONNECTIONS: u32 = 4;

/// How often an opener looks again whether another has finished
/// (`lock_opening`).
const OPENING_POLL: Duration = Duration::from_millis(10);

/// Rows per multi-row INSERT: nine columns at most, so a statement stays
/// far below SQLite's 32,766 parameters.
const ROWS: usize = 1000;

/// True when `q` has a statement not yet sent (batch writes start from an
/// empty builder).
fn holds_statement(q: &sqlx::QueryBuilder<sqlx::Sqlite>) -> bool {
    !q.sql().as_str().is_empty()
}

pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection batches are stored on. SQLite has one writer
    /// anyway, and a connection keeps its page cache only while no other
    /// connection writes: spread over the pool, each batch began on a
    /// connection whose cache another batch had made stale, and read its
    /// index pages back, a system call each.
    batches: SqlitePool,
    /// One connection that commits without waiting for the disk, for the
    /// writes a crash may lose (marks). In WAL mode a commit at
    /// `synchronous=NORMAL` is not fsynced, and becomes durable with the
    /// next `FULL` commit, which syncs the whole log.
    relaxed: SqlitePool,
    write_lock: Mutex<()>,
    /// Committed deliveries for the relay: SQLite gives out row ids in
    /// commit order (one writer), which the feed needs.
    feed: OutboxFeed,
}

impl Backend for SqliteStore {
    type Db = sqlx::Sqlite;
    type Batch = BatchTransaction;
    type SkipList = String;

    /// The rows to leave out as a JSON array, one statement text however
    /// many there are.
    const OUTBOX: &'static str = outbox_select!("d.id NOT IN (SELECT value FROM json_each($1))");

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn relaxed(&self) -> &SqlitePool {
        &self.relaxed
    }

    /// SQLite has one writer: a lock keeps ours in line, and makes each
    /// read-fold-write free of races.
    fn write_lock(&self) -> Option<&Mutex<()>> {
        Some(&self.write_lock)
    }

    fn feed(&self) -> Option<&OutboxFeed> {
        Some(&self.feed)
    }

    fn journal_locks(_people: &[String]) -> Vec<(&'static str, i32, i32)> {
        Vec::new()
    }

    async fn close_pools(&self) {
        self.relaxed.close().await;
        self.batches.close().await;
        self.pool.close().await;
    }

    /// Begins a batch's transaction and reads what it needs, in one call
    /// to the connection's thread. `IMMEDIATE` takes SQLite's write lock
    /// at once, as a read-fold-write wants; the store's write lock already
    /// keeps this process's writers apart, people included.
    async fn begin_and_read(&self, needs: &Needs) -> Result<(BatchTransaction, Known), StoreError> {
        let mut tx = BatchTransaction {
            conn: self.batches.acquire().await?,
            open: true,
        };
        match Self::read_known(&mut tx.conn, needs, "BEGIN IMMEDIATE; ").await {
            Ok(known) => Ok((tx, known)),
            Err(e) => {
                tx.roll_back().await;
                Err(e)
            }
        }
    }

    /// Writes a folded batch and commits it, in one call to the
    /// connection's thread (see `write_batch`).
    async fn write_and_commit(
        mut tx: BatchTransaction,
        writes: &Writes,
        want_ids: bool,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        match Self::write_batch(&mut tx.conn, writes, want_ids, "; COMMIT").await {
            Ok(written) => {
                tx.open = false;
                Ok(written)
            }
            Err(e) => {
                tx.roll_back().await;
                Err(e)
            }
        }
    }

    /// Row ids as `OUTBOX` takes them: a JSON array.
    fn skip_list(ids: &[i64]) -> String {
        serde_json::to_string(ids).expect("a list of integers is JSON")
    }

    /// `IN (…)` with one parameter per value.
    fn push_in(q: &mut sqlx::QueryBuilder<sqlx::Sqlite>, values: &[String]) {
        q.push("IN ");
        q.push_tuples(values, |mut t, v| {
            t.push_bind(v.as_str());
        });
    }
}

impl SqliteStore {
    /// Writes a folded batch: one multi-row statement per table, all
    /// in one string. SQLite runs a string of statements in one call, so
    /// they go to the connection's thread together: one hand-over for the
    /// batch instead of one per table (each costs about 0.25 ms under
    /// load).
    ///
    /// `suffix` follows the statements in the same call (the batch's
    /// `COMMIT`). With `want_ids`, returns the (row id, message id) of each
    /// delivery row inserted, for the outbox feed.
    async fn write_batch(
        conn: &mut sqlx::SqliteConnection,
        writes: &Writes,
        want_ids: bool,
        suffix: &str,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let now = unix_now();
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("");
        let separate = |q: &mut sqlx::QueryBuilder<sqlx::Sqlite>| {
            if holds_statement(q) {
                q.push("; ");
            }
        };
        for chunk in writes.cases.chunks(ROWS) {
            separate(&mut q);
            q.push(
                "INSERT INTO cases (case_id, process, status, patient_id, updated_at, event_count, body) ",
            );
            q.push_values(chunk, |mut row, c| {
                row.push_bind(c.case_id.as_str())
                    .push_bind(c.process)
                    .push_bind(c.status)
                    .push_bind(c.patient_id.as_str())
                    .push_bind(c.updated_at)
                    .push_bind(c.event_count)
                    .push_bind(c.body.as_slice());
            });
            q.push(
                " ON CONFLICT (case_id) DO UPDATE SET status = excluded.status, patient_id = excluded.patient_id, \
                 updated_at = excluded.updated_at, event_count = excluded.event_count, body = excluded.body",
            );
        }
        for chunk in writes.refs.chunks(ROWS) {
            separate(&mut q);
            q.push("INSERT INTO case_refs (source_system, case_ref, case_id) ");
            q.push_values(chunk, |mut row, (system, case_ref, case_id)| {
                row.push_bind(*system)
                    .push_bind(case_ref.as_str())
                    .push_bind(case_id.as_str());
            });
            q.push(" ON CONFLICT DO NOTHING");
        }
        for chunk in writes.participants.chunks(ROWS) {
            separate(&mut q);
            q.push("INSERT INTO participants (case_id, hsa_id) ");
            q.push_values(chunk, |mut row, (case_id, hsa_id)| {
                row.push_bind(case_id.as_str()).push_bind(hsa_id.as_str());
            });
            q.push(" ON CONFLICT DO NOTHING");
        }
        for chunk in writes.protected_people.chunks(ROWS) {
            separate(&mut q);
            q.push("INSERT INTO protected_persons (patient_id, protected_at) ");
            q.push_values(chunk, |mut row, patient_id| {
                row.push_bind(patient_id.as_str()).push_bind(now);
            });
            q.push(" ON CONFLICT DO NOTHING");
        }
        for chunk in writes.events.chunks(ROWS) {
            separate(&mut q);
            q.push(
                "INSERT INTO events (case_id, sequence, source_system, source_message_id, payload_type, occurred_at, \
                 received_at, body) ",
            );
            q.push_values(chunk, |mut row, e| {
                row.push_bind(e.case_id.as_str())
                    .push_bind(e.sequence)
                    .push_bind(e.source_system)
                    .push_bind(e.source_message_id.as_str())
                    .push_bind(e.payload_type)
                    .push_bind(e.occurred_at)
                    .push_bind(now)
                    .push_bind(e.body.as_slice());
            });
        }
        for chunk in writes.deliveries.chunks(ROWS) {
            separate(&mut q);
            q.push(
                "INSERT INTO deliveries (message_id, case_id, sequence, recipient, system, kind, status, reason, created_at) ",
            );
            q.push_values(chunk, |mut row, d| {
                row.push_bind(d.message_id.as_str())
                    .push_bind(d.case_id.as_str())
                    .push_bind(d.sequence)
                    .push_bind(d.recipient.as_str())
                    .push_bind(d.system_name())
                    .push_bind(d.kind.as_str())
                    .push_bind(d.status.as_str())
                    .push_bind(d.reason.as_str())
                    .push_bind(now);
            });
            q.push(" ON CONFLICT DO NOTHING");
            if want_ids {
                q.push(" RETURNING id, message_id");
            }
        }
        if !holds_statement(&q) {
            // Nothing written (an empty batch): the suffix alone.
            q.push(suffix.trim_start_matches("; "));
        } else {
            q.push(suffix);
        }
        if !want_ids {
            q.build().execute(&mut *conn).await?;
            return Ok(Vec::new());
        }
        let rows = q.build().fetch_all(&mut *conn).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::refuse_foreign(path).await?;
        let _opening = lock_opening(path).await?;
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // A connection to a local file does not go stale as a network one
        // can: no ping before each use (it would be one more round trip
        // to the connection's thread for every transaction).
        let pool_of = |connections| {
            SqlitePoolOptions::new()
                .max_connections(connections)
                .test_before_acquire(false)
        };
        let pool = pool_of(READ_CONNECTIONS)
            .connect_with(options.clone())
            .await?;
        let batches = pool_of(1).connect_with(options.clone()).await?;
        let relaxed = pool_of(1)
            .connect_with(options.synchronous(SqliteSynchronous::Normal))
            .await?;
        let store = SqliteStore {
            pool,
            batches,
            relaxed,
            write_lock: Mutex::new(()),
            feed: OutboxFeed::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Refuses an existing file that is not a samgate store, before
    /// anything is written to it: opening it as a store would switch it to
    /// WAL and give it samgate's tables. Read with a read-only connection
    /// that sets no journal mode.
    async fn refuse_foreign(path: &Path) -> Result<(), StoreError> {
        let foreign = |reason: String| StoreError::Foreign {
            path: path.display().to_string(),
            reason,
        };
        if std::fs::metadata(path).map_or(true, |m| m.len() == 0) {
            return Ok(());
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .read_only(true)
            .busy_timeout(BUSY_TIMEOUT);
        let mut conn = sqlx::ConnectOptions::connect(&options)
            .await
            .map_err(|e| foreign(e.to_string()))?;
        let tables: Result<Vec<String>, sqlx::Error> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut conn)
                .await;
        let _ = sqlx::Connection::close(conn).await;
        let tables = tables.map_err(|e| foreign(e.to_string()))?;
        let migrated = |t: &String| *t == migrate::OLD_TABLE || *t == migrate::SQLITE.table_name;
        if !tables.is_empty() && !tables.iter().any(migrated) {
            return Err(foreign(format!(
                "it holds other tables ({}) and no samgate migrations",
                tables.join(", ")
            )));
        }
        Ok(())
    }

    /// Applies the migrations not yet applied (`migrate`), adopting a
    /// store of samgate's own runner first. All of it runs in one
    /// immediate transaction, in which sqlx's own transactions become
    /// savepoints: sqlx's SQLite migrator takes no lock, and two processes
    /// opening a new store at once must take turns (the busy timeout)
    /// rather than both apply the first migration, or one fail with
    /// "database is locked" when both try to upgrade a read lock.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ($1, $2)",
        )
        .bind(migrate::OLD_TABLE)
        .bind(&*migrate::SQLITE.table_name)
        .fetch_all(&mut *tx)
        .await?;
        if tables == [migrate::OLD_TABLE] {
            let applied: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT version FROM {} ORDER BY version",
                migrate::OLD_TABLE
            )))
            .fetch_all(&mut *tx)
            .await?;
            migrate::adopt(&mut *tx, &migrate::SQLITE, &applied).await?;
        }
        migrate::SQLITE.run(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Keeps openers of one file apart (this process's and others') while
/// they connect and migrate, until the returned file is dropped. Two
/// openers of a new file both switch it to WAL, and SQLite fails one of
/// them at once with "database is locked" instead of waiting its busy
/// timeout (`two_gateways_opening_a_new_store_at_once_both_start` did, one
/// run in five); and sqlx's SQLite migrator takes no lock. The lock is on
/// a file of its own beside the store (`samgate.db.lock`), taken with
/// `flock`, which the system frees when its holder exits.
async fn lock_opening(path: &Path) -> Result<std::fs::File, StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = std::path::PathBuf::from(name);
    let failed = |source: std::io::Error| StoreError::OpeningLock {
        path: lock_path.display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(failed)?;
    let deadline = tokio::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(OPENING_POLL).await;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(failed(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "another process kept it for {} s while opening the store",
                        BUSY_TIMEOUT.as_secs()
                    ),
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(failed(e)),
        }
    }
}

/// A batch's transaction on SQLite, begun and ended by statements of our
/// own: its `BEGIN` goes with the batch's read and its `COMMIT` with its
/// writes, each pair in one call to the connection's thread, where sqlx's
/// `Transaction` would send each alone (two more hand-overs per batch,
/// about a quarter of a batch's time). Dropped while still open (an
/// error the rollback did not mend, or the batch's future dropped), it
/// closes its connection, which rolls the transaction back, rather than
/// hand an open transaction to the pool's next user.
pub(crate) struct BatchTransaction {
    conn: sqlx::pool::PoolConnection<sqlx::Sqlite>,
    open: bool,
}

impl BatchTransaction {
    /// Rolls back what the batch began. When that fails (the `BEGIN`
    /// itself failed, say) the connection is closed on drop instead.
    async fn roll_back(&mut self) {
        if sqlx::raw_sql("ROLLBACK")
            .execute(&mut *self.conn)
            .await
            .is_ok()
        {
            self.open = false;
        }
    }
}

impl Drop for BatchTransaction {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

/// The branches of a batch's read (`SqliteStore::read_known`), each
/// ending where its list of values goes. Every branch has the same seven
/// columns: what the row answers (0 a stored message, 1 a case ref, 2 an
/// open outpatient case), source system, message id or case ref, case id,
/// sequence, patient id and case body: the columns of PostgreSQL's
/// `samgate_lock_and_read` (its migration 4), so that one function reads
/// the rows of both (`sql::take_known_row`).
const KNOWN_SEEN: &str = "SELECT 0, e.source_system, e.source_message_id, e.case_id, e.sequence, c.patient_id, c.body, e.body \
     FROM events e JOIN cases c ON c.case_id = e.case_id WHERE e.source_system = ";
const KNOWN_REFS: &str = "SELECT 1, r.source_system, r.case_ref, c.case_id, NULL, c.patient_id, c.body, NULL \
     FROM case_refs r JOIN cases c ON c.case_id = r.case_id WHERE r.case_ref ";
const KNOWN_OUTPATIENT_CASES: &str = "SELECT 2, NULL, NULL, case_id, NULL, patient_id, body, NULL \
     FROM cases WHERE process = ";
/// Answer 3 is `sql::KNOWN_PROTECTED`.
const KNOWN_PROTECTED_PEOPLE: &str = "SELECT 3, NULL, NULL, NULL, NULL, patient_id, NULL, NULL \
     FROM protected_persons WHERE patient_id ";
/// The journal's home municipality of the batch's people (answer 4, the
/// code in the third column).
const KNOWN_MUNICIPALITIES: &str = "SELECT 4, NULL, municipality_code, NULL, NULL, patient_id, NULL, NULL \
     FROM journal_persons WHERE patient_id ";

impl SqliteStore {
    /// Reads what a batch needs (see `batch`) in one statement, a
    /// `UNION ALL` whose first column says what each row answers:
    /// one hand-over however many kinds of question the batch asks.
    /// `prefix` goes in front of it in the same call (SQLite's
    /// `BEGIN`). Lists longer than `IN_LIST` take one statement per
    /// thousand values.
    async fn read_known(
        conn: &mut sqlx::SqliteConnection,
        needs: &Needs,
        prefix: &str,
    ) -> Result<Known, StoreError> {
        let mut known = Known::default();
        let rounds = needs
            .message_ids
            .iter()
            .map(|(_, ids)| ids.len())
            .chain([
                needs.case_refs.len(),
                needs.outpatients.len(),
                needs.people.len(),
            ])
            .map(|n| n.div_ceil(IN_LIST))
            .max()
            .unwrap_or(0)
            .max(1);
        for round in 0..rounds {
            let mut q =
                sqlx::QueryBuilder::<sqlx::Sqlite>::new(if round == 0 { prefix } else { "" });
            let mut parts = 0;
            let mut union = |q: &mut sqlx::QueryBuilder<sqlx::Sqlite>| {
                if parts > 0 {
                    q.push(" UNION ALL ");
                }
                parts += 1;
            };
            // Messages stored before (a redelivery), with their cases.
            for (system, ids) in &needs.message_ids {
                if let Some(ids) = super::sql::chunk(ids, round) {
                    union(&mut q);
                    q.push(KNOWN_SEEN)
                        .push_bind(*system)
                        .push(" AND e.source_message_id ");
                    Self::push_in(&mut q, ids);
                }
            }
            if let Some(refs) = super::sql::chunk(&needs.case_refs, round) {
                union(&mut q);
                q.push(KNOWN_REFS);
                Self::push_in(&mut q, refs);
            }
            // Only the outpatient rules ask about the person's other cases.
            if let Some(people) = super::sql::chunk(&needs.outpatients, round) {
                union(&mut q);
                q.push(KNOWN_OUTPATIENT_CASES)
                    .push_bind(CareProcess::Outpatient as i32)
                    .push(" AND status <> ")
                    .push_bind(CaseStatus::Closed as i32)
                    .push(" AND patient_id ");
                Self::push_in(&mut q, people);
            }
            if let Some(people) = super::sql::chunk(&needs.people, round) {
                union(&mut q);
                q.push(KNOWN_PROTECTED_PEOPLE);
                Self::push_in(&mut q, people);
                union(&mut q);
                q.push(KNOWN_MUNICIPALITIES);
                Self::push_in(&mut q, people);
            }
            if parts == 0 {
                // Nothing to ask: the prefix alone, if any.
                if !q.sql().as_str().is_empty() {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(q.sql().as_str().to_owned()))
                        .execute(&mut *conn)
                        .await?;
                }
                continue;
            }
            for row in q.build().fetch_all(&mut *conn).await? {
                super::sql::take_known_row(&row, &mut known)?;
            }
        }
        Ok(known)
    }
}

impl RelaySupport for SqliteStore {
    /// One process owns an SQLite file, so the relay is always its own.
    async fn lease(&self) -> Result<Option<RelayLease>, StoreError> {
        Ok(Some(RelayLease::Local))
    }

    async fn lease_check(&self, _lease: &mut RelayLease) -> bool {
        true
    }

    /// A change outside a batch (a replayed delivery): the relay's safety
    /// poll finds it (the CLI that replays is another process, and SQLite
    /// has no way to tell the gateway's).
    async fn outbox_changed(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// No other process writes to the file.
    fn listen_for_other_writers(&self) -> Option<watch::Receiver<u64>> {
        None
    }
}
