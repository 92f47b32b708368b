//! The console's views and its two actions. Each handler reads the store,
//! writes the access log first when it shows personal data, and renders
//! one page through `html::page`; everything from data is escaped.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use samgate_proto::ids::PatientId;
use samgate_proto::v1::{CareProcess, Case, CaseStatus, DeadlineKind, SourceSystem};
use serde::Serialize;

use super::Console;
use super::auth::{Caller, same_origin, same_secret, session_cookie_header};
use super::html::{self, escape, local_time, page, table};
use crate::routing::{ReplayOutcome, ReplayRefused};
use crate::store::{Delivery, DeliveryKind, DeliveryStatus, MAX_PAGE_SIZE, StoreError};
use crate::watch::AlertKind;

/// Quarantined deliveries on one page of Karantän: each shows its decoded
/// event and is one line of the access log, so a page stays readable and
/// its log lines few; the rest are a "next page" link away.
pub const QUARANTINE_PAGE: usize = 50;
/// The quarantined deliveries Översikt counts reasons among: the store's
/// largest page, one indexed read; the count itself is exact.
pub const REASON_SAMPLE: usize = MAX_PAGE_SIZE;
/// The reasons Översikt names.
pub const TOP_REASONS: usize = 5;
/// Cases a search by external ref lists at most (a ref names one case per
/// system, so more means a mistyped, too-short ref).
pub const SEARCH_LIMIT: usize = 50;
/// Cases on one page of Ärenden without a search.
pub const CASE_PAGE: usize = 50;
/// Deadlines due within the next day that Tidsgränser lists: a region's
/// day rarely has more; beyond it the page says it shows the first.
pub const DUE_SOON_LIMIT: usize = 200;
/// How far ahead Tidsgränser looks: the "due within 24 h".
pub const DUE_SOON_SECONDS: i64 = 24 * 3600;
/// The longest search text taken: a case id is 36, a ref rarely more.
pub const MAX_QUERY_CHARS: usize = 100;
/// The longest discard reason: a sentence or two for the access log.
pub const MAX_REASON_CHARS: usize = 500;
/// The largest form body: a CSRF token and a reason.
pub const MAX_FORM_BYTES: usize = 8 * 1024;

type Shared = Arc<Console>;

/// The routes, behind the gate.
pub fn router(console: Shared) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/karantan", get(quarantine))
        .route("/karantan/{message_id}/replay", post(replay))
        .route("/karantan/{message_id}/discard", post(discard))
        .route("/arenden", get(cases))
        .route("/arenden/{case_id}", get(case_page))
        .route("/arenden/{case_id}/sip", get(printable_sip))
        .route("/tidsgranser", get(deadlines))
        .route("/aktorer", get(actors))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(console.clone(), gate))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(console)
}

// Responses.

fn respond(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Personal data: not kept by the browser or any cache on the way.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn ok(title: &str, current: &str, body: &str) -> Response {
    respond(StatusCode::OK, page(title, current, body))
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// Where the login form posts the token.
pub const LOGIN_PATH: &str = "/logga-in";

/// The 401 page: what the console is, and a form to log in with the token
/// that samgate printed when it started. `next` is where the form sends
/// the browser once in; `note` says why the last try failed.
fn unauthorized(next: &str, note: Option<&str>) -> Response {
    let note = note
        .map(|n| format!("<p class=\"flash fel\" role=\"alert\">{}</p>\n", escape(n)))
        .unwrap_or_default();
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"sv\">\n<head><meta charset=\"utf-8\"><title>Inloggning krävs – samgate</title></head>\n\
         <body>\n<h1>Inloggning krävs</h1>\n{note}\
         <form method=\"post\" action=\"{LOGIN_PATH}\">\n\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\n\
         <label>Token <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"current-password\" required></label>\n\
         <button type=\"submit\" id=\"logga-in\">Logga in</button>\n</form>\n\
         <p>Token är den som samgate skrev ut när den startade (eller <code>[console] token</code>). \
         Den kan också skickas som <code>Authorization: Bearer</code>, eller en gång som <code>?token=…</code> i adressen.</p>\n\
         </body>\n</html>\n",
        next = escape(next),
    );
    let mut response = respond(StatusCode::UNAUTHORIZED, body);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"samgate-console\""),
    );
    response
}

/// A path of the console's own to send the browser to, or `/`: never
/// elsewhere (`//host`, a scheme), never back to the login.
fn own_path(candidate: &str) -> String {
    let own = candidate.starts_with('/')
        && !candidate.starts_with("//")
        && !candidate.starts_with(LOGIN_PATH)
        && !candidate.contains('\\')
        && !candidate.chars().any(char::is_control);
    if own {
        candidate.to_owned()
    } else {
        "/".to_owned()
    }
}

/// The login form's POST: the token in the body (not in the address, so
/// not in the browser's history), from the console's own origin. Opens a
/// session and sends the browser on to `next`.
async fn login(console: &Console, request: Request) -> Response {
    if !same_origin(request.headers()) {
        return forbidden();
    }
    let https = forwarded_https(request.headers());
    let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES).await else {
        return unauthorized("/", Some("Formuläret var för stort."));
    };
    let form = parse_form(&body);
    let next = own_path(form.get("next").map_or("/", String::as_str));
    match form.get("token") {
        Some(token) if console.auth.is_token(token.trim()) => {
            with_session(see_other(&next), &console.auth.open_session(), https)
        }
        _ => unauthorized(&next, Some("Fel token. Försök igen.")),
    }
}

