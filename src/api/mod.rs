//! The gateway's network API: gRPC (tonic) with standard health checking and
//! server reflection, so `grpcurl -plaintext HOST:PORT list` works on the
//! loopback default; over mutual TLS elsewhere, with each caller's rights
//! from the access table (`access`, `connection`) and its reads in the gRPC
//! access log (`read_log`), every service behind `guard` (streams end on
//! shutdown, size limits). And the citizen-portal endpoints over HTTPS
//! with mutual TLS (`portal`, `mtls`). `IndicatorService` serves the
//! counties' follow-up indicators (`indicators`). And the MLLP listener for the
//! journal systems' HL7 v2 feed, over TCP or mutual TLS (`mllp`).

pub mod access;
pub mod connection;
mod delivery;
mod grpc;
pub mod guard;
mod indicators;
pub mod mllp;
pub mod mtls;
pub mod portal;
pub mod read_log;
mod status;

pub use delivery::DeliveryApi;
pub use grpc::{CaseApi, GrpcSecurity, MAX_REQUEST_BYTES, TranslationApi, serve, serve_secured};
