//! RabbitMQ, for real, on the local broker (SAMGATE_TEST_AMQP_URL, default
//! amqp://guest:guest@127.0.0.1:5672/%2f): the topology, a Lifecare message
//! in and Cosmic Link messages out through the outbox relay, quarantine of
//! a poison message while the rest flow, and idempotent redelivery. Each
//! test uses its own name prefix, so tests do not see each other's queues.
//! A broker that cannot be reached fails the test.

mod common;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use common::amqp::DeleteOnPanic;
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

/// The longest a test waits for what it expects to happen.
const WAIT: Duration = Duration::from_secs(20);

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

/// A gateway on a fresh PostgreSQL schema, its transports not started, and
/// a pool on the same schema for the test's own SQL, with the topology
/// declared as [`declared`] does.
async fn on_postgres(
    channel: &Channel,
) -> (Arc<Gateway>, sqlx::PgPool, (Directory, AmqpConfig, Names)) {
    let declared = declared(channel).await;
    let url = postgres_schema_url().await;
    let store = samgate::store::open(&url, std::path::Path::new("unused"))
        .await
        .unwrap();
    let gateway = Arc::new(Gateway::new(
        store,
        Router::new(Engine::default(), declared.0.clone()),
    ));
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    (gateway, admin, declared)
}

/// A gateway on the embedded store with its transports running under a
/// fresh prefix, the topology declared first so nothing published before
/// it connects is lost.
struct Running {
    running: common::amqp::Running,
    names: Names,
    directory: Directory,
    _cleanup: DeleteOnPanic,
}

impl std::ops::Deref for Running {
    type Target = common::amqp::Running;
    fn deref(&self) -> &Self::Target {
        &self.running
    }
}

async fn running(channel: &Channel) -> Running {
    let (directory, config, names) = declared(channel).await;
    Running {
        running: common::amqp::Running::start(&directory, &config).await,
        _cleanup: DeleteOnPanic::new(&names, &directory),
        names,
        directory,
    }
}

