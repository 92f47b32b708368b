//! SAMSA XML → canonical event.

use samgate_adapter_core::codes::parse_sip_version;
use samgate_adapter_core::document::{
    check_decoded, document_text, extension, parse_document, payload_element,
};
use samgate_adapter_core::time::{parse_hl7_date, parse_hl7_ts};
use samgate_adapter_core::xml::walk::{Card, Ctx, Kids, Node};
use samgate_adapter_core::{DecodeError, Decoded};
use samgate_proto::v1::*;
use samgate_proto::{Actor, CaseEvent, Patient, Payload};

use crate::codes::*;

pub(crate) const CTX: Ctx = Ctx {
    dialect: "samsa",
    ns: crate::NAMESPACE,
    prefix: "",
};

type Result<T> = std::result::Result<T, DecodeError>;

/// The `@extension` of an `id` element whose `@root`, when present, must be
/// `fixed_root`.
fn fixed_id(n: &Node, fixed_root: &str) -> Result<String> {
    n.attributes_only(&["root", "extension"])?;
    if let Some(root) = n.attr("root")
        && root != fixed_root
    {
        return Err(n.attr_error("root", format!("must be {fixed_root}, found '{root}'")));
    }
    Ok(n.attr("extension").unwrap_or_default().to_owned())
}

/// An HSA-id held as `<id root=HSA extension=…/>` in child `name`.
fn hsa_child(k: &Kids, name: &str) -> Result<String> {
    match k.one(name) {
        Some(n) => fixed_id(&n, HSA_ROOT),
        None => Ok(String::new()),
    }
}

/// A coded value held in one attribute of child `name` (`<housing code="1"/>`).
fn coded_child<T: Copy>(
    k: &Kids,
    name: &str,
    attr: &str,
    table: &[(&str, T)],
    what: &str,
) -> Result<Option<T>> {
    let Some(n) = k.one(name) else {
        return Ok(None);
    };
    n.attributes_only(&[attr])?;
    n.coded_attr(attr, table, what)
}

/// A value held in one attribute of child `name`, read by `parse`.
fn parsed_child<T>(
    k: &Kids,
    name: &str,
    attr: &str,
    parse: impl Fn(&str) -> std::result::Result<T, String>,
) -> Result<Option<T>> {
    let Some(n) = k.one(name) else {
        return Ok(None);
    };
    n.attributes_only(&[attr])?;
    n.parsed_attr(attr, parse)
}

/// `tel:` + the number verbatim; a value without `tel:` is refused. The
/// number is trimmed like every other text, so that `tel: 013` reads as
/// the other dialects would read ` 013`.
fn phone(v: &str) -> std::result::Result<String, String> {
    v.strip_prefix("tel:")
        .map(|n| n.trim().to_owned())
        .ok_or_else(|| format!("'{v}' must start with tel:"))
}

fn enum_or_zero<T: Into<i32>>(v: Option<T>) -> i32 {
    v.map_or(0, Into::into)
}

/// The model's enum value of child `name`'s `code` attribute, looked up in
/// `table` (0, the unspecified value, when the child is absent).
fn code_of<T: Copy + Into<i32>>(
    k: &Kids,
    name: &str,
    table: &[(&str, T)],
    what: &str,
) -> Result<i32> {
    coded_child(k, name, "code", table, what).map(enum_or_zero)
}

