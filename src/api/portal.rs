//! The citizen-portal endpoints, as an axum router: FHIR R4 CarePlan search
//! and read, the FHIR capability statement, GetCarePlans v2 over SOAP, and
//! the printable plan.
//!
//! Every request carries the consumer's HSA-id as a [`Consumer`] extension,
//! put there by the transport that authenticated it ([`serve`]: mutual TLS,
//! the client certificate's serialNumber, see `api::mtls`). A consumer not on the allow-list is
//! refused; every read is written to the access log before it is answered;
//! a person with protected identity has no plan to show.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Extension, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::config::PortalConfig;
use crate::portal::audit::{AccessRecord, AuditLog, allowed};
use crate::portal::{self, PublishRules, SipDocument, Withheld, fhir, html, request, rivta};
use crate::store::Store;

/// The authenticated consumer of a request (its HSA-id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer(pub String);

/// What the handlers share.
#[derive(Clone)]
pub struct PortalState {
    pub store: Arc<dyn Store>,
    pub audit: Arc<AuditLog>,
    pub config: PortalConfig,
}

/// The portal's routes.
pub fn router(state: PortalState) -> Router {
    Router::new()
        .route("/fhir/metadata", get(metadata))
        .route("/fhir/CarePlan", get(search))
        .route("/fhir/CarePlan/{id}", get(read))
        .route("/sip/{case_id}", get(printable))
        .route("/rivta/GetCarePlans", post(get_care_plans))
        .with_state(state)
}

/// Serves the portal over mutual TLS until `shutdown` resolves; requests
/// in flight are finished.
pub async fn serve(
    state: PortalState,
    listener: super::mtls::TlsListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).layer(axum::middleware::from_fn(consumer_from_certificate));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<super::mtls::Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Puts the HSA-id of the connection's client certificate on the request.
async fn consumer_from_certificate(
    ConnectInfo(peer): ConnectInfo<super::mtls::Peer>,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(Consumer(peer.hsa_id));
    next.run(request).await
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The plans of one person under the rules, recorded in the access log.
async fn read_plans(
    state: &PortalState,
    consumer: &Consumer,
    patient_id: &str,
    what: &str,
) -> Result<Vec<SipDocument>, Response> {
    let mut record = AccessRecord {
        at: now(),
        consumer_hsa_id: consumer.0.clone(),
        patient_id: patient_id.to_owned(),
        what: what.to_owned(),
        result: "ok".into(),
        reason: String::new(),
        documents: 0,
    };
    let outcome = if !allowed(&consumer.0, &state.config.allowed_consumers) {
        record.result = "denied".into();
        record.reason = "not on the allow-list".into();
        Err(StatusCode::FORBIDDEN.into_response())
    } else {
        let rules = PublishRules {
            approve_all: state.config.approve_all,
        };
        match portal::documents_for(state.store.as_ref(), patient_id, rules).await {
            Ok(Ok(docs)) => {
                record.documents = docs.len();
                Ok(docs)
            }
            Ok(Err(Withheld::ProtectedIdentity)) => {
                record.result = "withheld".into();
                record.reason = "protected-identity".into();
                Ok(Vec::new())
            }
            Err(e) => {
                record.result = "error".into();
                record.reason = e.to_string();
                Err(StatusCode::SERVICE_UNAVAILABLE.into_response())
            }
        }
    };
    if let Err(e) = state.audit.record(&record) {
        // Nothing is answered that the access log did not keep.
        tracing::error!("access log not written, request refused: {e}");
        return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
    }
    outcome
}

fn fhir_json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        body.to_string(),
    )
        .into_response()
}

fn operation_outcome(status: StatusCode, code: &str, text: &str) -> Response {
    fhir_json(
        status,
        json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}),
    )
}

async fn metadata(State(state): State<PortalState>) -> Response {
    fhir_json(
        StatusCode::OK,
        json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": now(),
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "implementation": {"description": "samgate: SIP care plans", "url": state.config.fhir_base_url},
            "rest": [{
                "mode": "server",
                "resource": [{
                    "type": "CarePlan",
                    "interaction": [{"code": "read"}, {"code": "search-type"}],
                    "searchParam": [{"name": "subject:identifier", "type": "token"}],
                }],
            }],
        }),
    )
}

