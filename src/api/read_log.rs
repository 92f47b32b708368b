//! The gRPC access log: every read of patient data over gRPC (GetCase,
//! ListCases, WatchCase, Pull, Subscribe) and every refused attempt, one
//! JSON line each — who, which case and patient, what, when, and the
//! outcome — written with the portal's append-and-sync writer
//! ([`AuditLog`]) to a file of its own (`grpc-access.log`). Like the
//! portal's, it is the one place the patient's identity number is written;
//! the application log never carries it.

use std::sync::Arc;

use serde::Serialize;
use tonic::Status;

use super::access::Caller;
use crate::portal::audit::AuditLog;

/// One read (or refused attempt) over gRPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadRecord {
    /// RFC 3339 UTC.
    pub at: String,
    /// The caller's certificate HSA-id, or `local` and its address.
    pub caller: String,
    /// The method: `GetCase`, `ListCases`, `WatchCase`, `Pull`, `Subscribe`.
    pub what: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub case_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub patient_id: String,
    /// The unit whose deliveries were read (Pull, Subscribe).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub unit: String,
    /// `ok` or `denied`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl ReadRecord {
    /// A successful read by `caller`.
    pub fn new(caller: &Caller, what: &'static str) -> Self {
        ReadRecord {
            at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            caller: caller.name(),
            what,
            case_id: String::new(),
            patient_id: String::new(),
            unit: String::new(),
            result: "ok",
            reason: String::new(),
        }
    }

    /// Of this case and patient.
    pub fn of(mut self, case_id: &str, patient_id: &str) -> Self {
        case_id.clone_into(&mut self.case_id);
        patient_id.clone_into(&mut self.patient_id);
        self
    }

    /// Of this unit's deliveries.
    pub fn for_unit(mut self, unit: &str) -> Self {
        unit.clone_into(&mut self.unit);
        self
    }

    /// Refused, with the status the caller gets.
    pub fn denied(mut self, status: &Status) -> Self {
        self.result = "denied";
        status.message().clone_into(&mut self.reason);
        self
    }
}

/// Where the gRPC API records its reads.
#[derive(Clone, Default)]
pub struct ReadLog {
    log: Option<Arc<AuditLog>>,
}

impl ReadLog {
    pub fn new(log: Arc<AuditLog>) -> Self {
        ReadLog { log: Some(log) }
    }

    /// Records nothing: for a gateway embedded in tests, never `serve`.
    pub fn off() -> Self {
        ReadLog { log: None }
    }

    /// Writes one record; a read is answered only once it is kept.
    pub fn record(&self, record: &ReadRecord) -> Result<(), Status> {
        let Some(log) = &self.log else {
            return Ok(());
        };
        log.record(record).map_err(|e| {
            tracing::error!(
                what = record.what,
                "gRPC access log not written, request refused: {e}"
            );
            Status::unavailable("the access log cannot be written")
        })
    }

    /// Records a refusal and gives back its status, to return.
    pub fn refused(&self, record: ReadRecord, status: Status) -> Status {
        match self.record(&record.denied(&status)) {
            Ok(()) => status,
            Err(unavailable) => unavailable,
        }
    }
}
