//! Lifecare XML → canonical event.

use samgate_adapter_core::codes::parse_sip_version;
use samgate_adapter_core::document::{
    check_decoded, document_text, extension, parse_document, payload_element,
};
use samgate_adapter_core::time::{parse_iso_date, parse_swedish_local};
use samgate_adapter_core::xml::walk::{Card, Ctx, Kids, Node};
use samgate_adapter_core::{DecodeError, Decoded};
use samgate_proto::v1::*;
use samgate_proto::{Actor, CaseEvent, Patient, Payload};

use crate::codes::*;

pub(crate) const CTX: Ctx = Ctx {
    dialect: "lifecare",
    ns: crate::NAMESPACE,
    prefix: "",
};

type Result<T> = std::result::Result<T, DecodeError>;

pub(crate) fn decode(input: &[u8]) -> Result<Decoded> {
    let text = document_text(CTX, input, true)?;
    let root_el = parse_document(CTX, &text)?;
    let root = Node::root(&CTX, &root_el, "Meddelande")?;
    root.only_attributes(&["typ", "meddelandeId", "skapad"])?;

    let mut spec = vec![
        ("Avsandare", Card::One),
        ("Arende", Card::One),
        ("Patient", Card::One),
    ];
    spec.extend(MESSAGE_TYPES.iter().map(|(_, _, el)| (*el, Card::One)));
    spec.push(("Extension", Card::One));
    let kids = root.children(&spec)?;

    let typ = root.req_attr("typ")?;
    let (_, _, payload_el) = MESSAGE_TYPES
        .iter()
        .find(|(t, _, _)| *t == typ)
        .ok_or_else(|| root.attr_error("typ", format!("'{typ}' is not a Lifecare message type")))?;
    let payload_names: Vec<&str> = MESSAGE_TYPES.iter().map(|(_, _, el)| *el).collect();
    let payload_node = payload_element(&kids, &payload_names, payload_el, &root.attr_path("typ"))?;

    let (case_ref, process) = match kids.one("Arende") {
        Some(a) => {
            a.attributes_only(&["arendeId", "process"])?;
            (
                a.attr("arendeId").unwrap_or_default().to_owned(),
                a.coded_attr("process", PROCESS, "Lifecare process")?,
            )
        }
        None => (String::new(), None),
    };

    let event = CaseEvent {
        source_system: SourceSystem::Lifecare as i32,
        source_message_id: root.attr("meddelandeId").unwrap_or_default().to_owned(),
        occurred_at: root.parsed_attr("skapad", parse_swedish_local)?,
        case_ref,
        process: process.map_or(0, Into::into),
        author: kids.one("Avsandare").map(|n| actor(&n)).transpose()?,
        patient: kids.one("Patient").map(|n| patient(&n)).transpose()?,
        payload: Some(payload(&payload_node)?),
    };
    let ext = extension(&kids, "Extension", &text)?;
    let event = check_decoded(CTX, event, FIELD_PATHS, "/Meddelande")?;
    Ok(Decoded {
        event,
        warnings: Vec::new(),
        extension: ext,
    })
}

/// An actor element: `@hsaId`, `@typ` (required), text = name.
fn actor(n: &Node) -> Result<Actor> {
    n.only_attributes(&["hsaId", "typ"])?;
    let kind = n
        .coded_attr("typ", ACTOR_KIND, "Lifecare unit type")?
        .ok_or_else(|| n.attr_error("typ", "is required"))?;
    Ok(Actor {
        hsa_id: n.attr("hsaId").unwrap_or_default().to_owned(),
        name: n.text()?.unwrap_or_default().to_owned(),
        kind: kind.into(),
    })
}

fn patient(n: &Node) -> Result<Patient> {
    n.only_attributes(&["id", "idtyp", "skyddad"])?;
    let kids = n.children(&[
        ("Fornamn", Card::One),
        ("Efternamn", Card::One),
        ("Kommun", Card::One),
        ("ListadVardcentral", Card::One),
    ])?;
    let id_kind = n
        .coded_attr("idtyp", ID_KIND, "Lifecare id type")?
        .ok_or_else(|| n.attr_error("idtyp", "is required"))?;
    let listed = match kids.one("ListadVardcentral") {
        Some(l) => {
            l.attributes_only(&["hsaId"])?;
            l.attr("hsaId").unwrap_or_default().to_owned()
        }
        None => String::new(),
    };
    Ok(Patient {
        id: n.attr("id").unwrap_or_default().to_owned(),
        id_kind: id_kind.into(),
        given_name: kids.string("Fornamn")?,
        family_name: kids.string("Efternamn")?,
        municipality_code: kids.string("Kommun")?,
        protected_identity: n
            .coded_attr("skyddad", BOOLEAN, "Lifecare boolean (ja|nej)")?
            .unwrap_or(false),
        listed_unit_hsa_id: listed,
    })
}

