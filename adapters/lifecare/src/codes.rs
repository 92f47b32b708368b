//! Lifecare's code tables: message types and every coded value.

use samgate_proto::v1::*;

/// `Meddelande/@typ` → canonical payload name, and the payload's element.
pub const MESSAGE_TYPES: &[(&str, &str, &str)] = &[
    ("Inskrivningsmeddelande", "admissionNotice", "Inskrivning"),
    ("Inmeddelande", "inNotice", "Inmeddelande"),
    ("FastVardkontakt", "careContactAssigned", "FastVardkontakt"),
    ("Utskrivningsklar", "dischargeReady", "Utskrivningsklar"),
    ("KallelseSIP", "sipInvitation", "KallelseSIP"),
    ("SIP", "sipPlan", "SIP"),
    ("Utskrivningsmeddelande", "dischargeNotice", "Utskrivning"),
    ("Meddelande", "threadMessage", "Meddelandetext"),
    ("Samtycke", "consent", "Samtycke"),
    ("StartArende", "caseOpened", "StartArende"),
    ("Avslut", "caseClosed", "Avslut"),
    ("Ateroppning", "caseReopened", "Ateroppning"),
    ("Avvikelse", "deviation", "Avvikelse"),
];

pub const ACTOR_KIND: &[(&str, ActorKind)] = &[
    ("Sjukhus", ActorKind::Hospital),
    ("Vardcentral", ActorKind::PrimaryCare),
    ("KommunalHSL", ActorKind::MunicipalHealthcare),
    ("Socialtjanst", ActorKind::SocialServices),
    ("Psykiatri", ActorKind::Psychiatry),
    ("Skola", ActorKind::School),
    ("Ovrig", ActorKind::Other),
];

pub const PROCESS: &[(&str, CareProcess)] = &[
    ("Slutenvard", CareProcess::Inpatient),
    ("Oppenvard", CareProcess::Outpatient),
    ("LPT", CareProcess::PsychiatricCompulsory),
];

pub const ID_KIND: &[(&str, IdKind)] = &[
    ("personnummer", IdKind::Personnummer),
    ("samordningsnummer", IdKind::Samordningsnummer),
    ("reservnummer", IdKind::Reservnummer),
];

pub const RESIDENCE: &[(&str, Residence)] = &[
    ("Ordinärt boende", Residence::OrdinaryHousing),
    ("Särskilt boende", Residence::SpecialHousing),
    ("Korttidsboende", Residence::ShortTermCare),
    ("Annat", Residence::Other),
];

pub const DESTINATION: &[(&str, DischargeDestination)] = &[
    ("Hem", DischargeDestination::Home),
    ("Korttidsboende", DischargeDestination::ShortTermCare),
    ("Särskilt boende", DischargeDestination::SpecialHousing),
    ("Annat sjukhus", DischargeDestination::OtherHospital),
    ("Avliden", DischargeDestination::Deceased),
];

pub const MEETING_PLACE: &[(&str, MeetingPlace)] = &[
    ("Hemmet", MeetingPlace::Home),
    ("Mottagning", MeetingPlace::Clinic),
    ("Sjukhus", MeetingPlace::Hospital),
    ("Digitalt", MeetingPlace::Digital),
];

pub const CONSENT: &[(&str, ConsentDecision)] = &[
    ("lamnat", ConsentDecision::Given),
    ("aterkallat", ConsentDecision::Withdrawn),
];

pub const CLOSE_REASON: &[(&str, CloseReason)] = &[
    ("InteBehov", CloseReason::NoNeed),
    ("MalUppfyllda", CloseReason::GoalsMet),
    ("Overenskommet", CloseReason::Agreed),
    ("SamtyckeAterkallat", CloseReason::ConsentWithdrawn),
    ("Avliden", CloseReason::Deceased),
];

