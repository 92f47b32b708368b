//! The gateway's network API: gRPC (tonic) with standard health checking and
//! server reflection, so `grpcurl -plaintext HOST:PORT list` works.

mod delivery;
mod grpc;
pub mod portal;
mod status;

pub use delivery::DeliveryApi;
pub use grpc::{CaseApi, TranslationApi, serve};
