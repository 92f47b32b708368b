//! Folding one event into its case: the rules, then the new state.

use samgate_proto::codes::CanonicalEnum;
use samgate_proto::time::{from_utc, to_utc};
use samgate_proto::v1::*;
use samgate_proto::validate::Checked;
use samgate_proto::validate::payload_name;
use samgate_proto::{CaseEvent, Payload, Timestamp};

use super::participants;
use super::{Engine, RuleViolation, admission_notice_due, sip_invitation_due};

/// What the fold needs to know from outside the case.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Another open outpatient case for the same person, if there is one.
    pub other_open_outpatient_case: Option<String>,
    /// Whether the person's identity is protected by any source, in any
    /// case (the store's person register): protection is sticky per
    /// person, so a later message saying otherwise does not lift it.
    pub person_protected: bool,
    /// Whether the author is missing from the actor directory (the router
    /// knows the directory; the engine alone assumes it is there). Such an
    /// author may only open a case or send an admission notice, unless it
    /// already takes part in the case.
    pub author_outside_directory: bool,
    /// The person's home municipality as the journal feed gave it last
    /// (the person register); it wins over the message's for routing and
    /// payment liability.
    pub register_municipality: Option<String>,
}

/// Payloads an author outside the actor directory may send to a case it
/// does not take part in: they start a case, the way a new sender first
/// appears.
fn open_to_unknown_authors(p: &Payload) -> bool {
    matches!(p, Payload::CaseOpened(_) | Payload::AdmissionNotice(_))
}

/// Payloads an outpatient case accepts before consent is GIVEN: they open,
/// record consent, or end the case, and share no information.
fn allowed_before_consent(p: &Payload) -> bool {
    matches!(
        p,
        Payload::CaseOpened(_)
            | Payload::Consent(_)
            | Payload::CaseClosed(_)
            | Payload::CaseReopened(_)
    )
}

/// Whether the payload closes an outpatient case: a close, or consent
/// withdrawn.
fn closes_outpatient_case(p: &Payload) -> bool {
    match p {
        Payload::CaseClosed(_) => true,
        Payload::Consent(c) => c.decision != ConsentDecision::Given as i32,
        _ => false,
    }
}

fn process_name(p: i32) -> &'static str {
    CareProcess::try_from(p)
        .ok()
        .and_then(CanonicalEnum::bare_name)
        .unwrap_or("UNSPECIFIED")
}

fn set_deadline(
    case: &mut Case,
    kind: DeadlineKind,
    due: Option<Timestamp>,
    met: Option<Timestamp>,
) {
    case.deadlines.retain(|d| d.kind != kind as i32);
    case.deadlines.push(Deadline {
        kind: kind as i32,
        due_at: due,
        met_at: met,
    });
    case.deadlines.sort_by_key(|d| d.kind);
}

fn meet_deadline(case: &mut Case, kind: DeadlineKind, met: Option<Timestamp>) {
    if let Some(d) = case
        .deadlines
        .iter_mut()
        .find(|d| d.kind == kind as i32 && d.met_at.is_none())
    {
        d.met_at = met;
    }
}

