//! The event store: append-only events, the case projection, each system's
//! case refs, behind one trait so that SQLite (embedded, the default) and
//! PostgreSQL (for scale) can both serve it.
//!
//! `submit_batch` is the one write (`submit` is a batch of one): inside a
//! single transaction it checks each event's idempotency key, finds its case
//! (by this system's ref, or by the same ref and patient from another
//! system), folds it with the engine, and writes events, cases, refs,
//! participants and outbox rows (`batch` does the middle part in memory). A
//! rule violation refuses its event alone: nothing of it is stored.

mod backend;
mod batch;
mod feed;
pub mod journal;
mod migrate;
mod postgres;
mod sql;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use samgate_proto::CaseEvent;
use samgate_proto::v1::{Case, CaseStatus, StoredEvent};
use tokio::sync::watch;

use crate::engine::{Engine, Facts, RuleViolation};

pub use feed::{FeedReceiver, OutboxFeed};
pub use postgres::{PgLease, PostgresStore};
/// Events reach the store checked (`samgate_proto::validate::check_event`).
pub use samgate_proto::validate::Checked;

use crate::channel::{Channel, System};
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

/// What folding one event gives: the case after it, and its deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub case: Case,
    pub deliveries: Vec<NewDelivery>,
}

/// Folds an event into its case inside the store's transaction: the engine
/// alone, or the engine with routing (`routing::Router`).
pub trait Folder: Send + Sync {
    fn fold(
        &self,
        prev: Option<&Case>,
        case_id: &str,
        event: &Checked<CaseEvent>,
        facts: &Facts,
    ) -> Result<Outcome, RuleViolation>;
}

impl Folder for Engine {
    fn fold(
        &self,
        prev: Option<&Case>,
        case_id: &str,
        event: &Checked<CaseEvent>,
        facts: &Facts,
    ) -> Result<Outcome, RuleViolation> {
        Ok(Outcome {
            case: Engine::fold(self, prev, case_id, event, facts)?,
            deliveries: Vec::new(),
        })
    }
}

/// What a delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    /// The event, rendered in the recipient's form.
    Event,
    /// A notice from samgate itself (the text is the delivery's reason).
    Notice,
    /// A SIP version for the citizen portal, pushed over HTTPS by
    /// `portal::push`, never by the AMQP relay.
    Publication,
}

impl DeliveryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Event => "event",
            DeliveryKind::Notice => "notice",
            DeliveryKind::Publication => "publication",
        }
    }

    /// A stored kind; anything else is a corrupt store, never a guess.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "event" => Ok(DeliveryKind::Event),
            "notice" => Ok(DeliveryKind::Notice),
            "publication" => Ok(DeliveryKind::Publication),
            other => Err(StoreError::Corrupt(format!(
                "delivery kind '{other}' is none samgate writes"
            ))),
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Quarantined,
    /// Taken out of the quarantine by an operator, with the reason, and
    /// never made (`Store::discard_delivery`).
    Discarded,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Quarantined => "quarantined",
            DeliveryStatus::Discarded => "discarded",
        }
    }

    /// A stored status; anything else is a corrupt store, never a guess.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "delivered" => Ok(DeliveryStatus::Delivered),
            "quarantined" => Ok(DeliveryStatus::Quarantined),
            "discarded" => Ok(DeliveryStatus::Discarded),
            other => Err(StoreError::Corrupt(format!(
                "delivery status '{other}' is none samgate writes"
            ))),
        }
    }
}

/// The relay's lease: for PostgreSQL a session holding an advisory lock
/// (closing it frees the lock); SQLite is one process, so always granted.
pub enum RelayLease {
    Local,
    Postgres(postgres::PgLease),
}

impl RelayLease {
    /// Gives the lease up. On PostgreSQL the session is ended the way a
    /// client ends one, which frees the lock; a dropped connection would
    /// free it too, but leave "connection reset by peer" in the server's
    /// log at every stop.
    pub async fn release(self) {
        if let RelayLease::Postgres(lease) = self {
            lease.close().await;
        }
    }
}

/// A delivery to write with its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub recipient: String,
    /// The recipient's system; `None` when the directory does not know the
    /// recipient (the delivery is then quarantined).
    pub system: Option<System>,
    pub kind: DeliveryKind,
    pub status: DeliveryStatus,
    /// Why it is quarantined, or a notice's text.
    pub reason: String,
}

impl NewDelivery {
    pub fn pending(recipient: &str, system: Option<System>, kind: DeliveryKind) -> Self {
        NewDelivery {
            recipient: recipient.to_owned(),
            system,
            kind,
            status: DeliveryStatus::Pending,
            reason: String::new(),
        }
    }

