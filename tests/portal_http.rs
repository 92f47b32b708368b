//! The portal endpoints through their router, without TLS (tests/portal_tls.rs
//! serves them over mutual TLS): FHIR search and read,
//! the capability statement, GetCarePlans over SOAP, the printable plan,
//! the allow-list and the access log.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use samgate::api::mtls::SubjectSerial;
use samgate::api::portal::{PortalState, router};
use samgate::config::PortalConfig;
use samgate::portal::audit::AuditLog;
use samgate::portal::request::REGISTRY_NS;
use samgate::portal::rivta::{CORE_NS, RESPONDER_NS, SOAP_NS};
use samgate::store::Store;
use tower::ServiceExt;

const PORTAL: &str = "SE2321000016-1177";

struct Fixture {
    state: PortalState,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    let state = PortalState {
        store: store.clone(),
        audit: Arc::new(AuditLog::open(&dir.path().join("access.log")).unwrap()),
        config: PortalConfig {
            source_system_hsa_id: "SE0000000000-SAMGATE".into(),
            approve_all: false,
            fhir_base_url: "https://portal.test/fhir".into(),
            allowed_consumers: vec![PORTAL.into()],
            ..PortalConfig::default()
        },
    };
    Fixture {
        state,
        store,
        _dir: dir,
    }
}

async fn call(f: &Fixture, consumer: &str, request: Request<Body>) -> (StatusCode, String) {
    let mut request = request;
    // What mutual TLS would have read off the client certificate.
    request
        .extensions_mut()
        .insert(SubjectSerial::One(consumer.into()));
    let response = router(f.state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn access_log(f: &Fixture) -> Vec<serde_json::Value> {
    std::fs::read_to_string(f.state.audit.path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const SEARCH: &str = "/fhir/CarePlan?subject:identifier=http://electronichealth.se/identifier/personnummer%7C194102069046";

#[tokio::test]
async fn fhir_search_read_and_metadata() {
    let f = fixture().await;
    let engine = samgate::engine::Engine::default();
    let s = f
        .store
        .submit(&checked(&canonical_example("sipPlan")), &engine)
        .await
        .unwrap();
    let (status, body) = call(&f, PORTAL, get(SEARCH)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bundle: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(bundle["total"], 1);
    let id = bundle["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id, format!("{}-sip-1", s.case_id));
    let (status, body) = call(&f, PORTAL, get(&format!("/fhir/CarePlan/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"resourceType\":\"CarePlan\""));
    let (status, _) = call(&f, PORTAL, get("/fhir/CarePlan/nope-sip-1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(&f, PORTAL, get("/fhir/metadata")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("CapabilityStatement"));
    let (status, body) = call(
        &f,
        PORTAL,
        get("/fhir/CarePlan?subject:identifier=urn:x%7C1"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("OperationOutcome"));
    let log = access_log(&f);
    assert_eq!(log[0]["what"], "fhir-search");
    assert_eq!(log[0]["result"], "ok");
    assert_eq!(log[0]["documents"], 1);
    assert_eq!(log[0]["consumerHsaId"], PORTAL);
}

#[tokio::test]
async fn an_unlisted_consumer_is_refused_and_the_refusal_recorded() {
    let f = fixture().await;
    let (status, _) = call(&f, "SE2321000016-9999", get(SEARCH)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(access_log(&f)[0]["result"], "refused");
}

#[tokio::test]
async fn a_protected_person_has_no_plan_and_the_log_says_why() {
    let f = fixture().await;
    let mut plan = canonical_example("sipPlan");
    plan.patient.as_mut().unwrap().protected_identity = true;
    let s = f
        .store
        .submit(&checked(&plan), &samgate::engine::Engine::default())
        .await
        .unwrap();
    let (status, body) = call(&f, PORTAL, get(SEARCH)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"total\":0"));
    let (status, body) = call(&f, PORTAL, get(&format!("/sip/{}", s.case_id))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Det finns ingen plan att visa"));
    let log = access_log(&f);
    assert!(
        log.iter()
            .all(|r| r["result"] == "withheld" && r["reason"] == "protected-identity")
    );
}

#[tokio::test]
async fn get_care_plans_and_the_printable_plan() {
    let f = fixture().await;
    let s = f
        .store
        .submit(
            &checked(&canonical_example("sipPlan")),
            &samgate::engine::Engine::default(),
        )
        .await
        .unwrap();
    let soap = format!(
        "<soapenv:Envelope xmlns:soapenv=\"{SOAP_NS}\" xmlns:r=\"{REGISTRY_NS}\" xmlns:g=\"{RESPONDER_NS}\" xmlns:c=\"{CORE_NS}\">\
         <soapenv:Header><r:LogicalAddress>5565594230</r:LogicalAddress></soapenv:Header><soapenv:Body><g:GetCarePlans>\
         <g:patientId><c:id>194102069046</c:id><c:type>1.2.752.129.2.1.3.1</c:type></g:patientId>\
         </g:GetCarePlans></soapenv:Body></soapenv:Envelope>"
    );
    let post = |body: String| {
        Request::post("/rivta/GetCarePlans")
            .body(Body::from(body))
            .unwrap()
    };
    let (status, body) = call(&f, PORTAL, post(soap.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("<carePlan>") && body.contains("<core:resultCode>OK</core:resultCode>"));
    let (status, body) = call(&f, PORTAL, post(soap.replace("9046", "9047"))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("<faultcode>soapenv:Client</faultcode>") && body.contains("check digit"));
    let (status, body) = call(&f, PORTAL, get(&format!("/sip/{}", s.case_id))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Kunna bo kvar hemma"));
    let (status, _) = call(&f, PORTAL, get("/sip/no-such-case")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
