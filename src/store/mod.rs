//! The event store: append-only events, the case projection, each system's
//! case refs, behind one trait so that SQLite (embedded, the default) and
//! PostgreSQL (for scale) can both serve it.
//!
//! `submit` is the one write: inside a single transaction it checks the
//! idempotency key, finds the case (by this system's ref, or by the same ref
//! and patient from another system), folds the event with the engine, and
//! writes event, case, refs and participants. A rule violation aborts the
//! transaction: nothing is stored.

mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use samgate_proto::CaseEvent;
use samgate_proto::v1::{Case, CaseStatus, StoredEvent};

use crate::engine::{Engine, RuleViolation};

pub use sqlite::SqliteStore;

/// The result of submitting one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    pub case_id: String,
    /// The event's position in its case, from 1.
    pub sequence: i64,
    /// True when the event was stored before; nothing was stored now.
    pub duplicate: bool,
    /// The case as it stands after the event.
    pub case: Case,
}

/// Which cases to list.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Only cases this actor takes part in.
    pub participant_hsa_id: Option<String>,
    pub status: Option<CaseStatus>,
}

/// The largest page `list_cases` returns.
pub const MAX_PAGE_SIZE: usize = 500;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Rule(#[from] RuleViolation),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    #[error("unsupported store URL {0} (expected sqlite://PATH)")]
    UnsupportedUrl(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Folds and stores one checked event; idempotent on
    /// (sourceSystem, sourceMessageId).
    async fn submit(&self, event: &CaseEvent, engine: &Engine) -> Result<Submitted, StoreError>;

    async fn get_case(&self, case_id: &str) -> Result<Option<Case>, StoreError>;

    /// One page of cases ordered by id, and the token of the next page.
    async fn list_cases(
        &self,
        filter: &CaseFilter,
        page_size: usize,
        page_token: Option<&str>,
    ) -> Result<(Vec<Case>, Option<String>), StoreError>;

    /// The case's events from `from_sequence` on, in order.
    async fn events(
        &self,
        case_id: &str,
        from_sequence: i64,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Finishes writes and closes connections.
    async fn close(&self);
}

/// The store a URL names: `sqlite://PATH`, or the embedded default
/// `samgate.db` under `data_dir` when the URL is empty.
pub async fn open(url: &str, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    if url.is_empty() {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        return Ok(Arc::new(
            SqliteStore::open(&data_dir.join("samgate.db")).await?,
        ));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = Path::new(path);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::DataDir {
                path: parent.display().to_string(),
                source,
            })?;
        }
        return Ok(Arc::new(SqliteStore::open(path).await?));
    }
    Err(StoreError::UnsupportedUrl(url.to_owned()))
}