impl Running {
    /// Stops the transports and deletes what the test declared.
    async fn finish(self, channel: &Channel) {
        self.running.stop().await;
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

/// The messages ready in `queue` (not those handed to a consumer).
async fn message_count(channel: &Channel, queue: &str) -> u32 {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap()
        .message_count()
}

/// Why samgate quarantined `message` (its `x-samgate-reason` header).
fn reason(message: &lapin::message::Delivery) -> String {
    let headers = message.properties.headers().clone().unwrap();
    match headers.inner().get("x-samgate-reason") {
        Some(AMQPValue::LongString(s)) => s.to_string(),
        other => panic!("reason header: {other:?}"),
    }
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
    let _cleanup = DeleteOnPanic::new(&names, &directory);
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
    // Then another case's message: the queue is taken in order, so once
    // it is stored the redelivery before it has been handled.
    publish(
        &channel,
        &names.inbound(DialectName::Lifecare),
        &stream_message("MARK", 0, 0),
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
        .0
        .into_iter()
        .find(|c| c.external_refs.iter().all(|r| r.case_ref != "MARK-0"))
        .unwrap()
        .id;
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
    let reason = reason(&poison);
    assert!(
        reason.contains("lifecare") && reason.contains("malformed XML"),
        "{reason}"
    );

    // One case, one event: the redelivery was recognised.
    let store = &store;
    let cases = eventually(
        "the message after the redelivery stored",
        WAIT,
        || async move {
            let (cases, _) = store
                .list_cases(&Default::default(), 0, None)
                .await
                .unwrap();
            (cases.len() > 1).then_some(cases)
        },
    )
    .await;
    let (marked, admitted): (Vec<_>, Vec<_>) = cases
        .into_iter()
        .partition(|c| c.external_refs.iter().any(|r| r.case_ref == "MARK-0"));
    assert_eq!((marked.len(), admitted.len()), (1, 1));
    assert_eq!(admitted[0].event_count, 1);
    // Everything confirmed is marked delivered.
    let id = &admitted[0].id;
    eventually(
        "every delivery of the case marked delivered",
        WAIT,
        || async move {
            let deliveries = store.case_deliveries(id).await.unwrap();
            deliveries
                .iter()
                .all(|d| d.status == samgate::store::DeliveryStatus::Delivered)
                .then_some(())
        },
    )
    .await;

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
    let _cleanup = DeleteOnPanic::new(&names, &directory);
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
        tasks.extend(start(
            gateway.clone(),
            journal_of(&gateway),
            &config,
            stopped.clone(),
        ));
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
                .encode(&checked(&e), None)
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
    let receiving = connection.create_channel().await.unwrap();
    let mut consumer = receiving
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
    // Once both have stopped, all they published is in the queue or was
    // received; what the consumer was handed and not yet taken goes back
    // to the queue when its channel closes.
    stop.send(true).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    receiving.close(200, "done".into()).await.unwrap();
    let left = message_count(&channel, &queue).await;
    assert_eq!((total, left), (CASES * EVENTS, 0));
    clean_amqp(&channel, &names, &directory).await;
}

/// A store that fails every write for a reason that passes (here a
/// serialization failure, as PostgreSQL gives under contention) fails the
/// whole batch: its messages go back to their queue (after one wait for
/// the batch, not one per message, growing while the failures last) and
/// are stored once the store takes writes again. None is quarantined,
/// nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_a_failing_store_cannot_take_go_back_to_their_queue() {
    use std::collections::HashSet;

    const CASES: usize = 20;
    let connection = broker().await;
    let channel = connection.create_channel().await.unwrap();
    let (gateway, admin, (directory, config, names)) = on_postgres(&channel).await;
    let _cleanup = DeleteOnPanic::new(&names, &directory);
    // Every new event fails, and is counted, until the trigger is dropped
    // again (a sequence, which a rolled-back transaction does not undo).
    for sql in [
        "CREATE SEQUENCE attempts",
        "CREATE FUNCTION refuse_for_now() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           PERFORM nextval('attempts'); \
           RAISE EXCEPTION 'the test refuses writes for now' USING ERRCODE = 'serialization_failure'; \
         END $$",
        "CREATE TRIGGER refuse_for_now BEFORE INSERT ON events \
         FOR EACH ROW EXECUTE FUNCTION refuse_for_now()",
    ] {
        sqlx::query(sql).execute(&admin).await.unwrap();
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = start(gateway.clone(), journal_of(&gateway), &config, stopped);
    let inbound = names.inbound(DialectName::Lifecare);
    publish_stream(&channel, inbound.as_str(), "DOWN", CASES, 1).await;

    // Tried, returned and tried again, more than once.
    let admin = &admin;
    eventually("three tries of the refused batch", WAIT, || async move {
        let tries: Option<i64> =
            sqlx::query_scalar("SELECT last_value FROM attempts WHERE is_called")
                .fetch_optional(admin)
                .await
                .unwrap();
        tries.filter(|t| *t >= 3)
    })
    .await;
    sqlx::query("DROP TRIGGER refuse_for_now ON events")
        .execute(admin)
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
        .fetch_one(admin)
        .await
        .unwrap();
    assert_eq!(stored, CASES as i64);
    assert_eq!(message_count(&channel, &names.quarantine()).await, 0);
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

/// A message the store refuses for good (here a constraint the test adds;
/// in the field, a value over a PostgreSQL index's maximum, which was
/// returned to its queue every second, forever) goes to quarantine with
/// the database's reason, once. The messages that came with it are stored:
/// a batch the store refused whole is tried again message by message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_store_refuses_for_good_is_quarantined_with_its_reason() {
    const CASES: usize = 20;
    let connection = broker().await;
    let channel = connection.create_channel().await.unwrap();
    let (gateway, admin, (directory, config, names)) = on_postgres(&channel).await;
    let _cleanup = DeleteOnPanic::new(&names, &directory);
    sqlx::query(
        "ALTER TABLE events ADD CONSTRAINT refuse_one CHECK (source_message_id <> 'ONE-7-0') NOT VALID",
    )
    .execute(&admin)
    .await
    .unwrap();
    // Published before the consumers start, so that they come in batches.
    let inbound = names.inbound(DialectName::Lifecare);
    publish_stream(&channel, &inbound, "ONE", CASES, 1).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = start(gateway.clone(), journal_of(&gateway), &config, stopped);

    let refused = next_message(&channel, &names.quarantine()).await;
    let event = DialectName::Lifecare
        .adapter()
        .decode(&refused.data)
        .unwrap()
        .event;
    assert_eq!(event.source_message_id, "ONE-7-0");
    let reason = reason(&refused);
    assert!(
        reason.contains("store") && reason.contains("refuse_one"),
        "{reason}"
    );
    let admin = &admin;
    eventually("the other messages stored", WAIT, || async move {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(admin)
            .await
            .unwrap();
        (stored == CASES as i64 - 1).then_some(())
    })
    .await;
    stop.send(true).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    // Every message was settled once: none is back in its queue (the
    // consumers have stopped, so what they held unsettled would be), and
    // the refused one was quarantined once.
    assert_eq!(message_count(&channel, &inbound).await, 0);
    assert_eq!(message_count(&channel, &names.quarantine()).await, 0);
    clean_amqp(&channel, &names, &directory).await;
}

/// Whether retrying can fix a store error, for errors the two databases
/// really give: what the inbound consumers quarantine (false) or return to
/// their queue (true).
#[tokio::test]
async fn store_errors_say_whether_retrying_can_fix_them() {
    use samgate::store::StoreError;
    use sqlx::Connection;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

    let transient = |e: sqlx::Error| StoreError::from(e).is_transient();
    let url = postgres_schema_url().await;
    let mut pg = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE ids (id TEXT PRIMARY KEY)")
        .execute(&mut pg)
        .await
        .unwrap();
    let fails = async |pg: &mut sqlx::PgConnection, sql: &str| {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(pg)
            .await
            .unwrap_err()
    };
    // An id over the index's maximum, as a 3,000-character caseRef was
    // (random hex, which does not compress below it).
    let e = fails(
        &mut pg,
        "INSERT INTO ids SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 200)",
    )
    .await;
    assert!(e.to_string().contains("exceeds"), "{e}");
    let too_long = StoreError::from(e);
    assert!(!too_long.is_transient());
    assert!(!StoreError::BatchFailed(Arc::new(too_long)).is_transient());
    sqlx::query("INSERT INTO ids VALUES ('a')")
        .execute(&mut pg)
        .await
        .unwrap();
    for sql in [
        "INSERT INTO ids VALUES ('a')",
        "SELECT 1 / 0",
        "ALTER TABLE ids ADD CONSTRAINT no_a CHECK (id <> 'a')",
    ] {
        assert!(!transient(fails(&mut pg, sql).await), "{sql}");
    }
    let e = fails(
        &mut pg,
        "DO $$ BEGIN RAISE EXCEPTION 'busy' USING ERRCODE = 'serialization_failure'; END $$",
    )
    .await;
    let serialization = StoreError::from(e);
    assert!(serialization.is_transient());
    assert!(StoreError::BatchFailed(Arc::new(serialization)).is_transient());
    // A connection the server ends (as on a restart or failover).
    let e = fails(&mut pg, "SELECT pg_terminate_backend(pg_backend_pid())").await;
    assert!(transient(e));
    assert!(transient(sqlx::Error::PoolTimedOut));

    // SQLite: a database another connection holds locked, and a constraint.
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("t.db"))
        .create_if_missing(true)
        .busy_timeout(Duration::ZERO);
    let mut holder = SqliteConnection::connect_with(&options).await.unwrap();
    let mut other = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query("CREATE TABLE t (x INTEGER CHECK (x > 0))")
        .execute(&mut holder)
        .await
        .unwrap();
    let e = sqlx::query("INSERT INTO t VALUES (0)")
        .execute(&mut holder)
        .await
        .unwrap_err();
    assert!(!transient(e));
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    let e = sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&mut other)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("locked"), "{e}");
    assert!(transient(e));
}

