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

/// The earliest instant an event may name, 1900-01-01T00:00:00Z: before
/// any living person's care. Instants outside the window are typing or
/// decoding errors, and far enough out they overflow the deadlines derived
/// from them or print as years no client reads (`+10000-01-01`).
pub const EARLIEST_INSTANT: i64 = -2_208_988_800;
/// The first instant past the window, 2200-01-01T00:00:00Z: far inside
/// four-digit years (RFC 3339) even with every deadline added.
pub const END_OF_INSTANTS: i64 = 7_258_118_400;
/// The window for dates (`YYYY-MM-DD`), the same years.
const DATE_YEARS: std::ops::Range<i32> = 1900..2200;
/// The longest identifier (sourceMessageId, caseRef): far above any
/// system's ids, and small enough for every database index and log line.
pub const MAX_ID_CHARS: usize = 128;
/// The largest free text in one field, in bytes: pages of notes, far
/// below the 1 MiB message limit.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The largest encoded event, in bytes: the dialects' own message limit,
/// applied to canonical events too (gRPC, JSON).
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

type Check = Result<(), FieldError>;
/// A rule's verdict on one value: the reason when it fails. Field names are
/// only built for a failure, so checking a valid event allocates nothing.
type Verdict = Result<(), String>;

fn at(field: &str) -> impl FnOnce(String) -> FieldError + '_ {
    move |reason| FieldError::new(field, reason)
}

