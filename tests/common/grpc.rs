//! The gateway served over gRPC for tests: plaintext on a free loopback
//! port (the embedded default), with the built-in directory and the
//! default engine, stopped and awaited at the end.

use std::sync::Arc;
use std::time::Duration;

use samgate::engine::Engine;
use samgate::gateway::Gateway;
use samgate::routing::{Directory, Router};
use samgate::store::Store;
use tonic::transport::Channel;

/// How long a stopped server may take to finish.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// A running gRPC server and a channel to it.
pub struct Served {
    pub channel: Channel,
    pub store: Arc<dyn Store>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The data directory of a store made for the server.
    _dir: Option<tempfile::TempDir>,
}

/// The gateway over `store`, served.
pub async fn serve(store: Arc<dyn Store>) -> Served {
    let gateway = Arc::new(Gateway::new(
        store.clone(),
        Router::new(Engine::default(), Directory::builtin()),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(samgate::api::serve(gateway, listener, async {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Served {
        channel,
        store,
        stop: Some(stop),
        handle,
        _dir: None,
    }
}

/// The gateway over a new embedded store of its own, served.
pub async fn serve_fresh() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    Served {
        _dir: Some(dir),
        ..serve(store).await
    }
}

impl Served {
    /// Tells the server to stop, and waits (a while at most) until it has.
    pub async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(STOP_WAIT, self.handle)
            .await
            .expect("the server stops promptly")
            .unwrap()
            .unwrap();
    }
}
