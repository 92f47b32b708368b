//! Push publication: each new SIP version is sent to the citizen portal
//! over HTTPS (reqwest on rustls/ring, the portal's CA and samgate's client
//! certificate from config), through the outbox.
//!
//! The router adds a `publication` delivery to every SIP event when push is
//! configured, in the event's own transaction, so a stored plan cannot miss
//! its publication. [`Pusher`] reads those deliveries in outbox order and
//! PUTs each as a FHIR CarePlan to `<url>/CarePlan/<document id>`: the
//! document id names the case and the version, so a repeated PUT (after a
//! crash between the portal's answer and our commit) replaces the same
//! document with the same content — idempotent by document id and version.
//!
//! - 2xx: published (the delivery is marked delivered).
//! - a connection failure, a timeout, 408, 425, 429 or 5xx: tried again
//!   with backoff; later plans wait, so the portal sees versions in order.
//! - any other answer is permanent: the delivery is quarantined with the
//!   portal's status and the start of its answer, and the next one goes.
//! - a plan the rules withhold at push time (protected identity of the
//!   person in any case, consent not GIVEN) is quarantined with reason
//!   `withheld: …` and never sent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{PublishRules, SipDocument, Withheld, documents_for, fhir};
use crate::store::{Delivery, Store, StoreError};
use crate::tls::{TlsSetupError, read_certificates, read_private_key, read_roots};

/// The recipient of publication deliveries in the outbox (its system is
/// `System::Portal`).
pub use crate::channel::PORTAL_RECIPIENT;

/// How many publications one round reads.
const BATCH: usize = 100;
/// Backoff after a failed attempt, doubling up to the cap.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often an idle pusher looks for new plans.
const POLL: Duration = Duration::from_millis(250);

/// `[portal.push]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// The portal's FHIR base URL (https://…); empty: no push.
    pub url: String,
    /// The portal's CA (PEM).
    pub ca: String,
    /// samgate's client certificate and key (PEM); empty: none presented.
    pub client_cert: String,
    pub client_key: String,
    pub timeout_seconds: u64,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            url: String::new(),
            ca: String::new(),
            client_cert: String::new(),
            client_key: String::new(),
            timeout_seconds: 30,
        }
    }
}

impl PushConfig {
    pub fn enabled(&self) -> bool {
        !self.url.is_empty()
    }
}

/// Why push could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PushSetupError {
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("portal.push.url '{0}': plans are pushed over https only")]
    NotHttps(String),
    #[error("portal.push: {0}")]
    Client(String),
}

/// What one attempt to publish gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Published,
    /// Try again later (the reason, for the log).
    Retry(String),
    /// Never try again: quarantine with this reason.
    Permanent(String),
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    pub published: usize,
    pub quarantined: usize,
    /// The round stopped at a publication to be tried again.
    pub waiting: bool,
}

/// Publishes pending SIP versions to the portal.
pub struct Pusher {
    client: reqwest::Client,
    base: String,
    store: Arc<dyn Store>,
    rules: PublishRules,
}

fn http_client(config: &PushConfig) -> Result<reqwest::Client, PushSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    if config.ca.is_empty() {
        return Err(TlsSetupError::Missing {
            setting: "portal.push.ca",
        }
        .into());
    }
    let roots = read_roots("portal.push.ca", &PathBuf::from(&config.ca))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Rustls(e.to_string()))?
        .with_root_certificates(roots);
    let mut tls = if config.client_cert.is_empty() {
        builder.with_no_client_auth()
    } else {
        let chain = read_certificates(
            "portal.push.client_cert",
            &PathBuf::from(&config.client_cert),
        )?;
        let key = read_private_key("portal.push.client_key", &PathBuf::from(&config.client_key))?;
        builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| TlsSetupError::Rustls(e.to_string()))?
    };
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(config.timeout_seconds.max(1)))
        .build()
        .map_err(|e| PushSetupError::Client(e.to_string()))
}

/// A reason without the portal's own words, which may quote the plan (a
/// name, an identity number): those stay in the quarantined delivery, out
/// of the log.
fn loggable(reason: &str) -> &str {
    match reason.split_once(": ") {
        Some((head, _)) if head.starts_with("portal answered") => head,
        _ => reason,
    }
}

/// Whether an HTTP status is worth another try.
fn transient(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429)
}

