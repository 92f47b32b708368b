//! A gateway with its AMQP transports running, as the transport tests
//! start and stop it.

use std::sync::Arc;
use std::time::Duration;

use samgate::engine::Engine;
use samgate::gateway::Gateway;
use samgate::routing::{Directory, Router};
use samgate::store::Store;
use samgate::transport::AmqpConfig;

/// How long a stop may take: the transports drain for at most a few
/// seconds (inbound, relay) before they close.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// A gateway on a fresh embedded store, its transports (journal feed,
/// relay, alerts, inbound) started on `config`.
pub struct Running {
    pub gateway: Arc<Gateway>,
    pub store: Arc<dyn Store>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The store's directory, removed when the test is done with it.
    _dir: tempfile::TempDir,
}

impl Running {
    /// Call it after the topology is declared, so that nothing published
    /// before the transports connect is lost.
    pub async fn start(directory: &Directory, config: &AmqpConfig) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let store = samgate::store::open("", dir.path()).await.unwrap();
        let gateway = Arc::new(Gateway::new(
            store.clone(),
            Router::new(Engine::default(), directory.clone()),
        ));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let tasks = samgate::transport::start(
            gateway.clone(),
            super::journal_of(&gateway),
            config,
            stopped,
        );
        Running {
            gateway,
            store,
            stop,
            tasks,
            _dir: dir,
        }
    }

    /// Stops the transports and waits for each to end.
    pub async fn stop(self) {
        self.stop.send(true).unwrap();
        for t in self.tasks {
            tokio::time::timeout(STOP_LIMIT, t)
                .await
                .expect("a transport that does not stop")
                .unwrap();
        }
    }
}