/// Whether a TLS proxy in front says the browser is on HTTPS (the cookie
/// is then `Secure` too).
fn forwarded_https(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// `response` with the session cookie set.
fn with_session(mut response: Response, session: &str, https: bool) -> Response {
    if let Ok(cookie) = HeaderValue::from_str(&session_cookie_header(session, https)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// Over mutual TLS, a certificate not on `[console] allowed_operators`.
fn not_an_operator() -> Response {
    respond(
        StatusCode::FORBIDDEN,
        page(
            "Ingen behörighet",
            "",
            "<p>Ditt certifikat hör inte till någon av konsolens operatörer (<code>[console] allowed_operators</code>).</p>\n",
        ),
    )
}

fn forbidden() -> Response {
    respond(
        StatusCode::FORBIDDEN,
        page(
            "Förbjudet",
            "",
            "<p>Formuläret kom inte från konsolen (CSRF-kontroll). Ladda om sidan och försök igen.</p>\n",
        ),
    )
}

fn failed(e: &StoreError) -> Response {
    tracing::error!("console: the store failed: {e}");
    respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        page(
            "Fel",
            "",
            "<p>Lagret svarade inte som väntat; se samgates logg.</p>\n",
        ),
    )
}

async fn not_found() -> Response {
    respond(
        StatusCode::NOT_FOUND,
        page(
            "Sidan finns inte",
            "",
            "<p>Det finns ingen sådan sida.</p>\n",
        ),
    )
}

/// Lets in the token's holders. The login form's POST, or a GET with
/// `?token=`, opens a session (a cookie) and sends the browser on without
/// the token; any other request needs the cookie or a Bearer token, else
/// it gets the login page (401). A POST must also come from the console's
/// own origin when the browser says where from.
async fn gate(State(console): State<Shared>, mut request: Request, next: Next) -> Response {
    let caller = if console.auth.mutual_tls() {
        let identity = request
            .extensions()
            .get::<axum::extract::ConnectInfo<crate::api::mtls::Peer>>()
            .map(|c| c.0.identity.clone());
        match identity.and_then(|id| console.auth.certificate_caller(&id)) {
            Some(caller) => caller,
            None => return not_an_operator(),
        }
    } else {
        match token_caller(&console, request).await {
            Ok((caller, r)) => {
                request = r;
                caller
            }
            Err(response) => return response,
        }
    };
    if request.method() == Method::POST && !same_origin(request.headers()) {
        return forbidden();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The token's ways in: the login form's POST and `?token=` answer at
/// once (a session, and on to the page); otherwise the caller by its
/// cookie or Bearer token, with the request, or the login page.
async fn token_caller(console: &Console, request: Request) -> Result<(Caller, Request), Response> {
    if request.method() == Method::POST && request.uri().path() == LOGIN_PATH {
        return Err(login(console, request).await);
    }
    if request.method() == Method::GET
        && let Some(query) = request.uri().query()
    {
        let pairs = parse_form(query.as_bytes());
        if let Some(token) = pairs.get("token") {
            if !console.auth.is_token(token) {
                return Err(unauthorized(request.uri().path(), Some("Fel token.")));
            }
            let rest: Vec<String> = query
                .split('&')
                .filter(|p| !p.starts_with("token="))
                .map(str::to_owned)
                .collect();
            // Only the console's own paths are kept ("//elsewhere" would
            // send the browser off the console).
            let mut location = own_path(request.uri().path());
            if !rest.is_empty() {
                location = format!("{location}?{}", rest.join("&"));
            }
            let https = forwarded_https(request.headers());
            return Err(with_session(
                see_other(&location),
                &console.auth.open_session(),
                https,
            ));
        }
    }
    match console.auth.caller(request.headers()) {
        Some(caller) => Ok((caller, request)),
        None => {
            let wanted = match request.method() {
                &Method::GET => request
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned(),
                _ => "/".to_owned(),
            };
            Err(unauthorized(&own_path(&wanted), None))
        }
    }
}

/// An `application/x-www-form-urlencoded` body or query.
fn parse_form(bytes: &[u8]) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let digit = |b: u8| (b as char).to_digit(16);
                    match (digit(bytes[i + 1]), digit(bytes[i + 2])) {
                        (Some(hi), Some(lo)) => {
                            out.push((hi * 16 + lo) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(bytes)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

// The access log.

fn empty(s: &&str) -> bool {
    s.is_empty()
}

/// One line of the console's access log.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Access<'a> {
    /// RFC 3339 UTC.
    at: String,
    operator: &'a str,
    /// `case-view`, `printable-plan`, `case-search-personnummer`,
    /// `quarantine-content`, `quarantine-replay`, `quarantine-discard`.
    what: &'a str,
    #[serde(skip_serializing_if = "empty")]
    case_id: &'a str,
    /// The person whose data was shown: the law wants the log to name them.
    #[serde(skip_serializing_if = "empty")]
    patient_id: &'a str,
    #[serde(skip_serializing_if = "empty")]
    message_id: &'a str,
    /// `ok`, `not-found`, `refused`, `withheld`.
    result: &'a str,
    #[serde(skip_serializing_if = "empty")]
    reason: &'a str,
    /// How many cases a search found.
    #[serde(skip_serializing_if = "Option::is_none")]
    found: Option<usize>,
}

impl<'a> Access<'a> {
    fn new(caller: &'a Caller, what: &'a str) -> Self {
        Access {
            at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            operator: &caller.operator,
            what,
            case_id: "",
            patient_id: "",
            message_id: "",
            result: "ok",
            reason: "",
            found: None,
        }
    }
}

impl Console {
    /// Writes one access; the page is shown only once it is kept. `Some`
    /// is the page to answer with instead, when it cannot be written.
    fn log(&self, access: &Access) -> Option<Response> {
        self.audit.record(access).err().map(|e| {
            tracing::error!(path = %self.audit.path().display(), "console: the access log cannot be written: {e}");
            respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                page(
                    "Fel",
                    "",
                    "<p>Åtkomstloggen kan inte skrivas, så inget visas.</p>\n",
                ),
            )
        })
    }

    fn unit_name(&self, hsa_id: &str) -> String {
        self.gateway
            .router()
            .directory()
            .unit(hsa_id)
            .map_or_else(String::new, |u| u.name.clone())
    }

    /// A unit as "Name (HSA-id)", escaped.
    fn unit_html(&self, hsa_id: &str) -> String {
        match self.unit_name(hsa_id) {
            name if name.is_empty() => format!("<code>{}</code>", escape(hsa_id)),
            name => format!("{} <code>{}</code>", escape(&name), escape(hsa_id)),
        }
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

// Names in Swedish.

fn payload_swedish(name: &str) -> &'static str {
    match name {
        "admissionNotice" => "Inskrivningsmeddelande",
        "inNotice" => "Information om insatser",
        "careContactAssigned" => "Fast vårdkontakt utsedd",
        "dischargeReady" => "Utskrivningsklar",
        "sipInvitation" => "Kallelse till SIP",
        "sipPlan" => "SIP",
        "dischargeNotice" => "Utskrivningsmeddelande",
        "threadMessage" => "Meddelande",
        "consent" => "Samtycke",
        "caseOpened" => "Ärendet öppnat",
        "caseClosed" => "Ärendet avslutat",
        "caseReopened" => "Ärendet återöppnat",
        "deviation" => "Avvikelse",
        _ => "Okänt",
    }
}

fn status_swedish(case: &Case) -> &'static str {
    match CaseStatus::try_from(case.status) {
        Ok(CaseStatus::Open) => "Öppet",
        Ok(CaseStatus::DischargeReady) => "Utskrivningsklar",
        Ok(CaseStatus::Discharged) => "Utskriven",
        Ok(CaseStatus::Closed) => "Avslutat",
        _ => "Okänd",
    }
}

fn process_swedish(case: &Case) -> &'static str {
    match CareProcess::try_from(case.process) {
        Ok(CareProcess::Inpatient) => "Slutenvård",
        Ok(CareProcess::Outpatient) => "Öppenvård",
        Ok(CareProcess::PsychiatricCompulsory) => "Psykiatrisk tvångsvård",
        _ => "Okänd",
    }
}

fn deadline_swedish(kind: i32) -> &'static str {
    match DeadlineKind::try_from(kind) {
        Ok(DeadlineKind::AdmissionNotice) => "Inskrivningsmeddelande",
        Ok(DeadlineKind::SipInvitation) => "Kallelse till SIP",
        Ok(DeadlineKind::PaymentLiability) => "Betalningsansvar",
        _ => "Okänd",
    }
}

/// A source system as operators name it (its dialect).
fn source_name(system: i32) -> &'static str {
    match SourceSystem::try_from(system) {
        Ok(SourceSystem::Lifecare) => "Lifecare",
        Ok(SourceSystem::CosmicLink) => "Cosmic Link",
        Ok(SourceSystem::Samsa) => "SAMSA",
        Ok(SourceSystem::Native) => "samgate (inbyggt)",
        Ok(SourceSystem::Journal) => "Journalen (HL7 v2)",
        _ => "Okänt",
    }
}

/// A unit's kind as the operators say it.
fn actor_kind_swedish(kind: samgate_proto::v1::ActorKind) -> &'static str {
    use samgate_proto::v1::ActorKind as K;
    match kind {
        K::Hospital => "Sjukhus",
        K::PrimaryCare => "Primärvård",
        K::MunicipalHealthcare => "Kommunal hälso- och sjukvård",
        K::SocialServices => "Socialtjänst",
        K::Psychiatry => "Psykiatri",
        K::School => "Skola",
        K::Other => "Annan",
        K::Unspecified => "(okänt)",
    }
}

fn kind_swedish(kind: DeliveryKind) -> &'static str {
    match kind {
        DeliveryKind::Event => "Händelse",
        DeliveryKind::Notice => "Notis från samgate",
        DeliveryKind::Publication => "Publicering till invånaren",
    }
}

