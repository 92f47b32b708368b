//! From the gateway's errors to gRPC status codes: bad input is
//! INVALID_ARGUMENT (with the field or element path), a rule violation is
//! FAILED_PRECONDITION, a duplicate is never an error. A store error is
//! UNAVAILABLE only when trying again may help (`StoreError::is_transient`):
//! UNAVAILABLE tells clients to retry, and a write the database refuses
//! would be refused forever. A permanent one is INTERNAL, or
//! FAILED_PRECONDITION when the store is not usable as configured.
//!
//! Values from the request are quoted through [`echo`], so a huge value
//! never makes a status too large to send.

use tonic::Status;

use crate::gateway::SubmitError;
use crate::store::StoreError;

/// The most characters of a request's value a status message quotes:
/// enough to recognise a case id or an HSA-id, and a 1 MB value still
/// makes a status that fits in a header.
pub const MAX_ECHO_CHARS: usize = 64;

/// `value` quoted for a status message, cut to [`MAX_ECHO_CHARS`]
/// characters (with its full length said) and with control characters
/// escaped.
pub fn echo(value: &str) -> String {
    if value.chars().count() <= MAX_ECHO_CHARS {
        return format!("{value:?}");
    }
    let head: String = value.chars().take(MAX_ECHO_CHARS).collect();
    format!("{head:?}… ({} bytes)", value.len())
}

impl From<SubmitError> for Status {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Invalid(f) => {
                Status::invalid_argument(format!("{}: {}", f.field, f.reason))
            }
            SubmitError::Refused(d) => Status::invalid_argument(d.to_string()),
            SubmitError::Rule(r) => Status::failed_precondition(format!("{}: {r}", r.code())),
            SubmitError::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for Status {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rule(r) => Status::failed_precondition(format!("{}: {r}", r.code())),
            e if e.is_transient() => Status::unavailable(e.to_string()),
            e @ (StoreError::Missing { .. }
            | StoreError::Foreign { .. }
            | StoreError::UnsupportedUrl(_)
            | StoreError::DataDir { .. }) => {
                tracing::error!("the store is not usable as configured: {e}");
                Status::failed_precondition(e.to_string())
            }
            other => {
                tracing::error!("store error that retrying cannot fix: {other}");
                Status::internal(other.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn only_transient_store_errors_ask_clients_to_retry() {
        let code = |e: StoreError| Status::from(e).code();
        assert_eq!(
            code(StoreError::Database(sqlx::Error::PoolTimedOut)),
            Code::Unavailable
        );
        assert_eq!(
            code(StoreError::Unreachable {
                target: "db".into(),
                reason: "refused".into()
            }),
            Code::Unavailable
        );
        assert_eq!(
            code(StoreError::Database(sqlx::Error::RowNotFound)),
            Code::Internal
        );
        assert_eq!(code(StoreError::Corrupt("x".into())), Code::Internal);
        assert_eq!(
            code(StoreError::Missing { path: "x".into() }),
            Code::FailedPrecondition
        );
    }

    #[test]
    fn echoed_values_are_cut_and_escaped() {
        assert_eq!(echo("abc"), "\"abc\"");
        assert_eq!(echo("a\u{1}"), "\"a\\u{1}\"");
        let huge = echo(&"x".repeat(1 << 20));
        assert!(huge.len() < 100, "{huge}");
        assert!(huge.ends_with("… (1048576 bytes)"), "{huge}");
    }
}
