//! SIP publication to the citizen: each stored SIP version as a document a
//! portal can show (1177 through the national platform's GetCarePlans v2,
//! FHIR R4 CarePlan) and as a page a person can read and print.
//!
//! [`documents_for`] gathers a person's SIP versions under the rules: a
//! person with protected identity is never published (the answer is "no
//! plan", and the caller records why), and protection is per person: if
//! any case of the person is protected, none of the person's plans is
//! shown, a single plan of an unprotected case included (the case fold
//! keeps protection once given; `samgate person unprotect` is the audited
//! way it ends). An outpatient case's plans are shown only while its consent is
//! GIVEN (withdrawn consent stays withdrawn through a reopening until a new
//! GIVEN), and no case with consent WITHDRAWN is shown; `approvedForPatient`
//! is true only when the person took part in the plan, unless configuration
//! says otherwise. The renderers (`html`, `fhir`, `rivta`) are plain
//! functions of documents.

pub mod audit;
pub mod contract;
pub mod fhir;
pub mod html;
pub mod ping;
pub mod push;
pub mod request;
pub mod rivta;
pub mod search;
pub mod settings;

use std::collections::BTreeMap;

use samgate_proto::v1::{CareProcess, Case, CaseStatus, ConsentState, SipPlan};
use samgate_proto::{Actor, Patient, Payload, Timestamp};

use crate::store::{Store, StoreError};

/// One SIP version, ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct SipDocument {
    /// `<case id>-sip-<version>`: stable, so a republished version is the
    /// same document.
    pub document_id: String,
    pub case_id: String,
    pub version: i32,
    pub plan: SipPlan,
    pub patient: Patient,
    /// The unit that wrote this version.
    pub author: Actor,
    pub written_at: Option<Timestamp>,
    /// Names of the units that appear in the case, by HSA-id.
    pub unit_names: BTreeMap<String, String>,
    /// Every care unit that took part in the plan, by HSA-id, sorted and
    /// each once: the case's participants (the ward that admitted the
    /// person among them), the plan's author, its coordinator and the
    /// units responsible for its interventions. GetCarePlans filters on
    /// them (`careUnitHSAId`) and lists them
    /// (`participatingCareUnitHSAId`); FHIR lists them as `contributor`.
    pub participating_units: Vec<String>,
    /// When the case last changed: the plan's rendering (its status, its
    /// contributors) follows the case, so this bounds its last change.
    pub case_updated_at: Option<Timestamp>,
    pub approved_for_patient: bool,
    /// The case is closed (the plan is completed).
    pub completed: bool,
    /// The person's named care contact when this version was written, if
    /// one had been assigned: whom to call.
    pub care_contact: Option<samgate_proto::v1::CareContact>,
}

impl SipDocument {
    /// A unit's name, or its HSA-id when the case never named it.
    pub fn unit_name(&self, hsa_id: &str) -> String {
        self.unit_names
            .get(hsa_id)
            .cloned()
            .unwrap_or_else(|| hsa_id.to_owned())
    }
}

/// Why a person's plans are not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    ProtectedIdentity,
}

/// Publication settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublishRules {
    /// Approve every plan for the patient, whether or not they took part.
    pub approve_all: bool,
}

/// The SIP versions of every case of the person `patient_id`, oldest
/// first, or why none may be shown.
pub async fn documents_for(
    store: &dyn Store,
    patient_id: &str,
    rules: PublishRules,
) -> Result<Result<Vec<SipDocument>, Withheld>, StoreError> {
    let cases = store.cases_for_patient(patient_id).await?;
    // Every case first: one protected case withholds them all.
    for case in &cases {
        if case.patient.as_ref().is_some_and(|p| p.protected_identity) {
            return Ok(Err(Withheld::ProtectedIdentity));
        }
    }
    let mut docs = Vec::new();
    for case in cases {
        if !consent_allows_publication(&case) {
            continue;
        }
        let mut care_contact = None;
        for stored in store.events(&case.id, 1).await? {
            let Some(event) = stored.event else { continue };
            match &event.payload {
                Some(Payload::CareContactAssigned(assigned)) => {
                    care_contact = assigned.contact.clone();
                }
                Some(Payload::SipPlan(plan)) => {
                    let mut doc = document(&case, plan.clone(), &event, rules);
                    doc.care_contact = care_contact.clone();
                    docs.push(doc);
                }
                _ => {}
            }
        }
    }
    Ok(Ok(docs))
}

/// Whether the case's consent state lets its plans be shown: an
/// outpatient case's only while consent is GIVEN (the state itself, not
/// why the case was last closed, so a reopening does not bring them back);
/// no case's while consent is WITHDRAWN.
pub fn consent_allows_publication(case: &Case) -> bool {
    if case.consent == ConsentState::Withdrawn as i32 {
        return false;
    }
    case.process != CareProcess::Outpatient as i32 || case.consent == ConsentState::Given as i32
}

/// The HSA-ids of every unit that took part in `plan` of `case`, sorted,
/// each once (see [`SipDocument::participating_units`]).
fn participating_units(
    case: &Case,
    plan: &SipPlan,
    event: &samgate_proto::CaseEvent,
) -> Vec<String> {
    let units: std::collections::BTreeSet<String> = case
        .participants
        .iter()
        .map(|p| p.hsa_id.clone())
        .chain(event.author.iter().map(|a| a.hsa_id.clone()))
        .chain(std::iter::once(plan.coordinator_hsa_id.clone()))
        .chain(
            plan.interventions
                .iter()
                .map(|i| i.responsible_hsa_id.clone()),
        )
        .filter(|hsa| !hsa.trim().is_empty())
        .collect();
    units.into_iter().collect()
}

fn document(
    case: &Case,
    mut plan: SipPlan,
    event: &samgate_proto::CaseEvent,
    rules: PublishRules,
) -> SipDocument {
    plan.version = plan.version.max(1);
    let unit_names = case
        .participants
        .iter()
        .filter(|p| !p.name.is_empty())
        .map(|p| (p.hsa_id.clone(), p.name.clone()))
        .chain(
            plan.interventions
                .iter()
                .filter(|i| !i.responsible_name.is_empty())
                .map(|i| (i.responsible_hsa_id.clone(), i.responsible_name.clone())),
        )
        .collect();
    let participating_units = participating_units(case, &plan, event);
    SipDocument {
        document_id: format!("{}-sip-{}", case.id, plan.version),
        case_id: case.id.clone(),
        version: plan.version,
        approved_for_patient: rules.approve_all || plan.patient_participated,
        plan,
        patient: case.patient.clone().unwrap_or_default(),
        author: event.author.clone().unwrap_or_default(),
        written_at: event.occurred_at,
        unit_names,
        participating_units,
        case_updated_at: case.updated_at,
        completed: case.status == CaseStatus::Closed as i32,
        care_contact: None,
    }
}
