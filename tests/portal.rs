//! SIP publication: the documents a person's plans become, their three
//! forms (GetCarePlans v2, FHIR R4, the printable page), and the rules
//! (protected identity, approval for the patient, withdrawn consent).

mod common;

use common::*;
use samgate::dialects::DialectName;
use samgate::engine::Engine;
use samgate::gateway::Gateway;
use samgate::portal::{self, PublishRules, Withheld, fhir, html, rivta};
use samgate::routing::{Directory, Router};
use samgate_proto::Payload;

const ESTHER: &str = "194102069046";

async fn gateway() -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    (
        Gateway::new(store, Router::new(Engine::default(), Directory::builtin())),
        dir,
    )
}

#[tokio::test]
async fn each_sip_version_is_a_document_in_three_forms() {
    let (g, _dir) = gateway().await;
    g.submit_raw(
        DialectName::Lifecare,
        &example_bytes("lifecare", "admissionNotice"),
    )
    .await
    .unwrap();
    g.submit_raw(
        DialectName::CosmicLink,
        &example_bytes("cosmic-link", "sipPlan"),
    )
    .await
    .unwrap();
    let mut v2 = canonical_example("sipPlan");
    v2.source_message_id = "MSG-0006-v2".into();
    v2.source_system = samgate_proto::v1::SourceSystem::CosmicLink as i32;
    if let Some(Payload::SipPlan(p)) = &mut v2.payload {
        p.version = 2;
        p.patient_participated = false;
    }
    g.submit_event(v2).await.unwrap();

    let docs = portal::documents_for(g.store().as_ref(), ESTHER, PublishRules::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(docs.len(), 2);
    assert!(docs[0].document_id.ends_with("-sip-1") && docs[1].document_id.ends_with("-sip-2"));
    // Approved for the patient only when the patient took part.
    assert!(docs[0].approved_for_patient);
    assert!(!docs[1].approved_for_patient);
    let all = portal::documents_for(
        g.store().as_ref(),
        ESTHER,
        PublishRules { approve_all: true },
    )
    .await
    .unwrap()
    .unwrap();
    assert!(all[1].approved_for_patient);

    let page = html::page(&docs[0]);
    for text in [
        "Samordnad individuell plan",
        "Kunna bo kvar hemma",
        "Gå med rollator inomhus",
        "Vem gör vad",
        "Linköpings kommun, hemsjukvård",
        "Vårdcentralen Ekholmen håller ihop planen",
        "2 december 2024",
        "Uppföljning i hemmet",
    ] {
        assert!(page.contains(&html::escape(text)), "{text}");
    }
    assert!(page.contains("size: A4"));

    let bundle = fhir::search_bundle(&docs, "https://portal.example/fhir");
    assert_eq!(bundle["type"], "searchset");
    assert_eq!(bundle["total"], 2);
    let plan = &bundle["entry"][0]["resource"];
    assert_eq!(plan["resourceType"], "CarePlan");
    assert_eq!(plan["status"], "active");
    assert_eq!(plan["intent"], "plan");
    assert_eq!(plan["category"][0]["coding"][0]["code"], "SIP");
    assert_eq!(
        plan["subject"]["identifier"]["system"],
        fhir::PERSONNUMMER_SYSTEM
    );
    assert_eq!(plan["subject"]["identifier"]["value"], ESTHER);
    assert_eq!(plan["goal"].as_array().unwrap().len(), 2);
    assert_eq!(plan["contained"][0]["resourceType"], "Goal");
    assert_eq!(
        plan["activity"][0]["detail"]["performer"][0]["identifier"]["system"],
        fhir::HSA_SYSTEM
    );
    assert_eq!(plan["created"], "2024-11-04T10:30:00Z");

    let soap = rivta::response(&docs, "SE0000000000-SAMGATE", "log-1");
    assert!(soap.contains("<core:typeOfCarePlanEnum>SIP</core:typeOfCarePlanEnum>"));
    assert!(soap.contains("<core:approvedForPatient>true</core:approvedForPatient>"));
    assert!(soap.contains("<core:documentTime>20241104113000</core:documentTime>"));
    assert!(soap.contains("<core:resultCode>OK</core:resultCode>"));
    assert_eq!(soap.matches("<carePlan>").count(), 2);
    // Well-formed XML, in the contract's namespaces.
    let root = samgate_adapter_core::xml::read::parse(&soap).unwrap();
    assert_eq!(&*root.children[1].children[0].ns, rivta::RESPONDER_NS);
}

#[tokio::test]
async fn a_person_with_protected_identity_has_no_plan_to_show() {
    let (g, _dir) = gateway().await;
    let mut plan = canonical_example("sipPlan");
    plan.patient.as_mut().unwrap().protected_identity = true;
    g.submit_event(plan).await.unwrap();
    let result = portal::documents_for(g.store().as_ref(), ESTHER, PublishRules::default())
        .await
        .unwrap();
    assert_eq!(result, Err(Withheld::ProtectedIdentity));
    assert!(html::no_plan().contains("Det finns ingen plan att visa"));
    let empty = rivta::response(&[], "SE0000000000-SAMGATE", "log-2");
    assert!(!empty.contains("<carePlan>"));
}

#[tokio::test]
async fn a_plan_of_a_case_closed_by_withdrawn_consent_is_not_shown() {
    let (g, _dir) = gateway().await;
    g.submit_event(canonical_example("caseOpened"))
        .await
        .unwrap();
    g.submit_event(canonical_example("consent")).await.unwrap();
    let mut plan = canonical_example("sipPlan");
    plan.case_ref = "OV-2025-0042".into();
    plan.process = samgate_proto::v1::CareProcess::Outpatient as i32;
    g.submit_event(plan).await.unwrap();
    assert_eq!(
        portal::documents_for(g.store().as_ref(), ESTHER, PublishRules::default())
            .await
            .unwrap()
            .unwrap()
            .len(),
        1
    );
    let mut withdraw = canonical_example("consent");
    withdraw.source_message_id = "MSG-WITHDRAW".into();
    if let Some(Payload::Consent(c)) = &mut withdraw.payload {
        c.decision = samgate_proto::v1::ConsentDecision::Withdrawn as i32;
    }
    g.submit_event(withdraw).await.unwrap();
    assert!(
        portal::documents_for(g.store().as_ref(), ESTHER, PublishRules::default())
            .await
            .unwrap()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_request_selects_plans_by_unit_period_and_source_system() {
    use samgate::portal::request::{GetCarePlansRequest, select};
    let (g, _dir) = gateway().await;
    g.submit_event(canonical_example("sipPlan")).await.unwrap();
    let docs = portal::documents_for(g.store().as_ref(), ESTHER, PublishRules::default())
        .await
        .unwrap()
        .unwrap();
    let ask =
        |units: &[&str], period: Option<(&str, &str)>, source: Option<&str>| GetCarePlansRequest {
            logical_address: "5565594230".into(),
            patient_id: ESTHER.into(),
            care_unit_hsa_ids: units.iter().map(|u| u.to_string()).collect(),
            date_period: period.map(|(a, b)| (a.to_string(), b.to_string())),
            source_system_hsa_id: source.map(str::to_owned),
        };
    let own = "SE0000000000-SAMGATE";
    assert_eq!(select(&docs, &ask(&[], None, None), own).len(), 1);
    // A unit responsible for an intervention, or the author.
    assert_eq!(
        select(&docs, &ask(&["SE2120000449-BIST"], None, None), own).len(),
        1
    );
    assert!(select(&docs, &ask(&["SE2321000164-7381"], None, None), own).is_empty());
    // Written 2024-11-04.
    assert_eq!(
        select(&docs, &ask(&[], Some(("20241104", "20241104")), None), own).len(),
        1
    );
    assert!(select(&docs, &ask(&[], Some(("20241105", "20241231")), None), own).is_empty());
    assert_eq!(select(&docs, &ask(&[], None, Some(own)), own).len(), 1);
    assert!(select(&docs, &ask(&[], None, Some("SE1111111111-OTHER")), own).is_empty());
}
