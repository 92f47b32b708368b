//! Cosmic Link's code tables: message types and every coded value.

use samgate_proto::v1::*;

/// `cl:MessageType` → canonical payload name, and the payload element.
pub const MESSAGE_TYPES: &[(&str, &str, &str)] = &[
    ("ADMISSION_NOTICE", "admissionNotice", "Admission"),
    ("IN_NOTICE", "inNotice", "InNotice"),
    ("CARE_CONTACT", "careContactAssigned", "CareContact"),
    ("DISCHARGE_READY", "dischargeReady", "DischargeReady"),
    ("SIP_INVITATION", "sipInvitation", "SipInvitation"),
    ("SIP_PLAN", "sipPlan", "Plan"),
    ("DISCHARGE_NOTICE", "dischargeNotice", "Discharge"),
    ("THREAD_MESSAGE", "threadMessage", "ThreadMessage"),
    ("CONSENT", "consent", "Consent"),
    ("CASE_OPENED", "caseOpened", "Opened"),
    ("CASE_CLOSED", "caseClosed", "Closed"),
    ("CASE_REOPENED", "caseReopened", "Reopened"),
    ("DEVIATION", "deviation", "Deviation"),
];

pub const ACTOR_KIND: &[(&str, ActorKind)] = &[
    ("HOSPITAL", ActorKind::Hospital),
    ("PRIMARY_CARE", ActorKind::PrimaryCare),
    ("MUNICIPALITY_HEALTH", ActorKind::MunicipalHealthcare),
    ("SOCIAL_SERVICES", ActorKind::SocialServices),
    ("PSYCHIATRY", ActorKind::Psychiatry),
    ("SCHOOL", ActorKind::School),
    ("OTHER", ActorKind::Other),
];

pub const PROCESS: &[(&str, CareProcess)] = &[
    ("INPATIENT", CareProcess::Inpatient),
    ("OUTPATIENT", CareProcess::Outpatient),
    ("LPT_LRV", CareProcess::PsychiatricCompulsory),
];

pub const ID_KIND: &[(&str, IdKind)] = &[
    ("PNR", IdKind::Personnummer),
    ("SNR", IdKind::Samordningsnummer),
    ("RNR", IdKind::Reservnummer),
];

pub const RESIDENCE: &[(&str, Residence)] = &[
    ("ORDINARY", Residence::OrdinaryHousing),
    ("SPECIAL", Residence::SpecialHousing),
    ("SHORT_TERM", Residence::ShortTermCare),
    ("OTHER", Residence::Other),
];

pub const DESTINATION: &[(&str, DischargeDestination)] = &[
    ("HOME", DischargeDestination::Home),
    ("SHORT_TERM", DischargeDestination::ShortTermCare),
    ("SPECIAL_HOUSING", DischargeDestination::SpecialHousing),
    ("OTHER_HOSPITAL", DischargeDestination::OtherHospital),
    ("DECEASED", DischargeDestination::Deceased),
];

pub const MEETING_PLACE: &[(&str, MeetingPlace)] = &[
    ("HOME", MeetingPlace::Home),
    ("OUTPATIENT_CLINIC", MeetingPlace::Clinic),
    ("HOSPITAL", MeetingPlace::Hospital),
    ("VIDEO", MeetingPlace::Digital),
];

pub const CONSENT: &[(&str, ConsentDecision)] = &[
    ("GIVEN", ConsentDecision::Given),
    ("REVOKED", ConsentDecision::Withdrawn),
];

pub const CLOSE_REASON: &[(&str, CloseReason)] = &[
    ("NO_NEED", CloseReason::NoNeed),
    ("GOALS_ACHIEVED", CloseReason::GoalsMet),
    ("AGREED", CloseReason::Agreed),
    ("CONSENT_REVOKED", CloseReason::ConsentWithdrawn),
    ("DECEASED", CloseReason::Deceased),
];

pub const DEVIATION: &[(&str, DeviationCategory)] = &[
    (
        "INFORMATION_TRANSFER",
        DeviationCategory::InformationTransfer,
    ),
    ("MEDICATION", DeviationCategory::Medication),
    (
        "DELAYED_INTERVENTION",
        DeviationCategory::DelayedIntervention,
    ),
    ("DISCHARGE", DeviationCategory::Discharge),
    ("ADMISSION", DeviationCategory::Admission),
    ("SIP", DeviationCategory::Sip),
    ("OTHER", DeviationCategory::Other),
];

pub const BOOLEAN: &[(&str, bool)] = &[("true", true), ("false", false)];

