//! The store's schema migrations, embedded and run by sqlx
//! (`sqlx::migrate!`): each is applied once, recorded in
//! `_sqlx_migrations` with its checksum, and a migration edited after it
//! ran makes the store refuse to open rather than drift. Stores made
//! before samgate used sqlx recorded their versions in
//! `schema_migrations`; [`adopt`] carries those over, once.
//!
//! How openers are kept apart is the backend's: PostgreSQL's migrator
//! takes an advisory lock, SQLite's takes none, so `sqlite.rs` runs it
//! inside one immediate transaction.

use sqlx::migrate::{Migrate, MigrateError, Migrator};

use super::StoreError;

/// SQLite's migrations (`migrations/sqlite`).
pub(crate) static SQLITE: Migrator = sqlx::migrate!("src/store/migrations/sqlite");

/// PostgreSQL's migrations (`migrations/postgres`).
pub(crate) static POSTGRES: Migrator = sqlx::migrate!("src/store/migrations/postgres");

/// The table samgate's own runner kept, before sqlx: one row per version
/// applied.
pub(crate) const OLD_TABLE: &str = "schema_migrations";

/// Records in sqlx's table, with the embedded migrations' checksums, the
/// versions samgate's own runner applied (`applied`, read from
/// [`OLD_TABLE`]), so that sqlx neither applies them again nor refuses
/// the store; it applies only what came after them. Call it where
/// [`OLD_TABLE`] exists and sqlx's does not, inside a transaction that
/// keeps other openers out: the rows are committed with it, or not at
/// all.
pub(crate) async fn adopt<C: Migrate>(
    conn: &mut C,
    migrator: &Migrator,
    applied: &[i64],
) -> Result<(), StoreError> {
    conn.ensure_migrations_table(&migrator.table_name).await?;
    for version in applied {
        let migration = migrator
            .iter()
            .find(|m| m.version == *version)
            .ok_or(MigrateError::VersionMissing(*version))?;
        conn.skip(&migrator.table_name, migration).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};

    use super::*;
    use crate::store::{SqliteStore, Store};

    /// The SQLite migrations as samgate's own runner applied them.
    const OLD_SQLITE: &[&str] = &[
        include_str!("migrations/sqlite/0001_init.sql"),
        include_str!("migrations/sqlite/0002_outbox.sql"),
        include_str!("migrations/sqlite/0003_outbox_index.sql"),
        include_str!("migrations/sqlite/0004_protected_persons.sql"),
    ];

    /// A store made by samgate's own runner, with its first `versions`
    /// migrations applied: each migration's SQL and its row in
    /// `schema_migrations`, as that runner wrote them.
    async fn old_sqlite_store(path: &std::path::Path, versions: usize) {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(path)
            .create_if_missing(true);
        let mut conn = options.connect().await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        for (i, sql) in OLD_SQLITE.iter().take(versions).enumerate() {
            sqlx::raw_sql(*sql).execute(&mut conn).await.unwrap();
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)")
                .bind(i as i64 + 1)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn.close().await.unwrap();
    }

    /// Runs one statement on the store at `path`, as another program would.
    async fn execute(path: &std::path::Path, sql: &'static str) {
        let mut conn = SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(path)
            .connect()
            .await
            .unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }

    /// sqlx's rows in the store at `path`: version and checksum.
    async fn sqlx_rows(path: &std::path::Path) -> Vec<(i64, Vec<u8>)> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(path)
            .read_only(true);
        let mut conn = options.connect().await.unwrap();
        let rows = sqlx::query_as(
            "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        rows
    }

    fn embedded(migrator: &Migrator) -> Vec<(i64, Vec<u8>)> {
        migrator
            .iter()
            .map(|m| (m.version, m.checksum.to_vec()))
            .collect()
    }

    /// A store the old runner migrated to the end opens: nothing is
    /// applied again (the migrations' `CREATE TABLE`s would fail), and
    /// sqlx's table then holds every version with its checksum.
    #[tokio::test]
    async fn a_store_the_old_runner_migrated_is_adopted_not_migrated_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samgate.db");
        old_sqlite_store(&path, OLD_SQLITE.len()).await;
        let store = SqliteStore::open(&path).await.unwrap();
        assert!(store.get_case("none").await.unwrap().is_none());
        store.close().await;
        assert_eq!(sqlx_rows(&path).await, embedded(&SQLITE));
        // And it opens again as sqlx's own.
        SqliteStore::open(&path).await.unwrap().close().await;
    }

    /// A store the old runner left part way gets the rest from sqlx.
    #[tokio::test]
    async fn an_old_store_part_way_gets_the_migrations_it_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samgate.db");
        old_sqlite_store(&path, 2).await;
        SqliteStore::open(&path).await.unwrap().close().await;
        assert_eq!(sqlx_rows(&path).await, embedded(&SQLITE));
    }

    /// A migration changed after it ran (here: its recorded checksum) makes
    /// the store refuse to open, rather than drift from what it says.
    #[tokio::test]
    async fn a_migration_edited_after_it_ran_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samgate.db");
        SqliteStore::open(&path).await.unwrap().close().await;
        execute(
            &path,
            "UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 2",
        )
        .await;
        let refused = SqliteStore::open(&path).await.err().expect("refused");
        assert!(
            matches!(
                refused,
                StoreError::Migrate(MigrateError::VersionMismatch(2))
            ),
            "{refused}"
        );
    }

    /// A store that says it has a migration this samgate does not know
    /// (a newer samgate's) is refused, and left as it was.
    #[tokio::test]
    async fn an_old_store_with_an_unknown_migration_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samgate.db");
        old_sqlite_store(&path, OLD_SQLITE.len()).await;
        execute(
            &path,
            "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)",
        )
        .await;
        let refused = SqliteStore::open(&path).await.err().expect("refused");
        assert!(
            matches!(
                refused,
                StoreError::Migrate(MigrateError::VersionMissing(99))
            ),
            "{refused}"
        );
        let tables: Vec<String> = {
            let mut conn = SqliteConnectOptions::from_str("sqlite://")
                .unwrap()
                .filename(&path)
                .read_only(true)
                .connect()
                .await
                .unwrap();
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE name = '_sqlx_migrations'")
                .fetch_all(&mut conn)
                .await
                .unwrap()
        };
        assert!(tables.is_empty(), "nothing of the adoption was kept");
    }
}
