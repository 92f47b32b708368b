//! The broker stopped and started again in the middle of a stream
//! (`rabbitmqctl stop_app` / `start_app` on the local RabbitMQ): the
//! gateway's consumers and relay reconnect with backoff, nothing is lost,
//! each case stays in order. In a binary of its own, so no other test uses
//! the broker while it is down.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use lapin::options::*;
use lapin::types::FieldTable;
use samgate::transport::AmqpConfig;
use tokio_stream::StreamExt;

const CASES: usize = 1_000;
const EVENTS_PER_CASE: usize = 5;
const RECIPIENT: &str = "SE2120000449-KHSL";
/// How long the test's consumer waits for a message before it subscribes
/// again.
const QUIET: Duration = Duration::from_secs(1);
/// How long the broker stays down: the scenario's length, not a wait for
/// anything to happen. Longer than the transports' first waits (0.1 s,
/// doubling), so that they fail to reconnect several times before the
/// broker is back.
const OUTAGE: Duration = Duration::from_secs(2);
/// The longest the test's consumer waits for the broker to answer.
const STEP: Duration = Duration::from_secs(5);

fn rabbitmqctl(args: &[&str]) {
    let status = Command::new("rabbitmqctl")
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("rabbitmqctl is needed by this test: {e}"));
    assert!(status.success(), "rabbitmqctl {args:?}");
}

async fn connect_until_up(url: &str) -> lapin::Connection {
    let started = Instant::now();
    loop {
        match samgate::transport::connect(url).await {
            Ok(c) => return c,
            Err(e) if started.elapsed() > Duration::from_secs(60) => {
                panic!("RabbitMQ at {url}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// (message id, case, sequence) of what arrived, across reconnects.
type Received = Arc<Mutex<Vec<(String, String, i64)>>>;

/// Subscribes to `queue` on a new connection.
async fn subscribe(url: &str, queue: &str) -> Option<(lapin::Connection, lapin::Consumer)> {
    let connection = samgate::transport::connect(url).await.ok()?;
    let channel = connection.create_channel().await.ok()?;
    let consumer = channel
        .basic_consume(
            queue.into(),
            "restart-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .ok()?;
    Some((connection, consumer))
}

/// Consumes the recipient's queue, reconnecting while the broker is away.
///
/// A broker that is starting up can accept a connection and then answer
/// nothing, or attach a consumer it then forgets: every step has a time
/// limit, and a quiet second starts over on a new connection (anything
/// unacknowledged comes back, and the test counts unique ids).
async fn collect(url: String, queue: String, received: Received) {
    loop {
        let Ok(Some((connection, mut consumer))) =
            tokio::time::timeout(STEP, subscribe(&url, &queue)).await
        else {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        };
        while let Ok(Some(Ok(d))) = tokio::time::timeout(QUIET, consumer.next()).await {
            let (case, seq) = case_and_sequence(&d.properties);
            received.lock().unwrap().push((
                d.properties.message_id().as_ref().unwrap().to_string(),
                case,
                seq,
            ));
            if !matches!(
                tokio::time::timeout(STEP, d.ack(BasicAckOptions::default())).await,
                Ok(Ok(_))
            ) {
                break;
            }
        }
        // Closed, not just dropped: a connection left open would keep its
        // consumer, and the broker would go on handing it messages.
        let _ = tokio::time::timeout(STEP, connection.close(200, "resubscribing".into())).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_nothing() {
    // The transports' own account (connects, losses, reconnects), shown
    // by the test harness only when the test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("samgate::transport=debug,lapin=warn")
        .with_test_writer()
        .try_init();
    let url = amqp_url();
    let connection = connect_until_up(&url).await;
    let channel = connection.create_channel().await.unwrap();
    let (names, directory) =
        topology_with_stream(&channel, "restart", CASES, EVENTS_PER_CASE).await;
    let _cleanup = common::amqp::DeleteOnPanic::new(&names, &directory);
    drop(channel);
    drop(connection);

    let received: Received = Arc::default();
    let collector = tokio::spawn(collect(
        url.clone(),
        names.outbound(RECIPIENT),
        received.clone(),
    ));
    let running = common::amqp::Running::start(
        &directory,
        &AmqpConfig {
            url: url.clone(),
            prefix: names.prefix.clone(),
        },
    )
    .await;

    let started = Instant::now();
    while received.lock().unwrap().len() < 100 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no progress before the restart"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let during = received.lock().unwrap().len();
    rabbitmqctl(&["stop_app"]);
    tokio::time::sleep(OUTAGE).await;
    rabbitmqctl(&["start_app"]);
    rabbitmqctl(&["await_startup"]);

    let expected = CASES * EVENTS_PER_CASE;
    wait_for_unique(
        &received,
        |r| r.0.as_str(),
        expected,
        Duration::from_secs(180),
    )
    .await;
    running.stop().await;
    collector.abort();

    let received = received.lock().unwrap().clone();
    assert!(
        during < expected,
        "the restart came too late to test anything"
    );
    let mut last: HashMap<&str, i64> = HashMap::new();
    let mut firsts: HashSet<&str> = HashSet::new();
    for (id, case, seq) in &received {
        if firsts.insert(id) {
            let prev = last.insert(case, *seq);
            assert!(
                prev.is_none_or(|p| p < *seq),
                "{case}: {seq} after {prev:?}"
            );
        }
    }
    println!(
        "broker restart: {} received ({} duplicates) for {expected}; broker stopped after {during}",
        received.len(),
        received.len() - firsts.len()
    );
    let connection = connect_until_up(&url).await;
    clean_amqp(
        &connection.create_channel().await.unwrap(),
        &names,
        &directory,
    )
    .await;
}
