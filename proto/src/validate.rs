//! The model's own rules for one event: required fields, identifier forms,
//! dates, and enum values that exist.
//!
//! Every way into the gateway (canonical JSON, the three dialects, protobuf
//! over gRPC) ends here, so the rules have one home. Failures name the field
//! by its canonical JSON path (`sipInvitation.invitees[1].hsaId`); a dialect
//! decoder turns that into its own element path.

use crate::Payload;
use crate::codes::CanonicalEnum;
use crate::ids::{HsaId, Kommunkod, PatientId};
use crate::time::parse_date;
use crate::v1::*;

/// A field that breaks a rule of the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// Canonical JSON path of the field.
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn missing(field: impl Into<String>) -> Self {
        Self::new(field, "is required")
    }
}

type Check = Result<(), FieldError>;
/// A rule's verdict on one value: the reason when it fails. Field names are
/// only built for a failure, so checking a valid event allocates nothing.
type Verdict = Result<(), String>;

fn at(field: &str) -> impl FnOnce(String) -> FieldError + '_ {
    move |reason| FieldError::new(field, reason)
}

fn required(value: &str) -> Verdict {
    if value.is_empty() {
        Err("is required".into())
    } else {
        Ok(())
    }
}

fn hsa(value: &str, is_required: bool) -> Verdict {
    if value.is_empty() {
        return if is_required {
            Err("is required".into())
        } else {
            Ok(())
        };
    }
    HsaId::check(value).map_err(|e| e.to_string())
}

fn known<E: CanonicalEnum>(value: i32, is_required: bool) -> Verdict {
    match E::from_i32(value) {
        None => Err(format!("{value} is not a {} value", E::TYPE_NAME)),
        Some(_) if value == 0 && is_required => Err("is required".into()),
        Some(_) => Ok(()),
    }
}

fn date(value: &str) -> Verdict {
    if value.is_empty() {
        return Ok(());
    }
    parse_date(value).map(drop)
}

/// An actor; `field` names one of its fields for an error.
fn actor(a: &Actor, field: impl Fn(&str) -> String) -> Check {
    hsa(&a.hsa_id, true).map_err(|r| FieldError::new(field("hsaId"), r))?;
    known::<ActorKind>(a.kind, false).map_err(|r| FieldError::new(field("kind"), r))
}

fn patient(p: &Patient) -> Check {
    known::<IdKind>(p.id_kind, false).map_err(at("patient.idKind"))?;
    required(&p.id).map_err(at("patient.id"))?;
    let kind = IdKind::try_from(p.id_kind).unwrap_or_default();
    // The model keeps personnummer and samordningsnummer as 12 digits; other
    // forms are for people to type, and the adapters turn them into these.
    if kind != IdKind::Reservnummer
        && (p.id.len() != 12 || !p.id.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(FieldError::new(
            "patient.id",
            "must be 12 digits YYYYMMDDNNNC, without separator",
        ));
    }
    PatientId::check(kind, &p.id).map_err(|e| FieldError::new("patient.id", e.to_string()))?;
    if !p.municipality_code.is_empty() {
        Kommunkod::parse(&p.municipality_code)
            .map_err(|e| FieldError::new("patient.municipalityCode", e.to_string()))?;
    }
    hsa(&p.listed_unit_hsa_id, false).map_err(at("patient.listedUnitHsaId"))
}

