//! A gateway with its AMQP transports running, as the transport tests
//! start and stop it.

use std::sync::Arc;
use std::time::Duration;

use samgate::engine::Engine;
use samgate::gateway::Gateway;
use samgate::routing::{Directory, Router};
use samgate::store::Store;
use samgate::transport::AmqpConfig;
use samgate::transport::topology::Names;

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
    pub async fn stop(mut self) {
        self.stop.send(true).unwrap();
        for t in std::mem::take(&mut self.tasks) {
            tokio::time::timeout(STOP_LIMIT, t)
                .await
                .expect("a transport that does not stop")
                .unwrap();
        }
    }
}

impl Drop for Running {
    /// A test that fails stops the transports too, so that they do not
    /// declare again what [`DeleteOnPanic`] deletes.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// How long a failed test's cleanup may take: some 20 deletions, each
/// answered in milliseconds.
const CLEAN_LIMIT: Duration = Duration::from_secs(30);

/// Deletes a test's exchanges and queues if the test fails: a failed run
/// leaves nothing on the broker, where left-over quorum queues pile up
/// over runs and slow every restart of it (hundreds of them kept
/// RabbitMQ from booting at all here). A test that passes deletes its
/// own, with `clean_amqp`, before it ends.
pub struct DeleteOnPanic {
    names: Names,
    directory: Directory,
}

impl DeleteOnPanic {
    pub fn new(names: &Names, directory: &Directory) -> DeleteOnPanic {
        DeleteOnPanic {
            names: names.clone(),
            directory: directory.clone(),
        }
    }
}

impl Drop for DeleteOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let (names, directory) = (self.names.clone(), self.directory.clone());
        // A thread and a runtime of its own: the test's runtime is
        // unwinding.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let clean = async {
                let Ok(connection) = samgate::transport::connect(&super::amqp_url()).await else {
                    return;
                };
                if let Ok(channel) = connection.create_channel().await {
                    super::clean_amqp(&channel, &names, &directory).await;
                }
                let _ = connection.close(200, "test cleaned up".into()).await;
            };
            // A broker that does not answer must not hang the failing
            // test: its failure is what the run has to report.
            let _ = runtime.block_on(tokio::time::timeout(CLEAN_LIMIT, clean));
        })
        .join();
    }
}