/// A required text: present and not only white space.
fn required(value: &str) -> Verdict {
    if value.trim().is_empty() {
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
    let d = parse_date(value)?;
    if !DATE_YEARS.contains(&chrono::Datelike::year(&d)) {
        return Err(format!(
            "'{value}' is outside the years {} to {}",
            DATE_YEARS.start,
            DATE_YEARS.end - 1
        ));
    }
    Ok(())
}

/// An instant inside the window, with nanos a protobuf Timestamp allows.
fn instant(ts: &Option<prost_types::Timestamp>, field: &str, is_required: bool) -> Check {
    let Some(ts) = ts else {
        return if is_required {
            Err(FieldError::missing(field))
        } else {
            Ok(())
        };
    };
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(FieldError::new(
            format!("{field}.nanos"),
            format!("{} is not 0 to 999999999", ts.nanos),
        ));
    }
    if !(EARLIEST_INSTANT..END_OF_INSTANTS).contains(&ts.seconds) {
        return Err(FieldError::new(
            field,
            format!(
                "{} seconds is outside 1900-01-01T00:00:00Z to 2199-12-31T23:59:59Z",
                ts.seconds
            ),
        ));
    }
    Ok(())
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
/// delivered, so it is refused wherever it comes from. C1 controls
/// (U+0080–U+009F) are refused too: no Swedish text has them, and they are
/// the mark of UTF-8 bytes read as ISO-8859-1 (`Ã\u{85}` for `Å`). Each text
/// is at most `MAX_TEXT_BYTES`.
fn texts(e: &CaseEvent) -> Check {
    each_text(e, &mut |field, text| {
        if text.len() > MAX_TEXT_BYTES {
            return Err(FieldError::new(
                field,
                format!(
                    "is {} bytes; at most {MAX_TEXT_BYTES} are allowed",
                    text.len()
                ),
            ));
        }
        match text.chars().find(|c| {
            let c = *c as u32;
            (c < 0x20 && !matches!(c, 0x09 | 0x0A | 0x0D)) || (0x80..=0x9F).contains(&c)
        }) {
            None => Ok(()),
            Some(c) if (c as u32) < 0x20 => Err(FieldError::new(
                field,
                format!("character U+{:04X} cannot be carried in XML", c as u32),
            )),
            Some(c) => Err(FieldError::new(
                field,
                format!(
                    "control character U+{:04X} (UTF-8 read as ISO-8859-1?)",
                    c as u32
                ),
            )),
        }
    })
}

/// An identifier: required, and at most `MAX_ID_CHARS` characters.
fn identifier(value: &str) -> Verdict {
    required(value)?;
    let chars = value.chars().count();
    if chars > MAX_ID_CHARS {
        return Err(format!(
            "is {chars} characters; at most {MAX_ID_CHARS} are allowed"
        ));
    }
    Ok(())
}

/// A value that passed its check: for a [`CaseEvent`], [`check_event`] is
/// the only way to make one, so code that takes a `Checked<CaseEvent>`
/// (the store, the engine, the encoders) needs neither to check again nor
/// to handle a missing payload, author or patient.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<T>(T);

impl<T> Checked<T> {
    pub fn get(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Checked<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl Checked<CaseEvent> {
    /// The payload, which a checked event always has.
    pub fn payload(&self) -> &Payload {
        match &self.0.payload {
            Some(p) => p,
            None => unreachable!("check_event refuses an event without a payload"),
        }
    }

    /// The author, which a checked event always has.
    pub fn author(&self) -> &Actor {
        match &self.0.author {
            Some(a) => a,
            None => unreachable!("check_event refuses an event without an author"),
        }
    }

    /// The patient, which a checked event always has.
    pub fn patient(&self) -> &Patient {
        match &self.0.patient {
            Some(p) => p,
            None => unreachable!("check_event refuses an event without a patient"),
        }
    }

    /// The same event with the person's identity protected: still valid,
    /// as protection is a flag any event may carry.
    pub fn with_protected_identity(&self) -> Checked<CaseEvent> {
        let mut event = self.0.clone();
        if let Some(p) = event.patient.as_mut() {
            p.protected_identity = true;
        }
        Checked(event)
    }
}

/// Checks one event against the model's rules.
pub fn check_event(e: CaseEvent) -> Result<Checked<CaseEvent>, FieldError> {
    check_fields(&e)?;
    Ok(Checked(e))
}

/// Checks an event from a sender (gRPC, an import): the model's rules, and
/// a source system a sender may claim. `JOURNAL` marks the events samgate
/// derives from the journal feed itself, so no sender may claim it.
pub fn check_input(e: CaseEvent) -> Result<Checked<CaseEvent>, FieldError> {
    let checked = check_event(e)?;
    refuse_derived_source(&checked)?;
    Ok(checked)
}

/// Refuses an event from a sender that claims samgate's own source system
/// `JOURNAL` (see [`check_input`]).
pub fn refuse_derived_source(e: &CaseEvent) -> Check {
    if e.source_system == SourceSystem::Journal as i32 {
        return Err(FieldError::new(
            "sourceSystem",
            "JOURNAL marks events samgate derives from the journal feed; it is never accepted as input",
        ));
    }
    Ok(())
}

fn check_fields(e: &CaseEvent) -> Check {
    let size = prost::Message::encoded_len(e);
    if size > MAX_EVENT_BYTES {
        return Err(FieldError::new(
            "event",
            format!("is {size} bytes; at most {MAX_EVENT_BYTES} are allowed"),
        ));
    }
    known::<SourceSystem>(e.source_system, true).map_err(at("sourceSystem"))?;
    identifier(&e.source_message_id).map_err(at("sourceMessageId"))?;
    instant(&e.occurred_at, "occurredAt", true)?;
    identifier(&e.case_ref).map_err(at("caseRef"))?;
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
    texts(e)
}

fn check_payload(payload: &Payload) -> Check {
    match payload {
        Payload::AdmissionNotice(p) => {
            instant(&p.admitted_at, "admissionNotice.admittedAt", true)?;
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
        Payload::DischargeReady(p) => instant(&p.ready_at, "dischargeReady.readyAt", true),
        Payload::SipInvitation(p) => {
            instant(&p.meeting_at, "sipInvitation.meetingAt", true)?;
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
            instant(&p.discharged_at, "dischargeNotice.dischargedAt", true)?;
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