// ---------------------------------------------------------------------
// `samgate serve` with AMQP, as a process

/// `samgate serve` on a fresh data directory with `url` and `prefix`.
fn serve(url: &str, prefix: &str, data: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_samgate"))
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SAMGATE_AMQP_URL", url)
        .env("SAMGATE_AMQP_PREFIX", prefix)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `serve` with `url`, which it must refuse at start: it exits with
/// an error that names the setting and not the password.
async fn refused_at_start(url: &str, password: &str) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut child = serve(url, &prefix(), data.path());
    let stderr = common::process::Stderr::follow(&mut child);
    let status = common::process::exit_status(&mut child, WAIT).await;
    let log = stderr.finish();
    assert!(!status.success(), "{log}");
    let error = log.lines().last().unwrap_or_default().to_owned();
    assert!(error.contains("SAMGATE_AMQP_URL"), "{log}");
    assert!(!log.contains(password), "the password in: {log}");
    error
}

#[tokio::test]
async fn an_amqp_url_that_does_not_parse_is_refused_at_start() {
    // The second is one amq-protocol quotes whole, password and all.
    for url in [
        "amqp://guest:pa55-word@127.0.0.1:99999/%2f",
        "amqp:guest:pa55-word",
    ] {
        let error = refused_at_start(url, "pa55-word").await;
        assert!(error.contains("is not an AMQP URL"), "{url}: {error}");
    }
}

