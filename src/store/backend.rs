//! What differs between the store's two databases, as two small traits
//! that `SqliteStore` and `PostgresStore` implement in plain Rust; `sql`
//! implements `Store` once over them. [`Backend`]: the pools, how writers
//! are kept apart, how a batch is read and written, how a list of values
//! is bound. [`RelaySupport`]: what the outbox relay needs when several
//! processes may share the database (the lease, word of other writers).
//!
//! The futures are `Send` (the gateway runs them on a multi-threaded
//! runtime, and `Store`'s are boxed as `Send`).

use std::future::Future;

use tokio::sync::watch;

use super::batch::{Known, Needs, Writes};
use super::{OutboxFeed, RelayLease, StoreError};

/// One database's side of the store.
pub(crate) trait Backend: RelaySupport + Send + Sync + 'static {
    type Db: sqlx::Database<QueryResult: RowsAffected>;

    /// A batch's hold from its read to its write: SQLite's open
    /// transaction, or PostgreSQL's session holding its people's locks.
    type Batch: Send;

    /// The rows the relay's read leaves out, as `OUTBOX` binds them.
    type SkipList: for<'t> sqlx::Encode<'t, Self::Db> + sqlx::Type<Self::Db> + Send;

    /// The relay's read (`Store::outbox`, from `sql::outbox_select!`);
    /// `$1` is the [`Backend::SkipList`], `$2` the limit.
    const OUTBOX: &'static str;

    /// The pool that reads and writes outside batches.
    fn pool(&self) -> &sqlx::Pool<Self::Db>;

    /// Connections whose commits do not wait for the disk, for the writes
    /// a crash may lose (marks, attempts).
    fn relaxed(&self) -> &sqlx::Pool<Self::Db>;

    /// The process-wide write lock, where the database has one writer
    /// (SQLite); `None` where it keeps writers apart itself.
    fn write_lock(&self) -> Option<&tokio::sync::Mutex<()>>;

    /// The outbox feed, where row ids are given out in commit order.
    fn feed(&self) -> Option<&OutboxFeed>;

    /// Begins a batch and reads what it needs (`batch::Needs`).
    fn begin_and_read(
        &self,
        needs: &Needs,
    ) -> impl Future<Output = Result<(Self::Batch, Known), StoreError>> + Send;

    /// Writes a folded batch and commits it. With `want_ids`, returns the
    /// (row id, message id) of each delivery row inserted, for the feed.
    fn write_and_commit(
        batch: Self::Batch,
        writes: &Writes,
        want_ids: bool,
    ) -> impl Future<Output = Result<Vec<(i64, String)>, StoreError>> + Send;

    /// Pushes the condition "is one of `values`", after a column name.
    fn push_in(q: &mut sqlx::QueryBuilder<Self::Db>, values: &[String]);

    /// `ids` as `OUTBOX` takes them.
    fn skip_list(ids: &[i64]) -> Self::SkipList;

    /// Closes the pools (the write lock is held).
    fn close_pools(&self) -> impl Future<Output = ()> + Send;

    /// The locks of a journal transaction, each a statement with two
    /// integer parameters: where other processes may write (PostgreSQL),
    /// the journal's own lock, then the batches' lock of each of `people`
    /// (sorted), so that a person who becomes protected cannot have a
    /// delivery to a forbidding system written beside the quarantine (taken
    /// again, the journal's lock is held once more, harmlessly). None where
    /// the write lock keeps every writer apart (SQLite).
    fn journal_locks(people: &[String]) -> Vec<(&'static str, i32, i32)>;
}

/// What the outbox relay needs from the database.
pub(crate) trait RelaySupport {
    /// The right to run the relay (`Store::relay_lease`).
    fn lease(&self) -> impl Future<Output = Result<Option<RelayLease>, StoreError>> + Send;

    /// Whether `lease` is still held (`Store::lease_alive`).
    fn lease_check(&self, lease: &mut RelayLease) -> impl Future<Output = bool> + Send;

    /// Tells the relay of another process of a change outside a batch (a
    /// replayed delivery).
    fn outbox_changed(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Word of other processes' batches (`Store::other_writers`).
    fn listen_for_other_writers(&self) -> Option<watch::Receiver<u64>>;
}

/// How many rows a statement changed (each driver has its own result
/// type, with no trait for it in sqlx).
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
}