    pub fn quarantined(recipient: &str, system: Option<System>, reason: String) -> Self {
        NewDelivery {
            recipient: recipient.to_owned(),
            system,
            kind: DeliveryKind::Event,
            status: DeliveryStatus::Quarantined,
            reason,
        }
    }
}

/// A stored delivery, with the event it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Position in the outbox: the order deliveries are made in.
    pub id: i64,
    pub message_id: String,
    pub case_id: String,
    pub sequence: i64,
    pub recipient: String,
    /// The recipient's system; `None` for a recipient the directory did
    /// not know (always quarantined).
    pub system: Option<System>,
    pub kind: DeliveryKind,
    pub status: DeliveryStatus,
    pub reason: String,
    pub event: CaseEvent,
}

impl Delivery {
    /// How this delivery is made: its system's channel (`None` when the
    /// system is unknown).
    pub fn channel(&self) -> Option<Channel> {
        self.system.map(System::channel)
    }

    /// Whether the outbox relay publishes it: pending, through the relay's
    /// channel (the stores' outbox read says the same in SQL).
    pub fn goes_through_relay(&self) -> bool {
        self.status == DeliveryStatus::Pending && self.channel() == Some(Channel::Relay)
    }

    /// The system's name as stored and shown (`cosmic-link`); empty when
    /// unknown.
    pub fn system_name(&self) -> &'static str {
        self.system.map_or("", System::as_str)
    }
}

/// One read of the outbox (`Store::outbox`).
#[derive(Debug, Clone, Default)]
pub struct OutboxRead {
    /// Pending deliveries in outbox order, as many as asked for at most.
    pub deliveries: Vec<Delivery>,
    /// The highest delivery row id when the read was made (0 when there
    /// is none): every row up to it was there to be read.
    pub top: i64,
}

/// The namespace of delivery message ids (UUIDv5).
pub const DELIVERY_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6d1f_3c4e_2a9b_5e70_8c11_53a6_7a2e_0b91);

/// The delivery's message id: the same for the same event, recipient and
/// kind on every attempt and every gateway.
pub fn delivery_message_id(event: &CaseEvent, recipient: &str, kind: DeliveryKind) -> String {
    let key = format!(
        "{}/{}/{recipient}/{}",
        event.source_system,
        event.source_message_id,
        kind.as_str()
    );
    uuid::Uuid::new_v5(&DELIVERY_ID_NAMESPACE, key.as_bytes()).to_string()
}

/// A timer to set (`Store::schedule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerSpec {
    pub key: String,
    pub kind: String,
    /// Unix milliseconds.
    pub due_at: i64,
    /// JSON, without personal data.
    pub payload: String,
}

/// An alert of the deadline watch, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub case_id: String,
    /// `watch::AlertKind::as_str`.
    pub kind: String,
    /// Unix seconds.
    pub due_at: i64,
    /// The responsible units' HSA-ids.
    pub units: Vec<String>,
    pub raised_at: i64,
    pub cleared_at: Option<i64>,
    /// The state last published: '', 'raised' or 'cleared'.
    pub published: String,
}

/// What operators watch (`Store::operations_stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperationsStats {
    /// Pending deliveries by system (as stored: empty for an unknown one).
    pub pending: Vec<PendingBySystem>,
    pub quarantined: i64,
    pub timers: i64,
    /// Alerts raised and not cleared, by kind.
    pub alerts: Vec<(String, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBySystem {
    pub system: String,
    pub count: i64,
    /// Unix seconds.
    pub oldest_created_at: i64,
}

/// What lifting a person's protection changed (`Store::lift_protection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiftedProtection {
    /// Whether the person register held the person as protected.
    pub registered: bool,
    /// The cases whose flag was cleared.
    pub cases: Vec<String>,
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
/// The most rows one `outbox` read returns.
pub const MAX_OUTBOX_READ: usize = 1000;
/// The most events one `events_page` read returns: a few megabytes.
pub const MAX_EVENT_PAGE: usize = 5000;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Rule(#[from] RuleViolation),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// What failed a whole batch, given to each of its events.
    #[error("the batch was not stored: {0}")]
    BatchFailed(Arc<StoreError>),
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    /// The schema could not be brought up to date, or a migration was
    /// changed after it ran, or the store is newer than this samgate.
    #[error("migrating the store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported store URL {0} (expected sqlite://PATH or postgres://...)")]
    UnsupportedUrl(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("there is no store at {path} (is --data-dir or SAMGATE_STORE_URL right?)")]
    Missing { path: String },
    #[error("cannot lock {path} to open the store: {source}")]
    OpeningLock {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a samgate store: {reason}; it was left as it was")]
    Foreign { path: String, reason: String },
    #[error("{target}: {reason}")]
    Unreachable { target: String, reason: String },
}

impl StoreError {
    /// True when trying the same write again later may succeed: the
    /// connection or the server's resources failed, or another writer got
    /// in the way (serialization failure, deadlock, database locked). False
    /// when the write itself is refused (a broken rule or constraint, data
    /// the database cannot hold, such as an index row over its maximum) or
    /// the store is not usable as configured: retrying cannot fix those.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => sql_error_is_transient(e),
            StoreError::Migrate(
                sqlx::migrate::MigrateError::Execute(e)
                | sqlx::migrate::MigrateError::ExecuteMigration(e, _),
            ) => sql_error_is_transient(e),
            StoreError::BatchFailed(e) => e.is_transient(),
            StoreError::Unreachable { .. } => true,
            _ => false,
        }
    }
}

