//! SAMSA's code tables, OIDs, message types, and where each canonical
//! field lives (for refusals).

use samgate_proto::v1::*;

/// `code/@codeSystem` of the message type.
pub const MESSAGE_TYPE_CODE_SYSTEM: &str = "1.2.752.113.10.1.1";
/// `id/@root` of HSA-ids.
pub const HSA_ROOT: &str = "1.2.752.129.2.1.4.1";
/// `id/@root` of the message id.
pub const MESSAGE_ID_ROOT: &str = "1.2.752.113.10.1.2";
/// `id/@root` of the case id.
pub const CASE_ID_ROOT: &str = "1.2.752.113.10.1.3";

/// `code/@code` → canonical payload name, payload element, and the
/// `@displayName` the encoder writes (Lifecare's `typ` of the type).
pub const MESSAGE_TYPES: &[(&str, &str, &str, &str)] = &[
    (
        "INSKR",
        "admissionNotice",
        "admission",
        "Inskrivningsmeddelande",
    ),
    ("INMED", "inNotice", "inNotice", "Inmeddelande"),
    (
        "FVK",
        "careContactAssigned",
        "careContact",
        "FastVardkontakt",
    ),
    (
        "UTSKRKLAR",
        "dischargeReady",
        "dischargeReady",
        "Utskrivningsklar",
    ),
    ("SIPKALL", "sipInvitation", "invitation", "KallelseSIP"),
    ("SIP", "sipPlan", "plan", "SIP"),
    (
        "UTSKR",
        "dischargeNotice",
        "discharge",
        "Utskrivningsmeddelande",
    ),
    ("MEDD", "threadMessage", "message", "Meddelande"),
    ("SAMTYCKE", "consent", "consent", "Samtycke"),
    ("START", "caseOpened", "caseOpened", "StartArende"),
    ("AVSLUT", "caseClosed", "caseClosed", "Avslut"),
    ("ATEROPPN", "caseReopened", "caseReopened", "Ateroppning"),
    ("AVVIK", "deviation", "deviation", "Avvikelse"),
];

pub const ACTOR_KIND: &[(&str, ActorKind)] = &[
    ("HOSP", ActorKind::Hospital),
    ("PRIM", ActorKind::PrimaryCare),
    ("KHSL", ActorKind::MunicipalHealthcare),
    ("SOC", ActorKind::SocialServices),
    ("PSY", ActorKind::Psychiatry),
    ("SKOL", ActorKind::School),
    ("OTH", ActorKind::Other),
];

pub const PROCESS: &[(&str, CareProcess)] = &[
    ("SV", CareProcess::Inpatient),
    ("OV", CareProcess::Outpatient),
    ("LPT", CareProcess::PsychiatricCompulsory),
];

/// Person id kinds by `id/@root`.
pub const ID_KIND: &[(&str, IdKind)] = &[
    ("1.2.752.129.2.1.3.1", IdKind::Personnummer),
    ("1.2.752.129.2.1.3.3", IdKind::Samordningsnummer),
    ("1.2.752.74.9.1", IdKind::Reservnummer),
];

pub const RESIDENCE: &[(&str, Residence)] = &[
    ("1", Residence::OrdinaryHousing),
    ("2", Residence::SpecialHousing),
    ("3", Residence::ShortTermCare),
    ("9", Residence::Other),
];

pub const DESTINATION: &[(&str, DischargeDestination)] = &[
    ("HEM", DischargeDestination::Home),
    ("KORT", DischargeDestination::ShortTermCare),
    ("SABO", DischargeDestination::SpecialHousing),
    ("SJH", DischargeDestination::OtherHospital),
    ("AVL", DischargeDestination::Deceased),
];

pub const MEETING_PLACE: &[(&str, MeetingPlace)] = &[
    ("HEM", MeetingPlace::Home),
    ("MOTT", MeetingPlace::Clinic),
    ("SJH", MeetingPlace::Hospital),
    ("DIST", MeetingPlace::Digital),
];

pub const CONSENT: &[(&str, ConsentDecision)] = &[
    ("active", ConsentDecision::Given),
    ("inactive", ConsentDecision::Withdrawn),
];

