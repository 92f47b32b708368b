//! Canonical event → Cosmic Link XML (UTF-8, prefix `cl`).

use samgate_adapter_core::codes::{code_for, sip_version_or_default};
use samgate_adapter_core::xml::write::XmlWriter;
use samgate_adapter_core::{EncodeError, Encoded, Extension, extension_dropped};
use samgate_proto::time::format_utc;
use samgate_proto::v1::*;
use samgate_proto::validate::Checked;
use samgate_proto::{CaseEvent, Payload, Timestamp};

use crate::codes::*;

const DIALECT: &str = "cosmic-link";
/// The schema version this encoder writes.
const SCHEMA_VERSION: &str = "3.1";

fn time(ts: &Option<Timestamp>) -> String {
    ts.as_ref().map(format_utc).unwrap_or_default()
}

fn boolean(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// `YYYYMMDD-NNNN` for personnummer and samordningsnummer.
fn person_id(kind: i32, id: &str) -> String {
    if kind == IdKind::Reservnummer as i32 || id.len() != 12 {
        id.to_owned()
    } else {
        format!("{}-{}", &id[..8], &id[8..])
    }
}

pub(crate) fn encode(
    event: &Checked<CaseEvent>,
    ext: Option<&Extension>,
) -> Result<Encoded, EncodeError> {
    let payload = event.payload();
    let message_type = MESSAGE_TYPES
        .iter()
        .find(|(_, name, _)| *name == samgate_proto::validate::payload_name(payload))
        .map(|(t, _, _)| *t)
        .expect("every payload has a type");
    let author = event.author();
    let p = event.patient();

    let mut w = XmlWriter::new("UTF-8");
    w.open("cl:Message")
        .attr("xmlns:cl", crate::NAMESPACE)
        .attr("schemaVersion", SCHEMA_VERSION);
    w.open("cl:Header");
    w.leaf("cl:MessageId", &event.source_message_id)
        .leaf("cl:MessageType", message_type)
        .leaf("cl:SentAt", &time(&event.occurred_at));
    w.open("cl:Sender").attr("hsaId", &author.hsa_id).attr(
        "unitType",
        code_for(ACTOR_KIND, author.kind, Some(ActorKind::Other)),
    );
    w.leaf("cl:Name", &author.name);
    w.close().close();

    w.open("cl:Case")
        .attr("caseId", &event.case_ref)
        .attr("flow", code_for(PROCESS, event.process, None));
    w.open("cl:Person");
    w.open("cl:PersonId")
        .attr(
            "type",
            code_for(ID_KIND, p.id_kind, Some(IdKind::Personnummer)),
        )
        .text(&person_id(p.id_kind, &p.id))
        .close();
    w.leaf("cl:Protected", boolean(p.protected_identity))
        .leaf("cl:GivenName", &p.given_name)
        .leaf("cl:FamilyName", &p.family_name)
        .leaf("cl:MunicipalityCode", &p.municipality_code);
    if !p.listed_unit_hsa_id.is_empty() {
        w.open("cl:ListedUnit")
            .attr("hsaId", &p.listed_unit_hsa_id)
            .close();
    }
    w.close();
    w.open("cl:Content");
    write_payload(&mut w, payload);
    w.close().close();

    if let Some(e) = ext.filter(|e| e.dialect == DIALECT) {
        w.open("cl:Extensions").raw(&e.inner_xml).close();
    }
    Ok(Encoded {
        bytes: w.finish().into_bytes(),
        warnings: extension_dropped(ext, DIALECT).into_iter().collect(),
    })
}

fn write_payload(w: &mut XmlWriter, payload: &Payload) {
    match payload {
        Payload::AdmissionNotice(a) => {
            w.open("cl:Admission");
            w.leaf("cl:AdmittedAt", &time(&a.admitted_at))
                .leaf("cl:Cause", &a.reason)
                .leaf("cl:EstimatedDischarge", &a.expected_discharge_date)
                .leaf("cl:Housing", code_for(RESIDENCE, a.residence, None))
                .leaf("cl:NeedsAssessment", &a.assessed_needs);
        }
        Payload::InNotice(n) => {
            w.open("cl:InNotice");
            w.leaf("cl:Housing", code_for(RESIDENCE, n.residence, None));
            if !n.current_services.is_empty() {
                w.open("cl:Services");
                for s in &n.current_services {
                    w.leaf("cl:Service", s);
                }
                w.close();
            }
            w.leaf("cl:Phone", &n.contact_phone)
                .leaf("cl:Note", &n.note);
        }
        Payload::CareContactAssigned(assigned) => {
            // Always there: the check requires a contact.
            if let Some(c) = &assigned.contact {
                w.open("cl:CareContact").attr("hsaId", &c.hsa_id);
                w.leaf("cl:Name", &c.name)
                    .leaf("cl:Title", &c.role)
                    .leaf("cl:Phone", &c.phone);
            }
        }
        Payload::DischargeReady(d) => {
            w.open("cl:DischargeReady");
            w.leaf("cl:ReadyAt", &time(&d.ready_at))
                .leaf("cl:Physician", &d.assessed_by);
        }
        Payload::SipInvitation(s) => {
            w.open("cl:SipInvitation");
            w.leaf("cl:MeetingTime", &time(&s.meeting_at))
                .leaf("cl:Location", code_for(MEETING_PLACE, s.place, None));
            for a in &s.invitees {
                w.open("cl:Participant")
                    .attr("hsaId", &a.hsa_id)
                    .attr(
                        "unitType",
                        code_for(ACTOR_KIND, a.kind, Some(ActorKind::Other)),
                    )
                    .text(&a.name)
                    .close();
            }
            w.leaf("cl:Comment", &s.note);
        }
        Payload::SipPlan(s) => {
            w.open("cl:Plan")
                .attr("planType", "SIP")
                .attr("revision", &sip_version_or_default(s.version));
            for g in &s.goals {
                w.open("cl:Goal").leaf("cl:Text", &g.text);
                for sg in &g.sub_goals {
                    w.leaf("cl:SubGoal", sg);
                }
                w.close();
            }
            w.leaf("cl:PersonExpectations", &s.person_expectations);
            for i in &s.interventions {
                w.open("cl:Activity")
                    .attr_opt("responsibleHsaId", &i.responsible_hsa_id)
                    .attr("responsibleName", &i.responsible_name)
                    .text(&i.text)
                    .close();
            }
            for m in &s.other_measures {
                w.leaf("cl:ExternalMeasure", m);
            }
            w.open("cl:Coordinator")
                .attr("hsaId", &s.coordinator_hsa_id)
                .close();
            if !s.follow_up_date.is_empty() {
                w.open("cl:FollowUp")
                    .attr("date", &s.follow_up_date)
                    .text(&s.follow_up_note)
                    .close();
            }
            w.leaf("cl:PersonParticipated", boolean(s.patient_participated));
        }
        Payload::DischargeNotice(d) => {
            w.open("cl:Discharge");
            w.leaf("cl:DischargedAt", &time(&d.discharged_at))
                .leaf("cl:Destination", code_for(DESTINATION, d.destination, None));
        }
        Payload::ThreadMessage(m) => {
            w.open("cl:ThreadMessage").attr("thread", &m.thread);
            w.leaf("cl:Subject", &m.subject).leaf("cl:Body", &m.body);
        }
        Payload::Consent(c) => {
            w.open("cl:Consent")
                .attr("status", code_for(CONSENT, c.decision, None));
            w.leaf("cl:Scope", &c.scope)
                .leaf("cl:RegisteredBy", &c.recorded_by);
        }
        Payload::CaseOpened(c) => {
            w.open("cl:Opened").leaf("cl:Reason", &c.reason);
        }
        Payload::CaseClosed(c) => {
            w.open("cl:Closed")
                .attr("reason", code_for(CLOSE_REASON, c.reason, None));
        }
        Payload::CaseReopened(c) => {
            w.open("cl:Reopened").leaf("cl:Reason", &c.reason);
        }
        Payload::Deviation(d) => {
            w.open("cl:Deviation")
                .attr("category", code_for(DEVIATION, d.category, None));
            w.leaf("cl:Description", &d.description);
        }
    }
    w.close();
}
