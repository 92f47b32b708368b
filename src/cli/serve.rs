//! `samgate serve`: the gateway as a long-running service.
//!
//! Loads the configuration, opens the store, serves gRPC, and on SIGTERM or
//! Ctrl-C stops taking requests, lets those in flight finish, and closes
//! the store cleanly.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use super::Cli;
use crate::api::mtls::{TlsFiles, TlsListener, server_config};
use crate::api::portal::PortalState;
use crate::config::{Config, DirectoryConfig};
use crate::gateway::Gateway;
use crate::portal::PublishRules;
use crate::portal::audit::AuditLog;
use crate::portal::push::Pusher;
use crate::routing::Router;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address for the gRPC API (overrides server.listen).
    #[arg(long)]
    pub listen: Option<String>,
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
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
    let listen = args.listen.clone().unwrap_or(config.server.listen.clone());
    crate::portal::settings::validate_if_in_use(&config.portal)?;
    let store = crate::store::open(&config.store.url, &cli.data_dir)
        .await
        .context("cannot open the store")?;
    let directory = config
        .directory
        .load()
        .context("the actor directory does not validate")?;
    tracing::info!(units = directory.len(), "actor directory loaded");
    let router = Router::new(config.engine(), directory)
        .publishing_plans(config.portal.push.enabled());
    let gateway = Arc::new(Gateway::new(store.clone(), router));
    tokio::spawn(reload_directory_on_sighup(
        gateway.clone(),
        config.directory.clone(),
    ));
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, data_dir = %cli.data_dir.display(), "samgate serving gRPC");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let transports = if config.amqp.url.is_empty() {
        tracing::info!("no AMQP URL: deliveries wait for DeliveryService");
        Vec::new()
    } else {
        tracing::info!(prefix = %config.amqp.prefix, "AMQP on: inbound consumers and the outbox relay");
        crate::transport::prepare(&gateway, &config.amqp).await?;
        crate::transport::start(gateway.clone(), &config.amqp, stopped)
    };
    let mut tasks = transports;
    if config.portal.push.enabled() {
        tasks.push(start_push(&config, store.clone(), stop.subscribe())?);
    }
    if !config.portal.listen.is_empty() {
        tasks.push(start_portal(cli, &config, store.clone(), stop.subscribe()).await?);
    }
    crate::api::serve(gateway, listener, shutdown_signal()).await?;
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
