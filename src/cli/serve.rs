//! `samgate serve`: the gateway as a long-running service.
//!
//! Loads the configuration, opens the store, serves gRPC, and on SIGTERM or
//! Ctrl-C stops taking requests, turns every service's health NOT_SERVING,
//! ends open streams (`WatchCase`, `Subscribe`) with UNAVAILABLE, lets
//! unary requests in flight finish, and closes the store cleanly. gRPC is served over mutual TLS when `[grpc]` names
//! the files, else in plaintext on a loopback address only (or anywhere
//! with `--insecure-plaintext`, with a warning).

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use super::Cli;
use crate::api::GrpcSecurity;
use crate::api::connection::{GRPC_ALPN, GRPC_SETTINGS, GrpcTransport};
use crate::api::mllp::{Answerer, MllpSettings, MllpTls};
use crate::api::mtls::{SettingNames, TlsFiles, TlsListener, mutual_tls_config, server_config};
use crate::api::portal::PortalState;
use crate::api::read_log::ReadLog;
use crate::config::{Config, DirectoryConfig};
use crate::gateway::Gateway;
use crate::journal::Journal;
use crate::portal::PublishRules;
use crate::portal::audit::AuditLog;
use crate::portal::push::Pusher;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address for the gRPC API (overrides server.listen).
    #[arg(long)]
    pub listen: Option<String>,
    /// Serve gRPC without TLS on an address that is not loopback
    /// (grpc.insecure_plaintext): nobody is authenticated and every caller
    /// may do everything.
    #[arg(long)]
    pub insecure_plaintext: bool,
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is
/// called, not when the future is first polled: `serve` calls it before it
/// starts anything, so a signal that comes while it starts (a supervisor
/// stopping it at once) ends it cleanly instead of killing it.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Reloads the actor directory on SIGHUP. A directory that does not
/// validate is refused with the reason and the old one stays; events being
/// folded meanwhile use whichever directory was current, so none is dropped.
async fn reload_directory_on_sighup(gateway: Arc<Gateway>, config: DirectoryConfig) {
    #[cfg(unix)]
    {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hangups.recv().await.is_some() {
            match config.load() {
                Ok(directory) => {
                    tracing::info!(units = directory.len(), "actor directory reloaded");
                    gateway.router().replace_directory(directory);
                }
                Err(e) => tracing::error!("actor directory not reloaded, the old one stays: {e}"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (gateway, config);
}

fn publish_rules(config: &Config) -> PublishRules {
    PublishRules {
        approve_all: config.portal.approve_all,
    }
}

/// The portal endpoints over mutual TLS, until `stop`.
async fn start_portal(
    cli: &Cli,
    config: &Config,
    store: Arc<dyn Store>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let portal = &config.portal;
    let tls = server_config(&TlsFiles {
        cert: &portal.tls_cert,
        key: &portal.tls_key,
        client_ca: &portal.client_ca,
    })
    .context("the portal's TLS settings")?;
    let audit_path = portal.access_log_path(&cli.data_dir);
    let audit = AuditLog::open(&audit_path)
        .with_context(|| format!("cannot open the access log {}", audit_path.display()))?;
    let tcp = TcpListener::bind(&portal.listen)
        .await
        .with_context(|| format!("cannot listen on {} (portal.listen)", portal.listen))?;
    let listener = TlsListener::new(tcp, tls)?;
    tracing::info!(address = %portal.listen, access_log = %audit_path.display(), "samgate serving the portal endpoints (mutual TLS)");
    let state = PortalState {
        store,
        audit: Arc::new(audit),
        config: portal.clone(),
    };
    Ok(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = crate::api::portal::serve(state, listener, shutdown).await {
            tracing::error!("the portal endpoints stopped: {e}");
        }
    }))
}

/// The MLLP listener's messages go to the journal feed, each answered
/// after its commit.
#[async_trait::async_trait]
impl Answerer for Journal {
    async fn answer(&self, message: Vec<u8>) -> Option<Vec<u8>> {
        self.receive(crate::metrics::Way::Mllp, &message).await.ack
    }
}

/// The journal feed's MLLP listener (`[hl7] listen`), until `stop`.
async fn start_mllp(
    config: &Config,
    journal: Arc<Journal>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let hl7 = &config.hl7;
    let tls = if hl7.tls() {
        anyhow::ensure!(
            !hl7.allowed_senders.is_empty(),
            "hl7.allowed_senders is empty: with TLS on, no sender could connect"
        );
        let names = SettingNames {
            cert: "hl7.tls_cert",
            key: "hl7.tls_key",
            client_ca: "hl7.client_ca",
        };
        let files = TlsFiles {
            cert: &hl7.tls_cert,
            key: &hl7.tls_key,
            client_ca: &hl7.client_ca,
        };
        // MLLP has no ALPN name.
        let config = mutual_tls_config(&files, names, &[])?;
        Some(MllpTls {
            config,
            allowed_senders: hl7.allowed_senders.clone(),
        })
    } else {
        None
    };
    let tcp = TcpListener::bind(&hl7.listen)
        .await
        .with_context(|| format!("cannot listen on {} (hl7.listen)", hl7.listen))?;
    let address = tcp.local_addr()?;
    tracing::info!(%address, tls = tls.is_some(), "samgate serving the journal feed (HL7 v2 over MLLP)");
    if tls.is_none() && !address.ip().is_loopback() {
        tracing::warn!(%address, "the MLLP listener is off loopback without TLS: any host that reaches it can send ADT messages");
    }
    let settings = MllpSettings {
        tls,
        idle_timeout: (hl7.idle_timeout_seconds > 0)
            .then(|| std::time::Duration::from_secs(hl7.idle_timeout_seconds)),
    };
    Ok(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = crate::api::mllp::serve(tcp, settings, journal, shutdown).await {
            tracing::error!("the MLLP listener stopped: {e}");
        }
    }))
}

