//! Logging with tracing: human-readable or JSON lines on standard error.
//!
//! Nothing in samgate logs a person's identity number or name: log lines
//! carry case ids, samgate's own delivery ids, payload types, dialects and
//! element paths (tests/logging.rs checks this, also for the identity
//! hidden in decimal byte arrays and base64). What else keeps it so:
//!
//! - A sender's own message id is free text that may hold a personnummer
//!   (`19410206-9046-ESTHER`), so it is logged only as [`log_id`], a short
//!   stable hash, in the field `message_hash`.
//! - lapin logs message bodies: every message the broker returns (a
//!   `mandatory` publish no queue took) at WARN, as
//!   `BasicReturnMessage { … data: [60, 63, …] }`, and every frame received,
//!   bodies of consumed messages too, at TRACE; amq-protocol logs the
//!   broker URI, password included, at TRACE. [`amqp_event_is_safe`] drops
//!   those events whatever the level asked for; the relay logs a returned
//!   delivery itself, by its delivery id and recipient.
//! - `RUST_LOG` that does not parse is an error at start rather than a
//!   silent fall-back to the configured level.
//! - No ANSI colours unless standard error is a terminal (and `NO_COLOR`
//!   is unset), so files and journald get plain text.
//! - [`init`] installs a panic hook that logs a panic as an ERROR event of
//!   target [`PANIC_TARGET`] (a JSON line in JSON mode) with its message
//!   and location, instead of the default hook's plain text. A panic
//!   message is samgate's own text: data is never `unwrap`ped or
//!   `expect`ed outside tests, so no patient data is formatted into one.

use std::fmt;
use std::io::IsTerminal;

use serde::{Deserialize, Serialize};
use tracing::Metadata;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// `[log]`: the format, and the level (a tracing filter; `RUST_LOG`
/// overrides it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

/// The tracing target of the event a panic is logged as.
pub const PANIC_TARGET: &str = "samgate::panic";

/// The namespace of [`log_id`]'s UUIDv5 (a random UUID, fixed for good:
/// changing it would change every logged hash).
const LOG_ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x40400cf7_8745_4945_98b5_1661ef88e354);

/// Hex digits of [`log_id`]: 48 bits, enough that two message ids of one
/// period of logs practically never share a hash, short enough to read.
const LOG_ID_HEX_DIGITS: usize = 12;

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    // The parse error is part of the text, not a source: its own chain
    // repeats its text.
    #[error("RUST_LOG={value:?} does not parse: {error}")]
    BadRustLog {
        value: String,
        error: tracing_subscriber::filter::ParseError,
    },
    #[error("RUST_LOG is not valid Unicode")]
    RustLogNotUnicode,
    #[error("log.level {value:?} does not parse: {error}")]
    BadLevel {
        value: String,
        error: tracing_subscriber::filter::ParseError,
    },
    #[error("cannot install the logger: {0}")]
    Install(#[from] tracing_subscriber::util::TryInitError),
}

/// A message id as it may be logged: see [`log_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogId(uuid::Uuid);

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0.as_bytes()[..LOG_ID_HEX_DIGITS / 2] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A sender's message id as log lines carry it (field `message_hash`):
/// the first 12 hex digits of its UUIDv5 in samgate's log namespace
/// (`40400cf7-8745-4945-98b5-1661ef88e354`), the same in every process,
/// so an operator who has the id can find its lines (e.g. Python's
/// `uuid.uuid5(ns, id).hex[:12]`). It hides the id from a reader of the
/// log, not from someone who guesses it: it is a pseudonym, not
/// encryption. Delivery ids samgate made itself are UUIDs and are logged
/// as they are.
pub fn log_id(id: &str) -> LogId {
    LogId(uuid::Uuid::new_v5(&LOG_ID_NAMESPACE, id.as_bytes()))
}

/// Installs the global subscriber writing to `writer`, without colours
/// and without the panic hook (tests capture logs with it). `RUST_LOG`,
/// when set and not empty, overrides the configured level; it is an
/// error if it does not parse.
pub fn init_with<W>(config: &LogConfig, writer: W) -> Result<(), TelemetryError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    install(config, writer, false)
}

