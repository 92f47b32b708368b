//! FHIR R4: each SIP version as a CarePlan (category SIP, goals as
//! contained Goal resources, activities with the responsible unit's HSA-id
//! as performer), and a person's plans as a searchset Bundle, the shape of
//! `GET /fhir/CarePlan?subject:identifier=…`.

use samgate_proto::time::format_utc;
use serde_json::{Value, json};

use super::SipDocument;

/// The identifier system of Swedish personal identity numbers.
pub const PERSONNUMMER_SYSTEM: &str = "http://electronichealth.se/identifier/personnummer";
/// The identifier system of samordningsnummer.
pub const SAMORDNINGSNUMMER_SYSTEM: &str =
    "http://electronichealth.se/identifier/samordningsnummer";
/// The identifier system of HSA-ids.
pub const HSA_SYSTEM: &str = "urn:oid:1.2.752.29.4.19";
/// samgate's own code system for plan types (the RIVTA TypeOfCarePlanEnum).
pub const CARE_PLAN_TYPE_SYSTEM: &str = "urn:oid:1.2.752.129.2.2.2.11";

fn unit(hsa: &str, name: &str) -> Value {
    let mut v = json!({"identifier": {"system": HSA_SYSTEM, "value": hsa}});
    if !name.is_empty() {
        v["display"] = json!(name);
    }
    v
}

fn patient_identifier(doc: &SipDocument) -> Value {
    let system = if doc.patient.id_kind == samgate_proto::v1::IdKind::Samordningsnummer as i32 {
        SAMORDNINGSNUMMER_SYSTEM
    } else {
        PERSONNUMMER_SYSTEM
    };
    json!({"system": system, "value": doc.patient.id})
}

/// The human-readable summary every resource should carry (FHIR's
/// narrative): the title, the goals and who does what.
fn narrative(doc: &SipDocument, title: &str) -> Value {
    use super::html::escape;
    let mut div = format!(
        "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p><b>{}</b></p>",
        escape(title)
    );
    if !doc.plan.goals.is_empty() {
        div.push_str("<p>Mål:</p><ul>");
        for g in &doc.plan.goals {
            div.push_str(&format!("<li>{}</li>", escape(&g.text)));
        }
        div.push_str("</ul>");
    }
    if !doc.plan.interventions.is_empty() {
        div.push_str("<p>Insatser:</p><ul>");
        for i in &doc.plan.interventions {
            div.push_str(&format!(
                "<li>{} ({})</li>",
                escape(&i.text),
                escape(&doc.unit_name(&i.responsible_hsa_id))
            ));
        }
        div.push_str("</ul>");
    }
    div.push_str("</div>");
    json!({"status": "generated", "div": div})
}

/// One plan version as a CarePlan resource.
pub fn care_plan(doc: &SipDocument) -> Value {
    let p = &doc.plan;
    let goals: Vec<Value> = p
        .goals
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut goal = json!({
                "resourceType": "Goal",
                "id": format!("goal-{}", i + 1),
                "lifecycleStatus": if doc.completed { "completed" } else { "active" },
                "description": {"text": g.text},
                "subject": {"identifier": patient_identifier(doc)},
            });
            if !g.sub_goals.is_empty() {
                goal["note"] = g.sub_goals.iter().map(|s| json!({"text": s})).collect();
            }
            goal
        })
        .collect();
    let goal_refs: Vec<Value> = (1..=goals.len())
        .map(|i| json!({"reference": format!("#goal-{i}")}))
        .collect();
    let activities: Vec<Value> = p
        .interventions
        .iter()
        .map(|i| {
            let mut detail = json!({
                "status": if doc.completed { "completed" } else { "in-progress" },
                "description": i.text,
            });
            if !i.responsible_hsa_id.is_empty() {
                detail["performer"] = json!([unit(
                    &i.responsible_hsa_id,
                    &doc.unit_name(&i.responsible_hsa_id)
                )]);
            }
            json!({"detail": detail})
        })
        .collect();
    let mut notes = Vec::new();
    if !p.person_expectations.is_empty() {
        notes.push(json!({"text": format!("Personens förväntningar: {}", p.person_expectations)}));
    }
    for m in &p.other_measures {
        notes.push(json!({"text": format!("Andras åtgärder: {m}")}));
    }
    let mut contributors: Vec<Value> = doc
        .unit_names
        .iter()
        .map(|(hsa, name)| unit(hsa, name))
        .collect();
    contributors.dedup();
    let title = format!("Samordnad individuell plan, version {}", doc.version);
    let mut plan = json!({
        "resourceType": "CarePlan",
        "id": doc.document_id,
        "text": narrative(doc, &title),
        "identifier": [{"system": "urn:samgate:sip-document", "value": doc.document_id}],
        "contained": goals,
        "status": if doc.completed { "completed" } else { "active" },
        "intent": "plan",
        "category": [{"coding": [{"system": CARE_PLAN_TYPE_SYSTEM, "code": "SIP", "display": "Samordnad individuell plan"}]}],
        "title": title,
        "subject": {"identifier": patient_identifier(doc)},
        "author": unit(&doc.author.hsa_id, &doc.unit_name(&doc.author.hsa_id)),
        "contributor": contributors,
        "goal": goal_refs,
        "activity": activities,
    });
    if let Some(t) = &doc.written_at {
        plan["created"] = json!(format_utc(t));
    }
    if !p.follow_up_date.is_empty() {
        plan["period"] = json!({"end": p.follow_up_date});
    }
    if !notes.is_empty() {
        plan["note"] = Value::Array(notes);
    }
    plan
}

/// A searchset Bundle of plans.
pub fn search_bundle(docs: &[SipDocument], base_url: &str) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": docs.len(),
        "entry": docs.iter().map(|d| json!({
            "fullUrl": format!("{base_url}/CarePlan/{}", d.document_id),
            "resource": care_plan(d),
            "search": {"mode": "match"},
        })).collect::<Vec<_>>(),
    })
}