fn delivery_status_swedish(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Pending => "Väntar",
        DeliveryStatus::Delivered => "Levererad",
        DeliveryStatus::Quarantined => "I karantän",
        DeliveryStatus::Discarded => "Kasserad",
    }
}

fn alert_swedish(kind: &str) -> String {
    AlertKind::parse(kind).map_or_else(|| kind.to_owned(), |k| k.swedish().to_owned())
}

/// What falls due, for a deadline not yet passed (an alert's kind).
fn due_swedish(kind: &str) -> String {
    match AlertKind::parse(kind) {
        Some(AlertKind::SipInvitationOverdue) => "Kallelse till SIP".into(),
        Some(AlertKind::PaymentLiabilityBegun) => "Betalningsansvar inträder".into(),
        Some(AlertKind::SipFollowUpPassed) => "SIP:ens uppföljningsdatum".into(),
        None => kind.to_owned(),
    }
}

fn case_link(case_id: &str) -> String {
    format!(
        "<a href=\"/arenden/{0}\"><code>{0}</code></a>",
        escape(case_id)
    )
}

// Översikt.

async fn overview(State(console): State<Shared>) -> Response {
    let store = console.gateway.store();
    let stats = match store.operations_stats().await {
        Ok(s) => s,
        Err(e) => return failed(&e),
    };
    let sample = match store.quarantined(0, REASON_SAMPLE).await {
        Ok(s) => s,
        Err(e) => return failed(&e),
    };
    let now = now();
    let mut body = String::new();
    body.push_str("<h2>Väntande leveranser per system</h2>\n");
    if stats.pending.is_empty() {
        body.push_str("<p>Inga leveranser väntar.</p>\n");
    } else {
        let rows: Vec<Vec<String>> = stats
            .pending
            .iter()
            .map(|p| {
                vec![
                    if p.system.is_empty() {
                        "(okänt system)".into()
                    } else {
                        escape(&p.system)
                    },
                    p.count.to_string(),
                    html::age(now - p.oldest_created_at),
                ]
            })
            .collect();
        body.push_str(&table(
            &["System", "Väntande", "Den äldsta har väntat"],
            &rows,
        ));
    }
    let _ = writeln!(
        body,
        "<h2>Karantän</h2>\n<p><a href=\"/karantan\">{} leveranser i karantän</a></p>",
        stats.quarantined
    );
    if !sample.is_empty() {
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &sample {
            *reasons.entry(reason_class(&d.reason)).or_default() += 1;
        }
        let mut reasons: Vec<(&str, usize)> = reasons.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let rows: Vec<Vec<String>> = reasons
            .iter()
            .take(TOP_REASONS)
            .map(|(r, n)| vec![escape(r), n.to_string()])
            .collect();
        body.push_str(&table(&["Vanligaste orsaker", "Antal"], &rows));
        if sample.len() == REASON_SAMPLE {
            let _ = writeln!(
                body,
                "<p class=\"note\">Orsakerna är räknade bland de {REASON_SAMPLE} äldsta.</p>"
            );
        }
    }
    body.push_str("<h2>Försenade tidsgränser</h2>\n");
    if stats.alerts.is_empty() {
        body.push_str("<p>Inga larm.</p>\n");
    } else {
        let rows: Vec<Vec<String>> = stats
            .alerts
            .iter()
            .map(|(kind, n)| vec![escape(&alert_swedish(kind)), n.to_string()])
            .collect();
        body.push_str(&table(&["Slag", "Antal"], &rows));
        body.push_str("<p><a href=\"/tidsgranser\">Se alla larm</a></p>\n");
    }
    body.push_str(&last_hour_html(&crate::metrics::last_hour(), now));
    ok("Översikt", "/", &body)
}

