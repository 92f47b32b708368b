//! The citizen-portal endpoints, as an axum router: FHIR R4 CarePlan search
//! and read, the FHIR capability statement, GetCarePlans v2 over SOAP (and
//! its contract at `?wsdl`), PingForConfiguration, and the printable plan.
//!
//! FHIR follows the REST conventions FHIR clients expect (see
//! `portal::search`): `application/fhir+json; charset=utf-8`, 406 for a
//! format other than JSON, every error under `/fhir` an OperationOutcome,
//! ETag and Last-Modified on a read and 304 for a matching If-None-Match.
//! RIVTA answers every fault, a refusal and an over-long request included,
//! as a SOAP 1.1 Fault with HTTP 500, as the national platform does.
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
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Extension, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;

use super::mtls::SubjectSerial;
use crate::portal::audit::{AccessRecord, AuditLog, allowed};
use crate::portal::search::{CarePlanSearch, SearchError, lenient, negotiate, parameters};
use crate::portal::settings::PortalConfig;
use crate::portal::settings::SettingsError;
use crate::portal::{
    self, PublishRules, SipDocument, Withheld, contract, fhir, html, ping, request, rivta,
};
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
const PING_FOR_CONFIGURATION: &str = "/rivta/PingForConfiguration";

/// FHIR's JSON, as every FHIR answer is labelled.
const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";
/// The largest request body under `/fhir`: every interaction served is a
/// GET, whose request has no body.
const MAX_FHIR_REQUEST_BYTES: usize = 64 * 1024;
/// The most of an over-long request body read (and thrown away) before it
/// is refused: reading it lets the client, still sending, read the answer
/// instead of a reset connection; beyond this the connection is dropped.
const MAX_DRAINED_BYTES: usize = 16 * 1024 * 1024;

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
        .route(GET_CARE_PLANS, post(get_care_plans).get(get_contract))
        .route(PING_FOR_CONFIGURATION, post(ping_for_configuration))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn(fhir_request_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
        .layer(axum::middleware::from_fn(fhir_errors))
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
    if let Ok(listening) = axum::serve::Listener::local_addr(&listener)
        && let Some(warning) = portal::settings::base_url_warning(&state.config, listening.address)
    {
        tracing::warn!("{warning}");
    }
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
        PING_FOR_CONFIGURATION => "ping-for-configuration",
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
    let hsa_id = (named != "(none)").then_some(named);
    refusal(request.uri().path(), hsa_id)
}

/// Whether `path` is under `/fhir`.
fn under_fhir(path: &str) -> bool {
    path == "/fhir" || path.starts_with("/fhir/")
}

/// The answer to a refused consumer: no detail about its request. RIVTA
/// names the calling system, as the national platform does.
fn refusal(path: &str, hsa_id: Option<&str>) -> Response {
    const TEXT: &str = "access denied";
    if path.starts_with("/rivta/") {
        // SOAP 1.1 answers every fault with HTTP 500.
        let text = request::unauthorised_text(hsa_id);
        soap(StatusCode::INTERNAL_SERVER_ERROR, request::fault(&text))
    } else if under_fhir(path) {
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
    fhir::now()
}

/// Under `/fhir`, refuses a request body larger than
/// [`MAX_FHIR_REQUEST_BYTES`] with 413 (after the gate: a refused consumer
/// is refused first).
async fn fhir_request_limit(request: Request, next: Next) -> Response {
    if !under_fhir(request.uri().path()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match read_limited(&parts.headers, body, MAX_FHIR_REQUEST_BYTES).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(BodyError::TooLarge) => operation_outcome(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            &format!("the request body is larger than {MAX_FHIR_REQUEST_BYTES} bytes"),
        ),
        Err(BodyError::Unreadable) => operation_outcome(
            StatusCode::BAD_REQUEST,
            "invalid",
            "the request body could not be read",
        ),
    }
}

/// Under `/fhir`, every error is an OperationOutcome: an error answered
/// otherwise (404 on an unknown route, 405, 503) gets one, its status and
/// headers (`Allow`) kept.
async fn fhir_errors(request: Request, next: Next) -> Response {
    let fhir = under_fhir(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    let labelled = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/fhir+json"));
    if !fhir || labelled || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (code, text) = match status {
        StatusCode::BAD_REQUEST => ("invalid", "the request cannot be read"),
        StatusCode::UNAUTHORIZED => ("login", "a client certificate is required"),
        StatusCode::FORBIDDEN => ("forbidden", "access denied"),
        StatusCode::NOT_FOUND => ("not-found", "no such resource or interaction"),
        StatusCode::METHOD_NOT_ALLOWED => ("not-supported", "the method is not supported here"),
        StatusCode::NOT_ACCEPTABLE => ("not-supported", "only application/fhir+json is served"),
        StatusCode::PAYLOAD_TOO_LARGE => ("too-costly", "the request is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("not-supported", "the media type is not supported"),
        StatusCode::SERVICE_UNAVAILABLE => ("transient", "the service is unavailable, try again"),
        s if s.is_server_error() => ("exception", "the request could not be answered"),
        _ => ("processing", "the request could not be answered"),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    let body = fhir::operation_outcome(&[("error", code, text)]).to_string();
    Response::from_parts(parts, Body::from(body))
}

/// Why a request body was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyError {
    TooLarge,
    Unreadable,
}

/// The request body when it is at most `limit` bytes. A longer one is read
/// on (up to [`MAX_DRAINED_BYTES`], none kept) so that the client can read
/// the refusal; one that says it is longer still is not read at all.
async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_DRAINED_BYTES as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        seen = seen.saturating_add(chunk.len());
        if seen <= limit {
            kept.extend_from_slice(&chunk);
        } else if seen > MAX_DRAINED_BYTES {
            break;
        }
    }
    if seen > limit {
        Err(BodyError::TooLarge)
    } else {
        Ok(Bytes::from(kept))
    }
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
        [(header::CONTENT_TYPE, FHIR_JSON)],
        body.to_string(),
    )
        .into_response()
}

