//! RabbitMQ, for real, on the local broker (SAMGATE_TEST_AMQP_URL, default
//! amqp://guest:guest@127.0.0.1:5672/%2f): the topology, a Lifecare message
//! in and Cosmic Link messages out through the outbox relay, quarantine of
//! a poison message while the rest flow, and idempotent redelivery. Each
//! test uses its own name prefix, so tests do not see each other's queues.
//! A broker that cannot be reached fails the test.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};
use samgate::dialects::DialectName;
use samgate::engine::Engine;
use samgate::gateway::Gateway;
use samgate::routing::{Directory, Router};
use samgate::transport::topology::{Names, definitions};
use samgate::transport::{AmqpConfig, start};
use tokio_stream::StreamExt;

async fn broker() -> Connection {
    let url = amqp_url();
    samgate::transport::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("RabbitMQ at {url} is needed by this test and cannot be reached: {e} (scripts/test starts it)"))
}

fn prefix() -> String {
    format!("samgate-test-{}", uuid::Uuid::new_v4().simple())
}

/// The built-in directory's topology declared under a fresh prefix, with
/// the transport config that uses it.
async fn declared(channel: &Channel) -> (Directory, AmqpConfig, Names) {
    let directory = Directory::builtin();
    let config = AmqpConfig {
        url: amqp_url(),
        prefix: prefix(),
    };
    let names = Names::new(&config.prefix);
    samgate::transport::topology::declare(channel, &names, &directory)
        .await
        .unwrap();
    (directory, config, names)
}

/// A gateway on the embedded store with its transports running under a
/// fresh prefix, the topology declared first so nothing published before
/// it connects is lost.
struct Running {
    gateway: Arc<Gateway>,
    store: Arc<dyn samgate::store::Store>,
    names: Names,
    directory: Directory,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

async fn running(channel: &Channel) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    let (directory, config, names) = declared(channel).await;
    let gateway = Arc::new(Gateway::new(
        store.clone(),
        Router::new(Engine::default(), directory.clone()),
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = start(gateway.clone(), &config, stopped);
    Running {
        gateway,
        store,
        names,
        directory,
        stop,
        tasks,
        _dir: dir,
    }
}

impl Running {
    /// Stops the transports and deletes what the test declared.
    async fn finish(self, channel: &Channel) {
        self.stop.send(true).unwrap();
        for t in self.tasks {
            t.await.unwrap();
        }
        clean_amqp(channel, &self.names, &self.directory).await;
    }
}

/// Waits for the next message on `queue`.
async fn next_message(channel: &Channel, queue: &str) -> lapin::message::Delivery {
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            format!("t-{}", uuid::Uuid::new_v4()).as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(20), consumer.next())
        .await
        .unwrap_or_else(|_| panic!("nothing arrived on {queue}"))
        .unwrap()
        .unwrap();
    delivery.ack(BasicAckOptions::default()).await.unwrap();
    channel
        .basic_cancel(
            consumer.tag().as_str().into(),
            BasicCancelOptions::default(),
        )
        .await
        .unwrap();
    delivery
}

async fn publish(channel: &Channel, queue: &str, body: &[u8]) {
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
}

#[test]
fn the_exported_definitions_match_the_topology() {
    let want = definitions(&Names::new("samgate"), &Directory::builtin());
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rabbitmq/definitions.json");
    if std::env::var("SAMGATE_WRITE_DEFINITIONS").is_ok() {
        std::fs::write(&path, serde_json::to_string_pretty(&want).unwrap() + "\n").unwrap();
    }
    let have: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        have, want,
        "regenerate with SAMGATE_WRITE_DEFINITIONS=1 cargo test --test amqp"
    );
}