/// Messages in and out over the last hour, in spans of ten minutes, as
/// this gateway counted them since it started.
fn last_hour_html(hour: &crate::metrics::recent::LastHour, now: i64) -> String {
    use crate::metrics::recent::{MINUTES, SPANS};
    let span_seconds = (MINUTES / SPANS) as i64 * 60;
    let mut out = format!(
        "<h2>Senaste timmen</h2>\n<p>{} meddelanden in, {} leveranser ut (bekräftade av RabbitMQ).</p>\n",
        hour.received, hour.delivered
    );
    let rows: Vec<Vec<String>> = hour
        .spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let end = now - (SPANS - 1 - i) as i64 * span_seconds;
            vec![
                format!("{}–{}", html::clock(end - span_seconds), html::clock(end)),
                s.received.to_string(),
                s.delivered.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(&["Tid", "In", "Ut"], &rows));
    out.push_str(
        "<p class=\"note\">Räknat av den här gatewayen sedan den startade; \
         <code>samgate_messages_received_total</code> och <code>samgate_deliveries_total</code> har samma tal för alla.</p>\n",
    );
    out
}

/// A reason's class: the text before its first colon (the code routing
/// writes), so "unknown-recipient: SE…" counts with its kind.
fn reason_class(reason: &str) -> &str {
    reason.split(':').next().unwrap_or(reason).trim()
}

// Karantän.

fn flash(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "replayed" => ("flash", "Leveransen skickas igen."),
        "discarded" => ("flash", "Leveransen är kasserad."),
        "not-quarantined" => ("warn", "Leveransen finns inte längre i karantänen."),
        "unknown-recipient" => (
            "warn",
            "Inte omskickad: mottagaren finns inte i aktörskatalogen.",
        ),
        "protected-identity" => (
            "warn",
            "Inte omskickad: personen har skyddad identitet och mottagarens system får inte ta emot den.",
        ),
        "reason-missing" => ("warn", "Ange en orsak (högst 500 tecken) för att kassera."),
        _ => return None,
    })
}

#[derive(Debug, serde::Deserialize)]
struct PageQuery {
    after: Option<i64>,
    utfall: Option<String>,
}

async fn quarantine(
    State(console): State<Shared>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<PageQuery>,
) -> Response {
    let after = query.after.unwrap_or(0);
    let page_rows = match console
        .gateway
        .store()
        .quarantined(after, QUARANTINE_PAGE)
        .await
    {
        Ok(p) => p,
        Err(e) => return failed(&e),
    };
    let mut body = String::new();
    if let Some((class, text)) = query.utfall.as_deref().and_then(flash) {
        let _ = writeln!(body, "<p class=\"{class}\">{text}</p>");
    }
    if page_rows.is_empty() {
        body.push_str("<p>Karantänen är tom.</p>\n");
    }
    let now = now();
    for d in &page_rows {
        let patient_id = d.event.patient.as_ref().map_or("", |p| p.id.as_str());
        let mut access = Access::new(&caller, "quarantine-content");
        access.case_id = &d.case_id;
        access.patient_id = patient_id;
        access.message_id = &d.message_id;
        if let Some(r) = console.log(&access) {
            return r;
        }
        body.push_str(&quarantined_item(&console, &caller, d, now));
    }
    if let Some(last) = page_rows
        .last()
        .filter(|_| page_rows.len() == QUARANTINE_PAGE)
    {
        let _ = writeln!(
            body,
            "<p><a href=\"/karantan?after={}\">Nästa sida</a></p>",
            last.id
        );
    }
    ok("Karantän", "/karantan", &body)
}

