//! FHIR R4: each SIP version as a CarePlan (category SIP, goals as
//! contained Goal resources, activities with the responsible unit's HSA-id
//! as performer), and a person's plans as a searchset Bundle, the shape of
//! `GET /fhir/CarePlan?subject:identifier=…`.

use samgate_proto::time::{format_utc, to_utc};
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

/// A reference to an organisation (a care unit) by its HSA-id.
fn unit(hsa: &str, name: &str) -> Value {
    let mut v = json!({"type": "Organization", "identifier": {"system": HSA_SYSTEM, "value": hsa}});
    if !name.is_empty() && name != hsa {
        v["display"] = json!(name);
    }
    v
}

/// A reference to the person the plan is for, by identifier.
fn patient_reference(doc: &SipDocument) -> Value {
    json!({"type": "Patient", "identifier": patient_identifier(doc)})
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
                "subject": patient_reference(doc),
            });
            if !g.sub_goals.is_empty() {
                goal["note"] = g.sub_goals.iter().map(|s| json!({"text": s})).collect();
            }
            goal
        })
        .collect();
    let goal_refs: Vec<Value> = (1..=goals.len())
        .map(|i| json!({"reference": format!("#goal-{i}"), "type": "Goal"}))
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
    let contributors: Vec<Value> = doc
        .participating_units
        .iter()
        .map(|hsa| unit(hsa, &doc.unit_name(hsa)))
        .collect();
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
        "subject": patient_reference(doc),
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
    prune(&mut plan);
    // The version names the SIP version and changes with anything else
    // the rendering shows (the case closing, a new contributor), so that
    // an ETag never stands for two different answers.
    let version_id = format!("{}-{:08x}", doc.version, fingerprint(&plan.to_string()));
    let mut meta = json!({"versionId": version_id});
    if let Some(t) = last_updated(doc) {
        meta["lastUpdated"] = json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    }
    plan["meta"] = meta;
    plan
}

/// When the CarePlan of `doc` last changed: when its version was written,
/// or later when the case changed since (it closed, a unit joined).
pub fn last_updated(doc: &SipDocument) -> Option<chrono::DateTime<chrono::Utc>> {
    [doc.written_at.as_ref(), doc.case_updated_at.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(to_utc)
        .max()
}

/// 32 bits of FNV-1a over `text`: stable across builds and platforms (the
/// standard hasher promises neither), enough to tell versions apart.
fn fingerprint(text: &str) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash ^ (hash >> 32)) as u32
}

/// Removes every empty array, empty object and empty string, at any depth:
/// FHIR allows none of them (an element is absent or has a value).
pub fn prune(value: &mut Value) {
    fn empty(v: &Value) -> bool {
        match v {
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            Value::String(s) => s.is_empty(),
            Value::Null => true,
            _ => false,
        }
    }
    match value {
        Value::Array(items) => {
            items.iter_mut().for_each(prune);
            items.retain(|v| !empty(v));
        }
        Value::Object(map) => {
            map.values_mut().for_each(prune);
            map.retain(|_, v| !empty(v));
        }
        _ => {}
    }
}

/// One link of a Bundle: its relation and URL.
pub type Link = (&'static str, String);

/// A searchset Bundle: `docs` is the page shown, `total` the number of
/// matches in all pages, `links` self first, then the paging links.
pub fn searchset(docs: &[SipDocument], total: usize, links: &[Link], base_url: &str) -> Value {
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": "searchset",
        "timestamp": now(),
        "total": total,
        "link": links.iter().map(|(relation, url)| json!({"relation": relation, "url": url})).collect::<Vec<_>>(),
        "entry": docs.iter().map(|d| json!({
            "fullUrl": format!("{base_url}/CarePlan/{}", d.document_id),
            "resource": care_plan(d),
            "search": {"mode": "match"},
        })).collect::<Vec<_>>(),
    });
    prune(&mut bundle);
    bundle
}

/// A searchset Bundle of all of `docs` (an export: one page, its self link
/// the search by the person's identifier).
pub fn search_bundle(docs: &[SipDocument], base_url: &str) -> Value {
    let mut url = format!("{base_url}/CarePlan");
    if let Some(doc) = docs.first() {
        let id = patient_identifier(doc);
        let system = id["system"].as_str().unwrap_or_default();
        let value = id["value"].as_str().unwrap_or_default();
        url.push_str(&format!("?subject:identifier={system}%7C{value}"));
    }
    searchset(docs, docs.len(), &[("self", url)], base_url)
}

/// Now, as a FHIR instant to the second.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An OperationOutcome of one issue per `(severity, code, diagnostics)`.
pub fn operation_outcome(issues: &[(&str, &str, &str)]) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": issues.iter().map(|(severity, code, text)| json!({
            "severity": severity, "code": code, "diagnostics": text,
        })).collect::<Vec<_>>(),
    })
}

/// The search parameters served, by their FHIR names, with the official
/// definition of each.
const SEARCH_PARAMETERS: [(&str, &str, &str, &str); 3] = [
    (
        "subject",
        "http://hl7.org/fhir/SearchParameter/CarePlan-subject",
        "reference",
        "With the :identifier modifier only: subject:identifier=system|value, the person's personnummer or samordningsnummer. Required (or patient:identifier).",
    ),
    (
        "patient",
        "http://hl7.org/fhir/SearchParameter/clinical-patient",
        "reference",
        "With the :identifier modifier only, as subject:identifier.",
    ),
    (
        "status",
        "http://hl7.org/fhir/SearchParameter/CarePlan-status",
        "token",
        "active (the case is open) or completed (the case is closed); a comma-separated list matches any.",
    ),
];

/// The CapabilityStatement of the portal's FHIR endpoints.
pub fn capability_statement(base_url: &str) -> Value {
    let search_params: Vec<Value> = SEARCH_PARAMETERS
        .iter()
        .map(|(name, definition, kind, doc)| {
            json!({"name": name, "definition": definition, "type": kind, "documentation": doc})
        })
        .collect();
    let mut statement = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now(),
        "publisher": "samgate",
        "kind": "instance",
        "software": {"name": "samgate", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "samgate: SIP care plans", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": {
                "cors": false,
                "service": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "Certificates",
                        "display": "Certificates",
                    }],
                    "text": "Mutual TLS",
                }],
                "description": "Mutual TLS: a consumer is the HSA-id in the serialNumber of its client certificate's subject, and must be on samgate's allow-list.",
            },
            "resource": [{
                "type": "CarePlan",
                "versioning": "versioned",
                "readHistory": false,
                "conditionalRead": "not-match",
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": search_params,
            }],
        }],
    });
    prune(&mut statement);
    statement
}
