//! The recipient rules.
//!
//! - Every participant of the case except the author receives the event.
//! - An admission notice also goes to the patient's home municipality (its
//!   home health care and social services units) and to the patient's
//!   listed primary-care unit; they become participants.
//! - Outpatient: nothing but the consent itself is routed before consent is
//!   GIVEN. Consent GIVEN brings the home municipality into the case, since
//!   the outpatient process is the region and the municipality planning
//!   together and the consent is what allows it.
//! - A person with protected identity is never routed to a Cosmic Link
//!   actor: that delivery is quarantined (`protected-identity-policy`) and
//!   the author gets a notice.
//! - A recipient the directory does not know is a quarantined delivery
//!   (`unknown-recipient`), never a dropped one.

use samgate_proto::v1::*;
use samgate_proto::{CaseEvent, Payload};

use super::Directory;
use crate::store::{DeliveryKind, NewDelivery};

pub use crate::channel::QUARANTINE_PROTECTED_IDENTITY;
pub const QUARANTINE_UNKNOWN_RECIPIENT: &str = "unknown-recipient";

fn add_participant(case: &mut Case, hsa_id: &str, name: &str, kind: ActorKind) {
    if hsa_id.is_empty() || case.participants.iter().any(|p| p.hsa_id == hsa_id) {
        return;
    }
    case.participants.push(samgate_proto::Actor {
        hsa_id: hsa_id.to_owned(),
        name: name.to_owned(),
        kind: kind as i32,
    });
}

fn add_home_municipality(directory: &Directory, case: &mut Case, municipality: &str) {
    for unit in directory.municipal_units(municipality) {
        add_participant(case, &unit.hsa_id, &unit.name, unit.kind);
    }
}

/// The deliveries of `event`, after adding routed participants to `case`.
pub fn route(directory: &Directory, case: &mut Case, event: &CaseEvent) -> Vec<NewDelivery> {
    let Some(payload) = &event.payload else {
        return Vec::new();
    };
    // The case's view of the person: the event's, with protection kept
    // once any source has said so (the engine's fold).
    let patient = case.patient.clone().unwrap_or_default();
    let author = event
        .author
        .as_ref()
        .map(|a| a.hsa_id.as_str())
        .unwrap_or_default();
    let outpatient = case.process == CareProcess::Outpatient as i32;
    let consent_given = case.consent == ConsentState::Given as i32;

    match payload {
        Payload::AdmissionNotice(_) => {
            add_home_municipality(directory, case, &patient.municipality_code);
            if !patient.listed_unit_hsa_id.is_empty() {
                let (name, kind) = directory
                    .unit(&patient.listed_unit_hsa_id)
                    .map_or((String::new(), ActorKind::PrimaryCare), |u| {
                        (u.name.clone(), u.kind)
                    });
                add_participant(case, &patient.listed_unit_hsa_id, &name, kind);
            }
        }
        Payload::Consent(c) if outpatient && c.decision == ConsentDecision::Given as i32 => {
            add_home_municipality(directory, case, &patient.municipality_code);
        }
        _ => {}
    }

    if outpatient && !consent_given && !matches!(payload, Payload::Consent(_)) {
        return Vec::new();
    }

    let mut deliveries = Vec::new();
    let mut policy_refusals = Vec::new();
    for p in case.participants.iter().filter(|p| p.hsa_id != author) {
        let delivery = match directory.unit(&p.hsa_id) {
            None => NewDelivery::quarantined(
                &p.hsa_id,
                None,
                format!(
                    "{QUARANTINE_UNKNOWN_RECIPIENT}: {} is not in the actor directory",
                    p.hsa_id
                ),
            ),
            Some(unit)
                if patient.protected_identity && unit.system.forbids_protected_identity() =>
            {
                policy_refusals.push(unit.name.clone());
                NewDelivery::quarantined(
                    &p.hsa_id,
                    Some(unit.system),
                    format!(
                        "{QUARANTINE_PROTECTED_IDENTITY}: a person with protected identity is never sent to Cosmic Link"
                    ),
                )
            }
            Some(unit) => NewDelivery::pending(&p.hsa_id, Some(unit.system), DeliveryKind::Event),
        };
        deliveries.push(delivery);
    }
    if !policy_refusals.is_empty() && !author.is_empty() {
        let system = directory.unit(author).map(|u| u.system);
        let mut notice = NewDelivery::pending(author, system, DeliveryKind::Notice);
        notice.reason = format!(
            "{QUARANTINE_PROTECTED_IDENTITY}: not delivered to {} (Cosmic Link does not handle cases of persons with protected identity); arrange the information transfer another way",
            policy_refusals.join(", ")
        );
        deliveries.push(notice);
    }
    deliveries
}
