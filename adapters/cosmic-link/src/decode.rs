//! Cosmic Link XML → canonical event.

use samgate_adapter_core::codes::parse_sip_version;
use samgate_adapter_core::document::{
    check_decoded, document_text, extension, parse_document, payload_element,
};
use samgate_adapter_core::time::parse_iso_date;
use samgate_adapter_core::xml::walk::{Card, Ctx, Node};
use samgate_adapter_core::{DecodeError, Decoded};
use samgate_proto::time::parse_rfc3339;
use samgate_proto::v1::*;
use samgate_proto::{Actor, CaseEvent, Patient, Payload};

use crate::codes::*;

pub(crate) const CTX: Ctx = Ctx {
    dialect: "cosmic-link",
    ns: crate::NAMESPACE,
    prefix: "cl:",
};

type Result<T> = std::result::Result<T, DecodeError>;

/// `schemaVersion` must have major version 3 (`3`, `3.0`, `3.1`, `3.7`).
fn check_schema_version(v: &str) -> std::result::Result<(), String> {
    let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return Err(format!("'{v}' is not a schema version"));
    }
    if major.trim_start_matches('0') != "3" {
        return Err(format!(
            "schema version {v} is not supported; major version 3 is read"
        ));
    }
    Ok(())
}

/// `YYYYMMDD-NNNN` or 12 digits for personnummer and samordningsnummer;
/// a reservnummer as is.
fn person_id(kind: IdKind, v: &str) -> std::result::Result<String, String> {
    match kind {
        IdKind::Reservnummer => Ok(v.to_owned()),
        _ => {
            let b = v.as_bytes();
            if b.len() == 13 && b[8] == b'-' {
                Ok(format!("{}{}", &v[..8], &v[9..]))
            } else if b.len() == 12 && b.iter().all(u8::is_ascii_digit) {
                Ok(v.to_owned())
            } else {
                Err(format!("'{v}' is not a person id YYYYMMDD-NNNN"))
            }
        }
    }
}