#[tokio::test]
async fn credentials_the_broker_refuses_are_refused_at_start() {
    let mut wrong = lapin::uri::AMQPUri::from_str(&amqp_url()).unwrap();
    wrong.authority.userinfo.password = "not-the-pa55word".into();
    let error = refused_at_start(&wrong.to_string(), "not-the-pa55word").await;
    assert!(error.contains("ACCESS_REFUSED"), "{error}");
}

/// A broker that is merely down is said at start, then waited for, while
/// samgate serves.
#[tokio::test]
async fn a_broker_that_is_down_is_said_at_start_and_waited_for() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let mut child = serve(
        &format!("amqp://guest:guest@127.0.0.1:{closed}/%2f"),
        &prefix(),
        data.path(),
    );
    let stderr = common::process::Stderr::follow(&mut child);
    stderr
        .wait_for("the AMQP broker cannot be reached", 1, &mut child)
        .await;
    stderr.wait_for("reconnecting in", 2, &mut child).await;
    common::process::stop(child, stderr).await;
}

/// The topology is declared before anything consumes from it: the start-up
/// log has no NOT_FOUND for a queue that was not there yet.
#[tokio::test]
async fn serve_declares_its_queues_before_it_consumes() {
    let connection = broker().await;
    let channel = connection.create_channel().await.unwrap();
    let prefix = prefix();
    let data = tempfile::tempdir().unwrap();
    let mut child = serve(&amqp_url(), &prefix, data.path());
    let stderr = common::process::Stderr::follow(&mut child);
    stderr
        .wait_for("inbound consumers connected", 1, &mut child)
        .await;
    stderr.wait_for("relay connected", 1, &mut child).await;
    let log = common::process::stop(child, stderr).await;
    assert!(log.contains("AMQP topology declared"), "{log}");
    for unwanted in ["no queue", "NOT_FOUND", "reconnecting"] {
        assert!(!log.contains(unwanted), "{unwanted:?} in: {log}");
    }
    clean_amqp(&channel, &Names::new(&prefix), &Directory::builtin()).await;
}

#[tokio::test]
async fn the_journal_feed_queue_stores_stays_and_quarantines_what_it_refuses() {
    let connection = broker().await;
    let channel = connection.create_channel().await.unwrap();
    let run = running(&channel).await;
    let (store, names) = (run.store.clone(), run.names.clone());
    let queue = names.journal_inbound();
    publish(&channel, &queue, b"not HL7 at all").await;
    publish(&channel, &queue, &adt_a01("AMQP-1", "V-AMQP-1")).await;
    // A redelivery of the same message changes nothing and is acked.
    publish(&channel, &queue, &adt_a01("AMQP-1", "V-AMQP-1")).await;
    common::eventually("the stay", Duration::from_secs(20), || {
        let store = store.clone();
        async move { store.stay("SE2321000164", "V-AMQP-1").await.unwrap() }
    })
    .await;
    let refused = next_message(&channel, &names.quarantine()).await;
    assert_eq!(refused.data, b"not HL7 at all");
    let why = reason(&refused);
    assert!(why.starts_with("AR 100: "), "{why}");
    common::eventually("the queue drained", Duration::from_secs(20), || {
        let channel = channel.clone();
        let queue = queue.clone();
        async move { (message_count(&channel, &queue).await == 0).then_some(()) }
    })
    .await;
    run.finish(&channel).await;
}

#[tokio::test]
async fn deadline_alerts_reach_the_alerts_queue_without_personal_data() {
    let connection = broker().await;
    let channel = connection.create_channel().await.unwrap();
    let run = running(&channel).await;
    for ty in ["admissionNotice", "dischargeReady"] {
        run.gateway
            .submit_raw(DialectName::Lifecare, &example_bytes("lifecare", ty))
            .await
            .unwrap();
    }
    let now = chrono::Utc::now();
    samgate::watch::follow(run.store.as_ref(), now.timestamp())
        .await
        .unwrap();
    samgate::journal::timers::fire_due_at(&run.gateway, now.timestamp_millis())
        .await
        .unwrap();
    let message = next_message(&channel, &run.names.alerts()).await;
    let body: serde_json::Value = serde_json::from_slice(&message.data).unwrap();
    assert_eq!(body["state"], "raised", "{body}");
    assert!(body["caseId"].is_string());
    assert!(body["units"].as_array().unwrap().len() >= 3, "{body}");
    let text = String::from_utf8_lossy(&message.data);
    for secret in ["194102069046", "Esther", "Åström", "SV-2024"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    run.finish(&channel).await;
}