fn quarantined_item(console: &Console, caller: &Caller, d: &Delivery, now: i64) -> String {
    let occurred = d.event.occurred_at.as_ref().map(|t| t.seconds);
    let what = d
        .event
        .payload
        .as_ref()
        .map_or("", samgate_proto::validate::payload_name);
    let mut out = String::from("<section class=\"item\">\n");
    let _ = writeln!(
        out,
        "<h2>{} till {}</h2>",
        escape(payload_swedish(what)),
        escape(&match console.unit_name(&d.recipient) {
            n if n.is_empty() => d.recipient.clone(),
            n => n,
        })
    );
    let rows = vec![
        ("Orsak", escape(&d.reason)),
        ("Mottagare", console.unit_html(&d.recipient)),
        (
            "System",
            if d.system_name().is_empty() {
                "(okänt)".into()
            } else {
                escape(d.system_name())
            },
        ),
        (
            "Avsändare (dialekt)",
            escape(source_name(d.event.source_system)),
        ),
        ("Slag", escape(kind_swedish(d.kind))),
        (
            "Händelsen",
            occurred.map_or_else(String::new, |t| {
                format!("{} ({} sedan)", local_time(t), html::age(now - t))
            }),
        ),
        ("Ärende", case_link(&d.case_id)),
        (
            "Meddelande-id",
            format!("<code>{}</code>", escape(&d.message_id)),
        ),
    ];
    out.push_str(&html::facts(&rows));
    out.push_str(&decoded_content(&d.event));
    let id = escape(&d.message_id);
    let csrf = escape(&caller.csrf);
    let _ = writeln!(
        out,
        "<form class=\"inline\" method=\"post\" action=\"/karantan/{id}/replay\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Skicka igen</button></form>\
         <form class=\"inline\" method=\"post\" action=\"/karantan/{id}/discard\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Orsak <input type=\"text\" name=\"reason\" required maxlength=\"{MAX_REASON_CHARS}\"></label> \
         <button type=\"submit\">Kassera</button></form>"
    );
    out.push_str("</section>\n<hr>\n");
    out
}

/// A delivery's event decoded (its canonical JSON), folded away; not for
/// a person with protected identity, whose name and whereabouts are
/// shown to nobody who does not need them (the case page hides the name
/// too).
fn decoded_content(event: &samgate_proto::CaseEvent) -> String {
    if event.patient.as_ref().is_some_and(|p| p.protected_identity) {
        return "<p class=\"note\">Innehållet visas inte: personen har skyddade personuppgifter.</p>\n"
            .to_owned();
    }
    format!(
        "<details><summary>Innehåll (avkodat)</summary><pre>{}</pre></details>\n",
        escape(&samgate_proto::canonical::to_string_pretty(event))
    )
}

/// The form of a POST, when its CSRF token is the caller's.
fn checked_form(caller: &Caller, body: &Bytes) -> Option<HashMap<String, String>> {
    let form = parse_form(body);
    form.get("csrf")
        .is_some_and(|t| same_secret(t, &caller.csrf))
        .then_some(form)
}

async fn replay(
    State(console): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(message_id): Path<String>,
    body: Bytes,
) -> Response {
    if checked_form(&caller, &body).is_none() {
        return forbidden();
    }
    let directory = console.gateway.router().directory();
    let replay =
        match crate::routing::replay(console.gateway.store().as_ref(), &directory, &message_id)
            .await
        {
            Ok(r) => r,
            Err(e) => return failed(&e),
        };
    let mut access = Access::new(&caller, "quarantine-replay");
    access.message_id = &message_id;
    if let Some(case) = &replay.case {
        access.case_id = &case.id;
        access.patient_id = case.patient.as_ref().map_or("", |p| p.id.as_str());
    }
    let outcome = match &replay.outcome {
        ReplayOutcome::Replayed(_) => {
            crate::metrics::operator_action("replay");
            "replayed"
        }
        ReplayOutcome::NotQuarantined => "not-quarantined",
        ReplayOutcome::Refused(ReplayRefused::UnknownRecipient(_)) => "unknown-recipient",
        ReplayOutcome::Refused(ReplayRefused::ProtectedIdentity(_)) => "protected-identity",
    };
    if replay.case.is_none() {
        access.result = "not-found";
    } else if outcome != "replayed" {
        access.result = "refused";
        access.reason = outcome;
    }
    if let Some(r) = console.log(&access) {
        return r;
    }
    see_other(&format!("/karantan?utfall={outcome}"))
}

async fn discard(
    State(console): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(message_id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(form) = checked_form(&caller, &body) else {
        return forbidden();
    };
    let reason = form.get("reason").map_or("", |r| r.trim());
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return see_other("/karantan?utfall=reason-missing");
    }
    let store = console.gateway.store();
    let delivery = match store.delivery(&message_id).await {
        Ok(d) => d,
        Err(e) => return failed(&e),
    };
    let mut access = Access::new(&caller, "quarantine-discard");
    access.message_id = &message_id;
    access.reason = reason;
    if let Some(d) = &delivery {
        access.case_id = &d.case_id;
        access.patient_id = d.event.patient.as_ref().map_or("", |p| p.id.as_str());
    }
    let stored_reason = format!("kasserad av {}: {reason}", caller.operator);
    let outcome = match store.discard_delivery(&message_id, &stored_reason).await {
        Ok(true) => {
            crate::metrics::operator_action("discard");
            "discarded"
        }
        Ok(false) => "not-quarantined",
        Err(e) => return failed(&e),
    };
    if outcome != "discarded" {
        access.result = "not-found";
    }
    if let Some(r) = console.log(&access) {
        return r;
    }
    see_other(&format!("/karantan?utfall={outcome}"))
}

// Ärenden.