pub(crate) fn decode(input: &[u8]) -> Result<Decoded> {
    let text = document_text(CTX, input, false)?;
    let root_el = parse_document(CTX, &text)?;
    let root = Node::root(&CTX, &root_el, "Notification")?;
    root.only_attributes(&[])?;
    let kids = root.children(&[
        ("id", Card::One),
        ("code", Card::One),
        ("effectiveTime", Card::One),
        ("author", Card::One),
        ("case", Card::One),
        ("subject", Card::One),
        ("component", Card::One),
        ("extension", Card::One),
    ])?;

    let code_node = kids.req("code")?;
    code_node.attributes_only(&["code", "codeSystem", "displayName"])?;
    if let Some(system) = code_node.attr("codeSystem")
        && system != MESSAGE_TYPE_CODE_SYSTEM
    {
        return Err(code_node.attr_error(
            "codeSystem",
            format!("must be {MESSAGE_TYPE_CODE_SYSTEM}, found '{system}'"),
        ));
    }
    let type_code = code_node.req_attr("code")?;
    let (_, _, payload_el, _) = MESSAGE_TYPES
        .iter()
        .find(|(c, _, _, _)| *c == type_code)
        .ok_or_else(|| {
            code_node.attr_error("code", format!("'{type_code}' is not a SAMSA message type"))
        })?;

    let component = kids.req("component")?;
    component.only_attributes(&[])?;
    let spec: Vec<(&'static str, Card)> = MESSAGE_TYPES
        .iter()
        .map(|(_, _, el, _)| (*el, Card::One))
        .collect();
    let component_kids = component.children(&spec)?;
    let payload_names: Vec<&str> = MESSAGE_TYPES.iter().map(|(_, _, el, _)| *el).collect();
    let payload_node = payload_element(
        &component_kids,
        &payload_names,
        payload_el,
        &code_node.attr_path("code"),
    )?;

    let (case_ref, process) = match kids.one("case") {
        Some(c) => {
            c.only_attributes(&[])?;
            let k = c.children(&[("id", Card::One), ("processCode", Card::One)])?;
            let id = match k.one("id") {
                Some(n) => fixed_id(&n, CASE_ID_ROOT)?,
                None => String::new(),
            };
            (
                id,
                coded_child(&k, "processCode", "code", PROCESS, "SAMSA process")?,
            )
        }
        None => (String::new(), None),
    };

    let event = CaseEvent {
        source_system: SourceSystem::Samsa as i32,
        source_message_id: match kids.one("id") {
            Some(n) => fixed_id(&n, MESSAGE_ID_ROOT)?,
            None => String::new(),
        },
        occurred_at: parsed_child(&kids, "effectiveTime", "value", parse_hl7_ts)?,
        case_ref,
        process: enum_or_zero(process),
        author: kids.one("author").map(|n| actor(&n)).transpose()?,
        patient: kids.one("subject").map(|n| subject(&n)).transpose()?,
        payload: Some(payload(&payload_node)?),
    };
    let ext = extension(&kids, "extension", &text)?;
    let event = check_decoded(CTX, event, FIELD_PATHS, "/Notification")?;
    Ok(Decoded {
        event,
        warnings: Vec::new(),
        extension: ext,
    })
}

/// `author` and `participant`: `@classCode` (required), `id` (HSA), `name`.
fn actor(n: &Node) -> Result<Actor> {
    n.only_attributes(&["classCode"])?;
    let k = n.children(&[("id", Card::One), ("name", Card::One)])?;
    let kind = n
        .coded_attr("classCode", ACTOR_KIND, "SAMSA class code")?
        .ok_or_else(|| n.attr_error("classCode", "is required"))?;
    Ok(Actor {
        hsa_id: hsa_child(&k, "id")?,
        name: k.string("name")?,
        kind: kind.into(),
    })
}

fn subject(n: &Node) -> Result<Patient> {
    n.only_attributes(&["protected"])?;
    let k = n.children(&[
        ("id", Card::One),
        ("name", Card::One),
        ("residence", Card::One),
        ("listedAt", Card::One),
    ])?;
    let (id, id_kind) = match k.one("id") {
        Some(idn) => {
            idn.attributes_only(&["root", "extension"])?;
            let kind = idn
                .coded_attr("root", ID_KIND, "SAMSA person id root")?
                .ok_or_else(|| idn.attr_error("root", "is required"))?;
            (
                idn.attr("extension").unwrap_or_default().to_owned(),
                kind as i32,
            )
        }
        None => (String::new(), 0),
    };
    let (given, family) = match k.one("name") {
        Some(name) => {
            name.only_attributes(&[])?;
            let nk = name.children(&[("given", Card::One), ("family", Card::One)])?;
            (nk.string("given")?, nk.string("family")?)
        }
        None => (String::new(), String::new()),
    };
    let listed = match k.one("listedAt") {
        Some(l) => {
            l.only_attributes(&[])?;
            hsa_child(&l.children(&[("id", Card::One)])?, "id")?
        }
        None => String::new(),
    };
    let municipality = match k.one("residence") {
        Some(r) => {
            r.attributes_only(&["municipalityCode"])?;
            r.attr("municipalityCode").unwrap_or_default().to_owned()
        }
        None => String::new(),
    };
    Ok(Patient {
        id,
        id_kind,
        given_name: given,
        family_name: family,
        municipality_code: municipality,
        protected_identity: n
            .coded_attr("protected", BOOLEAN, "boolean (true|false)")?
            .unwrap_or(false),
        listed_unit_hsa_id: listed,
    })
}

fn payload(n: &Node) -> Result<Payload> {
    Ok(match n.name() {
        "admission" => {
            n.only_attributes(&[])?;
            let k = n.children(&[
                ("effectiveTime", Card::One),
                ("reason", Card::One),
                ("expectedDischarge", Card::One),
                ("housing", Card::One),
                ("needs", Card::One),
            ])?;
            Payload::AdmissionNotice(AdmissionNotice {
                admitted_at: parsed_child(&k, "effectiveTime", "value", parse_hl7_ts)?,
                reason: k.string("reason")?,
                expected_discharge_date: parsed_child(
                    &k,
                    "expectedDischarge",
                    "value",
                    parse_hl7_date,
                )?
                .unwrap_or_default(),
                residence: code_of(&k, "housing", RESIDENCE, "SAMSA housing")?,
                assessed_needs: k.string("needs")?,
            })
        }
        "inNotice" => {
            n.only_attributes(&[])?;
            let k = n.children(&[
                ("housing", Card::One),
                ("service", Card::Many),
                ("telecom", Card::One),
                ("note", Card::One),
            ])?;
            Payload::InNotice(InNotice {
                residence: code_of(&k, "housing", RESIDENCE, "SAMSA housing")?,
                current_services: k.leaf_list("service")?,
                contact_phone: parsed_child(&k, "telecom", "value", phone)?.unwrap_or_default(),
                note: k.string("note")?,
            })
        }
        "careContact" => {
            n.only_attributes(&[])?;
            let k = n.children(&[
                ("id", Card::One),
                ("name", Card::One),
                ("role", Card::One),
                ("telecom", Card::One),
            ])?;
            Payload::CareContactAssigned(CareContactAssigned {
                contact: Some(CareContact {
                    hsa_id: hsa_child(&k, "id")?,
                    name: k.string("name")?,
                    role: k.string("role")?,
                    phone: parsed_child(&k, "telecom", "value", phone)?.unwrap_or_default(),
                }),
            })
        }
        "dischargeReady" => {
            n.only_attributes(&[])?;
            let k = n.children(&[("effectiveTime", Card::One), ("assessedBy", Card::One)])?;
            Payload::DischargeReady(DischargeReady {
                ready_at: parsed_child(&k, "effectiveTime", "value", parse_hl7_ts)?,
                assessed_by: k.string("assessedBy")?,
            })
        }
        "invitation" => {
            n.only_attributes(&[])?;
            let k = n.children(&[
                ("meetingTime", Card::One),
                ("location", Card::One),
                ("participant", Card::Many),
                ("note", Card::One),
            ])?;
            Payload::SipInvitation(SipInvitation {
                meeting_at: parsed_child(&k, "meetingTime", "value", parse_hl7_ts)?,
                place: code_of(&k, "location", MEETING_PLACE, "SAMSA location")?,
                invitees: k
                    .many("participant")
                    .iter()
                    .map(actor)
                    .collect::<Result<_>>()?,
                note: k.string("note")?,
            })
        }
        "plan" => plan(n)?,
        "discharge" => {
            n.only_attributes(&[])?;
            let k = n.children(&[("effectiveTime", Card::One), ("destination", Card::One)])?;
            Payload::DischargeNotice(DischargeNotice {
                discharged_at: parsed_child(&k, "effectiveTime", "value", parse_hl7_ts)?,
                destination: code_of(&k, "destination", DESTINATION, "SAMSA destination")?,
            })
        }
        "message" => {
            n.only_attributes(&["thread"])?;
            let k = n.children(&[("subject", Card::One), ("text", Card::One)])?;
            Payload::ThreadMessage(ThreadMessage {
                thread: n.attr("thread").unwrap_or_default().to_owned(),
                subject: k.string("subject")?,
                body: k.string("text")?,
            })
        }
        "consent" => {
            n.only_attributes(&[])?;
            let k = n.children(&[
                ("status", Card::One),
                ("scope", Card::One),
                ("recordedBy", Card::One),
            ])?;
            Payload::Consent(Consent {
                decision: code_of(&k, "status", CONSENT, "SAMSA consent status")?,
                scope: k.string("scope")?,
                recorded_by: k.string("recordedBy")?,
            })
        }
        "caseOpened" => {
            n.only_attributes(&[])?;
            Payload::CaseOpened(CaseOpened {
                reason: n.children(&[("reason", Card::One)])?.string("reason")?,
            })
        }
        "caseClosed" => {
            n.only_attributes(&[])?;
            let k = n.children(&[("reason", Card::One)])?;
            Payload::CaseClosed(CaseClosed {
                reason: code_of(&k, "reason", CLOSE_REASON, "SAMSA close reason")?,
            })
        }
        "caseReopened" => {
            n.only_attributes(&[])?;
            Payload::CaseReopened(CaseReopened {
                reason: n.children(&[("reason", Card::One)])?.string("reason")?,
            })
        }
        "deviation" => {
            n.only_attributes(&[])?;
            let k = n.children(&[("category", Card::One), ("description", Card::One)])?;
            Payload::Deviation(Deviation {
                category: code_of(&k, "category", DEVIATION, "SAMSA deviation category")?,
                description: k.string("description")?,
            })
        }
        other => unreachable!("payload elements come from MESSAGE_TYPES: {other}"),
    })
}

fn plan(n: &Node) -> Result<Payload> {
    n.only_attributes(&["version"])?;
    let version = n
        .parsed_attr("version", parse_sip_version)?
        .ok_or_else(|| n.attr_error("version", "is required"))?;
    let k = n.children(&[
        ("goal", Card::Many),
        ("expectations", Card::One),
        ("intervention", Card::Many),
        ("otherMeasure", Card::Many),
        ("coordinator", Card::One),
        ("followUp", Card::One),
        ("patientParticipated", Card::One),
    ])?;
    let mut goals = Vec::new();
    for g in k.many("goal") {
        g.only_attributes(&[])?;
        let gk = g.children(&[("text", Card::One), ("subGoal", Card::Many)])?;
        goals.push(Goal {
            text: gk.string("text")?,
            sub_goals: gk.leaf_list("subGoal")?,
        });
    }
    let mut interventions = Vec::new();
    for i in k.many("intervention") {
        i.only_attributes(&[])?;
        let ik = i.children(&[("text", Card::One), ("responsible", Card::One)])?;
        let (hsa, name) = match ik.one("responsible") {
            Some(r) => {
                r.only_attributes(&[])?;
                let rk = r.children(&[("id", Card::One), ("name", Card::One)])?;
                (hsa_child(&rk, "id")?, rk.string("name")?)
            }
            None => (String::new(), String::new()),
        };
        interventions.push(Intervention {
            text: ik.string("text")?,
            responsible_hsa_id: hsa,
            responsible_name: name,
        });
    }
    let coordinator = match k.one("coordinator") {
        Some(c) => {
            c.only_attributes(&[])?;
            hsa_child(&c.children(&[("id", Card::One)])?, "id")?
        }
        None => String::new(),
    };
    let (follow_up_date, follow_up_note) = match k.one("followUp") {
        Some(f) => {
            f.only_attributes(&[])?;
            let fk = f.children(&[("effectiveTime", Card::One), ("note", Card::One)])?;
            let date =
                parsed_child(&fk, "effectiveTime", "value", parse_hl7_date)?.ok_or_else(|| {
                    DecodeError::new(
                        CTX.dialect,
                        format!("{}/effectiveTime/@value", f.path()),
                        "is required (the follow-up date)",
                    )
                })?;
            (date, fk.string("note")?)
        }
        None => (String::new(), String::new()),
    };
    Ok(Payload::SipPlan(SipPlan {
        version,
        goals,
        person_expectations: k.string("expectations")?,
        interventions,
        other_measures: k.leaf_list("otherMeasure")?,
        coordinator_hsa_id: coordinator,
        follow_up_date,
        follow_up_note,
        patient_participated: coded_child(
            &k,
            "patientParticipated",
            "value",
            BOOLEAN,
            "boolean (true|false)",
        )?
        .unwrap_or(false),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_need_tel() {
        assert_eq!(phone("tel:019-602 70 00").unwrap(), "019-602 70 00");
        assert!(phone("019-602 70 00").is_err());
    }
}