impl Engine {
    /// The case after `event`, or the rule it breaks. `case_id` names a new
    /// case; an existing case keeps its id.
    pub fn fold(
        &self,
        prev: Option<&Case>,
        case_id: &str,
        event: &Checked<CaseEvent>,
        facts: &Facts,
    ) -> Result<Case, RuleViolation> {
        let payload = event.payload();
        let author = event.author().clone();
        let outpatient = event.process == CareProcess::Outpatient as i32;
        if facts.author_outside_directory
            && !open_to_unknown_authors(payload)
            && !prev.is_some_and(|c| participants::contains(&c.participants, &author.hsa_id))
        {
            return Err(RuleViolation::UnknownAuthor {
                hsa_id: author.hsa_id.clone(),
                payload: payload_name(payload),
            });
        }

        let mut case = match prev {
            None => {
                match payload {
                    Payload::CaseClosed(_) => {
                        return Err(RuleViolation::NoSuchCase { action: "close" });
                    }
                    Payload::CaseReopened(_) => {
                        return Err(RuleViolation::NoSuchCase { action: "reopen" });
                    }
                    _ => {}
                }
                if outpatient && let Some(existing) = &facts.other_open_outpatient_case {
                    return Err(RuleViolation::OneOpenOutpatientCase {
                        existing_case: existing.clone(),
                    });
                }
                Case {
                    id: case_id.to_owned(),
                    process: event.process,
                    status: CaseStatus::Open as i32,
                    opened_by_hsa_id: author.hsa_id.clone(),
                    consent: ConsentState::None as i32,
                    ..Case::default()
                }
            }
            Some(prev) => {
                self.check_existing(prev, event, payload, &author, facts)?;
                prev.clone()
            }
        };

        if outpatient
            && case.consent != ConsentState::Given as i32
            && !allowed_before_consent(payload)
        {
            return Err(RuleViolation::ConsentRequired {
                payload: payload_name(payload),
            });
        }

        let system = event.source_system;
        if !case
            .external_refs
            .iter()
            .any(|r| r.system == system && r.case_ref == event.case_ref)
        {
            case.external_refs.push(ExternalRef {
                system,
                case_ref: event.case_ref.clone(),
            });
        }
        // The latest message carries the latest view of the person, except
        // that protection, once any source has said so, stays: lifting it is
        // an explicit act on the person register, never a message.
        let was_protected = case.patient.as_ref().is_some_and(|p| p.protected_identity);
        case.patient = event.patient.clone();
        if (was_protected || facts.person_protected)
            && let Some(patient) = case.patient.as_mut()
        {
            patient.protected_identity = true;
        }
        // The journal's home municipality wins over the message's: the
        // journal has it from the population register (hl7v2.md).
        if let (Some(municipality), Some(patient)) =
            (&facts.register_municipality, case.patient.as_mut())
        {
            patient.municipality_code = municipality.clone();
        }
        let before = case.participants.len();
        participants::collect(&mut case.participants, &author, payload);
        let count = case.participants.len();
        if count > before && count > self.max_participants {
            return Err(RuleViolation::TooManyParticipants {
                count,
                limit: self.max_participants,
            });
        }
        case.event_count += 1;
        case.updated_at = event.occurred_at;
        self.apply(&mut case, event, payload);
        Ok(case)
    }