/// PostgreSQL's SQLSTATEs (classes, or single codes) of conditions that
/// pass: connection exceptions, serialization failure, deadlock,
/// insufficient resources, a lock not available, operator intervention
/// (shutdown, cancelled statement), system I/O errors, and a server that
/// is read-only for now (a standby during failover).
const PG_TRANSIENT: &[&str] = &["08", "40001", "40P01", "53", "55P03", "57", "58", "25006"];
/// SQLite's primary result codes of conditions that pass: SQLITE_BUSY,
/// SQLITE_LOCKED, SQLITE_NOMEM, SQLITE_IOERR, SQLITE_FULL.
const SQLITE_TRANSIENT: &[i64] = &[5, 6, 7, 10, 13];

fn sql_error_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // The extended code: the primary one is its low byte.
                code.parse::<i64>()
                    .is_ok_and(|c| SQLITE_TRANSIENT.contains(&(c & 0xff)))
            } else {
                PG_TRANSIENT.iter().any(|t| code.starts_with(t))
            }
        }
        _ => false,
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Folds and stores one checked event; idempotent on
    /// (sourceSystem, sourceMessageId).
    async fn submit(
        &self,
        event: &Checked<CaseEvent>,
        folder: &dyn Folder,
    ) -> Result<Submitted, StoreError>;

    /// Submits several events in one transaction (one commit, one fsync):
    /// each gets its own result, a broken rule refusing only its event. An
    /// error of the store itself fails the whole batch, and nothing of it
    /// is stored.
    async fn submit_batch(
        &self,
        events: &[Checked<CaseEvent>],
        folder: &dyn Folder,
    ) -> Result<Vec<Result<Submitted, StoreError>>, StoreError>;

    async fn get_case(&self, case_id: &str) -> Result<Option<Case>, StoreError>;

    /// Every case of one person, oldest first.
    async fn cases_for_patient(&self, patient_id: &str) -> Result<Vec<Case>, StoreError>;

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

    /// Every case's events in arrival order (the events table's row id),
    /// after row `after_id`, at most `limit` (up to [`MAX_EVENT_PAGE`]): a
    /// whole-store read one page at a time (`indicators`).
    async fn events_page(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, StoredEvent)>, StoreError>;

    /// Pending deliveries to `recipient`, oldest first.
    async fn pending_deliveries(
        &self,
        recipient: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Marks deliveries to `recipient` delivered; returns how many were
    /// pending. Acknowledging twice is harmless.
    async fn ack_deliveries(
        &self,
        recipient: &str,
        message_ids: &[String],
    ) -> Result<u64, StoreError>;

    /// Quarantines a pending delivery that cannot be made.
    async fn quarantine_delivery(&self, message_id: &str, reason: &str) -> Result<(), StoreError>;

    /// Quarantined deliveries in outbox order, those past row `after`, at
    /// most `limit` (a page; the last row's id is the next page's
    /// `after`).
    async fn quarantined(&self, after: i64, limit: usize) -> Result<Vec<Delivery>, StoreError>;

    /// One delivery, by its message id.
    async fn delivery(&self, message_id: &str) -> Result<Option<Delivery>, StoreError>;

    /// Lifts a person's protected identity: removes them from the person
    /// register and clears the flag in their cases (their stored events,
    /// append-only, keep what they said). The one way protection ends; the
    /// caller audits it.
    async fn lift_protection(&self, patient_id: &str) -> Result<LiftedProtection, StoreError>;

    /// Discards a quarantined delivery for good, keeping `reason` (who and
    /// why, from the operator console); false when it is not quarantined.
    async fn discard_delivery(&self, message_id: &str, reason: &str) -> Result<bool, StoreError>;

    /// The cases a system knows by `case_ref` (their external refs), by
    /// case id, at most `limit`.
    async fn cases_by_ref(&self, case_ref: &str, limit: usize) -> Result<Vec<Case>, StoreError>;

    /// Makes a quarantined delivery pending again, to be made through
    /// `system`; false when it is not quarantined (no such delivery,
    /// already replayed, or delivered).
    async fn requeue_delivery(&self, message_id: &str, system: System) -> Result<bool, StoreError>;

    /// Pending deliveries to anyone but native units (they pull) and the
    /// portal (it is pushed to), in outbox order: what the relay
    /// publishes next. The rows `skip` names (the relay's, published and
    /// awaiting their confirms) are left out by the database, so a read
    /// under load does not carry them back again and again.
    async fn outbox(&self, limit: usize, skip: &[i64]) -> Result<OutboxRead, StoreError>;

    /// Deliveries the relay may publish, handed over as they are committed
    /// (see `feed`); `None` when the backend does not give out row ids in
    /// commit order, and the relay reads the outbox instead. Every batch
    /// commits either before this returns (a read made after it sees the
    /// batch) or is fed whole.
    async fn follow_outbox(&self) -> Option<FeedReceiver>;

    /// Marks deliveries delivered (the broker confirmed them).
    async fn mark_delivered(&self, message_ids: &[String]) -> Result<u64, StoreError>;

    /// Counts a failed attempt at a delivery.
    async fn record_attempt(&self, message_id: &str) -> Result<(), StoreError>;

    /// The right to run the outbox relay: `None` while another process
    /// holds it. Held as long as the returned lease lives and
    /// [`Store::lease_alive`] says so.
    async fn relay_lease(&self) -> Result<Option<RelayLease>, StoreError>;

    /// Whether a lease is still held (its database session is alive).
    async fn lease_alive(&self, lease: &mut RelayLease) -> bool;

    /// Changes each time another process sharing the database has
    /// committed deliveries, for the relay to read them now rather than at
    /// its safety poll; `None` where no other process can write (SQLite).
    /// It also changes once it is listening: what commits from then on is
    /// heard of, and a read then covers what came before. Call it inside
    /// the runtime: the listening runs in a task of its own.
    fn other_writers(&self) -> Option<watch::Receiver<u64>>;

    /// Every delivery of a case, in outbox order.
    async fn case_deliveries(&self, case_id: &str) -> Result<Vec<Delivery>, StoreError>;

    // The journal feed (hl7v2.md; see `journal`).

    /// Commits a group of read ADT messages in one transaction, in order:
    /// one result per message; an error fails the whole group and stores
    /// nothing of it. `grace_ms` is the discharge timer's grace, `now_ms`
    /// the time in Unix milliseconds.
    async fn commit_journal(
        &self,
        messages: &[journal::JournalMessage],
        grace_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<journal::JournalCommit>, StoreError>;

    /// Claims up to `limit` timers due at `now_ms` until `claim_until_ms`:
    /// no other caller (another gateway on the same database) gets them
    /// before then, so one fires, not two.
    async fn claim_due_timers(
        &self,
        now_ms: i64,
        claim_until_ms: i64,
        limit: usize,
    ) -> Result<Vec<journal::Timer>, StoreError>;

    /// Removes a fired timer, unless it was set again meanwhile (a second
    /// A03 restarts the grace period).
    async fn finish_timer(&self, timer: &journal::Timer) -> Result<(), StoreError>;

    /// The timers of `kind` due from `from_ms` up to `until_ms` (Unix
    /// milliseconds), by due time, at most `limit`: what falls due soon
    /// (the operator console's Tidsgränser).
    async fn timers_due_between(
        &self,
        kind: &str,
        from_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<TimerSpec>, StoreError>;

    /// When the next timer is due (Unix milliseconds), if any is.
    async fn next_timer_due(&self) -> Result<Option<i64>, StoreError>;

    async fn stay(
        &self,
        facility: &str,
        visit_number: &str,
    ) -> Result<Option<crate::stays::Stay>, StoreError>;

    /// Every stay of a person, by admission.
    async fn stays_of_person(
        &self,
        patient_id: &str,
    ) -> Result<Vec<crate::stays::Stay>, StoreError>;

    /// (person, admittedAt in Unix seconds) of every stay that is not
    /// cancelled and has an admission: the journal's admissions, for the
    /// readmission indicator.
    async fn stay_admissions(&self) -> Result<Vec<(String, i64)>, StoreError>;

    /// Records that a stay's discharge reached `case_id` (the reconciled
    /// notice was stored there).
    async fn mark_discharge_reached(
        &self,
        facility: &str,
        visit_number: &str,
        case_id: &str,
    ) -> Result<(), StoreError>;

    /// What operators watch: pending deliveries by system with the oldest
    /// one's age, the quarantine's size, the timers waiting (`metrics`).
    async fn operations_stats(&self) -> Result<OperationsStats, StoreError>;

    // The deadline watch (see `watch`).

    /// How far the follower `name` has read the events (their row id); 0
    /// before it began.
    async fn cursor(&self, name: &str) -> Result<i64, StoreError>;

    /// Moves the follower `name` on to `position` (never back: two
    /// gateways following at once leave it at the further).
    async fn advance_cursor(&self, name: &str, position: i64) -> Result<(), StoreError>;

    /// Sets timers (a changed due time is claimable again) and removes
    /// those `cancel` names.
    async fn schedule(&self, set: &[TimerSpec], cancel: &[String]) -> Result<(), StoreError>;

    /// Raises an alert; true when it was not already raised (a cleared one
    /// is raised again).
    async fn raise_alert(&self, alert: &Alert) -> Result<bool, StoreError>;

    /// Clears a raised alert at `at` (Unix seconds); true when one was
    /// raised.
    async fn clear_alert(&self, case_id: &str, kind: &str, at: i64) -> Result<bool, StoreError>;

    /// The alerts raised and not cleared, by due time.
    async fn active_alerts(&self) -> Result<Vec<Alert>, StoreError>;

    /// Alerts whose state (raised or cleared) was not published yet.
    async fn unpublished_alerts(&self, limit: usize) -> Result<Vec<Alert>, StoreError>;

    /// Records that `state` (`raised` or `cleared`) of an alert was
    /// published.
    async fn mark_alert_published(
        &self,
        case_id: &str,
        kind: &str,
        state: &str,
    ) -> Result<(), StoreError>;

    /// What the person register holds of a person.
    async fn register_entry(
        &self,
        patient_id: &str,
    ) -> Result<crate::stays::RegisterEntry, StoreError>;

    /// Finishes writes and closes connections.
    async fn close(&self);
}

/// Whether opening a store may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// `serve` and `demo`: a new data directory gets a new store.
    CreateIfMissing,
    /// The commands that read or mend a store: a mistyped `--data-dir`
    /// must not silently answer from a new, empty one.
    MustExist,
}

/// The store a URL names: `postgres://…`, `sqlite://PATH`, or the embedded default
/// `samgate.db` under `data_dir` when the URL is empty; created if missing.
pub async fn open(url: &str, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    open_as(url, data_dir, Opening::CreateIfMissing).await
}

/// An existing store (see [`Opening::MustExist`]).
pub async fn open_existing(url: &str, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    open_as(url, data_dir, Opening::MustExist).await
}

async fn open_as(
    url: &str,
    data_dir: &Path,
    opening: Opening,
) -> Result<Arc<dyn Store>, StoreError> {
    let sqlite_file = if url.is_empty() {
        Some(data_dir.join("samgate.db"))
    } else {
        url.strip_prefix("sqlite://").map(std::path::PathBuf::from)
    };
    if let Some(path) = &sqlite_file
        && opening == Opening::MustExist
        && !path.exists()
    {
        return Err(StoreError::Missing {
            path: path.display().to_string(),
        });
    }
    if url.is_empty() {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        return Ok(Arc::new(
            SqliteStore::open(&data_dir.join("samgate.db")).await?,
        ));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(PostgresStore::open(url).await?));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_kind_or_status_samgate_does_not_write_is_corrupt() {
        for kind in [
            DeliveryKind::Event,
            DeliveryKind::Notice,
            DeliveryKind::Publication,
        ] {
            assert_eq!(DeliveryKind::parse(kind.as_str()).unwrap(), kind);
        }
        for status in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Quarantined,
        ] {
            assert_eq!(DeliveryStatus::parse(status.as_str()).unwrap(), status);
        }
        assert!(matches!(
            DeliveryKind::parse("evnt"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            DeliveryStatus::parse(""),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            sql::stored_system("fax"),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(sql::stored_system("").unwrap(), None);
    }
}