/// Installs the global subscriber on standard error, and the panic hook.
pub fn init(config: &LogConfig) -> Result<(), TelemetryError> {
    let colours = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    install(config, std::io::stderr, colours)?;
    log_panics();
    Ok(())
}

fn install<W>(config: &LogConfig, writer: W, ansi: bool) -> Result<(), TelemetryError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let layer = layer(filter(&config.level)?, config.format, writer, ansi);
    tracing_subscriber::registry().with(layer).try_init()?;
    Ok(())
}

/// The level filter: `RUST_LOG` if set, else `level`.
fn filter(level: &str) -> Result<EnvFilter, TelemetryError> {
    match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(value) if !value.trim().is_empty() => EnvFilter::builder()
            .parse(&value)
            .map_err(|error| TelemetryError::BadRustLog { value, error }),
        Err(std::env::VarError::NotUnicode(_)) => Err(TelemetryError::RustLogNotUnicode),
        _ => EnvFilter::builder()
            .parse(level)
            .map_err(|error| TelemetryError::BadLevel {
                value: level.to_string(),
                error,
            }),
    }
}

/// The formatting layer, behind `filter` and [`amqp_event_is_safe`].
fn layer<S, W>(
    filter: EnvFilter,
    format: LogFormat,
    writer: W,
    ansi: bool,
) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = filter.and(filter_fn(amqp_event_is_safe));
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Human => fmt.with_ansi(ansi).with_filter(filter).boxed(),
        LogFormat::Json => fmt.json().with_ansi(false).with_filter(filter).boxed(),
    }
}

/// Crates (target prefixes) whose events can carry AMQP frames, message
/// bodies and properties, or the broker URI.
const AMQP_CRATES: [&str; 2] = ["lapin", "amq_protocol"];

/// The one lapin module dropped whole: its WARN event is the returned
/// message itself, body and properties (a sender's message id among them),
/// and its TRACE events only follow confirms samgate waits for anyway.
const LAPIN_RETURNS: &str = "lapin::returned_messages";

/// The fields of lapin's and amq-protocol's events that hold no message
/// content: ids, tags, states, flags, AMQP methods (which carry exchange,
/// routing key and reply text, never a body) and lapin's own errors. Read
/// from lapin 4.12's and amq-protocol 10.6's `tracing` calls; the
/// fields left out are the ones that carry content: `frame` and `frames`
/// (bodies of consumed and returned messages), `command` (secrets of
/// `UpdateSecret`), `uri` (the broker password), `err` (may wrap an
/// undelivered message), `state`, and `message` as a field of its own.
const AMQP_SAFE_FIELDS: [&str; 30] = [
    "after",
    "before",
    "can_read",
    "can_write",
    "cascading",
    "channel",
    "code_to_error",
    "conn_killed",
    "connection_status",
    "consumer_tag",
    "context",
    "delivery_tag",
    "error",
    "event",
    "expected_reply",
    "frames_pending",
    "global",
    "has_data",
    "id",
    "internal_rpc_empty",
    "locale",
    "mechanism",
    "method",
    "panic",
    "prefetch_count",
    "promise",
    "ser_frames_empty",
    "status",
    "step",
    "version",
];

/// False for an event or span of the AMQP crates that could carry a
/// message body, properties or credentials, whatever level is asked for:
/// everything of [`LAPIN_RETURNS`], and any other with a field not in
/// [`AMQP_SAFE_FIELDS`] (a field unknown after an upgrade counts as
/// unsafe) or with a second `message` field (`warn!(?message, "…")`
/// logs a value under the name the text itself has). Decided from the
/// callsite's metadata alone, so it costs nothing per event. A payload
/// formatted into the text itself cannot be seen here: lapin 4.12 does
/// not do that, and tests/logging.rs runs a returned message and a
/// consumed one at TRACE to catch a version that does.
pub fn amqp_event_is_safe(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    let amqp = AMQP_CRATES.iter().any(|c| {
        target
            .strip_prefix(c)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || rest.starts_with('_'))
    });
    if !amqp {
        return true;
    }
    if target == LAPIN_RETURNS || target.starts_with("lapin::returned_messages::") {
        return false;
    }
    let mut texts = 0;
    meta.fields().iter().all(|f| match f.name() {
        "message" => {
            texts += 1;
            texts == 1
        }
        name => AMQP_SAFE_FIELDS.contains(&name),
    })
}

