//! Canonical event → Lifecare XML (ISO-8859-1).

use samgate_adapter_core::codes::{code_for, sip_version_or_default};
use samgate_adapter_core::encoding::to_latin1_with_refs;
use samgate_adapter_core::time::format_swedish_local;
use samgate_adapter_core::xml::write::XmlWriter;
use samgate_adapter_core::{EncodeError, Encoded, Extension, Warning, extension_dropped};
use samgate_proto::v1::*;
use samgate_proto::validate::Checked;
use samgate_proto::{Actor, CaseEvent, Payload, Timestamp};

use crate::codes::*;

const DIALECT: &str = "lifecare";

/// Collects the warnings of one encoding.
struct Ctx {
    warnings: Vec<Warning>,
}

impl Ctx {
    /// Swedish local time; the second occurrence of the repeated autumn
    /// hour cannot be told from the first, so it is reported.
    fn time(&mut self, field: &str, ts: &Option<Timestamp>) -> String {
        let Some(ts) = ts else { return String::new() };
        let (text, ambiguous) = format_swedish_local(ts);
        if ambiguous {
            self.warnings.push(Warning::new(
                "repeated-hour",
                format!(
                    "{field}: {text} is in the hour repeated when summer time ends; Lifecare cannot tell it \
                     from the first occurrence, so it reads back one hour earlier"
                ),
            ));
        }
        text
    }
}

fn actor(w: &mut XmlWriter, name: &str, a: &Actor) {
    w.open(name)
        .attr("hsaId", &a.hsa_id)
        .attr("typ", code_for(ACTOR_KIND, a.kind, Some(ActorKind::Other)))
        .text(&a.name)
        .close();
}

pub(crate) fn encode(
    event: &Checked<CaseEvent>,
    ext: Option<&Extension>,
) -> Result<Encoded, EncodeError> {
    let mut cx = Ctx {
        warnings: Vec::new(),
    };
    let payload = event.payload();
    let typ = MESSAGE_TYPES
        .iter()
        .find(|(_, name, _)| *name == samgate_proto::validate::payload_name(payload))
        .map(|(t, _, _)| *t)
        .expect("every payload has a type");
    let created = cx.time("occurredAt", &event.occurred_at);

    let mut w = XmlWriter::new("ISO-8859-1");
    w.open("Meddelande")
        .attr("xmlns", crate::NAMESPACE)
        .attr("typ", typ)
        .attr("meddelandeId", &event.source_message_id)
        .attr("skapad", &created);
    actor(&mut w, "Avsandare", event.author());
    w.open("Arende")
        .attr("arendeId", &event.case_ref)
        .attr("process", code_for(PROCESS, event.process, None))
        .close();
    let p = event.patient();
    w.open("Patient")
        .attr("id", &p.id)
        .attr(
            "idtyp",
            code_for(ID_KIND, p.id_kind, Some(IdKind::Personnummer)),
        )
        .attr("skyddad", if p.protected_identity { "ja" } else { "nej" });
    w.leaf("Fornamn", &p.given_name)
        .leaf("Efternamn", &p.family_name)
        .leaf("Kommun", &p.municipality_code);
    if !p.listed_unit_hsa_id.is_empty() {
        w.open("ListadVardcentral")
            .attr("hsaId", &p.listed_unit_hsa_id)
            .close();
    }
    w.close();

    write_payload(&mut w, &mut cx, payload);

    if let Some(e) = ext.filter(|e| e.dialect == DIALECT) {
        w.open("Extension").raw(&e.inner_xml).close();
    }
    cx.warnings.extend(extension_dropped(ext, DIALECT));
    Ok(Encoded {
        bytes: to_latin1_with_refs(&w.finish()),
        warnings: cx.warnings,
    })
}