pub const DEVIATION: &[(&str, DeviationCategory)] = &[
    (
        "Informationsoverforing",
        DeviationCategory::InformationTransfer,
    ),
    ("Lakemedel", DeviationCategory::Medication),
    ("FordrojdInsats", DeviationCategory::DelayedIntervention),
    ("Utskrivning", DeviationCategory::Discharge),
    ("Inskrivning", DeviationCategory::Admission),
    ("SIP", DeviationCategory::Sip),
    ("Ovrigt", DeviationCategory::Other),
];

pub const BOOLEAN: &[(&str, bool)] = &[("ja", true), ("nej", false)];

/// Where each canonical field lives in a Lifecare message, for refusals.
pub const FIELD_PATHS: &[(&str, &str)] = &[
    ("sourceSystem", "/Meddelande"),
    ("sourceMessageId", "/Meddelande/@meddelandeId"),
    ("occurredAt", "/Meddelande/@skapad"),
    ("caseRef", "/Meddelande/Arende/@arendeId"),
    ("process", "/Meddelande/Arende/@process"),
    ("author", "/Meddelande/Avsandare"),
    ("author.hsaId", "/Meddelande/Avsandare/@hsaId"),
    ("author.kind", "/Meddelande/Avsandare/@typ"),
    ("patient", "/Meddelande/Patient"),
    ("patient.id", "/Meddelande/Patient/@id"),
    ("patient.idKind", "/Meddelande/Patient/@idtyp"),
    ("patient.municipalityCode", "/Meddelande/Patient/Kommun"),
    (
        "patient.listedUnitHsaId",
        "/Meddelande/Patient/ListadVardcentral/@hsaId",
    ),
    ("admissionNotice.admittedAt", "/Meddelande/Inskrivning/Tid"),
    (
        "admissionNotice.expectedDischargeDate",
        "/Meddelande/Inskrivning/BeraknadUtskrivning",
    ),
    ("careContactAssigned.contact", "/Meddelande/FastVardkontakt"),
    (
        "careContactAssigned.contact.hsaId",
        "/Meddelande/FastVardkontakt/@hsaId",
    ),
    (
        "careContactAssigned.contact.name",
        "/Meddelande/FastVardkontakt/Namn",
    ),
    ("dischargeReady.readyAt", "/Meddelande/Utskrivningsklar/Tid"),
    (
        "sipInvitation.meetingAt",
        "/Meddelande/KallelseSIP/Motestid",
    ),
    (
        "sipInvitation.invitees[].hsaId",
        "/Meddelande/KallelseSIP/Kallade/Kallad[]/@hsaId",
    ),
    (
        "sipInvitation.invitees[].kind",
        "/Meddelande/KallelseSIP/Kallade/Kallad[]/@typ",
    ),
    ("sipPlan.version", "/Meddelande/SIP/@version"),
    ("sipPlan.goals", "/Meddelande/SIP/Mal"),
    (
        "sipPlan.goals[].text",
        "/Meddelande/SIP/Mal[]/Malbeskrivning",
    ),
    (
        "sipPlan.interventions[].responsibleHsaId",
        "/Meddelande/SIP/Insatser/Insats[]/@ansvarigHsaId",
    ),
    (
        "sipPlan.coordinatorHsaId",
        "/Meddelande/SIP/Samordningsansvarig/@hsaId",
    ),
    ("sipPlan.followUpDate", "/Meddelande/SIP/Uppfoljning/@datum"),
    (
        "dischargeNotice.dischargedAt",
        "/Meddelande/Utskrivning/Tid",
    ),
    (
        "dischargeNotice.destination",
        "/Meddelande/Utskrivning/Till",
    ),
    ("threadMessage.body", "/Meddelande/Meddelandetext/Text"),
    ("consent.decision", "/Meddelande/Samtycke/@beslut"),
    ("caseClosed.reason", "/Meddelande/Avslut/@orsak"),
    ("deviation.category", "/Meddelande/Avvikelse/@kategori"),
];