pub const CLOSE_REASON: &[(&str, CloseReason)] = &[
    ("01", CloseReason::NoNeed),
    ("02", CloseReason::GoalsMet),
    ("03", CloseReason::Agreed),
    ("04", CloseReason::ConsentWithdrawn),
    ("05", CloseReason::Deceased),
];

pub const DEVIATION: &[(&str, DeviationCategory)] = &[
    ("INFO", DeviationCategory::InformationTransfer),
    ("LKM", DeviationCategory::Medication),
    ("INSATS", DeviationCategory::DelayedIntervention),
    ("UTSKR", DeviationCategory::Discharge),
    ("INSKR", DeviationCategory::Admission),
    ("SIP", DeviationCategory::Sip),
    ("OVR", DeviationCategory::Other),
];

pub const BOOLEAN: &[(&str, bool)] = &[("true", true), ("false", false)];

/// Where each canonical field lives in a SAMSA message, for refusals.
pub const FIELD_PATHS: &[(&str, &str)] = &[
    ("sourceSystem", "/Notification"),
    ("sourceMessageId", "/Notification/id/@extension"),
    ("occurredAt", "/Notification/effectiveTime/@value"),
    ("caseRef", "/Notification/case/id/@extension"),
    ("process", "/Notification/case/processCode/@code"),
    ("author", "/Notification/author"),
    ("author.hsaId", "/Notification/author/id/@extension"),
    ("author.kind", "/Notification/author/@classCode"),
    ("patient", "/Notification/subject"),
    ("patient.id", "/Notification/subject/id/@extension"),
    ("patient.idKind", "/Notification/subject/id/@root"),
    (
        "patient.municipalityCode",
        "/Notification/subject/residence/@municipalityCode",
    ),
    (
        "patient.listedUnitHsaId",
        "/Notification/subject/listedAt/id/@extension",
    ),
    (
        "admissionNotice.admittedAt",
        "/Notification/component/admission/effectiveTime/@value",
    ),
    (
        "admissionNotice.expectedDischargeDate",
        "/Notification/component/admission/expectedDischarge/@value",
    ),
    (
        "careContactAssigned.contact",
        "/Notification/component/careContact",
    ),
    (
        "careContactAssigned.contact.hsaId",
        "/Notification/component/careContact/id/@extension",
    ),
    (
        "careContactAssigned.contact.name",
        "/Notification/component/careContact/name",
    ),
    (
        "dischargeReady.readyAt",
        "/Notification/component/dischargeReady/effectiveTime/@value",
    ),
    (
        "sipInvitation.meetingAt",
        "/Notification/component/invitation/meetingTime/@value",
    ),
    (
        "sipInvitation.invitees[].hsaId",
        "/Notification/component/invitation/participant[]/id/@extension",
    ),
    ("sipPlan.version", "/Notification/component/plan/@version"),
    ("sipPlan.goals", "/Notification/component/plan/goal"),
    (
        "sipPlan.goals[].text",
        "/Notification/component/plan/goal[]/text",
    ),
    (
        "sipPlan.interventions[].responsibleHsaId",
        "/Notification/component/plan/intervention[]/responsible/id/@extension",
    ),
    (
        "sipPlan.coordinatorHsaId",
        "/Notification/component/plan/coordinator/id/@extension",
    ),
    (
        "sipPlan.followUpDate",
        "/Notification/component/plan/followUp/effectiveTime/@value",
    ),
    (
        "dischargeNotice.dischargedAt",
        "/Notification/component/discharge/effectiveTime/@value",
    ),
    (
        "dischargeNotice.destination",
        "/Notification/component/discharge/destination/@code",
    ),
    ("threadMessage.body", "/Notification/component/message/text"),
    (
        "consent.decision",
        "/Notification/component/consent/status/@code",
    ),
    (
        "caseClosed.reason",
        "/Notification/component/caseClosed/reason/@code",
    ),
    (
        "deviation.category",
        "/Notification/component/deviation/category/@code",
    ),
];