/// `subject:identifier=system|value` for a personnummer or samordningsnummer.
fn patient_of(params: &HashMap<String, String>) -> Result<String, String> {
    let token = params
        .get("subject:identifier")
        .ok_or("the search needs subject:identifier=system|value")?;
    let (system, value) = token
        .split_once('|')
        .ok_or("subject:identifier must be system|value")?;
    let checked = match system {
        fhir::PERSONNUMMER_SYSTEM => {
            samgate_proto::ids::Personnummer::parse(value).map(|p| p.as_str().to_owned())
        }
        fhir::SAMORDNINGSNUMMER_SYSTEM => {
            samgate_proto::ids::Samordningsnummer::parse(value).map(|s| s.as_str().to_owned())
        }
        other => return Err(format!("identifier system {other} is not supported")),
    };
    checked.map_err(|e| e.reason)
}

async fn search(
    State(state): State<PortalState>,
    Extension(consumer): Extension<Consumer>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let patient = match patient_of(&params) {
        Ok(p) => p,
        Err(e) => return operation_outcome(StatusCode::BAD_REQUEST, "invalid", &e),
    };
    match read_plans(&state, &consumer, &patient, "fhir-search").await {
        Ok(docs) => fhir_json(
            StatusCode::OK,
            fhir::search_bundle(&docs, &state.config.fhir_base_url),
        ),
        Err(r) => r,
    }
}

/// The case a document id names (`<case id>-sip-<version>`).
async fn plans_of_case(
    state: &PortalState,
    consumer: &Consumer,
    case_id: &str,
    what: &str,
) -> Result<Vec<SipDocument>, Response> {
    let case = match state.store.get_case(case_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(Vec::new()),
        Err(_) => return Err(StatusCode::SERVICE_UNAVAILABLE.into_response()),
    };
    let patient = case.patient.map(|p| p.id).unwrap_or_default();
    let docs = read_plans(state, consumer, &patient, what).await?;
    Ok(docs.into_iter().filter(|d| d.case_id == case_id).collect())
}

async fn read(
    State(state): State<PortalState>,
    Extension(consumer): Extension<Consumer>,
    Path(id): Path<String>,
) -> Response {
    let Some((case_id, _)) = id.rsplit_once("-sip-") else {
        return operation_outcome(StatusCode::NOT_FOUND, "not-found", "no such CarePlan");
    };
    match plans_of_case(&state, &consumer, case_id, "fhir-read").await {
        Ok(docs) => match docs.iter().find(|d| d.document_id == id) {
            Some(doc) => fhir_json(StatusCode::OK, fhir::care_plan(doc)),
            None => operation_outcome(StatusCode::NOT_FOUND, "not-found", "no such CarePlan"),
        },
        Err(r) => r,
    }
}

async fn printable(
    State(state): State<PortalState>,
    Extension(consumer): Extension<Consumer>,
    Path(case_id): Path<String>,
) -> Response {
    let page = |status: StatusCode, body: String| {
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response()
    };
    match plans_of_case(&state, &consumer, &case_id, "printable-plan").await {
        Ok(docs) => match docs.last() {
            Some(doc) => page(StatusCode::OK, html::page(doc)),
            None => page(StatusCode::NOT_FOUND, html::no_plan()),
        },
        Err(r) => r,
    }
}

async fn get_care_plans(
    State(state): State<PortalState>,
    Extension(consumer): Extension<Consumer>,
    body: Bytes,
) -> Response {
    let soap = |status: StatusCode, body: String| {
        (
            status,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            body,
        )
            .into_response()
    };
    let request = match request::parse_request(&body) {
        Ok(r) => r,
        // SOAP 1.1 answers a fault with HTTP 500.
        Err(e) => return soap(StatusCode::INTERNAL_SERVER_ERROR, request::fault(&e)),
    };
    match read_plans(&state, &consumer, &request.patient_id, "get-care-plans").await {
        Ok(docs) => {
            let chosen: Vec<SipDocument> =
                request::select(&docs, &request, &state.config.source_system_hsa_id)
                    .into_iter()
                    .cloned()
                    .collect();
            let log_id = uuid::Uuid::new_v4().to_string();
            soap(
                StatusCode::OK,
                rivta::response(&chosen, &state.config.source_system_hsa_id, &log_id),
            )
        }
        Err(r) => r,
    }
}