fn operation_outcome(status: StatusCode, code: &str, text: &str) -> Response {
    fhir_json(status, fhir::operation_outcome(&[("error", code, text)]))
}

/// The format a FHIR request asks for, checked: JSON, or why not (see
/// [`not_acceptable`]).
fn fhir_format(headers: &HeaderMap, uri: &Uri) -> Result<(), String> {
    let params = parameters(uri.query()).unwrap_or_default();
    let format = params
        .iter()
        .find(|(k, _)| k == "_format")
        .map(|(_, v)| v.as_str());
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    negotiate(format, accept)
}

/// The 406 for a format other than JSON.
fn not_acceptable(why: &str) -> Response {
    operation_outcome(StatusCode::NOT_ACCEPTABLE, "not-supported", why)
}

async fn metadata(State(state): State<PortalState>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(why) = fhir_format(&headers, &uri) {
        return not_acceptable(&why);
    }
    fhir_json(
        StatusCode::OK,
        fhir::capability_statement(&state.config.fhir_base_url),
    )
}

async fn search(
    State(state): State<PortalState>,
    Extension(consumer): Extension<Consumer>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    const WHAT: &str = "fhir-search";
    if let Err(why) = fhir_format(&headers, &uri) {
        return invalid(&state, &consumer, WHAT, &why, not_acceptable(&why));
    }
    let prefer = headers.get("prefer").and_then(|v| v.to_str().ok());
    let query = match parameters(uri.query())
        .and_then(|params| CarePlanSearch::parse(&params, lenient(prefer)))
    {
        Ok(q) => q,
        Err(e) => {
            let code = match e {
                SearchError::Unsupported(_) => "not-supported",
                _ => "invalid",
            };
            let text = e.to_string();
            let answer = operation_outcome(StatusCode::BAD_REQUEST, code, &text);
            return invalid(&state, &consumer, WHAT, &text, answer);
        }
    };
    let mut total = 0;
    let page = |docs: Vec<SipDocument>| {
        let matches: Vec<SipDocument> = docs.into_iter().filter(|d| query.matches(d)).collect();
        total = matches.len();
        query.page(matches)
    };
    match read_plans(
        &state,
        &consumer,
        &query.patient_id,
        WHAT,
        Asked::List,
        page,
    )
    .await
    {
        Ok(docs) => {
            let base = &state.config.fhir_base_url;
            let links = query.links(base, total);
            fhir_json(StatusCode::OK, fhir::searchset(&docs, total, &links, base))
        }
        Err(r) => r,
    }
}

/// Whether an `If-None-Match` header names the entity tag of `version`
/// (weakly compared, as for a GET) or is `*`.
fn none_match(headers: &HeaderMap, version: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == version)
}