fn enum_or_zero<T: Into<i32>>(v: Option<T>) -> i32 {
    v.map_or(0, Into::into)
}

/// The leaf texts under a list wrapper (`Insatser/Insats*`).
fn wrapped_list<'d, 'a>(
    kids: &Kids<'d, 'a>,
    wrapper: &str,
    item: &'static str,
) -> Result<Vec<Node<'d, 'a>>> {
    match kids.one(wrapper) {
        Some(w) => {
            w.only_attributes(&[])?;
            Ok(w.children(&[(item, Card::Many)])?.many(item))
        }
        None => Ok(Vec::new()),
    }
}

fn payload(n: &Node) -> Result<Payload> {
    Ok(match n.name() {
        "Inskrivning" => {
            n.only_attributes(&[])?;
            let k = n.children(&[
                ("Tid", Card::One),
                ("Orsak", Card::One),
                ("BeraknadUtskrivning", Card::One),
                ("Boende", Card::One),
                ("BedomdaBehov", Card::One),
            ])?;
            Payload::AdmissionNotice(AdmissionNotice {
                admitted_at: k.parsed_leaf("Tid", parse_swedish_local)?,
                reason: k.string("Orsak")?,
                expected_discharge_date: k
                    .parsed_leaf("BeraknadUtskrivning", parse_iso_date)?
                    .unwrap_or_default(),
                residence: enum_or_zero(k.coded_leaf("Boende", RESIDENCE, "Lifecare residence")?),
                assessed_needs: k.string("BedomdaBehov")?,
            })
        }
        "Inmeddelande" => {
            n.only_attributes(&[])?;
            let k = n.children(&[
                ("Boende", Card::One),
                ("Insatser", Card::One),
                ("Telefon", Card::One),
                ("Notering", Card::One),
            ])?;
            let mut services = Vec::new();
            for item in wrapped_list(&k, "Insatser", "Insats")? {
                if let Some(t) = item.leaf()? {
                    services.push(t.to_owned());
                }
            }
            Payload::InNotice(InNotice {
                residence: enum_or_zero(k.coded_leaf("Boende", RESIDENCE, "Lifecare residence")?),
                current_services: services,
                contact_phone: k.string("Telefon")?,
                note: k.string("Notering")?,
            })
        }
        "FastVardkontakt" => {
            n.only_attributes(&["hsaId"])?;
            let k = n.children(&[
                ("Namn", Card::One),
                ("Roll", Card::One),
                ("Telefon", Card::One),
            ])?;
            Payload::CareContactAssigned(CareContactAssigned {
                contact: Some(CareContact {
                    hsa_id: n.attr("hsaId").unwrap_or_default().to_owned(),
                    name: k.string("Namn")?,
                    role: k.string("Roll")?,
                    phone: k.string("Telefon")?,
                }),
            })
        }
        "Utskrivningsklar" => {
            n.only_attributes(&[])?;
            let k = n.children(&[("Tid", Card::One), ("BedomdAv", Card::One)])?;
            Payload::DischargeReady(DischargeReady {
                ready_at: k.parsed_leaf("Tid", parse_swedish_local)?,
                assessed_by: k.string("BedomdAv")?,
            })
        }
        "KallelseSIP" => {
            n.only_attributes(&[])?;
            let k = n.children(&[
                ("Motestid", Card::One),
                ("Plats", Card::One),
                ("Kallade", Card::One),
                ("Notering", Card::One),
            ])?;
            let invitees = wrapped_list(&k, "Kallade", "Kallad")?
                .iter()
                .map(actor)
                .collect::<Result<_>>()?;
            Payload::SipInvitation(SipInvitation {
                meeting_at: k.parsed_leaf("Motestid", parse_swedish_local)?,
                place: enum_or_zero(k.coded_leaf(
                    "Plats",
                    MEETING_PLACE,
                    "Lifecare meeting place",
                )?),
                invitees,
                note: k.string("Notering")?,
            })
        }
        "SIP" => sip(n)?,
        "Utskrivning" => {
            n.only_attributes(&[])?;
            let k = n.children(&[("Tid", Card::One), ("Till", Card::One)])?;
            Payload::DischargeNotice(DischargeNotice {
                discharged_at: k.parsed_leaf("Tid", parse_swedish_local)?,
                destination: enum_or_zero(k.coded_leaf(
                    "Till",
                    DESTINATION,
                    "Lifecare discharge destination",
                )?),
            })
        }
        "Meddelandetext" => {
            n.only_attributes(&["trad"])?;
            let k = n.children(&[("Amne", Card::One), ("Text", Card::One)])?;
            Payload::ThreadMessage(ThreadMessage {
                thread: n.attr("trad").unwrap_or_default().to_owned(),
                subject: k.string("Amne")?,
                body: k.string("Text")?,
            })
        }
        "Samtycke" => {
            n.only_attributes(&["beslut"])?;
            let k = n.children(&[("Omfattning", Card::One), ("RegistreratAv", Card::One)])?;
            Payload::Consent(Consent {
                decision: enum_or_zero(n.coded_attr(
                    "beslut",
                    CONSENT,
                    "Lifecare consent decision",
                )?),
                scope: k.string("Omfattning")?,
                recorded_by: k.string("RegistreratAv")?,
            })
        }
        "StartArende" => {
            n.only_attributes(&[])?;
            Payload::CaseOpened(CaseOpened {
                reason: n.children(&[("Orsak", Card::One)])?.string("Orsak")?,
            })
        }
        "Avslut" => {
            n.attributes_only(&["orsak"])?;
            Payload::CaseClosed(CaseClosed {
                reason: enum_or_zero(n.coded_attr(
                    "orsak",
                    CLOSE_REASON,
                    "Lifecare close reason",
                )?),
            })
        }
        "Ateroppning" => {
            n.only_attributes(&[])?;
            Payload::CaseReopened(CaseReopened {
                reason: n.children(&[("Orsak", Card::One)])?.string("Orsak")?,
            })
        }
        "Avvikelse" => {
            n.only_attributes(&["kategori"])?;
            let k = n.children(&[("Beskrivning", Card::One)])?;
            Payload::Deviation(Deviation {
                category: enum_or_zero(n.coded_attr(
                    "kategori",
                    DEVIATION,
                    "Lifecare deviation category",
                )?),
                description: k.string("Beskrivning")?,
            })
        }
        other => unreachable!("payload elements come from MESSAGE_TYPES: {other}"),
    })
}

