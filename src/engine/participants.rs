//! Collecting a case's participants: every author, invitee, care contact,
//! intervention owner and coordinator that appears (routing adds more).

use samgate_proto::{Actor, Payload};

/// Adds an actor, or fills in the name and kind of one already there.
pub fn add(participants: &mut Vec<Actor>, hsa_id: &str, name: &str, kind: i32) {
    if hsa_id.is_empty() {
        return;
    }
    match participants.iter_mut().find(|p| p.hsa_id == hsa_id) {
        Some(p) => {
            if p.name.is_empty() {
                p.name = name.to_owned();
            }
            if p.kind == 0 {
                p.kind = kind;
            }
        }
        None => participants.push(Actor {
            hsa_id: hsa_id.to_owned(),
            name: name.to_owned(),
            kind,
        }),
    }
}

/// Every actor an event names.
pub fn collect(participants: &mut Vec<Actor>, author: &Actor, payload: &Payload) {
    add(participants, &author.hsa_id, &author.name, author.kind);
    match payload {
        Payload::SipInvitation(s) => {
            for a in &s.invitees {
                add(participants, &a.hsa_id, &a.name, a.kind);
            }
        }
        Payload::CareContactAssigned(c) => {
            if let Some(c) = &c.contact {
                add(participants, &c.hsa_id, "", 0);
            }
        }
        Payload::SipPlan(p) => {
            for i in &p.interventions {
                add(participants, &i.responsible_hsa_id, &i.responsible_name, 0);
            }
            add(participants, &p.coordinator_hsa_id, "", 0);
        }
        _ => {}
    }
}

/// Whether `hsa_id` takes part in the case.
pub fn contains(participants: &[Actor], hsa_id: &str) -> bool {
    participants.iter().any(|p| p.hsa_id == hsa_id)
}