/// An HTTP date (RFC 9110 IMF-fixdate).
fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// A read's answer: the CarePlan with its ETag and Last-Modified, or 304
/// when the client's `If-None-Match` names this version.
fn care_plan_answer(doc: &SipDocument, headers: &HeaderMap) -> Response {
    let plan = fhir::care_plan(doc);
    let version = plan["meta"]["versionId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut validators = vec![(header::ETAG, format!("W/\"{version}\""))];
    if let Some(t) = fhir::last_updated(doc) {
        validators.push((header::LAST_MODIFIED, http_date(t)));
    }
    let mut response = if none_match(headers, &version) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        fhir_json(StatusCode::OK, plan)
    };
    for (name, value) in validators {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

async fn read(
    State(state): State<PortalState>,
    Extension(consumer): Extension<Consumer>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    const WHAT: &str = "fhir-read";
    if let Err(why) = fhir_format(&headers, &uri) {
        return invalid(&state, &consumer, WHAT, &why, not_acceptable(&why));
    }
    let not_found = || operation_outcome(StatusCode::NOT_FOUND, "not-found", "no such CarePlan");
    let Some((case_id, _)) = id.rsplit_once("-sip-") else {
        return match log_access(&state, &consumer, "", WHAT, Outcome::NotFound) {
            Ok(()) => not_found(),
            Err(down) => down.into(),
        };
    };
    let pick = |docs: Vec<SipDocument>| docs.into_iter().find(|d| d.document_id == id);
    match read_case_plan(&state, &consumer, case_id, WHAT, pick).await {
        Ok(Some(doc)) => care_plan_answer(&doc, &headers),
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

/// The body of a SOAP request, or the fault to answer (logged as invalid
/// under `what`).
async fn soap_body(
    state: &PortalState,
    consumer: &Consumer,
    what: &str,
    request: Request,
) -> Result<Bytes, Response> {
    let (parts, body) = request.into_parts();
    match read_limited(&parts.headers, body, request::MAX_REQUEST_BYTES).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            let text = match e {
                BodyError::TooLarge => format!(
                    "the request is larger than {} bytes",
                    request::MAX_REQUEST_BYTES
                ),
                BodyError::Unreadable => "the request could not be read".to_owned(),
            };
            let answer = soap(StatusCode::INTERNAL_SERVER_ERROR, request::fault(&text));
            Err(invalid(state, consumer, what, &text, answer))
        }
    }
}

async fn get_care_plans(
    State(state): State<PortalState>,
    Extension(consumer): Extension<Consumer>,
    http_request: Request,
) -> Response {
    const WHAT: &str = "get-care-plans";
    let body = match soap_body(&state, &consumer, WHAT, http_request).await {
        Ok(body) => body,
        Err(fault) => return fault,
    };
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

/// The address of the GetCarePlans endpoint as the consumer reaches it:
/// configured, or the https URL of the Host it asked.
fn get_care_plans_address(state: &PortalState, headers: &HeaderMap) -> String {
    let base = state.config.rivta_base_url.trim_end_matches('/');
    if !base.is_empty() {
        return format!("{base}/GetCarePlans");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("https://{host}{GET_CARE_PLANS}")
}

/// `GET /rivta/GetCarePlans?wsdl`: the contract, with this endpoint's
/// address; `?xsd=<file>`: a schema it imports.
async fn get_contract(State(state): State<PortalState>, headers: HeaderMap, uri: Uri) -> Response {
    let endpoint = get_care_plans_address(&state, &headers);
    let params = parameters(uri.query()).unwrap_or_default();
    let xml = |text: String| {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            text,
        )
            .into_response()
    };
    if params.iter().any(|(k, _)| k.eq_ignore_ascii_case("wsdl")) {
        return xml(contract::wsdl(&endpoint));
    }
    if let Some((_, name)) = params.iter().find(|(k, _)| k.eq_ignore_ascii_case("xsd")) {
        return match contract::schema(name, &endpoint) {
            Some(text) => xml(text),
            None => soap(
                StatusCode::INTERNAL_SERVER_ERROR,
                request::fault("the contract has no such schema"),
            ),
        };
    }
    soap(
        StatusCode::INTERNAL_SERVER_ERROR,
        request::fault("GetCarePlans is called with POST; GET serves ?wsdl and ?xsd=<file>"),
    )
}

/// PingForConfiguration: the national platform's check that samgate is up.
async fn ping_for_configuration(
    State(state): State<PortalState>,
    Extension(consumer): Extension<Consumer>,
    http_request: Request,
) -> Response {
    const WHAT: &str = "ping-for-configuration";
    let body = match soap_body(&state, &consumer, WHAT, http_request).await {
        Ok(body) => body,
        Err(fault) => return fault,
    };
    match ping::parse_ping(&body) {
        Ok(p) => soap(
            StatusCode::OK,
            ping::response(&p, &state.config.source_system_hsa_id, chrono::Utc::now()),
        ),
        Err(e) => {
            let answer = soap(StatusCode::INTERNAL_SERVER_ERROR, request::fault(&e));
            invalid(&state, &consumer, WHAT, &e, answer)
        }
    }
}
