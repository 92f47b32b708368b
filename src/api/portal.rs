//! The citizen-portal endpoints, as an axum router: FHIR R4 CarePlan search
//! and read, the FHIR capability statement, GetCarePlans v2 over SOAP, and
//! the printable plan.
//!
//! The transport that authenticated a request puts what the client
//! certificate says about its holder on it ([`serve`]: mutual TLS, the
//! certificate subject's serialNumber, see `api::mtls`). Before anything
//! else, before the request is read or anything looked up, the router's
//! gate checks that the certificate names exactly one HSA-id and that it is
//! on the allow-list; a refused consumer gets a plain refusal (403, or a
//! SOAP fault for GetCarePlans) that says nothing about its request. Every
//! attempt on a route, refused or not, is written to the access log with
//! its real outcome before it is answered; a person with protected
//! identity has no plan to show.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Extension, Path, Query, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::mtls::SubjectSerial;
use crate::config::PortalConfig;
use crate::portal::audit::{AccessRecord, AuditLog, allowed};
use crate::portal::settings::SettingsError;
use crate::portal::{self, PublishRules, SipDocument, Withheld, fhir, html, request, rivta};
use crate::store::Store;

/// A consumer the gate let in: its HSA-id, from its client certificate,
/// on the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer(pub String);

/// What the handlers share.
#[derive(Clone)]
pub struct PortalState {
    pub store: Arc<dyn Store>,
    pub audit: Arc<AuditLog>,
    pub config: PortalConfig,
}

/// Why the portal endpoints could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("the portal endpoints: {0}")]
    Io(#[from] std::io::Error),
}

const METADATA: &str = "/fhir/metadata";
const SEARCH: &str = "/fhir/CarePlan";
const READ: &str = "/fhir/CarePlan/{id}";
const PRINTABLE: &str = "/sip/{case_id}";
const GET_CARE_PLANS: &str = "/rivta/GetCarePlans";

/// The most of a refused request's reason the access log keeps: enough to
/// say what was wrong, not a copy of the request.
const MAX_REASON_CHARS: usize = 200;

/// The portal's routes, every one behind the allow-list gate.
pub fn router(state: PortalState) -> Router {
    Router::new()
        .route(METADATA, get(metadata))
        .route(SEARCH, get(search))
        .route(READ, get(read))
        .route(PRINTABLE, get(printable))
        .route(GET_CARE_PLANS, post(get_care_plans))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

/// Serves the portal over mutual TLS until `shutdown` resolves; requests
/// in flight are finished. Settings that name no HSA-id where one belongs
/// are refused before anything is served.
pub async fn serve(
    state: PortalState,
    listener: super::mtls::TlsListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    portal::settings::validate(&state.config)?;
    let app = router(state).layer(axum::middleware::from_fn(identity_from_certificate));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<super::mtls::Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// Puts what the connection's client certificate says about its holder on
/// the request, for the gate.
async fn identity_from_certificate(
    ConnectInfo(peer): ConnectInfo<super::mtls::Peer>,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(peer.identity);
    next.run(request).await
}

/// What the access log calls a request to `path`, by the route it names
/// (read off the path: the gate runs before the request is looked at).
fn what_of(path: &str) -> &'static str {
    let one_segment = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
    };
    match path {
        METADATA => "fhir-metadata",
        SEARCH => "fhir-search",
        GET_CARE_PLANS => "get-care-plans",
        _ if one_segment("/fhir/CarePlan/") => "fhir-read",
        _ if one_segment("/sip/") => "printable-plan",
        _ => "unknown-path",
    }
}

/// The allow-list, checked before anything else: a request goes on only
/// when its certificate names exactly one HSA-id and the allow-list has it.
/// A refusal is logged (access log and application log) and answered
/// plainly, whatever the request held.
async fn gate(State(state): State<PortalState>, mut request: Request, next: Next) -> Response {
    let identity = request
        .extensions()
        .get::<SubjectSerial>()
        .cloned()
        .unwrap_or(SubjectSerial::Absent);
    let (consumer, reason) = match identity {
        SubjectSerial::One(id) if allowed(&id, &state.config.allowed_consumers) => {
            request.extensions_mut().insert(Consumer(id));
            return next.run(request).await;
        }
        SubjectSerial::One(id) => (id, "not on the allow-list"),
        SubjectSerial::Absent => (String::new(), "no serialNumber in the certificate subject"),
        SubjectSerial::Ambiguous => (
            String::new(),
            "more than one serialNumber in the certificate subject",
        ),
    };
    let what = what_of(request.uri().path());
    // The application log names a consumer by its HSA-id only, never by
    // whatever else a certificate's serialNumber might hold.
    let named = if samgate_proto::ids::HsaId::check(&consumer).is_ok() {
        consumer.as_str()
    } else {
        "(none)"
    };
    tracing::warn!(consumer = named, what, reason, "portal: consumer refused");
    let record = access(&consumer, "", what, Outcome::Refused(reason));
    if let Err(e) = state.audit.record(&record) {
        // The refusal stands; only the record of it is missing.
        tracing::error!("access log not written for a refusal: {e}");
    }
    refusal(request.uri().path())
}