fn case_rows(cases: &[Case]) -> Vec<Vec<String>> {
    cases
        .iter()
        .map(|c| {
            vec![
                case_link(&c.id),
                escape(process_swedish(c)),
                escape(status_swedish(c)),
                html::timestamp(c.updated_at.as_ref()),
            ]
        })
        .collect()
}

const CASE_HEADERS: [&str; 4] = ["Ärende", "Process", "Status", "Senast ändrat"];

#[derive(Debug, serde::Deserialize)]
struct SearchQuery {
    q: Option<String>,
    efter: Option<String>,
}

async fn cases(
    State(console): State<Shared>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<SearchQuery>,
) -> Response {
    let store = console.gateway.store();
    let q: String = query
        .q
        .as_deref()
        .unwrap_or("")
        .trim()
        .chars()
        .take(MAX_QUERY_CHARS)
        .collect();
    let mut body = format!(
        "<form method=\"get\" action=\"/arenden\"><label>Sök ärende-id, extern referens eller personnummer \
         <input type=\"search\" name=\"q\" value=\"{}\" maxlength=\"{MAX_QUERY_CHARS}\"></label> \
         <button type=\"submit\">Sök</button></form>\n",
        escape(&q)
    );
    if q.is_empty() {
        let (page_cases, next) = match store
            .list_cases(&Default::default(), CASE_PAGE, query.efter.as_deref())
            .await
        {
            Ok(p) => p,
            Err(e) => return failed(&e),
        };
        body.push_str("<h2>Alla ärenden</h2>\n");
        body.push_str(&table(&CASE_HEADERS, &case_rows(&page_cases)));
        if let Some(next) = next {
            let _ = writeln!(
                body,
                "<p><a href=\"/arenden?efter={}\">Nästa sida</a></p>",
                escape(&next)
            );
        }
        return ok("Ärenden", "/arenden", &body);
    }
    let found = if let Ok(person) = PatientId::parse_number(&q) {
        let patient_id = person.as_str().to_owned();
        let found = match store.cases_for_patient(&patient_id).await {
            Ok(c) => c,
            Err(e) => return failed(&e),
        };
        let mut access = Access::new(&caller, "case-search-personnummer");
        access.patient_id = &patient_id;
        access.found = Some(found.len());
        if found.is_empty() {
            access.result = "not-found";
        }
        if let Some(r) = console.log(&access) {
            return r;
        }
        found
    } else if uuid::Uuid::parse_str(&q).is_ok() {
        match store.get_case(&q).await {
            Ok(c) => c.into_iter().collect(),
            Err(e) => return failed(&e),
        }
    } else {
        match store.cases_by_ref(&q, SEARCH_LIMIT).await {
            Ok(c) => c,
            Err(e) => return failed(&e),
        }
    };
    body.push_str("<h2>Sökresultat</h2>\n");
    if found.is_empty() {
        body.push_str("<p>Inga ärenden hittades.</p>\n");
    } else {
        body.push_str(&table(&CASE_HEADERS, &case_rows(&found)));
    }
    ok("Ärenden", "/arenden", &body)
}