impl Pusher {
    pub fn new(
        config: &PushConfig,
        store: Arc<dyn Store>,
        rules: PublishRules,
    ) -> Result<Self, PushSetupError> {
        if !config.url.starts_with("https://") {
            return Err(PushSetupError::NotHttps(config.url.clone()));
        }
        Ok(Pusher {
            client: http_client(config)?,
            base: config.url.trim_end_matches('/').to_owned(),
            store,
            rules,
        })
    }

    /// The document a publication delivery stands for, or why it is not
    /// to be published.
    async fn document(
        &self,
        delivery: &Delivery,
    ) -> Result<Result<SipDocument, String>, StoreError> {
        let Some(case) = self.store.get_case(&delivery.case_id).await? else {
            return Ok(Err("withheld: the case is gone".into()));
        };
        let patient = case.patient.map(|p| p.id).unwrap_or_default();
        let version = match &delivery.event.payload {
            Some(samgate_proto::Payload::SipPlan(plan)) => plan.version.max(1),
            _ => return Ok(Err("not a SIP".into())),
        };
        let docs = match documents_for(self.store.as_ref(), &patient, self.rules).await? {
            Ok(docs) => docs,
            Err(Withheld::ProtectedIdentity) => {
                return Ok(Err("withheld: protected-identity".into()));
            }
        };
        Ok(docs
            .into_iter()
            .find(|d| d.case_id == delivery.case_id && d.version == version)
            .ok_or_else(|| {
                "withheld: the plan is not shown (the case's consent is not GIVEN)".to_owned()
            }))
    }

    /// One PUT of one document.
    pub async fn publish(&self, doc: &SipDocument) -> Attempt {
        let url = format!("{}/CarePlan/{}", self.base, doc.document_id);
        let sent = self
            .client
            .put(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/fhir+json")
            .header("Idempotency-Key", &doc.document_id)
            .body(fhir::care_plan(doc).to_string())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            // Without the URL's query and with no patient data in it: the
            // URL holds the document id only.
            Err(e) => return Attempt::Retry(format!("portal unreachable: {e}")),
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Published;
        }
        let body = response.text().await.unwrap_or_default();
        let said: String = body.chars().take(200).collect();
        let reason = format!("portal answered {status}: {said}");
        if transient(status) {
            Attempt::Retry(reason)
        } else {
            Attempt::Permanent(reason)
        }
    }

    /// Publishes what is pending, in outbox order, until done or until one
    /// must wait.
    pub async fn round(&self) -> Result<Round, StoreError> {
        let mut round = Round::default();
        for delivery in self
            .store
            .pending_deliveries(PORTAL_RECIPIENT, BATCH)
            .await?
        {
            let attempt = match self.document(&delivery).await? {
                Ok(doc) => self.publish(&doc).await,
                Err(reason) => Attempt::Permanent(reason),
            };
            match attempt {
                Attempt::Published => {
                    self.store
                        .mark_delivered(std::slice::from_ref(&delivery.message_id))
                        .await?;
                    tracing::info!(case_id = %delivery.case_id, message_id = %delivery.message_id, "plan published to the portal");
                    round.published += 1;
                }
                Attempt::Permanent(reason) => {
                    tracing::warn!(case_id = %delivery.case_id, message_id = %delivery.message_id, "plan publication quarantined: {}", loggable(&reason));
                    self.store
                        .quarantine_delivery(&delivery.message_id, &reason)
                        .await?;
                    round.quarantined += 1;
                }
                Attempt::Retry(reason) => {
                    tracing::warn!(case_id = %delivery.case_id, message_id = %delivery.message_id, "plan publication will be tried again: {}", loggable(&reason));
                    self.store.record_attempt(&delivery.message_id).await?;
                    round.waiting = true;
                    return Ok(round);
                }
            }
        }
        Ok(round)
    }

    /// Runs rounds until `stop` turns true: polling when idle, backing off
    /// while the portal fails.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let pause = match self.round().await {
                Ok(r) if r.waiting => {
                    let pause = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    pause
                }
                Ok(_) => {
                    backoff = FIRST_BACKOFF;
                    POLL
                }
                Err(e) => {
                    tracing::error!("portal push: the store failed: {e}");
                    MAX_BACKOFF.min(Duration::from_secs(5))
                }
            };
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}
