//! A broker that accepts connections and then never answers, as RabbitMQ
//! can while it boots or when it is wedged: every transport connects into
//! that silence, gives up on it after its time limit, and connects again;
//! once the broker answers, everything waiting in the queues is delivered.
//! A stop meanwhile is not held up by the silence. A proxy in front of the
//! local RabbitMQ plays the silent broker.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use lapin::uri::AMQPUri;
use samgate::transport::AmqpConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::StreamExt;

const CASES: usize = 20;
const EVENTS_PER_CASE: usize = 2;
const RECIPIENT: &str = "SE2120000449-KHSL";
/// The gateway's transports: journal feed, relay, alerts, inbound.
const TRANSPORTS: usize = 4;
/// Longer than the transports' limit on connecting (15 s) with room for
/// the reconnect that follows; without that limit they would wait for ever.
const LIMIT: Duration = Duration::from_secs(90);

/// A TCP proxy to the broker that, until told to answer, accepts each
/// connection and holds it open without a byte either way.
struct Proxy {
    port: u16,
    answering: Arc<AtomicBool>,
    /// Connections accepted while silent (and still held open).
    held: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A silent proxy to the broker of `url`.
    async fn silent_in_front_of(url: &str) -> Proxy {
        let uri: AMQPUri = url.parse().unwrap();
        let upstream = format!("{}:{}", uri.authority.host, uri.authority.port);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let answering = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicUsize::new(0));
        let (a, h) = (answering.clone(), held.clone());
        let task = tokio::spawn(async move {
            let mut silent = Vec::new();
            while let Ok((mut client, _)) = listener.accept().await {
                if !a.load(Ordering::SeqCst) {
                    silent.push(client);
                    h.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Ok(mut broker) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                    }
                });
            }
        });
        Proxy {
            port,
            answering,
            held,
            task,
        }
    }

    /// `url` with the proxy in place of the broker's host and port.
    fn url(&self, url: &str) -> String {
        let uri: AMQPUri = url.parse().unwrap();
        let vhost = if uri.vhost == "/" {
            "%2f".to_string()
        } else {
            uri.vhost.clone()
        };
        format!(
            "amqp://{}:{}@127.0.0.1:{}/{vhost}",
            uri.authority.userinfo.username, uri.authority.userinfo.password, self.port
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_accepts_connections_and_stays_silent_is_waited_out() {
    let url = amqp_url();
    let broker = samgate::transport::connect(&url).await.unwrap();
    let channel = broker.create_channel().await.unwrap();
    let (names, directory) = topology_with_stream(&channel, "silent", CASES, EVENTS_PER_CASE).await;
    let _cleanup = common::amqp::DeleteOnPanic::new(&names, &directory);

    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut consumer = channel
        .basic_consume(
            names.outbound(RECIPIENT).as_str().into(),
            "silent-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let collected = received.clone();
    let collector = tokio::spawn(async move {
        while let Some(Ok(d)) = consumer.next().await {
            let id = d.properties.message_id().as_ref().unwrap().to_string();
            collected.lock().unwrap().push(id);
            let _ = d.ack(BasicAckOptions::default()).await;
        }
    });

    let proxy = Proxy::silent_in_front_of(&url).await;
    let running = common::amqp::Running::start(
        &directory,
        &AmqpConfig {
            url: proxy.url(&url),
            prefix: names.prefix.clone(),
        },
    )
    .await;

    // Every transport is stuck in a connection that will never answer.
    eventually("every transport to connect into the silence", LIMIT, || {
        let held = proxy.held.load(Ordering::SeqCst);
        std::future::ready((held >= TRANSPORTS).then_some(()))
    })
    .await;
    assert!(received.lock().unwrap().is_empty());
    proxy.answering.store(true, Ordering::SeqCst);

    let expected = CASES * EVENTS_PER_CASE;
    wait_for_unique(&received, |id| id.as_str(), expected, LIMIT).await;
    running.stop().await;
    collector.abort();
    clean_amqp(&channel, &names, &directory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_the_broker_keeps_silent_is_not_held_up() {
    let url = amqp_url();
    let proxy = Proxy::silent_in_front_of(&url).await;
    let running = common::amqp::Running::start(
        &samgate::routing::Directory::builtin(),
        &AmqpConfig {
            url: proxy.url(&url),
            prefix: format!("samgate-silent-stop-{}", uuid::Uuid::new_v4().simple()),
        },
    )
    .await;
    eventually("every transport to connect into the silence", LIMIT, || {
        let held = proxy.held.load(Ordering::SeqCst);
        std::future::ready((held >= TRANSPORTS).then_some(()))
    })
    .await;
    // Well inside the 15 s a connection is given to answer.
    tokio::time::timeout(Duration::from_secs(5), running.stop())
        .await
        .expect("a stop held up by a broker that does not answer");
}
