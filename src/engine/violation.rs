//! The rules an event can break.
//!
//! Messages name the rule, the case and the actors' HSA-ids (which identify
//! care units, not people); never a person's identity number or name.

/// An event the case's rules refuse; nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    #[error(
        "the person already has an open outpatient case ({existing_case}); only one may be open at a time"
    )]
    OneOpenOutpatientCase { existing_case: String },
    #[error("the event is for the {event} process but the case is {case}")]
    ProcessMismatch {
        case: &'static str,
        event: &'static str,
    },
    #[error("the event's patient is not the case's patient")]
    PatientMismatch,
    #[error("the case is closed: {payload} is not accepted until it is reopened")]
    CaseClosed { payload: &'static str },
    #[error("the case is not closed, so it cannot be reopened")]
    NotClosed,
    #[error("there is no case to {action} for this case reference")]
    NoSuchCase { action: &'static str },
    #[error("{hsa_id} has not taken part in the case, so it may not reopen it")]
    NotAParticipant { hsa_id: String },
    #[error("only the actor that opened the outpatient case ({opener}) may close it, not {author}")]
    OnlyOpenerMayClose { opener: String, author: String },
    #[error(
        "outpatient process: {payload} shares information, which needs the person's consent (GIVEN) first"
    )]
    ConsentRequired { payload: &'static str },
    #[error("the patient is already discharged: {payload} is not accepted")]
    AlreadyDischarged { payload: &'static str },
    #[error(
        "{hsa_id} is neither in the actor directory nor a participant of the case, so it may not send {payload}"
    )]
    UnknownAuthor {
        hsa_id: String,
        payload: &'static str,
    },
    #[error(
        "the event would give the case {count} participants; at most {limit} are allowed (cases.max_participants)"
    )]
    TooManyParticipants { count: usize, limit: usize },
    #[error("message id reused with different content: the message stored under this id differs")]
    MessageIdReused,
}

impl RuleViolation {
    /// A stable code for APIs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            RuleViolation::OneOpenOutpatientCase { .. } => "one-open-outpatient-case",
            RuleViolation::ProcessMismatch { .. } => "process-mismatch",
            RuleViolation::PatientMismatch => "patient-mismatch",
            RuleViolation::CaseClosed { .. } => "case-closed",
            RuleViolation::NotClosed => "not-closed",
            RuleViolation::NoSuchCase { .. } => "no-such-case",
            RuleViolation::NotAParticipant { .. } => "not-a-participant",
            RuleViolation::OnlyOpenerMayClose { .. } => "only-opener-may-close",
            RuleViolation::ConsentRequired { .. } => "consent-required",
            RuleViolation::AlreadyDischarged { .. } => "already-discharged",
            RuleViolation::UnknownAuthor { .. } => "unknown-author",
            RuleViolation::TooManyParticipants { .. } => "too-many-participants",
            RuleViolation::MessageIdReused => "message-id-reused",
        }
    }
}