/// The answer to a refused consumer: no detail about its request.
fn refusal(path: &str) -> Response {
    const TEXT: &str = "access denied";
    if path.starts_with("/rivta/") {
        // SOAP 1.1 answers every fault with HTTP 500.
        soap(StatusCode::INTERNAL_SERVER_ERROR, request::fault(TEXT))
    } else if path.starts_with("/fhir/") {
        operation_outcome(StatusCode::FORBIDDEN, "forbidden", TEXT)
    } else {
        (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            TEXT,
        )
            .into_response()
    }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// How an access ended.
#[derive(Debug, Clone, Copy)]
enum Outcome<'a> {
    /// Answered with this many plans.
    Ok(usize),
    /// The case, or the plan version, does not exist (or is not shown).
    NotFound,
    Withheld(&'a str),
    Refused(&'a str),
    Invalid(&'a str),
    Error(&'a str),
}

fn access(consumer: &str, patient_id: &str, what: &str, outcome: Outcome<'_>) -> AccessRecord {
    let (result, reason, documents) = match outcome {
        Outcome::Ok(n) => ("ok", "", n),
        Outcome::NotFound => ("not-found", "", 0),
        Outcome::Withheld(why) => ("withheld", why, 0),
        Outcome::Refused(why) => ("refused", why, 0),
        Outcome::Invalid(why) => ("invalid", why, 0),
        Outcome::Error(why) => ("error", why, 0),
    };
    AccessRecord {
        at: now(),
        consumer_hsa_id: consumer.to_owned(),
        patient_id: patient_id.to_owned(),
        what: what.to_owned(),
        result: result.to_owned(),
        reason: reason.chars().take(MAX_REASON_CHARS).collect(),
        documents,
    }
}

/// The access log could not keep a record: the request is answered 503.
#[derive(Debug)]
struct AccessLogDown;

impl From<AccessLogDown> for Response {
    fn from(_: AccessLogDown) -> Response {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }
}

/// Writes one access to the log; nothing is answered that the log did not
/// keep.
fn log_access(
    state: &PortalState,
    consumer: &Consumer,
    patient_id: &str,
    what: &str,
    outcome: Outcome<'_>,
) -> Result<(), AccessLogDown> {
    state
        .audit
        .record(&access(&consumer.0, patient_id, what, outcome))
        .map_err(|e| {
            tracing::error!("access log not written, request refused: {e}");
            AccessLogDown
        })
}

/// What a read asks for: a list (a search: finding nothing is an answer)
/// or one plan (finding nothing is `not-found`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    List,
    One,
}

/// The plans of one person that `select` keeps, recorded in the access log
/// with the number kept (a withheld person has none).
async fn read_plans(
    state: &PortalState,
    consumer: &Consumer,
    patient_id: &str,
    what: &str,
    asked: Asked,
    select: impl FnOnce(Vec<SipDocument>) -> Vec<SipDocument>,
) -> Result<Vec<SipDocument>, Response> {
    let rules = PublishRules {
        approve_all: state.config.approve_all,
    };
    let (outcome, chosen) =
        match portal::documents_for(state.store.as_ref(), patient_id, rules).await {
            Ok(Ok(docs)) => {
                let chosen = select(docs);
                let outcome = match (asked, chosen.len()) {
                    (Asked::One, 0) => Outcome::NotFound,
                    (_, n) => Outcome::Ok(n),
                };
                (outcome, chosen)
            }
            Ok(Err(Withheld::ProtectedIdentity)) => {
                (Outcome::Withheld("protected-identity"), Vec::new())
            }
            Err(e) => {
                log_access(
                    state,
                    consumer,
                    patient_id,
                    what,
                    Outcome::Error(&e.to_string()),
                )?;
                return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
            }
        };
    log_access(state, consumer, patient_id, what, outcome)?;
    Ok(chosen)
}

/// The one plan of case `case_id` that `pick` chooses among the case's
/// shown versions (oldest first), recorded in the access log. The person's
/// other cases count: if any of them is protected, nothing is shown.
async fn read_case_plan(
    state: &PortalState,
    consumer: &Consumer,
    case_id: &str,
    what: &str,
    pick: impl FnOnce(Vec<SipDocument>) -> Option<SipDocument>,
) -> Result<Option<SipDocument>, Response> {
    let case = match state.store.get_case(case_id).await {
        Ok(case) => case,
        Err(e) => {
            log_access(state, consumer, "", what, Outcome::Error(&e.to_string()))?;
            return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
        }
    };
    let patient = case
        .and_then(|c| c.patient)
        .map(|p| p.id)
        .unwrap_or_default();
    if patient.is_empty() {
        log_access(state, consumer, "", what, Outcome::NotFound)?;
        return Ok(None);
    }
    let of_case = |docs: Vec<SipDocument>| {
        pick(docs.into_iter().filter(|d| d.case_id == case_id).collect())
            .into_iter()
            .collect()
    };
    let chosen = read_plans(state, consumer, &patient, what, Asked::One, of_case).await?;
    Ok(chosen.into_iter().next())
}

/// An unreadable request from a listed consumer: logged, then `answer`.
fn invalid(
    state: &PortalState,
    consumer: &Consumer,
    what: &str,
    reason: &str,
    answer: Response,
) -> Response {
    match log_access(state, consumer, "", what, Outcome::Invalid(reason)) {
        Ok(()) => answer,
        Err(down) => down.into(),
    }
}

fn soap(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
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

/// `subject:identifier=system|value` for a personnummer or samordningsnummer,
/// given once: two of them name two people, which is ambiguous.
fn patient_of(uri: &Uri) -> Result<String, String> {
    let Query(params) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|_| "the query string cannot be read".to_owned())?;
    let mut tokens = params
        .iter()
        .filter(|(k, _)| k == "subject:identifier")
        .map(|(_, v)| v);
    let token = tokens
        .next()
        .ok_or("the search needs subject:identifier=system|value")?;
    if tokens.next().is_some() {
        return Err("subject:identifier is given more than once, which is ambiguous".into());
    }
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
    uri: Uri,
) -> Response {
    const WHAT: &str = "fhir-search";
    let patient = match patient_of(&uri) {
        Ok(p) => p,
        Err(e) => {
            let answer = operation_outcome(StatusCode::BAD_REQUEST, "invalid", &e);
            return invalid(&state, &consumer, WHAT, &e, answer);
        }
    };
    match read_plans(&state, &consumer, &patient, WHAT, Asked::List, |docs| docs).await {
        Ok(docs) => fhir_json(
            StatusCode::OK,
            fhir::search_bundle(&docs, &state.config.fhir_base_url),
        ),
        Err(r) => r,
    }
}

async fn read(
    State(state): State<PortalState>,
    Extension(consumer): Extension<Consumer>,
    Path(id): Path<String>,
) -> Response {
    const WHAT: &str = "fhir-read";
    let not_found = || operation_outcome(StatusCode::NOT_FOUND, "not-found", "no such CarePlan");
    let Some((case_id, _)) = id.rsplit_once("-sip-") else {
        return match log_access(&state, &consumer, "", WHAT, Outcome::NotFound) {
            Ok(()) => not_found(),
            Err(down) => down.into(),
        };
    };
    let pick = |docs: Vec<SipDocument>| docs.into_iter().find(|d| d.document_id == id);
    match read_case_plan(&state, &consumer, case_id, WHAT, pick).await {
        Ok(Some(doc)) => fhir_json(StatusCode::OK, fhir::care_plan(&doc)),
        Ok(None) => not_found(),
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
    let latest = |docs: Vec<SipDocument>| docs.into_iter().last();
    match read_case_plan(&state, &consumer, &case_id, "printable-plan", latest).await {
        Ok(Some(doc)) => page(StatusCode::OK, html::page(&doc)),
        Ok(None) => page(StatusCode::NOT_FOUND, html::no_plan()),
        Err(r) => r,
    }
}

async fn get_care_plans(
    State(state): State<PortalState>,
    Extension(consumer): Extension<Consumer>,
    body: Bytes,
) -> Response {
    const WHAT: &str = "get-care-plans";
    let request = match request::parse_request(&body) {
        Ok(r) => r,
        // SOAP 1.1 answers a fault with HTTP 500.
        Err(e) => {
            let answer = soap(StatusCode::INTERNAL_SERVER_ERROR, request::fault(&e));
            return invalid(&state, &consumer, WHAT, &e, answer);
        }
    };
    let own = state.config.source_system_hsa_id.as_str();
    let select = |docs: Vec<SipDocument>| {
        request::select(&docs, &request, own)
            .into_iter()
            .cloned()
            .collect()
    };
    match read_plans(
        &state,
        &consumer,
        &request.patient_id,
        WHAT,
        Asked::List,
        select,
    )
    .await
    {
        Ok(chosen) => {
            let log_id = uuid::Uuid::new_v4().to_string();
            soap(StatusCode::OK, rivta::response(&chosen, own, &log_id))
        }
        Err(r) => r,
    }
}