fn write_payload(w: &mut XmlWriter, cx: &mut Ctx, payload: &Payload) {
    match payload {
        Payload::AdmissionNotice(a) => {
            w.open("Inskrivning");
            w.leaf(
                "Tid",
                &cx.time("admissionNotice.admittedAt", &a.admitted_at),
            )
            .leaf("Orsak", &a.reason)
            .leaf("BeraknadUtskrivning", &a.expected_discharge_date)
            .leaf("Boende", code_for(RESIDENCE, a.residence, None))
            .leaf("BedomdaBehov", &a.assessed_needs);
        }
        Payload::InNotice(n) => {
            w.open("Inmeddelande");
            w.leaf("Boende", code_for(RESIDENCE, n.residence, None));
            if !n.current_services.is_empty() {
                w.open("Insatser");
                for s in &n.current_services {
                    w.leaf("Insats", s);
                }
                w.close();
            }
            w.leaf("Telefon", &n.contact_phone)
                .leaf("Notering", &n.note);
        }
        Payload::CareContactAssigned(assigned) => {
            // Always there: the check requires a contact.
            if let Some(c) = &assigned.contact {
                w.open("FastVardkontakt").attr("hsaId", &c.hsa_id);
                w.leaf("Namn", &c.name)
                    .leaf("Roll", &c.role)
                    .leaf("Telefon", &c.phone);
            }
        }
        Payload::DischargeReady(d) => {
            w.open("Utskrivningsklar");
            w.leaf("Tid", &cx.time("dischargeReady.readyAt", &d.ready_at))
                .leaf("BedomdAv", &d.assessed_by);
        }
        Payload::SipInvitation(s) => {
            w.open("KallelseSIP");
            w.leaf(
                "Motestid",
                &cx.time("sipInvitation.meetingAt", &s.meeting_at),
            )
            .leaf("Plats", code_for(MEETING_PLACE, s.place, None));
            if !s.invitees.is_empty() {
                w.open("Kallade");
                for a in &s.invitees {
                    actor(w, "Kallad", a);
                }
                w.close();
            }
            w.leaf("Notering", &s.note);
        }
        Payload::SipPlan(s) => {
            w.open("SIP")
                .attr("version", &sip_version_or_default(s.version));
            for g in &s.goals {
                w.open("Mal").leaf("Malbeskrivning", &g.text);
                for sg in &g.sub_goals {
                    w.leaf("Delmal", sg);
                }
                w.close();
            }
            w.leaf("PersonensForvantningar", &s.person_expectations);
            if !s.interventions.is_empty() {
                w.open("Insatser");
                for i in &s.interventions {
                    w.open("Insats")
                        .attr_opt("ansvarigHsaId", &i.responsible_hsa_id)
                        .attr("ansvarig", &i.responsible_name)
                        .text(&i.text)
                        .close();
                }
                w.close();
            }
            if !s.other_measures.is_empty() {
                w.open("AndrasAtgarder");
                for m in &s.other_measures {
                    w.leaf("Atgard", m);
                }
                w.close();
            }
            w.open("Samordningsansvarig")
                .attr("hsaId", &s.coordinator_hsa_id)
                .close();
            if !s.follow_up_date.is_empty() {
                w.open("Uppfoljning")
                    .attr("datum", &s.follow_up_date)
                    .text(&s.follow_up_note)
                    .close();
            }
            w.leaf(
                "PatientenDeltog",
                if s.patient_participated { "ja" } else { "nej" },
            );
        }
        Payload::DischargeNotice(d) => {
            w.open("Utskrivning");
            w.leaf(
                "Tid",
                &cx.time("dischargeNotice.dischargedAt", &d.discharged_at),
            )
            .leaf("Till", code_for(DESTINATION, d.destination, None));
        }
        Payload::ThreadMessage(m) => {
            w.open("Meddelandetext").attr("trad", &m.thread);
            w.leaf("Amne", &m.subject).leaf("Text", &m.body);
        }
        Payload::Consent(c) => {
            w.open("Samtycke")
                .attr("beslut", code_for(CONSENT, c.decision, None));
            w.leaf("Omfattning", &c.scope)
                .leaf("RegistreratAv", &c.recorded_by);
        }
        Payload::CaseOpened(c) => {
            w.open("StartArende").leaf("Orsak", &c.reason);
        }
        Payload::CaseClosed(c) => {
            w.open("Avslut")
                .attr("orsak", code_for(CLOSE_REASON, c.reason, None));
        }
        Payload::CaseReopened(c) => {
            w.open("Ateroppning").leaf("Orsak", &c.reason);
        }
        Payload::Deviation(d) => {
            w.open("Avvikelse")
                .attr("kategori", code_for(DEVIATION, d.category, None));
            w.leaf("Beskrivning", &d.description);
        }
    }
    w.close();
}