/// Where each canonical field lives in a Cosmic Link message, for refusals.
pub const FIELD_PATHS: &[(&str, &str)] = &[
    ("sourceSystem", "/cl:Message"),
    ("sourceMessageId", "/cl:Message/cl:Header/cl:MessageId"),
    ("occurredAt", "/cl:Message/cl:Header/cl:SentAt"),
    ("caseRef", "/cl:Message/cl:Case/@caseId"),
    ("process", "/cl:Message/cl:Case/@flow"),
    ("author", "/cl:Message/cl:Header/cl:Sender"),
    ("author.hsaId", "/cl:Message/cl:Header/cl:Sender/@hsaId"),
    ("author.kind", "/cl:Message/cl:Header/cl:Sender/@unitType"),
    ("patient", "/cl:Message/cl:Case/cl:Person"),
    ("patient.id", "/cl:Message/cl:Case/cl:Person/cl:PersonId"),
    (
        "patient.idKind",
        "/cl:Message/cl:Case/cl:Person/cl:PersonId/@type",
    ),
    (
        "patient.municipalityCode",
        "/cl:Message/cl:Case/cl:Person/cl:MunicipalityCode",
    ),
    (
        "patient.listedUnitHsaId",
        "/cl:Message/cl:Case/cl:Person/cl:ListedUnit/@hsaId",
    ),
    (
        "admissionNotice.admittedAt",
        "/cl:Message/cl:Case/cl:Content/cl:Admission/cl:AdmittedAt",
    ),
    (
        "admissionNotice.expectedDischargeDate",
        "/cl:Message/cl:Case/cl:Content/cl:Admission/cl:EstimatedDischarge",
    ),
    (
        "careContactAssigned.contact",
        "/cl:Message/cl:Case/cl:Content/cl:CareContact",
    ),
    (
        "careContactAssigned.contact.hsaId",
        "/cl:Message/cl:Case/cl:Content/cl:CareContact/@hsaId",
    ),
    (
        "careContactAssigned.contact.name",
        "/cl:Message/cl:Case/cl:Content/cl:CareContact/cl:Name",
    ),
    (
        "dischargeReady.readyAt",
        "/cl:Message/cl:Case/cl:Content/cl:DischargeReady/cl:ReadyAt",
    ),
    (
        "sipInvitation.meetingAt",
        "/cl:Message/cl:Case/cl:Content/cl:SipInvitation/cl:MeetingTime",
    ),
    (
        "sipInvitation.invitees[].hsaId",
        "/cl:Message/cl:Case/cl:Content/cl:SipInvitation/cl:Participant[]/@hsaId",
    ),
    (
        "sipPlan.version",
        "/cl:Message/cl:Case/cl:Content/cl:Plan/@revision",
    ),
    (
        "sipPlan.goals",
        "/cl:Message/cl:Case/cl:Content/cl:Plan/cl:Goal",
    ),
    (
        "sipPlan.goals[].text",
        "/cl:Message/cl:Case/cl:Content/cl:Plan/cl:Goal[]/cl:Text",
    ),
    (
        "sipPlan.interventions[].responsibleHsaId",
        "/cl:Message/cl:Case/cl:Content/cl:Plan/cl:Activity[]/@responsibleHsaId",
    ),
    (
        "sipPlan.coordinatorHsaId",
        "/cl:Message/cl:Case/cl:Content/cl:Plan/cl:Coordinator/@hsaId",
    ),
    (
        "sipPlan.followUpDate",
        "/cl:Message/cl:Case/cl:Content/cl:Plan/cl:FollowUp/@date",
    ),
    (
        "dischargeNotice.dischargedAt",
        "/cl:Message/cl:Case/cl:Content/cl:Discharge/cl:DischargedAt",
    ),
    (
        "dischargeNotice.destination",
        "/cl:Message/cl:Case/cl:Content/cl:Discharge/cl:Destination",
    ),
    (
        "threadMessage.body",
        "/cl:Message/cl:Case/cl:Content/cl:ThreadMessage/cl:Body",
    ),
    (
        "consent.decision",
        "/cl:Message/cl:Case/cl:Content/cl:Consent/@status",
    ),
    (
        "caseClosed.reason",
        "/cl:Message/cl:Case/cl:Content/cl:Closed/@reason",
    ),
    (
        "deviation.category",
        "/cl:Message/cl:Case/cl:Content/cl:Deviation/@category",
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_path_is_in_the_message() {
        for (_, p) in super::FIELD_PATHS {
            assert!(p.starts_with("/cl:Message"));
        }
    }
}
