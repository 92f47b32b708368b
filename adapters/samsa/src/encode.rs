//! Canonical event → SAMSA XML (UTF-8, HL7 v3 flavoured).

use samgate_adapter_core::codes::{code_for, sip_version_or_default};
use samgate_adapter_core::time::{format_hl7_date, format_hl7_ts};
use samgate_adapter_core::xml::write::XmlWriter;
use samgate_adapter_core::{EncodeError, Encoded, Extension, extension_dropped};
use samgate_proto::v1::*;
use samgate_proto::validate::Checked;
use samgate_proto::{Actor, CaseEvent, Payload, Timestamp};

use crate::codes::*;

const DIALECT: &str = "samsa";

fn boolean(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn id(w: &mut XmlWriter, root: &str, extension: &str) {
    w.open("id")
        .attr("root", root)
        .attr("extension", extension)
        .close();
}

/// `<name>` holding an `id` with an HSA-id.
fn hsa_in(w: &mut XmlWriter, element: &str, hsa: &str) {
    w.open(element);
    id(w, HSA_ROOT, hsa);
    w.close();
}

/// An element whose value is one attribute; left out when the value is empty.
fn valued(w: &mut XmlWriter, element: &str, attr: &str, value: &str) {
    if !value.is_empty() {
        w.open(element).attr(attr, value).close();
    }
}

fn time(w: &mut XmlWriter, element: &str, ts: &Option<Timestamp>) {
    if let Some(ts) = ts {
        valued(w, element, "value", &format_hl7_ts(ts));
    }
}

fn phone(w: &mut XmlWriter, number: &str) {
    if !number.is_empty() {
        w.open("telecom")
            .attr("value", &format!("tel:{number}"))
            .close();
    }
}

fn actor(w: &mut XmlWriter, element: &str, a: &Actor) {
    w.open(element).attr(
        "classCode",
        code_for(ACTOR_KIND, a.kind, Some(ActorKind::Other)),
    );
    id(w, HSA_ROOT, &a.hsa_id);
    w.leaf("name", &a.name);
    w.close();
}

pub(crate) fn encode(
    event: &Checked<CaseEvent>,
    ext: Option<&Extension>,
) -> Result<Encoded, EncodeError> {
    let payload = event.payload();
    let (type_code, display) = MESSAGE_TYPES
        .iter()
        .find(|(_, name, _, _)| *name == samgate_proto::validate::payload_name(payload))
        .map(|(c, _, _, d)| (*c, *d))
        .expect("every payload has a type");
    let p = event.patient();

    let mut w = XmlWriter::new("UTF-8");
    w.open("Notification").attr("xmlns", crate::NAMESPACE);
    id(&mut w, MESSAGE_ID_ROOT, &event.source_message_id);
    w.open("code")
        .attr("code", type_code)
        .attr("codeSystem", MESSAGE_TYPE_CODE_SYSTEM)
        .attr("displayName", display)
        .close();
    time(&mut w, "effectiveTime", &event.occurred_at);
    actor(&mut w, "author", event.author());
    w.open("case");
    id(&mut w, CASE_ID_ROOT, &event.case_ref);
    valued(
        &mut w,
        "processCode",
        "code",
        code_for(PROCESS, event.process, None),
    );
    w.close();

    w.open("subject")
        .attr("protected", boolean(p.protected_identity));
    id(
        &mut w,
        code_for(ID_KIND, p.id_kind, Some(IdKind::Personnummer)),
        &p.id,
    );
    if !p.given_name.is_empty() || !p.family_name.is_empty() {
        w.open("name")
            .leaf("given", &p.given_name)
            .leaf("family", &p.family_name)
            .close();
    }
    valued(
        &mut w,
        "residence",
        "municipalityCode",
        &p.municipality_code,
    );
    if !p.listed_unit_hsa_id.is_empty() {
        hsa_in(&mut w, "listedAt", &p.listed_unit_hsa_id);
    }
    w.close();

    w.open("component");
    write_payload(&mut w, payload);
    w.close();

    if let Some(e) = ext.filter(|e| e.dialect == DIALECT) {
        w.open("extension").raw(&e.inner_xml).close();
    }
    Ok(Encoded {
        bytes: w.finish().into_bytes(),
        warnings: extension_dropped(ext, DIALECT).into_iter().collect(),
    })
}

fn write_payload(w: &mut XmlWriter, payload: &Payload) {
    match payload {
        Payload::AdmissionNotice(a) => {
            w.open("admission");
            time(w, "effectiveTime", &a.admitted_at);
            w.leaf("reason", &a.reason);
            valued(
                w,
                "expectedDischarge",
                "value",
                &format_hl7_date(&a.expected_discharge_date),
            );
            valued(w, "housing", "code", code_for(RESIDENCE, a.residence, None));
            w.leaf("needs", &a.assessed_needs);
        }
        Payload::InNotice(n) => {
            w.open("inNotice");
            valued(w, "housing", "code", code_for(RESIDENCE, n.residence, None));
            for s in &n.current_services {
                w.leaf("service", s);
            }
            phone(w, &n.contact_phone);
            w.leaf("note", &n.note);
        }
        Payload::CareContactAssigned(assigned) => {
            // Always there: the check requires a contact.
            if let Some(c) = &assigned.contact {
                w.open("careContact");
                id(w, HSA_ROOT, &c.hsa_id);
                w.leaf("name", &c.name).leaf("role", &c.role);
                phone(w, &c.phone);
            }
        }
        Payload::DischargeReady(d) => {
            w.open("dischargeReady");
            time(w, "effectiveTime", &d.ready_at);
            w.leaf("assessedBy", &d.assessed_by);
        }
        Payload::SipInvitation(s) => {
            w.open("invitation");
            time(w, "meetingTime", &s.meeting_at);
            valued(
                w,
                "location",
                "code",
                code_for(MEETING_PLACE, s.place, None),
            );
            for a in &s.invitees {
                actor(w, "participant", a);
            }
            w.leaf("note", &s.note);
        }
        Payload::SipPlan(s) => {
            w.open("plan")
                .attr("version", &sip_version_or_default(s.version));
            for g in &s.goals {
                w.open("goal").leaf("text", &g.text);
                for sg in &g.sub_goals {
                    w.leaf("subGoal", sg);
                }
                w.close();
            }
            w.leaf("expectations", &s.person_expectations);
            for i in &s.interventions {
                w.open("intervention").leaf("text", &i.text);
                if !i.responsible_hsa_id.is_empty() || !i.responsible_name.is_empty() {
                    w.open("responsible");
                    if !i.responsible_hsa_id.is_empty() {
                        id(w, HSA_ROOT, &i.responsible_hsa_id);
                    }
                    w.leaf("name", &i.responsible_name);
                    w.close();
                }
                w.close();
            }
            for m in &s.other_measures {
                w.leaf("otherMeasure", m);
            }
            hsa_in(w, "coordinator", &s.coordinator_hsa_id);
            if !s.follow_up_date.is_empty() {
                w.open("followUp");
                valued(
                    w,
                    "effectiveTime",
                    "value",
                    &format_hl7_date(&s.follow_up_date),
                );
                w.leaf("note", &s.follow_up_note);
                w.close();
            }
            w.open("patientParticipated")
                .attr("value", boolean(s.patient_participated))
                .close();
        }
        Payload::DischargeNotice(d) => {
            w.open("discharge");
            time(w, "effectiveTime", &d.discharged_at);
            valued(
                w,
                "destination",
                "code",
                code_for(DESTINATION, d.destination, None),
            );
        }
        Payload::ThreadMessage(m) => {
            w.open("message").attr("thread", &m.thread);
            w.leaf("subject", &m.subject).leaf("text", &m.body);
        }
        Payload::Consent(c) => {
            w.open("consent");
            valued(w, "status", "code", code_for(CONSENT, c.decision, None));
            w.leaf("scope", &c.scope).leaf("recordedBy", &c.recorded_by);
        }
        Payload::CaseOpened(c) => {
            w.open("caseOpened").leaf("reason", &c.reason);
        }
        Payload::CaseClosed(c) => {
            w.open("caseClosed");
            valued(w, "reason", "code", code_for(CLOSE_REASON, c.reason, None));
        }
        Payload::CaseReopened(c) => {
            w.open("caseReopened").leaf("reason", &c.reason);
        }
        Payload::Deviation(d) => {
            w.open("deviation");
            valued(w, "category", "code", code_for(DEVIATION, d.category, None));
            w.leaf("description", &d.description);
        }
    }
    w.close();
}
