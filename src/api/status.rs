//! From the gateway's errors to gRPC status codes: bad input is
//! INVALID_ARGUMENT (with the field or element path), a rule violation is
//! FAILED_PRECONDITION, a duplicate is never an error.

use tonic::Status;

use crate::gateway::SubmitError;
use crate::store::StoreError;

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
            StoreError::Database(_) => Status::unavailable(e.to_string()),
            other => Status::internal(other.to_string()),
        }
    }
}