#[tokio::test]
async fn the_topology_is_declared_idempotently() {
    let connection = broker().await;
    let channel = connection.create_channel().await.unwrap();
    let names = Names::new(&prefix());
    let directory = Directory::builtin();
    samgate::transport::topology::declare(&channel, &names, &directory)
        .await
        .unwrap();
    samgate::transport::topology::declare(&channel, &names, &directory)
        .await
        .unwrap();
    // The quarantine queue is a quorum queue that rejects publishes when full.
    let q = channel
        .queue_declare(
            names.quarantine().as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(q.message_count(), 0);
    clean_amqp(&channel, &names, &directory).await;
}

#[tokio::test]
async fn a_lifecare_message_in_becomes_cosmic_link_messages_out_and_poison_is_quarantined() {
    let connection = broker().await;
    let channel = connection.create_channel().await.unwrap();
    let run = running(&channel).await;
    let (store, names) = (run.store.clone(), run.names.clone());

    // A poison message first: it must not hold up the good one.
    publish(&channel, &names.inbound(DialectName::Lifecare), b"<not xml").await;
    publish(
        &channel,
        &names.inbound(DialectName::Lifecare),
        &example_bytes("lifecare", "admissionNotice"),
    )
    .await;
    // The same message again (a redelivery): no second event.
    publish(
        &channel,
        &names.inbound(DialectName::Lifecare),
        &example_bytes("lifecare", "admissionNotice"),
    )
    .await;

    let out = next_message(&channel, &names.outbound("SE2120000449-KHSL")).await;
    let event = DialectName::CosmicLink
        .adapter()
        .decode(&out.data)
        .unwrap()
        .event;
    assert_eq!(event.source_message_id, "MSG-0001");
    assert!(out.properties.message_id().is_some());
    assert_eq!(out.properties.delivery_mode(), &Some(2));
    assert!(
        out.properties
            .content_type()
            .as_ref()
            .unwrap()
            .as_str()
            .contains("xml")
    );
    let listed = next_message(&channel, &names.outbound("SE2321000040-V2K1")).await;
    let case_id = store
        .list_cases(&Default::default(), 0, None)
        .await
        .unwrap()
        .0[0]
        .id
        .clone();
    let deliveries = store.case_deliveries(&case_id).await.unwrap();
    let want = deliveries
        .iter()
        .find(|d| d.recipient == "SE2321000040-V2K1")
        .unwrap()
        .message_id
        .clone();
    assert_eq!(
        listed
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.to_string()),
        Some(want)
    );

    let poison = next_message(&channel, &names.quarantine()).await;
    assert_eq!(poison.data, b"<not xml");
    let headers = poison.properties.headers().clone().unwrap();
    let reason = match headers.inner().get("x-samgate-reason") {
        Some(AMQPValue::LongString(s)) => s.to_string(),
        other => panic!("reason header: {other:?}"),
    };
    assert!(
        reason.contains("lifecare") && reason.contains("malformed XML"),
        "{reason}"
    );

    // One case, one event: the redelivery was recognised.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cases, _) = store
        .list_cases(&Default::default(), 0, None)
        .await
        .unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].event_count, 1);
    // Everything confirmed is marked delivered.
    let deliveries = store.case_deliveries(&cases[0].id).await.unwrap();
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == samgate::store::DeliveryStatus::Delivered),
        "{deliveries:?}"
    );

    run.finish(&channel).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_postgres_deliver_each_message_once_and_in_order() {
    use samgate_proto::Payload;
    use std::collections::{HashMap, HashSet};

    const CASES: usize = 50;
    const EVENTS: usize = 10;
    let connection = broker().await;
    let channel = connection.create_channel().await.unwrap();
    let (directory, config, names) = declared(&channel).await;
    let url = postgres_schema_url().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let store = samgate::store::open(&url, std::path::Path::new("unused"))
            .await
            .unwrap();
        let gateway = Arc::new(Gateway::new(
            store,
            Router::new(Engine::default(), directory.clone()),
        ));
        tasks.extend(start(gateway, &config, stopped.clone()));
    }
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for k in 0..EVENTS {
        for i in 0..CASES {
            let mut e = if k == 0 {
                canonical_example("admissionNotice")
            } else {
                let mut m = canonical_example("threadMessage");
                if let Some(Payload::ThreadMessage(t)) = &mut m.payload {
                    t.body = format!("{k}");
                }
                m
            };
            e.case_ref = format!("TWO-{i}");
            e.source_message_id = format!("TWO-{i}-{k}");
            let body = DialectName::Lifecare
                .adapter()
                .encode(&e, None)
                .unwrap()
                .bytes;
            channel
                .basic_publish(
                    "".into(),
                    names.inbound(DialectName::Lifecare).as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await
                .unwrap();
        }
    }
    channel.wait_for_confirms().await.unwrap();

    let queue = names.outbound("SE2120000449-KHSL");
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "two".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut seen: HashSet<String> = HashSet::new();
    let mut last: HashMap<String, i64> = HashMap::new();
    let mut total = 0;
    while seen.len() < CASES * EVENTS {
        let d = tokio::time::timeout(Duration::from_secs(60), consumer.next())
            .await
            .unwrap_or_else(|_| panic!("stalled after {} of {}", seen.len(), CASES * EVENTS))
            .unwrap()
            .unwrap();
        total += 1;
        let (case, seq) = case_and_sequence(&d.properties);
        if seen.insert(d.properties.message_id().as_ref().unwrap().to_string()) {
            let prev = last.insert(case.clone(), seq);
            assert!(prev.is_none_or(|p| p < seq), "{case}: {seq} after {prev:?}");
        }
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    // Nothing more: no second relay published the same deliveries again.
    assert!(
        tokio::time::timeout(Duration::from_secs(2), consumer.next())
            .await
            .is_err()
    );
    assert_eq!(total, CASES * EVENTS);
    stop.send(true).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    clean_amqp(&channel, &names, &directory).await;
}

/// A store that refuses writes fails the whole batch: its messages go back
/// to their queue (after one wait for the batch, not one per message) and
/// are stored once the store takes writes again. Nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_a_failing_store_cannot_take_go_back_to_their_queue() {
    use sqlx::Connection;
    use std::collections::HashSet;

    const CASES: usize = 20;
    let connection = broker().await;
    let channel = connection.create_channel().await.unwrap();
    let (directory, config, names) = declared(&channel).await;
    let url = postgres_schema_url().await;
    let store = samgate::store::open(&url, std::path::Path::new("unused"))
        .await
        .unwrap();
    // Every new event breaks a constraint until it is dropped again.
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("ALTER TABLE events ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
        .execute(&mut admin)
        .await
        .unwrap();
    let gateway = Arc::new(Gateway::new(
        store.clone(),
        Router::new(Engine::default(), directory.clone()),
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = start(gateway, &config, stopped);
    let inbound = names.inbound(DialectName::Lifecare);
    publish_stream(&channel, inbound.as_str(), "DOWN", CASES, 1).await;

    // Tried and returned, more than once, and nothing stored meanwhile.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(stored, 0);

    sqlx::query("ALTER TABLE events DROP CONSTRAINT refuse_all")
        .execute(&mut admin)
        .await
        .unwrap();
    let queue = names.outbound("SE2120000449-KHSL");
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "back".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut seen = HashSet::new();
    while seen.len() < CASES {
        // One wait per batch: a wait per message would hold a batch of
        // twenty for twenty seconds.
        let d = tokio::time::timeout(Duration::from_secs(8), consumer.next())
            .await
            .unwrap_or_else(|_| panic!("stalled after {} of {CASES}", seen.len()))
            .unwrap()
            .unwrap();
        seen.insert(d.properties.message_id().as_ref().unwrap().to_string());
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(stored, CASES as i64);
    stop.send(true).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    clean_amqp(&channel, &names, &directory).await;
}

#[tokio::test]
async fn a_reloaded_directory_gets_queues_for_its_new_actors() {
    let connection = broker().await;
    let channel = connection.create_channel().await.unwrap();
    let run = running(&channel).await;
    let (gateway, names) = (run.gateway.clone(), run.names.clone());

    // A new home-care unit in Linköping, on SAMSA.
    let new_unit = "county = \"05\"\nsystem = \"samsa\"\n[[unit]]\nhsa_id = \"SE2120000449-NATT\"\nname = \"Linköpings kommun, nattpatrull\"\nkind = \"MUNICIPAL_HEALTHCARE\"\nmunicipality = \"0580\"\n";
    let reloaded =
        Directory::from_files([("extra.toml".to_string(), new_unit.to_string())]).unwrap();
    gateway.router().replace_directory(reloaded.clone());
    gateway
        .submit_event(canonical_example("admissionNotice"))
        .await
        .unwrap();

    // The relay declares the new queue before it publishes there.
    let queue = names.outbound("SE2120000449-NATT");
    let started = std::time::Instant::now();
    loop {
        let probe = connection.create_channel().await.unwrap();
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        if probe
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{queue} was never declared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = next_message(&channel, &queue).await;
    assert!(DialectName::Samsa.adapter().decode(&out.data).is_ok());
    run.finish(&channel).await;
    clean_amqp(&channel, &names, &reloaded).await;
}
