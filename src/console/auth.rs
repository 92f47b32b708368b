//! Who may use the console, and proof that a form was the console's own.
//!
//! A caller shows the token as `Authorization: Bearer <token>`, or once as
//! `/?token=<token>`, which opens a session: a random id (not the token)
//! in an HttpOnly, SameSite=Strict cookie. Tokens are compared in
//! constant time (their SHA-256 digests, so the length does not show
//! either). Every POST carries the caller's CSRF token in a hidden field,
//! and an `Origin` or `Referer`, when the browser sends one, must be the
//! console's own address.
//!
//! Or, with `[console] tls_cert`, mutual TLS: the caller is the HSA-id in
//! its certificate's subject, let in when it is on `allowed_operators`
//! and named by the access log; no token or session then.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

/// The session cookie's name.
pub const COOKIE: &str = "samgate_console";

/// How long a session lasts: one working day, so an operator logs in once
/// a shift and a forgotten browser does not stay in for good.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The most sessions kept: a handful of operators each with a few
/// browsers; the oldest is dropped beyond it, so a caller with the token
/// looping on `/?token=` cannot grow the map without end.
pub const MAX_SESSIONS: usize = 256;

/// The longest operator name taken from `X-Operator`.
pub const MAX_OPERATOR_NAME: usize = 64;

/// Random bytes in a token, a session id or a CSRF token.
const RANDOM_BYTES: usize = 32;

/// A fresh random value as lowercase hex.
pub fn random_hex() -> String {
    let mut bytes = [0u8; RANDOM_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source");
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `a` and `b` are equal, in time that depends on neither.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (da, db) = (digest(&SHA256, a.as_bytes()), digest(&SHA256, b.as_bytes()));
    da.as_ref()
        .iter()
        .zip(db.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Someone the console let in.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The CSRF token its forms carry.
    pub csrf: String,
    /// Who the access log names.
    pub operator: String,
}

struct Session {
    csrf: String,
    expires: Instant,
}

/// The token and the open sessions, or the operators' certificates.
pub struct Auth {
    token: String,
    operator: String,
    sessions: Mutex<HashMap<String, Session>>,
    /// With mutual TLS, the HSA-ids let in; `None`: the token is the way.
    certificates: Option<std::collections::HashSet<String>>,
}

impl Auth {
    pub fn new(token: String, operator: String) -> Self {
        Auth {
            token,
            operator,
            sessions: Mutex::new(HashMap::new()),
            certificates: None,
        }
    }

    /// Lets in, instead of the token's holders, the holders of client
    /// certificates whose subject's serialNumber is one of `hsa_ids`.
    pub fn by_certificate(mut self, hsa_ids: &[String]) -> Self {
        self.certificates = Some(hsa_ids.iter().cloned().collect());
        self
    }

    /// Whether callers are known by their certificates.
    pub fn mutual_tls(&self) -> bool {
        self.certificates.is_some()
    }

    /// The caller whose certificate says `identity`, if it is let in.
    pub fn certificate_caller(&self, identity: &crate::api::mtls::SubjectSerial) -> Option<Caller> {
        let hsa_id = identity.hsa_id()?;
        self.certificates
            .as_ref()?
            .contains(hsa_id)
            .then(|| Caller {
                // Per operator, from the process's own secret (the token,
                // random when unset): a page for one carries it in its forms.
                csrf: hex(digest(
                    &SHA256,
                    format!("csrf\0{}\0{hsa_id}", self.token).as_bytes(),
                )
                .as_ref()),
                operator: hsa_id.to_owned(),
            })
    }

    /// Whether `candidate` is the token.
    pub fn is_token(&self, candidate: &str) -> bool {
        same_secret(candidate, &self.token)
    }

    /// Opens a session; returns its id.
    pub fn open_session(&self) -> String {
        let id = random_hex();
        let now = Instant::now();
        let mut sessions = self.sessions.lock().expect("sessions lock");
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                csrf: random_hex(),
                expires: now + SESSION_LIFETIME,
            },
        );
        id
    }

    /// The caller of a request: by its Bearer token, or its session
    /// cookie; `None` when it shows neither.
    pub fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        if self.mutual_tls() {
            return None;
        }
        let operator = operator_name(headers).unwrap_or_else(|| self.operator.clone());
        if let Some(bearer) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            return self.is_token(bearer.trim()).then(|| Caller {
                // Derived from the token: a Bearer caller has no session,
                // and a page rendered for it carries this in its forms.
                csrf: hex(digest(&SHA256, format!("csrf\0{}", self.token).as_bytes()).as_ref()),
                operator,
            });
        }
        let id = session_cookie(headers)?;
        let sessions = self.sessions.lock().expect("sessions lock");
        // The map is looked up by the id; a wrong id finds nothing, and
        // the ids are random, so there is nothing to learn from timing.
        let session = sessions.get(id).filter(|s| s.expires > Instant::now())?;
        Some(Caller {
            csrf: session.csrf.clone(),
            operator,
        })
    }
}