/// Calls `f` with every text of an event and its field path.
fn each_text<'a>(e: &'a CaseEvent, f: &mut dyn FnMut(&'static str, &'a str) -> Check) -> Check {
    f("sourceMessageId", &e.source_message_id)?;
    f("caseRef", &e.case_ref)?;
    if let Some(a) = &e.author {
        f("author.name", &a.name)?;
    }
    if let Some(p) = &e.patient {
        f("patient.givenName", &p.given_name)?;
        f("patient.familyName", &p.family_name)?;
    }
    match &e.payload {
        Some(Payload::AdmissionNotice(a)) => {
            f("admissionNotice.reason", &a.reason)?;
            f("admissionNotice.assessedNeeds", &a.assessed_needs)
        }
        Some(Payload::InNotice(n)) => {
            for s in &n.current_services {
                f("inNotice.currentServices", s)?;
            }
            f("inNotice.contactPhone", &n.contact_phone)?;
            f("inNotice.note", &n.note)
        }
        Some(Payload::CareContactAssigned(c)) => match &c.contact {
            Some(c) => {
                f("careContactAssigned.contact.name", &c.name)?;
                f("careContactAssigned.contact.role", &c.role)?;
                f("careContactAssigned.contact.phone", &c.phone)
            }
            None => Ok(()),
        },
        Some(Payload::DischargeReady(d)) => f("dischargeReady.assessedBy", &d.assessed_by),
        Some(Payload::SipInvitation(s)) => {
            for a in &s.invitees {
                f("sipInvitation.invitees.name", &a.name)?;
            }
            f("sipInvitation.note", &s.note)
        }
        Some(Payload::SipPlan(p)) => {
            for g in &p.goals {
                f("sipPlan.goals.text", &g.text)?;
                for s in &g.sub_goals {
                    f("sipPlan.goals.subGoals", s)?;
                }
            }
            f("sipPlan.personExpectations", &p.person_expectations)?;
            for i in &p.interventions {
                f("sipPlan.interventions.text", &i.text)?;
                f("sipPlan.interventions.responsibleName", &i.responsible_name)?;
            }
            for m in &p.other_measures {
                f("sipPlan.otherMeasures", m)?;
            }
            f("sipPlan.followUpNote", &p.follow_up_note)
        }
        Some(Payload::ThreadMessage(m)) => {
            f("threadMessage.thread", &m.thread)?;
            f("threadMessage.subject", &m.subject)?;
            f("threadMessage.body", &m.body)
        }
        Some(Payload::Consent(c)) => {
            f("consent.scope", &c.scope)?;
            f("consent.recordedBy", &c.recorded_by)
        }
        Some(Payload::CaseOpened(c)) => f("caseOpened.reason", &c.reason),
        Some(Payload::CaseReopened(c)) => f("caseReopened.reason", &c.reason),
        Some(Payload::Deviation(d)) => f("deviation.description", &d.description),
        Some(Payload::DischargeNotice(_)) | Some(Payload::CaseClosed(_)) | None => Ok(()),
    }
}