async fn case_page(
    State(console): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(case_id): Path<String>,
) -> Response {
    let store = console.gateway.store();
    let case = match store.get_case(&case_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found().await,
        Err(e) => return failed(&e),
    };
    let (events, deliveries, stays) = match tokio::try_join!(
        store.events(&case_id, 1),
        store.case_deliveries(&case_id),
        crate::journal::timers::stays_of_case(store.as_ref(), &case_id),
    ) {
        Ok(t) => t,
        Err(e) => return failed(&e),
    };
    let patient = case.patient.clone().unwrap_or_default();
    let mut access = Access::new(&caller, "case-view");
    access.case_id = &case.id;
    access.patient_id = &patient.id;
    if let Some(r) = console.log(&access) {
        return r;
    }

    let mut body = String::new();
    let person = if patient.protected_identity {
        "<strong>Skyddade personuppgifter</strong>: namnet visas inte".to_owned()
    } else {
        escape(format!("{} {}", patient.given_name, patient.family_name).trim())
    };
    let refs: Vec<String> = case
        .external_refs
        .iter()
        .map(|r| {
            format!(
                "{}: <code>{}</code>",
                escape(source_name(r.system)),
                escape(&r.case_ref)
            )
        })
        .collect();
    let participants: Vec<String> = case
        .participants
        .iter()
        .map(|a| console.unit_html(&a.hsa_id))
        .collect();
    let facts = vec![
        ("Person", person),
        (
            "Personnummer",
            format!("<code>{}</code>", escape(&patient.id)),
        ),
        ("Process", escape(process_swedish(&case))),
        ("Status", escape(status_swedish(&case))),
        ("Externa referenser", refs.join("<br>")),
        ("Deltagare", participants.join("<br>")),
        (
            "Utskrivningsklar",
            html::timestamp(case.discharge_ready_at.as_ref()),
        ),
        ("Utskriven", html::timestamp(case.discharged_at.as_ref())),
        (
            "Dagar med betalningsansvar",
            case.payment_liability_days.to_string(),
        ),
    ];
    let _ = writeln!(
        body,
        "<p><code>{}</code> · <a href=\"/arenden/{}/sip\">Utskriftsvänlig SIP</a></p>",
        escape(&case.id),
        escape(&case.id)
    );
    body.push_str(&html::facts(&facts));

    body.push_str("<h2>Händelser</h2>\n");
    let rows: Vec<Vec<String>> = events
        .iter()
        .filter_map(|s| s.event.as_ref().map(|e| (s.sequence, e)))
        .map(|(sequence, e)| {
            let what = e
                .payload
                .as_ref()
                .map_or("", samgate_proto::validate::payload_name);
            vec![
                sequence.to_string(),
                html::timestamp(e.occurred_at.as_ref()),
                format!(
                    "{} <code>{}</code>",
                    escape(payload_swedish(what)),
                    escape(what)
                ),
                escape(source_name(e.source_system)),
                e.author
                    .as_ref()
                    .map_or_else(String::new, |a| console.unit_html(&a.hsa_id)),
                format!("<code>{}</code>", escape(&e.source_message_id)),
            ]
        })
        .collect();
    body.push_str(&table(
        &[
            "Nr",
            "Tid",
            "Händelse",
            "Källa (dialekt)",
            "Avsändare",
            "Källans meddelande-id",
        ],
        &rows,
    ));

    body.push_str("<h2>Leveranser</h2>\n");
    if deliveries.is_empty() {
        body.push_str("<p>Inga leveranser.</p>\n");
    } else {
        let rows: Vec<Vec<String>> = deliveries
            .iter()
            .map(|d| {
                vec![
                    d.sequence.to_string(),
                    console.unit_html(&d.recipient),
                    escape(d.system_name()),
                    escape(kind_swedish(d.kind)),
                    escape(delivery_status_swedish(d.status)),
                    escape(&d.reason),
                    format!("<code>{}</code>", escape(&d.message_id)),
                ]
            })
            .collect();
        body.push_str(&table(
            &[
                "Händelse nr",
                "Mottagare",
                "System",
                "Slag",
                "Status",
                "Orsak",
                "Meddelande-id",
            ],
            &rows,
        ));
    }

    body.push_str("<h2>Tidsgränser</h2>\n");
    if case.deadlines.is_empty() {
        body.push_str("<p>Inga tidsgränser.</p>\n");
    } else {
        let now = now();
        let rows: Vec<Vec<String>> = case
            .deadlines
            .iter()
            .map(|d| {
                let state = match (&d.met_at, &d.due_at) {
                    (Some(met), _) => format!("Uppfylld {}", local_time(met.seconds)),
                    (None, Some(due)) if due.seconds < now => "<strong>Försenad</strong>".into(),
                    _ => "Öppen".into(),
                };
                vec![
                    escape(deadline_swedish(d.kind)),
                    html::timestamp(d.due_at.as_ref()),
                    state,
                ]
            })
            .collect();
        body.push_str(&table(&["Slag", "Senast", "Läge"], &rows));
    }

    body.push_str("<h2>Vårdtillfällen (journalen)</h2>\n");
    if stays.is_empty() {
        body.push_str("<p>Inga kopplade vårdtillfällen.</p>\n");
    } else {
        let rows: Vec<Vec<String>> = stays
            .iter()
            .map(|s| {
                vec![
                    escape(&s.facility),
                    format!("<code>{}</code>", escape(&s.visit_number)),
                    s.admitted_at.map(local_time).unwrap_or_default(),
                    s.discharged_at.map(local_time).unwrap_or_default(),
                    escape(&s.wards.join(", ")),
                    if s.cancelled {
                        "Makulerat".into()
                    } else {
                        String::new()
                    },
                ]
            })
            .collect();
        body.push_str(&table(
            &[
                "Vårdgivare",
                "Vårdtillfälle",
                "Inskriven",
                "Utskriven",
                "Avdelningar",
                "",
            ],
            &rows,
        ));
    }
    ok("Ärende", "/arenden", &body)
}

async fn printable_sip(
    State(console): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(case_id): Path<String>,
) -> Response {
    let store = console.gateway.store();
    let case = match store.get_case(&case_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found().await,
        Err(e) => return failed(&e),
    };
    let patient_id = case.patient.as_ref().map_or("", |p| p.id.as_str());
    let found =
        match crate::portal::documents_for(store.as_ref(), patient_id, console.publish).await {
            Ok(f) => f,
            Err(e) => return failed(&e),
        };
    let mut access = Access::new(&caller, "printable-plan");
    access.case_id = &case.id;
    access.patient_id = patient_id;
    let text = match found {
        Ok(docs) => match docs.iter().rev().find(|d| d.case_id == case.id) {
            Some(doc) => crate::portal::html::page(doc),
            None => {
                access.result = "not-found";
                crate::portal::html::no_plan()
            }
        },
        Err(crate::portal::Withheld::ProtectedIdentity) => {
            access.result = "withheld";
            access.reason = "protected-identity";
            crate::portal::html::no_plan()
        }
    };
    if let Some(r) = console.log(&access) {
        return r;
    }
    respond(StatusCode::OK, text)
}

// Tidsgränser.