/// The metrics and probes listener (`[metrics] listen`), until `stop`.
async fn start_metrics(
    config: &Config,
    readiness: crate::metrics::Readiness,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listen = &config.metrics.listen;
    let tcp = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (metrics.listen)"))?;
    let address = tcp.local_addr()?;
    tracing::info!(%address, "samgate serving metrics and probes");
    if !address.ip().is_loopback() {
        tracing::warn!(%address, "metrics and probes off loopback: they have no authentication");
    }
    Ok(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = crate::metrics::serve(tcp, readiness, shutdown).await {
            tracing::error!("the metrics listener stopped: {e}");
        }
    }))
}

/// The operator console (`[console] listen`), until `stop`. Without a
/// configured token one is made now and printed once to stderr with the
/// URL to open, like Jupyter's.
async fn start_console(
    cli: &Cli,
    config: &Config,
    gateway: Arc<Gateway>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let settings = &config.console;
    settings.validate()?;
    let path = settings.access_log_path(&cli.data_dir);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let audit = AuditLog::open(&path)
        .with_context(|| format!("cannot open the console's access log {}", path.display()))?;
    let tcp = TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (console.listen)", settings.listen))?;
    let address = tcp.local_addr()?;
    let tls = if settings.mutual_tls() {
        let files = crate::api::mtls::TlsFiles {
            cert: &settings.tls_cert,
            key: &settings.tls_key,
            client_ca: &settings.client_ca,
        };
        Some(crate::api::mtls::mutual_tls_config(
            &files,
            crate::api::mtls::CONSOLE_SETTINGS,
            &[b"http/1.1"],
        )?)
    } else {
        None
    };
    let (token, made) = crate::console::token_or_new(settings);
    let mut auth = crate::console::auth::Auth::new(token.clone(), settings.operator.clone());
    if tls.is_some() {
        auth = auth.by_certificate(&settings.allowed_operators);
    }
    tracing::info!(%address, tls = tls.is_some(), access_log = %path.display(), "samgate serving the operator console");
    if tls.is_none() && !address.ip().is_loopback() {
        tracing::warn!(%address, "the operator console is off loopback over plain HTTP: put a TLS proxy in front, or set console.tls_cert");
    }
    if made && tls.is_none() {
        // Once, to stderr, never to the log: the token lets anyone in.
        eprintln!(
            "The operator console, with this start's token (console.token is not set):\n    http://{address}/?token={token}"
        );
    }
    let console = crate::console::Console::new(
        gateway,
        audit,
        auth,
        publish_rules(config),
        (!config.amqp.url.is_empty()).then(|| config.amqp.clone()),
    );
    Ok(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let served = match tls {
            Some(tls) => match crate::api::mtls::TlsListener::named(tcp, tls, "console") {
                Ok(listener) => crate::console::serve_tls(console, listener, shutdown).await,
                Err(e) => Err(e),
            },
            None => crate::console::serve(console, tcp, shutdown).await,
        };
        if let Err(e) = served {
            tracing::error!("the operator console stopped: {e}");
        }
    }))
}

/// How gRPC takes its callers on `local`: mutual TLS when configured; else
/// plaintext, refused off loopback unless asked for.
fn grpc_transport(
    config: &Config,
    args: &ServeArgs,
    local: std::net::SocketAddr,
) -> anyhow::Result<GrpcTransport> {
    let grpc = &config.grpc;
    let insecure = args.insecure_plaintext || grpc.insecure_plaintext;
    if grpc.tls() {
        anyhow::ensure!(
            !insecure,
            "grpc: mutual TLS is configured (grpc.tls_cert, grpc.tls_key, grpc.client_ca) and plaintext is asked for (--insecure-plaintext or grpc.insecure_plaintext): choose one"
        );
        let files = TlsFiles {
            cert: &grpc.tls_cert,
            key: &grpc.tls_key,
            client_ca: &grpc.client_ca,
        };
        let tls = mutual_tls_config(&files, GRPC_SETTINGS, &[GRPC_ALPN])
            .context("the gRPC TLS settings")?;
        return Ok(GrpcTransport::MutualTls(tls));
    }
    if local.ip().is_loopback() {
        return Ok(GrpcTransport::Plaintext { insecure: false });
    }
    if !insecure {
        return Err(crate::api::connection::ListenError::PlaintextOffLoopback(local).into());
    }
    tracing::warn!(address = %local, "gRPC in plaintext off loopback (--insecure-plaintext): nobody is authenticated and every caller may do everything");
    Ok(GrpcTransport::Plaintext { insecure: true })
}