/// Every dialect is XML 1.0, which cannot carry C0 control characters but
/// tab, line feed and carriage return: an event holding one could not be
/// delivered, so it is refused wherever it comes from.
fn xml_characters(e: &CaseEvent) -> Check {
    each_text(e, &mut |field, text| match text
        .chars()
        .find(|c| (*c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
    {
        None => Ok(()),
        Some(c) => Err(FieldError::new(
            field,
            format!("character U+{:04X} cannot be carried in XML", c as u32),
        )),
    })
}

/// Checks one event against the model's rules.
pub fn check_event(e: &CaseEvent) -> Check {
    known::<SourceSystem>(e.source_system, true).map_err(at("sourceSystem"))?;
    required(&e.source_message_id).map_err(at("sourceMessageId"))?;
    if e.occurred_at.is_none() {
        return Err(FieldError::missing("occurredAt"));
    }
    required(&e.case_ref).map_err(at("caseRef"))?;
    known::<CareProcess>(e.process, true).map_err(at("process"))?;
    let author = e
        .author
        .as_ref()
        .ok_or_else(|| FieldError::missing("author"))?;
    actor(author, |leaf| format!("author.{leaf}"))?;
    patient(
        e.patient
            .as_ref()
            .ok_or_else(|| FieldError::missing("patient"))?,
    )?;
    let payload = e
        .payload
        .as_ref()
        .ok_or_else(|| FieldError::missing("payload (one of admissionNotice, …, deviation)"))?;
    check_payload(payload)?;
    xml_characters(e)
}

fn check_payload(payload: &Payload) -> Check {
    match payload {
        Payload::AdmissionNotice(p) => {
            if p.admitted_at.is_none() {
                return Err(FieldError::missing("admissionNotice.admittedAt"));
            }
            date(&p.expected_discharge_date)
                .map_err(at("admissionNotice.expectedDischargeDate"))?;
            known::<Residence>(p.residence, false).map_err(at("admissionNotice.residence"))
        }
        Payload::InNotice(p) => {
            known::<Residence>(p.residence, false).map_err(at("inNotice.residence"))
        }
        Payload::CareContactAssigned(p) => {
            let c = p
                .contact
                .as_ref()
                .ok_or_else(|| FieldError::missing("careContactAssigned.contact"))?;
            hsa(&c.hsa_id, true).map_err(at("careContactAssigned.contact.hsaId"))?;
            required(&c.name).map_err(at("careContactAssigned.contact.name"))
        }
        Payload::DischargeReady(p) => match p.ready_at {
            None => Err(FieldError::missing("dischargeReady.readyAt")),
            Some(_) => Ok(()),
        },
        Payload::SipInvitation(p) => {
            if p.meeting_at.is_none() {
                return Err(FieldError::missing("sipInvitation.meetingAt"));
            }
            known::<MeetingPlace>(p.place, false).map_err(at("sipInvitation.place"))?;
            for (i, a) in p.invitees.iter().enumerate() {
                actor(a, |leaf| format!("sipInvitation.invitees[{i}].{leaf}"))?;
            }
            Ok(())
        }
        Payload::SipPlan(p) => {
            if p.version < 0 {
                return Err(FieldError::new("sipPlan.version", "must be 1 or more"));
            }
            if p.goals.is_empty() {
                return Err(FieldError::new(
                    "sipPlan.goals",
                    "at least one goal is required",
                ));
            }
            for (i, iv) in p.interventions.iter().enumerate() {
                hsa(&iv.responsible_hsa_id, false).map_err(|r| {
                    FieldError::new(format!("sipPlan.interventions[{i}].responsibleHsaId"), r)
                })?;
            }
            hsa(&p.coordinator_hsa_id, true).map_err(at("sipPlan.coordinatorHsaId"))?;
            date(&p.follow_up_date).map_err(at("sipPlan.followUpDate"))?;
            if !p.follow_up_note.is_empty() && p.follow_up_date.is_empty() {
                return Err(FieldError::new(
                    "sipPlan.followUpDate",
                    "is required when followUpNote is given",
                ));
            }
            Ok(())
        }
        Payload::DischargeNotice(p) => {
            if p.discharged_at.is_none() {
                return Err(FieldError::missing("dischargeNotice.dischargedAt"));
            }
            known::<DischargeDestination>(p.destination, true)
                .map_err(at("dischargeNotice.destination"))
        }
        Payload::ThreadMessage(p) => required(&p.body).map_err(at("threadMessage.body")),
        Payload::Consent(p) => {
            known::<ConsentDecision>(p.decision, true).map_err(at("consent.decision"))
        }
        Payload::CaseOpened(_) | Payload::CaseReopened(_) => Ok(()),
        Payload::CaseClosed(p) => {
            known::<CloseReason>(p.reason, true).map_err(at("caseClosed.reason"))
        }
        Payload::Deviation(p) => {
            known::<DeviationCategory>(p.category, true).map_err(at("deviation.category"))
        }
    }
}

/// The names of the thirteen payloads in the model, in the order of the
/// oneof (and of case-model.md).
pub const PAYLOAD_NAMES: [&str; 13] = [
    "admissionNotice",
    "inNotice",
    "careContactAssigned",
    "dischargeReady",
    "sipInvitation",
    "sipPlan",
    "dischargeNotice",
    "threadMessage",
    "consent",
    "caseOpened",
    "caseClosed",
    "caseReopened",
    "deviation",
];

/// The payload's name in the model (`admissionNotice`).
pub fn payload_name(p: &Payload) -> &'static str {
    match p {
        Payload::AdmissionNotice(_) => "admissionNotice",
        Payload::InNotice(_) => "inNotice",
        Payload::CareContactAssigned(_) => "careContactAssigned",
        Payload::DischargeReady(_) => "dischargeReady",
        Payload::SipInvitation(_) => "sipInvitation",
        Payload::SipPlan(_) => "sipPlan",
        Payload::DischargeNotice(_) => "dischargeNotice",
        Payload::ThreadMessage(_) => "threadMessage",
        Payload::Consent(_) => "consent",
        Payload::CaseOpened(_) => "caseOpened",
        Payload::CaseClosed(_) => "caseClosed",
        Payload::CaseReopened(_) => "caseReopened",
        Payload::Deviation(_) => "deviation",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_names_follow_the_oneof() {
        let payloads = [
            Payload::AdmissionNotice(Default::default()),
            Payload::InNotice(Default::default()),
            Payload::CareContactAssigned(Default::default()),
            Payload::DischargeReady(Default::default()),
            Payload::SipInvitation(Default::default()),
            Payload::SipPlan(Default::default()),
            Payload::DischargeNotice(Default::default()),
            Payload::ThreadMessage(Default::default()),
            Payload::Consent(Default::default()),
            Payload::CaseOpened(Default::default()),
            Payload::CaseClosed(Default::default()),
            Payload::CaseReopened(Default::default()),
            Payload::Deviation(Default::default()),
        ];
        let names: Vec<&str> = payloads.iter().map(payload_name).collect();
        assert_eq!(names, PAYLOAD_NAMES);
    }
}
