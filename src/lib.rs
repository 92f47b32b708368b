//! samgate: an interoperability gateway for Swedish coordinated care.
//!
//! The path of one message (see docs/architecture.md): a transport hands
//! bytes and their dialect to an adapter (`samgate-lifecare`, …), which
//! returns a canonical `CaseEvent`; the [`engine`] folds it into its case
//! under the rules of the process; the [`store`] commits it; the API serves
//! it. Modules, from the bottom up:
//! - [`calendar`]: Swedish public holidays and working days;
//! - [`engine`]: the case fold, rules and deadlines;
//! - [`store`]: the `Store` trait and the embedded SQLite store;
//! - [`gateway`]: submitting events (decode, fold, store, notify watchers);
//! - [`api`]: the gRPC services;
//! - [`config`], [`telemetry`]: configuration and logging;
//! - [`cli`]: the command line.

pub mod api;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod dialects;
pub mod engine;
pub mod gateway;
pub mod portal;
pub mod routing;
pub mod store;
pub mod telemetry;
pub mod transport;