/// The session id in the request's cookies.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The operator named by `X-Operator`, if it is a plain short name.
fn operator_name(headers: &HeaderMap) -> Option<String> {
    let name = std::str::from_utf8(headers.get("x-operator")?.as_bytes())
        .ok()?
        .trim();
    (!name.is_empty()
        && name.chars().count() <= MAX_OPERATOR_NAME
        && !name.chars().any(char::is_control))
    .then(|| name.to_owned())
}

/// The `Set-Cookie` value of a new session; `secure` when the browser
/// reached the console over HTTPS (a TLS proxy in front).
pub fn session_cookie_header(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        SESSION_LIFETIME.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// Whether a POST's `Origin` and `Referer`, those it has, name the host
/// it was sent to.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let ours = |url: &str| {
        ["http://", "https://"].iter().any(|scheme| {
            url.strip_prefix(scheme).is_some_and(|rest| {
                rest == host || rest.strip_prefix(host).is_some_and(|r| r.starts_with('/'))
            })
        })
    };
    let origin_ok = headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().is_ok_and(ours))
        .unwrap_or(true);
    let referer_ok = headers
        .get(header::REFERER)
        .map(|v| v.to_str().is_ok_and(ours))
        .unwrap_or(true);
    origin_ok && referer_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_value() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert_eq!(random_hex().len(), 64);
        assert_ne!(random_hex(), random_hex());
    }

    #[test]
    fn sessions_and_bearer_let_in_and_nothing_else() {
        let auth = Auth::new("t0ken".into(), "console".into());
        let mut headers = HeaderMap::new();
        assert!(auth.caller(&headers).is_none());
        headers.insert(header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert!(auth.caller(&headers).is_none());
        headers.insert(header::AUTHORIZATION, "Bearer t0ken".parse().unwrap());
        assert_eq!(auth.caller(&headers).unwrap().operator, "console");
        let id = auth.open_session();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("a=b; {COOKIE}={id}").parse().unwrap(),
        );
        headers.insert("x-operator", "Anna Operatör".parse().unwrap());
        let caller = auth.caller(&headers).unwrap();
        assert_eq!(caller.operator, "Anna Operatör");
        assert_eq!(caller.csrf.len(), 64);
    }

    #[test]
    fn the_cookie_is_secure_behind_https() {
        assert!(!session_cookie_header("x", false).contains("Secure"));
        assert!(session_cookie_header("x", true).ends_with("; Secure"));
    }

    #[test]
    fn origin_and_referer_must_be_the_console() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8090".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "http://127.0.0.1:8090".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(
            header::REFERER,
            "http://127.0.0.1:8090/karantan".parse().unwrap(),
        );
        assert!(same_origin(&headers));
        headers.insert(header::REFERER, "http://127.0.0.1:80901/x".parse().unwrap());
        assert!(!same_origin(&headers));
        headers.remove(header::REFERER);
        headers.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&headers));
    }
}
