//! The gateway's network API: gRPC (tonic) with standard health checking and
//! server reflection, so `grpcurl -plaintext HOST:PORT list` works; and the
//! citizen-portal endpoints over HTTPS with mutual TLS (`portal`, `mtls`).

mod delivery;
mod grpc;
pub mod mtls;
pub mod portal;
mod status;

pub use delivery::DeliveryApi;
pub use grpc::{CaseApi, TranslationApi, serve};