pub(crate) fn decode(input: &[u8]) -> Result<Decoded> {
    let text = document_text(CTX, input, false)?;
    let root_el = parse_document(CTX, &text)?;
    let root = Node::root(&CTX, &root_el, "Message")?;
    root.only_attributes(&["schemaVersion"])?;
    root.parsed_attr("schemaVersion", check_schema_version)?
        .ok_or_else(|| root.attr_error("schemaVersion", "is required"))?;
    let kids = root.children(&[
        ("Header", Card::One),
        ("Case", Card::One),
        ("Extensions", Card::One),
    ])?;

    let header = kids.req("Header")?;
    header.only_attributes(&[])?;
    let hk = header.children(&[
        ("MessageId", Card::One),
        ("MessageType", Card::One),
        ("SentAt", Card::One),
        ("Sender", Card::One),
    ])?;
    let type_node = hk.req("MessageType")?;
    let message_type = type_node
        .leaf()?
        .ok_or_else(|| type_node.error("is required"))?;
    let (_, _, payload_el) = MESSAGE_TYPES
        .iter()
        .find(|(t, _, _)| *t == message_type)
        .ok_or_else(|| {
            type_node.error(format!(
                "'{message_type}' is not a Cosmic Link message type"
            ))
        })?;

    let case = kids.req("Case")?;
    case.only_attributes(&["caseId", "flow"])?;
    let ck = case.children(&[("Person", Card::One), ("Content", Card::One)])?;
    let content = ck.req("Content")?;
    content.only_attributes(&[])?;
    let spec: Vec<(&'static str, Card)> = MESSAGE_TYPES
        .iter()
        .map(|(_, _, el)| (*el, Card::One))
        .collect();
    let content_kids = content.children(&spec)?;
    let payload_names: Vec<&str> = MESSAGE_TYPES.iter().map(|(_, _, el)| *el).collect();
    let payload_node =
        payload_element(&content_kids, &payload_names, payload_el, &type_node.path())?;

    let event = CaseEvent {
        source_system: SourceSystem::CosmicLink as i32,
        source_message_id: hk.string("MessageId")?,
        occurred_at: hk.parsed_leaf("SentAt", parse_rfc3339)?,
        case_ref: case.attr("caseId").unwrap_or_default().to_owned(),
        process: case
            .coded_attr("flow", PROCESS, "Cosmic Link flow")?
            .map_or(0, Into::into),
        author: hk.one("Sender").map(|n| sender(&n)).transpose()?,
        patient: ck.one("Person").map(|n| person(&n)).transpose()?,
        payload: Some(payload(&payload_node)?),
    };
    let ext = extension(&kids, "Extensions", &text)?;
    let event = check_decoded(CTX, event, FIELD_PATHS, "/cl:Message")?;
    Ok(Decoded {
        event,
        warnings: Vec::new(),
        extension: ext,
    })
}

fn unit_kind(n: &Node) -> Result<i32> {
    Ok(
        n.coded_attr("unitType", ACTOR_KIND, "Cosmic Link unit type")?
            .ok_or_else(|| n.attr_error("unitType", "is required"))?
            .into(),
    )
}

fn sender(n: &Node) -> Result<Actor> {
    n.only_attributes(&["hsaId", "unitType"])?;
    let k = n.children(&[("Name", Card::One)])?;
    Ok(Actor {
        hsa_id: n.attr("hsaId").unwrap_or_default().to_owned(),
        name: k.string("Name")?,
        kind: unit_kind(n)?,
    })
}

fn participant(n: &Node) -> Result<Actor> {
    n.only_attributes(&["hsaId", "unitType"])?;
    Ok(Actor {
        hsa_id: n.attr("hsaId").unwrap_or_default().to_owned(),
        name: n.text()?.unwrap_or_default().to_owned(),
        kind: unit_kind(n)?,
    })
}

fn person(n: &Node) -> Result<Patient> {
    n.only_attributes(&[])?;
    let k = n.children(&[
        ("PersonId", Card::One),
        ("Protected", Card::One),
        ("GivenName", Card::One),
        ("FamilyName", Card::One),
        ("MunicipalityCode", Card::One),
        ("ListedUnit", Card::One),
    ])?;
    let (id, id_kind) = match k.one("PersonId") {
        Some(p) => {
            p.only_attributes(&["type"])?;
            let kind = p
                .coded_attr("type", ID_KIND, "Cosmic Link person id type")?
                .ok_or_else(|| p.attr_error("type", "is required"))?;
            let id = match p.text()? {
                Some(v) => person_id(kind, v).map_err(|e| p.error(e))?,
                None => String::new(),
            };
            (id, kind as i32)
        }
        None => (String::new(), 0),
    };
    let listed = match k.one("ListedUnit") {
        Some(l) => {
            l.attributes_only(&["hsaId"])?;
            l.attr("hsaId").unwrap_or_default().to_owned()
        }
        None => String::new(),
    };
    Ok(Patient {
        id,
        id_kind,
        given_name: k.string("GivenName")?,
        family_name: k.string("FamilyName")?,
        municipality_code: k.string("MunicipalityCode")?,
        protected_identity: k
            .coded_leaf("Protected", BOOLEAN, "boolean (true|false)")?
            .unwrap_or(false),
        listed_unit_hsa_id: listed,
    })
}

fn enum_or_zero<T: Into<i32>>(v: Option<T>) -> i32 {
    v.map_or(0, Into::into)
}

fn payload(n: &Node) -> Result<Payload> {
    Ok(match n.name() {
        "Admission" => {
            n.only_attributes(&[])?;
            let k = n.children(&[
                ("AdmittedAt", Card::One),
                ("Cause", Card::One),
                ("EstimatedDischarge", Card::One),
                ("Housing", Card::One),
                ("NeedsAssessment", Card::One),
            ])?;
            Payload::AdmissionNotice(AdmissionNotice {
                admitted_at: k.parsed_leaf("AdmittedAt", parse_rfc3339)?,
                reason: k.string("Cause")?,
                expected_discharge_date: k
                    .parsed_leaf("EstimatedDischarge", parse_iso_date)?
                    .unwrap_or_default(),
                residence: enum_or_zero(k.coded_leaf(
                    "Housing",
                    RESIDENCE,
                    "Cosmic Link housing",
                )?),
                assessed_needs: k.string("NeedsAssessment")?,
            })
        }
        "InNotice" => {
            n.only_attributes(&[])?;
            let k = n.children(&[
                ("Housing", Card::One),
                ("Services", Card::One),
                ("Phone", Card::One),
                ("Note", Card::One),
            ])?;
            let services = match k.one("Services") {
                Some(s) => {
                    s.only_attributes(&[])?;
                    s.children(&[("Service", Card::Many)])?
                        .leaf_list("Service")?
                }
                None => Vec::new(),
            };
            Payload::InNotice(InNotice {
                residence: enum_or_zero(k.coded_leaf(
                    "Housing",
                    RESIDENCE,
                    "Cosmic Link housing",
                )?),
                current_services: services,
                contact_phone: k.string("Phone")?,
                note: k.string("Note")?,
            })
        }
        "CareContact" => {
            n.only_attributes(&["hsaId"])?;
            let k = n.children(&[
                ("Name", Card::One),
                ("Title", Card::One),
                ("Phone", Card::One),
            ])?;
            Payload::CareContactAssigned(CareContactAssigned {
                contact: Some(CareContact {
                    hsa_id: n.attr("hsaId").unwrap_or_default().to_owned(),
                    name: k.string("Name")?,
                    role: k.string("Title")?,
                    phone: k.string("Phone")?,
                }),
            })
        }
        "DischargeReady" => {
            n.only_attributes(&[])?;
            let k = n.children(&[("ReadyAt", Card::One), ("Physician", Card::One)])?;
            Payload::DischargeReady(DischargeReady {
                ready_at: k.parsed_leaf("ReadyAt", parse_rfc3339)?,
                assessed_by: k.string("Physician")?,
            })
        }
        "SipInvitation" => {
            n.only_attributes(&[])?;
            let k = n.children(&[
                ("MeetingTime", Card::One),
                ("Location", Card::One),
                ("Participant", Card::Many),
                ("Comment", Card::One),
            ])?;
            Payload::SipInvitation(SipInvitation {
                meeting_at: k.parsed_leaf("MeetingTime", parse_rfc3339)?,
                place: enum_or_zero(k.coded_leaf(
                    "Location",
                    MEETING_PLACE,
                    "Cosmic Link location",
                )?),
                invitees: k
                    .many("Participant")
                    .iter()
                    .map(participant)
                    .collect::<Result<_>>()?,
                note: k.string("Comment")?,
            })
        }
        "Plan" => plan(n)?,
        "Discharge" => {
            n.only_attributes(&[])?;
            let k = n.children(&[("DischargedAt", Card::One), ("Destination", Card::One)])?;
            Payload::DischargeNotice(DischargeNotice {
                discharged_at: k.parsed_leaf("DischargedAt", parse_rfc3339)?,
                destination: enum_or_zero(k.coded_leaf(
                    "Destination",
                    DESTINATION,
                    "Cosmic Link destination",
                )?),
            })
        }
        "ThreadMessage" => {
            n.only_attributes(&["thread"])?;
            let k = n.children(&[("Subject", Card::One), ("Body", Card::One)])?;
            Payload::ThreadMessage(ThreadMessage {
                thread: n.attr("thread").unwrap_or_default().to_owned(),
                subject: k.string("Subject")?,
                body: k.string("Body")?,
            })
        }
        "Consent" => {
            n.only_attributes(&["status"])?;
            let k = n.children(&[("Scope", Card::One), ("RegisteredBy", Card::One)])?;
            Payload::Consent(Consent {
                decision: enum_or_zero(n.coded_attr(
                    "status",
                    CONSENT,
                    "Cosmic Link consent status",
                )?),
                scope: k.string("Scope")?,
                recorded_by: k.string("RegisteredBy")?,
            })
        }
        "Opened" => {
            n.only_attributes(&[])?;
            Payload::CaseOpened(CaseOpened {
                reason: n.children(&[("Reason", Card::One)])?.string("Reason")?,
            })
        }
        "Closed" => {
            n.attributes_only(&["reason"])?;
            Payload::CaseClosed(CaseClosed {
                reason: enum_or_zero(n.coded_attr(
                    "reason",
                    CLOSE_REASON,
                    "Cosmic Link close reason",
                )?),
            })
        }
        "Reopened" => {
            n.only_attributes(&[])?;
            Payload::CaseReopened(CaseReopened {
                reason: n.children(&[("Reason", Card::One)])?.string("Reason")?,
            })
        }
        "Deviation" => {
            n.only_attributes(&["category"])?;
            let k = n.children(&[("Description", Card::One)])?;
            Payload::Deviation(Deviation {
                category: enum_or_zero(n.coded_attr(
                    "category",
                    DEVIATION,
                    "Cosmic Link deviation category",
                )?),
                description: k.string("Description")?,
            })
        }
        other => unreachable!("payload elements come from MESSAGE_TYPES: {other}"),
    })
}

fn plan(n: &Node) -> Result<Payload> {
    n.only_attributes(&["planType", "revision"])?;
    if let Some(t) = n.attr("planType")
        && t != "SIP"
    {
        return Err(n.attr_error("planType", format!("must be SIP, found '{t}'")));
    }
    let version = n
        .parsed_attr("revision", parse_sip_version)?
        .ok_or_else(|| n.attr_error("revision", "is required"))?;
    let k = n.children(&[
        ("Goal", Card::Many),
        ("PersonExpectations", Card::One),
        ("Activity", Card::Many),
        ("ExternalMeasure", Card::Many),
        ("Coordinator", Card::One),
        ("FollowUp", Card::One),
        ("PersonParticipated", Card::One),
    ])?;
    let mut goals = Vec::new();
    for g in k.many("Goal") {
        g.only_attributes(&[])?;
        let gk = g.children(&[("Text", Card::One), ("SubGoal", Card::Many)])?;
        goals.push(Goal {
            text: gk.string("Text")?,
            sub_goals: gk.leaf_list("SubGoal")?,
        });
    }
    let mut interventions = Vec::new();
    for a in k.many("Activity") {
        a.only_attributes(&["responsibleHsaId", "responsibleName"])?;
        interventions.push(Intervention {
            text: a.text()?.unwrap_or_default().to_owned(),
            responsible_hsa_id: a.attr("responsibleHsaId").unwrap_or_default().to_owned(),
            responsible_name: a.attr("responsibleName").unwrap_or_default().to_owned(),
        });
    }
    let coordinator = match k.one("Coordinator") {
        Some(c) => {
            c.attributes_only(&["hsaId"])?;
            c.attr("hsaId").unwrap_or_default().to_owned()
        }
        None => String::new(),
    };
    let (follow_up_date, follow_up_note) = match k.one("FollowUp") {
        Some(f) => {
            f.only_attributes(&["date"])?;
            let note = f.text()?.unwrap_or_default().to_owned();
            let date = f
                .parsed_attr("date", parse_iso_date)?
                .ok_or_else(|| f.attr_error("date", "is required (the follow-up date)"))?;
            (date, note)
        }
        None => (String::new(), String::new()),
    };
    Ok(Payload::SipPlan(SipPlan {
        version,
        goals,
        person_expectations: k.string("PersonExpectations")?,
        interventions,
        other_measures: k.leaf_list("ExternalMeasure")?,
        coordinator_hsa_id: coordinator,
        follow_up_date,
        follow_up_note,
        patient_participated: k
            .coded_leaf("PersonParticipated", BOOLEAN, "boolean (true|false)")?
            .unwrap_or(false),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_versions() {
        for ok in ["3", "3.0", "3.1", "3.7"] {
            assert!(check_schema_version(ok).is_ok(), "{ok}");
        }
        for bad in ["4.0", "2.9", "3.x", "", "v3"] {
            assert!(check_schema_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn person_id_forms() {
        assert_eq!(
            person_id(IdKind::Personnummer, "19410206-9046").unwrap(),
            "194102069046"
        );
        assert_eq!(
            person_id(IdKind::Personnummer, "194102069046").unwrap(),
            "194102069046"
        );
        assert!(person_id(IdKind::Personnummer, "410206-9046").is_err());
        assert_eq!(person_id(IdKind::Reservnummer, "ABC123").unwrap(), "ABC123");
    }
}