fn sip(n: &Node) -> Result<Payload> {
    n.only_attributes(&["version"])?;
    let version = n
        .parsed_attr("version", parse_sip_version)?
        .ok_or_else(|| n.attr_error("version", "is required"))?;
    let k = n.children(&[
        ("Mal", Card::Many),
        ("PersonensForvantningar", Card::One),
        ("Insatser", Card::One),
        ("AndrasAtgarder", Card::One),
        ("Samordningsansvarig", Card::One),
        ("Uppfoljning", Card::One),
        ("PatientenDeltog", Card::One),
    ])?;
    let mut goals = Vec::new();
    for g in k.many("Mal") {
        g.only_attributes(&[])?;
        let gk = g.children(&[("Malbeskrivning", Card::One), ("Delmal", Card::Many)])?;
        goals.push(Goal {
            text: gk.string("Malbeskrivning")?,
            sub_goals: gk.leaf_list("Delmal")?,
        });
    }
    let mut interventions = Vec::new();
    for i in wrapped_list(&k, "Insatser", "Insats")? {
        i.only_attributes(&["ansvarigHsaId", "ansvarig"])?;
        interventions.push(Intervention {
            text: i.text()?.unwrap_or_default().to_owned(),
            responsible_hsa_id: i.attr("ansvarigHsaId").unwrap_or_default().to_owned(),
            responsible_name: i.attr("ansvarig").unwrap_or_default().to_owned(),
        });
    }
    let mut other_measures = Vec::new();
    for a in wrapped_list(&k, "AndrasAtgarder", "Atgard")? {
        if let Some(t) = a.leaf()? {
            other_measures.push(t.to_owned());
        }
    }
    let coordinator = match k.one("Samordningsansvarig") {
        Some(c) => {
            c.attributes_only(&["hsaId"])?;
            c.attr("hsaId").unwrap_or_default().to_owned()
        }
        None => String::new(),
    };
    let (follow_up_date, follow_up_note) = match k.one("Uppfoljning") {
        Some(u) => {
            u.only_attributes(&["datum"])?;
            let note = u.text()?.unwrap_or_default().to_owned();
            let date = u
                .parsed_attr("datum", parse_iso_date)?
                .ok_or_else(|| u.attr_error("datum", "is required (the follow-up date)"))?;
            (date, note)
        }
        None => (String::new(), String::new()),
    };
    Ok(Payload::SipPlan(SipPlan {
        version,
        goals,
        person_expectations: k.string("PersonensForvantningar")?,
        interventions,
        other_measures,
        coordinator_hsa_id: coordinator,
        follow_up_date,
        follow_up_note,
        patient_participated: k
            .coded_leaf("PatientenDeltog", BOOLEAN, "Lifecare boolean (ja|nej)")?
            .unwrap_or(false),
    }))
}