async fn deadlines(State(console): State<Shared>) -> Response {
    let alerts = match console.gateway.store().active_alerts().await {
        Ok(a) => a,
        Err(e) => return failed(&e),
    };
    let now = now();
    let mut body = String::from("<h2>Försenade (larm)</h2>\n");
    if alerts.is_empty() {
        body.push_str("<p>Inga larm.</p>\n");
    } else {
        let rows: Vec<Vec<String>> = alerts
            .iter()
            .map(|a| {
                vec![
                    escape(&alert_swedish(&a.kind)),
                    case_link(&a.case_id),
                    local_time(a.due_at),
                    html::age(now - a.due_at),
                    a.units
                        .iter()
                        .map(|u| console.unit_html(u))
                        .collect::<Vec<_>>()
                        .join("<br>"),
                    local_time(a.raised_at),
                ]
            })
            .collect();
        body.push_str(&table(
            &[
                "Slag",
                "Ärende",
                "Skulle ha skett",
                "Försenad",
                "Ansvariga enheter",
                "Larmat",
            ],
            &rows,
        ));
    }
    let soon = match console
        .gateway
        .store()
        .timers_due_between(
            crate::watch::TIMER_DEADLINE,
            now.saturating_mul(1000),
            (now + DUE_SOON_SECONDS).saturating_mul(1000),
            DUE_SOON_LIMIT,
        )
        .await
    {
        Ok(t) => t,
        Err(e) => return failed(&e),
    };
    body.push_str("<h2>Inom 24 timmar</h2>\n");
    // The watch's payload: the case and the alert's kind, no personal data.
    let soon: Vec<(String, String, i64)> = soon
        .iter()
        .filter_map(|t| {
            let v: serde_json::Value = serde_json::from_str(&t.payload).ok()?;
            Some((
                v.get("case_id")?.as_str()?.to_owned(),
                v.get("kind")?.as_str()?.to_owned(),
                t.due_at / 1000,
            ))
        })
        .collect();
    if soon.is_empty() {
        body.push_str("<p>Inga tidsgränser infaller inom 24 timmar.</p>\n");
    } else {
        let rows: Vec<Vec<String>> = soon
            .iter()
            .map(|(case_id, kind, due)| {
                vec![
                    escape(&due_swedish(kind)),
                    case_link(case_id),
                    local_time(*due),
                    format!("om {}", html::age(due - now)),
                ]
            })
            .collect();
        body.push_str(&table(&["Slag", "Ärende", "Infaller", "Kvar"], &rows));
        if soon.len() == DUE_SOON_LIMIT {
            let _ = writeln!(
                body,
                "<p class=\"note\">De {DUE_SOON_LIMIT} första visas.</p>"
            );
        }
    }
    ok("Tidsgränser", "/tidsgranser", &body)
}

// Aktörer.

async fn actors(State(console): State<Shared>) -> Response {
    let directory = console.gateway.router().directory();
    let units = directory.units();
    let queues = unit_queues(&console, &units).await;
    let mut systems: BTreeMap<&str, usize> = BTreeMap::new();
    for u in &units {
        *systems.entry(u.system.as_str()).or_default() += 1;
    }
    let mut body = String::from("<h2>System</h2>\n");
    let rows: Vec<Vec<String>> = systems
        .iter()
        .map(|(s, n)| vec![escape(s), n.to_string()])
        .collect();
    body.push_str(&table(&["System", "Enheter"], &rows));
    body.push_str("<h2>Enheter</h2>\n");
    let rows: Vec<Vec<String>> = units
        .iter()
        .zip(queues.names.iter().zip(&queues.depths))
        .map(|(u, (queue, depth))| {
            vec![
                format!("<code>{}</code>", escape(&u.hsa_id)),
                escape(&u.name),
                escape(actor_kind_swedish(u.kind)),
                escape(&u.municipality),
                escape(u.system.as_str()),
                format!("<code>{}</code>", escape(queue)),
                escape(depth),
            ]
        })
        .collect();
    body.push_str(&table(
        &[
            "HSA-id",
            "Namn",
            "Slag",
            "Kommun",
            "System",
            "Kö",
            "Meddelanden i kön",
        ],
        &rows,
    ));
    body.push_str(queues.note);
    ok("Aktörer", "/aktorer", &body)
}

/// Each unit's queue and what the broker says of its depth, in the
/// units' order, with a note for under the table.
struct Queues {
    names: Vec<String>,
    depths: Vec<String>,
    note: &'static str,
}

/// Asks the broker, when there is one, how deep each unit's queue is.
async fn unit_queues(console: &Console, units: &[&crate::routing::Unit]) -> Queues {
    let Some(amqp) = &console.broker else {
        return Queues {
            names: units.iter().map(|u| u.queue.clone()).collect(),
            depths: vec!["–".into(); units.len()],
            note: "<p class=\"note\">Utan RabbitMQ (<code>[amqp] url</code>) finns inga köer; \
                   leveranserna väntar i utkorgen (Översikt).</p>\n",
        };
    };
    let topology = crate::transport::topology::Names::new(&amqp.prefix);
    let names: Vec<String> = units
        .iter()
        .map(|u| crate::transport::topology::actor_queue(&topology, u))
        .collect();
    let (depths, note) = match crate::transport::queue_depths(&amqp.url, &names).await {
        Ok(depths) => (
            depths
                .into_iter()
                .map(|d| d.map_or_else(|| "(kön finns inte)".into(), |n| n.to_string()))
                .collect(),
            "<p class=\"note\">Meddelanden som ligger i kön och väntar på mottagaren, just nu.</p>\n",
        ),
        Err(e) => {
            tracing::warn!("console: the broker's queue depths: {e}");
            (
                vec!["–".into(); units.len()],
                "<p class=\"note fel\">RabbitMQ svarade inte om köernas djup; se samgates logg.</p>\n",
            )
        }
    };
    Queues {
        names,
        depths,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_decoded() {
        let f = parse_form(b"csrf=ab%20c&reason=fel+mottagare%C3%A5&x");
        assert_eq!(f["csrf"], "ab c");
        assert_eq!(f["reason"], "fel mottagareå");
        assert_eq!(f["x"], "");
        assert_eq!(parse_form(b"a=%2")["a"], "%2");
        assert_eq!(reason_class("unknown-recipient: SE1"), "unknown-recipient");
    }

    #[test]
    fn a_protected_persons_content_is_not_shown() {
        let mut event = samgate_proto::CaseEvent {
            patient: Some(samgate_proto::v1::Patient {
                id: "194102069046".into(),
                given_name: "Esther <b>".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let shown = decoded_content(&event);
        assert!(shown.contains("Esther &lt;b&gt;"), "{shown}");
        event.patient.as_mut().unwrap().protected_identity = true;
        let shown = decoded_content(&event);
        assert!(!shown.contains("Esther") && !shown.contains("194102069046"));
        assert!(shown.contains("skyddade personuppgifter"));
    }
}
