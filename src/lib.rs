//! samgate: an interoperability gateway for Swedish coordinated care.
//!
//! The path of one message (see docs/architecture.md): a transport hands
//! bytes and their dialect to an adapter (`samgate-lifecare`, …), which
//! returns a canonical `CaseEvent`; the [`gateway`] checks it and hands it
//! to the [`store`], which folds it into its case with the [`engine`] and
//! [`routing`] and commits event, case and outbox in one transaction; the
//! [`transport`] relay, [`api`] and [`portal`] deliver and serve it.
//!
//! # Layout
//!
//! Every module this crate declares, from the bottom up: a module uses only
//! those above it in this list (and the adapter and proto crates), which
//! `tests/layout.rs` checks.
//!
//! - [`calendar`]: Swedish public holidays, with the law's history, and
//!   working days.
//! - [`dialects`]: the dialects by name, each with its adapter.
//! - [`channel`]: where a delivery goes (the receiving system) and how it
//!   gets there (relay, pull, push): decided in this one place.
//! - [`tls`]: reading the PEM files of the TLS settings.
//! - [`engine`]: the case fold: the process rules, deadlines, payment
//!   liability; a plain function of the case, the event and outside facts.
//! - [`stays`]: hospital stays from the journal feed: how each ADT trigger
//!   changes one, which case it links to, the events it derives.
//! - [`store`]: the `Store` trait, its SQLite and PostgreSQL backends, the
//!   outbox, the person register.
//! - [`indicators`]: the counties' month-by-month follow-up (admissions,
//!   ready days, liability, SIPs, readmissions, deviations) computed from
//!   the stored events.
//! - [`routing`]: the actor directory and the recipient rules; the
//!   `Router` (engine + recipients) the store folds with.
//! - [`watch`]: the deadline watch: durable timers for every legal
//!   deadline a case can break, and the alerts they raise.
//! - [`metrics`]: Prometheus metrics and the probes, on their own listener.
//! - [`delivery`]: a stored delivery rendered in its recipient's form, and
//!   the pull a unit makes.
//! - [`telemetry`]: logging, and what it must never carry.
//! - [`gateway`]: the one submit path every way in takes.
//! - [`journal`]: the journal systems' HL7 v2 feed as a service: a message
//!   in, its effects committed (group commit), its ACK out; the durable
//!   timers of discharge reconciliation.
//! - [`portal`]: SIP documents for the citizen (GetCarePlans v2, FHIR R4,
//!   the printable page), the access log, the push to a portal.
//! - [`transport`]: RabbitMQ: topology, inbound consumers, the outbox relay.
//! - [`api`]: the gRPC services and their authentication, the portal's
//!   HTTPS endpoints, mutual TLS.
//! - [`console`]: the operator console: Swedish pages of the outbox, the
//!   quarantine (replay, discard), cases, the deadline watch's alerts and
//!   the queues' depths, behind a token or mutual TLS (api's), every view
//!   of personal data in its access log.
//! - [`config`]: configuration: built-in defaults, a file, `SAMGATE_*`;
//!   each section's type lives with the module it configures.
//! - [`cli`]: the `samgate` command line (serve, demo, translate, validate,
//!   case, delivery, sip, person).

pub mod api;
pub mod calendar;
pub mod channel;
pub mod cli;
pub mod config;
pub mod console;
pub mod delivery;
pub mod dialects;
pub mod engine;
pub mod gateway;
pub mod indicators;
pub mod journal;
pub mod metrics;
pub mod portal;
pub mod routing;
pub mod stays;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod transport;
pub mod watch;
