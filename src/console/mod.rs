//! The operator console: a few server-rendered pages in Swedish for the
//! region's integration team, on a listener of its own (`[console]
//! listen`; off when empty). It reads what the store keeps — the outbox,
//! the quarantine, the cases and their events, the deadline watch's
//! alerts — and does two things: replays a quarantined delivery, and
//! discards one with a reason.
//!
//! # Layout
//!
//! - [`config`]: `[console]`, and where its access log is.
//! - [`auth`]: the token, the sessions (cookie), or the operators'
//!   certificates; CSRF and same-origin checks.
//! - [`html`]: escaping and the page frame every view shares.
//! - [`pages`]: the views (Översikt, Karantän, Ärenden, Tidsgränser,
//!   Aktörer) and the two actions.
//!
//! # Access
//!
//! The console is a patient-data access under the patient-data law. Every
//! view that shows personal data (a case page, the printable SIP, a search
//! by personnummer, the quarantine's decoded content) and every action is
//! appended to the access log (`console-access.log` in the data directory,
//! one JSON object per line, `portal::audit::AuditLog`) with the operator,
//! what, the case and the time, before the answer is sent. The operator is
//! the `X-Operator` header when a proxy in front sets it, else
//! `[console] operator` (the token's holder); over mutual TLS, the HSA-id
//! of the operator's certificate. The personnummer goes only
//! to that file, never to the application log.
//!
//! Pages work without JavaScript; there is none.

pub mod auth;
pub mod config;
pub mod html;
pub mod pages;

use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::ConsoleConfig;

use crate::gateway::Gateway;
use crate::portal::PublishRules;
use crate::portal::audit::AuditLog;

/// What the console's handlers share.
pub struct Console {
    pub gateway: Arc<Gateway>,
    pub audit: AuditLog,
    pub auth: auth::Auth,
    /// For the printable SIP: the same rules as the portal's.
    pub publish: PublishRules,
    /// The broker whose queue depths Aktörer shows; `None` without AMQP.
    pub broker: Option<crate::transport::AmqpConfig>,
}

impl Console {
    /// A console over `gateway`'s store and directory, letting in whom
    /// `auth` lets in.
    pub fn new(
        gateway: Arc<Gateway>,
        audit: AuditLog,
        auth: auth::Auth,
        publish: PublishRules,
        broker: Option<crate::transport::AmqpConfig>,
    ) -> Arc<Self> {
        Arc::new(Console {
            gateway,
            audit,
            auth,
            publish,
            broker,
        })
    }
}

/// The token from `[console] token`, or a new one (`true`: made now, to
/// be shown to the operator once).
pub fn token_or_new(config: &ConsoleConfig) -> (String, bool) {
    if config.token.is_empty() {
        (auth::random_hex(), true)
    } else {
        (config.token.clone(), false)
    }
}

/// Serves the console on `listener` until `shutdown` resolves.
pub async fn serve(
    console: Arc<Console>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, pages::router(console))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves the console over mutual TLS until `shutdown` resolves: each
/// request knows its connection's certificate (the [`Peer`]).
///
/// [`Peer`]: crate::api::mtls::Peer
pub async fn serve_tls(
    console: Arc<Console>,
    listener: crate::api::mtls::TlsListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app =
        pages::router(console).into_make_service_with_connect_info::<crate::api::mtls::Peer>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