/// Replaces the panic hook with one that logs the panic through tracing
/// (ERROR, target [`PANIC_TARGET`]) with its message, location, thread
/// and, when `RUST_BACKTRACE` asks for one, backtrace.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        // `payload_as_str` would do, from Rust 1.91 (the MSRV is 1.90).
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a panic without a message");
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let current = std::thread::current();
        let thread = current.name().unwrap_or("unnamed");
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            tracing::error!(target: PANIC_TARGET, %location, thread, %backtrace, "panic: {message}");
        } else {
            tracing::error!(target: PANIC_TARGET, %location, thread, "panic: {message}");
        }
    }));
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek};
    use std::sync::Arc;

    use super::*;

    fn logged(format: LogFormat, ansi: bool, events: impl FnOnce()) -> String {
        let mut file = tempfile::tempfile().unwrap();
        let writer = Arc::new(file.try_clone().unwrap());
        let filter = EnvFilter::builder().parse("trace").unwrap();
        let subscriber = tracing_subscriber::registry().with(layer(filter, format, writer, ansi));
        tracing::subscriber::with_default(subscriber, events);
        let mut logs = String::new();
        file.rewind().unwrap();
        file.read_to_string(&mut logs).unwrap();
        logs
    }

    /// lapin's calls as lapin 4.12 makes them, under its targets.
    fn lapin_events() {
        let message = vec![49u8, 57, 52, 49, 48, 50, 48, 54];
        tracing::warn!(target: "lapin::returned_messages", ?message, "Server returned us a message");
        tracing::trace!(target: "lapin::channels", frame = ?message, "will handle frame");
        tracing::trace!(target: "amq_protocol_tcp", uri = ?"amqp://guest:secret@host", "Connecting.");
        tracing::error!(target: "lapin::consumer", err = ?message, "send failed");
        tracing::warn!(target: "lapin::future", ?message, "a value named message");
        tracing::info!(target: "lapin::channel", channel = 1, "Connection closed");
        tracing::warn!(target: "lapinator", data = ?message, "not lapin");
    }

    #[test]
    fn amqp_events_that_may_carry_a_body_are_dropped_at_any_level() {
        for format in [LogFormat::Human, LogFormat::Json] {
            let logs = logged(format, false, lapin_events);
            assert!(logs.contains("Connection closed"), "{logs}");
            assert!(logs.contains("not lapin"), "{logs}");
            for dropped in [
                "returned",
                "will handle frame",
                "secret",
                "send failed",
                "named message",
            ] {
                assert!(!logs.contains(dropped), "{dropped}: {logs}");
            }
            assert_eq!(logs.matches("49, 57, 52").count(), 1, "{logs}");
        }
    }

    #[test]
    fn colours_only_when_asked_for() {
        let event = || tracing::warn!("coloured?");
        assert!(logged(LogFormat::Human, true, event).contains('\u{1b}'));
        assert!(!logged(LogFormat::Human, false, event).contains('\u{1b}'));
        assert!(!logged(LogFormat::Json, true, event).contains('\u{1b}'));
    }

    #[test]
    fn a_log_id_is_short_stable_and_hides_the_id() {
        let id = "19410206-9046-ESTHER";
        let hashed = log_id(id).to_string();
        assert_eq!(hashed.len(), LOG_ID_HEX_DIGITS);
        assert!(hashed.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(hashed, log_id(id).to_string());
        assert_ne!(hashed, log_id("19410206-9046-ESTHES").to_string());
        assert!(
            uuid::Uuid::new_v5(&LOG_ID_NAMESPACE, id.as_bytes())
                .simple()
                .to_string()
                .starts_with(&hashed)
        );
    }
}