    fn check_existing(
        &self,
        prev: &Case,
        event: &CaseEvent,
        payload: &Payload,
        author: &samgate_proto::Actor,
        facts: &Facts,
    ) -> Result<(), RuleViolation> {
        if prev.process != event.process {
            return Err(RuleViolation::ProcessMismatch {
                case: process_name(prev.process),
                event: process_name(event.process),
            });
        }
        let prev_id = prev.patient.as_ref().map(|p| p.id.as_str());
        let event_id = event.patient.as_ref().map(|p| p.id.as_str());
        if prev_id != event_id {
            return Err(RuleViolation::PatientMismatch);
        }
        let closed = prev.status == CaseStatus::Closed as i32;
        let discharged = prev.status == CaseStatus::Discharged as i32;
        let outpatient = prev.process == CareProcess::Outpatient as i32;
        match payload {
            Payload::CaseReopened(_) => {
                if !closed {
                    return Err(RuleViolation::NotClosed);
                }
                if !participants::contains(&prev.participants, &author.hsa_id) {
                    return Err(RuleViolation::NotAParticipant {
                        hsa_id: author.hsa_id.clone(),
                    });
                }
                if outpatient && let Some(existing) = &facts.other_open_outpatient_case {
                    return Err(RuleViolation::OneOpenOutpatientCase {
                        existing_case: existing.clone(),
                    });
                }
            }
            _ if closed => {
                return Err(RuleViolation::CaseClosed {
                    payload: payload_name(payload),
                });
            }
            // Withdrawn consent closes an outpatient case, so it follows the
            // closing rule.
            Payload::CaseClosed(_) | Payload::Consent(_)
                if outpatient
                    && closes_outpatient_case(payload)
                    && author.hsa_id != prev.opened_by_hsa_id =>
            {
                return Err(RuleViolation::OnlyOpenerMayClose {
                    opener: prev.opened_by_hsa_id.clone(),
                    author: author.hsa_id.clone(),
                });
            }
            // A discharge samgate reconciled from the journal feed may be
            // followed by the ward's own notice, or by the journal's
            // corrected one (hl7v2.md): routed only when it differs.
            Payload::DischargeNotice(_)
                if discharged && prev.discharged_by == SourceSystem::Journal as i32 => {}
            Payload::DischargeReady(_) | Payload::DischargeNotice(_) if discharged => {
                return Err(RuleViolation::AlreadyDischarged {
                    payload: payload_name(payload),
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// The state change of one accepted event.
    fn apply(&self, case: &mut Case, event: &CaseEvent, payload: &Payload) {
        let occurred = event.occurred_at;
        match payload {
            Payload::AdmissionNotice(a) => {
                let due = a
                    .admitted_at
                    .as_ref()
                    .and_then(to_utc)
                    .map(|t| from_utc(admission_notice_due(t)));
                set_deadline(case, DeadlineKind::AdmissionNotice, due, occurred);
            }
            Payload::DischargeReady(d) => {
                case.status = CaseStatus::DischargeReady as i32;
                case.discharge_ready_at = d.ready_at;
                if let Some(ready) = d.ready_at.as_ref().and_then(to_utc) {
                    set_deadline(
                        case,
                        DeadlineKind::SipInvitation,
                        Some(from_utc(sip_invitation_due(ready))),
                        None,
                    );
                    let rule = self.liability.rule_for(&municipality(case));
                    set_deadline(
                        case,
                        DeadlineKind::PaymentLiability,
                        Some(from_utc(rule.liability_starts(ready))),
                        None,
                    );
                }
            }
            Payload::SipInvitation(_) => meet_deadline(case, DeadlineKind::SipInvitation, occurred),
            Payload::SipPlan(plan) => {
                let version = plan.version.max(1);
                let newer = case
                    .latest_sip
                    .as_ref()
                    .is_none_or(|l| version >= l.version.max(1));
                if newer {
                    let mut plan = plan.clone();
                    plan.version = version;
                    case.latest_sip = Some(plan);
                }
            }
            Payload::DischargeNotice(d) => {
                case.status = CaseStatus::Discharged as i32;
                case.discharged_at = d.discharged_at;
                case.discharged_by = event.source_system;
                case.discharge_destination = d.destination;
                meet_deadline(case, DeadlineKind::PaymentLiability, d.discharged_at);
                let ready = case.discharge_ready_at.as_ref().and_then(to_utc);
                let out = d.discharged_at.as_ref().and_then(to_utc);
                if let (Some(ready), Some(out)) = (ready, out) {
                    let rule = self.liability.rule_for(&municipality(case));
                    case.payment_liability_days = rule.liable_days(ready, out);
                }
            }
            Payload::Consent(c) => {
                if c.decision == ConsentDecision::Given as i32 {
                    case.consent = ConsentState::Given as i32;
                } else {
                    case.consent = ConsentState::Withdrawn as i32;
                    case.status = CaseStatus::Closed as i32;
                    case.close_reason = CloseReason::ConsentWithdrawn as i32;
                }
            }
            Payload::CaseClosed(c) => {
                case.status = CaseStatus::Closed as i32;
                case.close_reason = c.reason;
            }
            Payload::CaseReopened(_) => {
                case.status = CaseStatus::Open as i32;
                case.close_reason = 0;
            }
            Payload::InNotice(_)
            | Payload::CareContactAssigned(_)
            | Payload::ThreadMessage(_)
            | Payload::CaseOpened(_)
            | Payload::Deviation(_) => {}
        }
    }
}

fn municipality(case: &Case) -> String {
    case.patient
        .as_ref()
        .map(|p| p.municipality_code.clone())
        .unwrap_or_default()
}
