//! The gateway killed with SIGKILL in the middle of a stream and started
//! again: 10,000 messages in; every delivery out at least once, none lost,
//! each case's deliveries in order, duplicates only under the same message
//! id. Runs `samgate serve` as a process against the local RabbitMQ, on the
//! embedded SQLite store.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use lapin::options::*;
use lapin::types::FieldTable;
use tokio_stream::StreamExt;

const CASES: usize = 1_000;
const EVENTS_PER_CASE: usize = 10;
const RECIPIENTS: [&str; 3] = [
    "SE2120000449-BIST",
    "SE2120000449-KHSL",
    "SE2321000040-V2K1",
];

fn serve(data_dir: &std::path::Path, prefix: &str) -> common::process::KillOnDrop {
    let child = Command::new(env!("CARGO_BIN_EXE_samgate"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SAMGATE_AMQP_URL", amqp_url())
        .env("SAMGATE_AMQP_PREFIX", prefix)
        .env("SAMGATE_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    common::process::KillOnDrop(child)
}

/// (queue, message id, case id, sequence) of every message received.
type Received = Arc<Mutex<Vec<(String, String, String, i64)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_and_keeps_case_order() {
    let url = amqp_url();
    let connection = samgate::transport::connect(&url).await.unwrap_or_else(|e| {
        panic!("RabbitMQ at {url} is needed by this test and cannot be reached: {e}")
    });
    let channel = connection.create_channel().await.unwrap();

    // 10,000 messages in, before any gateway runs.
    let (names, directory) = topology_with_stream(&channel, "crash", CASES, EVENTS_PER_CASE).await;
    let _cleanup = common::amqp::DeleteOnPanic::new(&names, &directory);

    // Collect everything that comes out.
    let received: Received = Arc::default();
    for hsa in RECIPIENTS {
        let queue = names.outbound(hsa);
        let consumer_channel = connection.create_channel().await.unwrap();
        consumer_channel
            .basic_qos(500, BasicQosOptions::default())
            .await
            .unwrap();
        let mut consumer = consumer_channel
            .basic_consume(
                queue.as_str().into(),
                "crash-test".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let received = received.clone();
        tokio::spawn(async move {
            let _keep = consumer_channel;
            while let Some(Ok(d)) = consumer.next().await {
                let (case, sequence) = case_and_sequence(&d.properties);
                received.lock().unwrap().push((
                    queue.clone(),
                    d.properties.message_id().as_ref().unwrap().to_string(),
                    case,
                    sequence,
                ));
                d.ack(BasicAckOptions::default()).await.unwrap();
            }
        });
    }

    let data = tempfile::tempdir().unwrap();
    let mut first = serve(data.path(), &names.prefix);
    // Kill it once some deliveries are out and plenty are not.
    let started = Instant::now();
    while received.lock().unwrap().len() < 3_000 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the first gateway made no progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let at_kill = received.lock().unwrap().len();

    let mut second = serve(data.path(), &names.prefix);
    let expected = CASES * EVENTS_PER_CASE * RECIPIENTS.len();
    wait_for_unique(
        &received,
        |r| r.1.as_str(),
        expected,
        Duration::from_secs(300),
    )
    .await;
    Command::new("kill")
        .arg("-TERM")
        .arg(second.id().to_string())
        .status()
        .unwrap();
    assert!(second.wait().unwrap().success());

    let received = received.lock().unwrap().clone();
    assert!(
        at_kill < expected,
        "the kill came too late to test anything"
    );
    // Duplicates only under the same message id: a message id always names
    // the same (queue, case, sequence).
    let mut identity: HashMap<&str, (&str, &str, i64)> = HashMap::new();
    for (queue, id, case, seq) in &received {
        let seen = identity.entry(id).or_insert((queue, case, *seq));
        assert_eq!(
            *seen,
            (queue.as_str(), case.as_str(), *seq),
            "message id {id} reused"
        );
    }
    // Per queue and case, first arrivals come in sequence order.
    let mut last: HashMap<(&str, &str), i64> = HashMap::new();
    let mut firsts: HashSet<&str> = HashSet::new();
    for (queue, id, case, seq) in &received {
        if !firsts.insert(id) {
            continue;
        }
        let prev = last.insert((queue, case), *seq);
        assert!(
            prev.is_none_or(|p| p < *seq),
            "{queue} {case}: {seq} after {prev:?}"
        );
    }
    // Every stored delivery is out, and every event was stored once.
    let store = samgate::store::open("", data.path()).await.unwrap();
    let (cases, _) = store
        .list_cases(&Default::default(), 500, None)
        .await
        .unwrap();
    let mut token = cases.last().map(|c| c.id.clone());
    let mut all = cases;
    while let Some(t) = token {
        let (more, next) = store
            .list_cases(&Default::default(), 500, Some(&t))
            .await
            .unwrap();
        all.extend(more);
        token = next;
    }
    assert_eq!(all.len(), CASES);
    assert_eq!(
        all.iter().map(|c| c.event_count).sum::<i64>(),
        (CASES * EVENTS_PER_CASE) as i64
    );
    println!(
        "sigkill test: {} messages received ({} duplicates) for {expected} deliveries; killed after {at_kill}",
        received.len(),
        received.len() - firsts.len()
    );
    clean_amqp(&channel, &names, &directory).await;
}