/// The gRPC API's security: its transport, the access table (checked),
/// and the access log.
fn grpc_security(
    cli: &Cli,
    config: &Config,
    transport: GrpcTransport,
) -> anyhow::Result<GrpcSecurity> {
    let access = config
        .grpc
        .access_table()
        .context("the gRPC access table does not validate")?;
    if matches!(transport, GrpcTransport::MutualTls(_)) && access.is_empty() {
        tracing::warn!("the gRPC access table is empty: certified callers may only translate");
    }
    let path = config.grpc.access_log_path(&cli.data_dir);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let log = AuditLog::open(&path)
        .with_context(|| format!("cannot open the gRPC access log {}", path.display()))?;
    tracing::info!(callers = access.len(), access_log = %path.display(), "gRPC access table loaded");
    Ok(GrpcSecurity {
        transport,
        access: Arc::new(access),
        reads: ReadLog::new(Arc::new(log)),
    })
}

/// The push of new SIP versions to the configured portal, until `stop`.
fn start_push(
    config: &Config,
    store: Arc<dyn Store>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let pusher = Pusher::new(&config.portal.push, store, publish_rules(config))
        .context("the portal push settings")?;
    tracing::info!("pushing new SIP versions to the portal");
    Ok(tokio::spawn(pusher.run(stop)))
}

pub async fn run(cli: &Cli, config: Config, args: &ServeArgs) -> anyhow::Result<()> {
    let signalled = shutdown_signal();
    let listen = args.listen.clone().unwrap_or(config.server.listen.clone());
    // Refused before anything is opened: a plaintext listener off
    // loopback, and TLS settings or an access table that do not hold.
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    let transport = grpc_transport(&config, args, local)?;
    let security = grpc_security(cli, &config, transport)?;
    crate::portal::settings::validate_if_in_use(&config.portal)?;
    let (store, gateway) = super::assemble(cli, &config, true).await?;
    tracing::info!(
        units = gateway.router().directory().len(),
        "actor directory loaded"
    );
    tokio::spawn(reload_directory_on_sighup(
        gateway.clone(),
        config.directory.clone(),
    ));
    let tls = matches!(security.transport, GrpcTransport::MutualTls(_));
    tracing::info!(address = %local, tls, data_dir = %cli.data_dir.display(), "samgate serving gRPC");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let journal = Arc::new(Journal::new(gateway.clone(), &config.hl7)?);
    let transports = if config.amqp.url.is_empty() {
        tracing::info!("no AMQP URL: deliveries wait for DeliveryService");
        Vec::new()
    } else {
        tracing::info!(prefix = %config.amqp.prefix, "AMQP on: inbound consumers and the outbox relay");
        crate::transport::prepare(&gateway, &config.amqp).await?;
        crate::transport::start(gateway.clone(), journal.clone(), &config.amqp, stopped)
    };
    let mut tasks = transports;
    tasks.push(tokio::spawn(crate::journal::timers::run(
        gateway.clone(),
        stop.subscribe(),
    )));
    tasks.push(tokio::spawn(crate::watch::run(
        store.clone(),
        stop.subscribe(),
    )));
    if !config.hl7.listen.is_empty() {
        tasks.push(start_mllp(&config, journal.clone(), stop.subscribe()).await?);
    }
    let (draining, drained) = tokio::sync::watch::channel(false);
    if !config.metrics.listen.is_empty() {
        let readiness = crate::metrics::Readiness {
            store: store.clone(),
            amqp: !config.amqp.url.is_empty(),
            draining: drained,
        };
        tasks.push(start_metrics(&config, readiness, stop.subscribe()).await?);
    }
    if !config.console.listen.is_empty() {
        tasks.push(start_console(cli, &config, gateway.clone(), stop.subscribe()).await?);
    }
    if config.portal.push.enabled() {
        tasks.push(start_push(&config, store.clone(), stop.subscribe())?);
    }
    if !config.portal.listen.is_empty() {
        tasks.push(start_portal(cli, &config, store.clone(), stop.subscribe()).await?);
    }
    let shutdown = async move {
        signalled.await;
        // Not ready from here: /readyz says 503 while requests drain.
        let _ = draining.send(true);
    };
    crate::api::serve_secured(gateway, journal, listener, security, shutdown).await?;
    tracing::info!("shutting down: stopping transports");
    let _ = stop.send(true);
    for t in tasks {
        let _ = t.await;
    }
    tracing::info!("closing the store");
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
