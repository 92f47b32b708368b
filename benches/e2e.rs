//! End to end through RabbitMQ: messages/s and latency from the inbound
//! queue to the confirmed outbound publish, on SQLite and on PostgreSQL,
//! next to the raw RabbitMQ publish-with-confirms + consume rate measured
//! the same way on the same machine. samgate runs with one recipient per
//! message (one consume, one confirmed publish: the raw path's broker
//! work) and with the spec example's three. The raw path crosses the
//! broker once; a message through samgate crosses it twice (in, and out
//! to its recipient), so the same broker work without samgate is measured
//! too: `forward` (consume, one confirmed copy to another queue,
//! acknowledge) and, for three recipients, `fanout` (three copies).
//! Latency is measured twice: from the bench's publish to the recipient's
//! consumer (the whole path, both broker hops), and, in the paced runs,
//! from the message being in the inbound queue (its publish confirmed) to
//! samgate's outbound publish confirmed (`confirm_times`).
//! Needs the local RabbitMQ and PostgreSQL (the test services). Figures:
//! benches/README.md.
//!
//! cargo bench --bench e2e -- [MESSAGES] [raw|forward|fanout|sqlite|postgres]... [one|three] [paced] [timings] [rounds=N]
//!
//! Naming parts runs only those (all five by default); samgate runs each
//! store with one recipient per message and with three, unless `one` or
//! `three` names one; `paced` leaves out the as-fast-as-it-goes runs;
//! `timings` prints, under each samgate run, how long samgate's own steps
//! took (`span_times`); `rounds=N` runs the parts N times, alternating, and
//! ends with each figure's median and range (`rounds`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use samgate::dialects::DialectName;
use samgate::engine::Engine;
use samgate::gateway::Gateway;
use samgate::routing::{Directory, Router};
use samgate::store::{DeliveryKind, delivery_message_id};
use samgate::transport::topology::{Names, declare};
use samgate::transport::{AmqpConfig, start};
use samgate_proto::v1::SourceSystem;
use tokio_stream::StreamExt;

#[path = "e2e/confirm_times.rs"]
mod confirm_times;
#[path = "e2e/rounds.rs"]
mod rounds;
#[path = "e2e/span_times.rs"]
mod span_times;
use confirm_times::ConfirmTimes;
use rounds::Rounds;
use span_times::SpanTimes;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const RECIPIENT: &str = "SE2120000449-KHSL";

/// How many actors each benchmark message reaches.
#[derive(Clone, Copy)]
enum Fanout {
    /// One consume and one confirmed publish per message, like the raw
    /// path: the patient's home municipality has one unit in the bench's
    /// directory and she is listed nowhere.
    One,
    /// The spec example's routing: Linköping's home health care and social
    /// services and her primary-care unit, three confirmed publishes.
    Three,
}

/// The directory of the one-recipient runs: Linköping's home health care
/// alone.
const ONE_RECIPIENT_DIRECTORY: &str = r#"
county = "05"
system = "cosmic-link"

[[unit]]
hsa_id = "SE2120000449-KHSL"
name = "Linköpings kommun, hemsjukvård"
kind = "MUNICIPAL_HEALTHCARE"
municipality = "0580"
"#;

fn amqp_url() -> String {
    std::env::var("SAMGATE_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn postgres_url() -> String {
    std::env::var("SAMGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

struct Figures {
    per_second: f64,
    /// From the publish to `samgate.in.*` (or the raw queue) to the
    /// recipient's consumer.
    p50: Duration,
    p99: Duration,
    /// Paced runs: p50 and p99 from the moment the message is in the
    /// inbound queue (its publish confirmed to the bench) to its outbound
    /// publish confirmed to samgate's relay (`confirm_times`); for the
    /// raw paths, which have no relay, to the consumer.
    from_queue: Option<(Duration, Duration)>,
}

/// Times by message id: when each was published, in its queue, confirmed.
type Times = Arc<Mutex<HashMap<String, Instant>>>;

/// The `q` quantile of `sorted` (not empty).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// The p50 and p99 of `spans` (not empty).
fn p50_p99(mut spans: Vec<Duration>) -> (Duration, Duration) {
    spans.sort();
    (quantile(&spans, 0.50), quantile(&spans, 0.99))
}

fn figures(n: usize, elapsed: Duration, latencies: Vec<Duration>) -> Figures {
    let (p50, p99) = p50_p99(latencies);
    Figures {
        per_second: n as f64 / elapsed.as_secs_f64(),
        p50,
        p99,
        from_queue: None,
    }
}

/// p50 and p99 of `end - start` over the message ids in both (None when
/// none is).
fn between<'a>(
    start: &HashMap<String, Instant>,
    end: impl IntoIterator<Item = (&'a String, &'a Instant)>,
) -> Option<(Duration, Duration)> {
    let spans: Vec<Duration> = end
        .into_iter()
        .filter_map(|(id, t1)| Some(t1.saturating_duration_since(*start.get(id)?)))
        .collect();
    (!spans.is_empty()).then(|| p50_p99(spans))
}

fn print(what: &str, f: &Figures) {
    println!(
        "{what:<44} {:>9.0} msg/s   p50 {:>8.2} ms   p99 {:>8.2} ms",
        f.per_second,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3
    );
    if let Some((p50, p99)) = f.from_queue {
        println!(
            "{:<44} {:>15}   p50 {:>8.2} ms   p99 {:>8.2} ms",
            "  from the inbound queue",
            "",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}

/// Publishes `bodies` to `queue` (with confirms, in windows of 100), one
/// every `interval` when given, recording when each was published in
/// `sent` and, paced, when its publish was confirmed (the message is in
/// the queue) in the times returned.
async fn publish_all(
    channel: &Channel,
    queue: &str,
    bodies: Vec<(String, Vec<u8>)>,
    interval: Option<Duration>,
    sent: Times,
) -> HashMap<String, Instant> {
    let queued = Times::default();
    let mut confirms = Vec::new();
    let start = Instant::now();
    for (i, (key, body)) in bodies.into_iter().enumerate() {
        if let Some(every) = interval {
            let due = start + every * i as u32;
            tokio::time::sleep_until(due.into()).await;
        }
        sent.lock().unwrap().insert(key.clone(), Instant::now());
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default()
                    .with_message_id(key.as_str().into())
                    .with_delivery_mode(2),
            )
            .await
            .unwrap();
        if interval.is_some() {
            let queued = queued.clone();
            confirms.push(tokio::spawn(async move {
                if confirm.await.is_ok_and(|c| c.is_ack()) {
                    queued.lock().unwrap().insert(key, Instant::now());
                }
            }));
        }
        if i % 100 == 99 {
            channel.wait_for_confirms().await.unwrap();
        }
    }
    channel.wait_for_confirms().await.unwrap();
    for c in confirms {
        c.await.unwrap();
    }
    std::mem::take(&mut *queued.lock().unwrap())
}

/// Consumes `n` messages from `queue`; the latency of each is measured
/// against the publish time of its message id in `sent`. Returns when the
/// last came, the latencies, and when each came.
async fn consume_n(
    connection: &Connection,
    queue: &str,
    n: usize,
    sent: Times,
) -> (Instant, Vec<Duration>, HashMap<String, Instant>) {
    let channel = connection.create_channel().await.unwrap();
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            format!("bench-{}", uuid::Uuid::new_v4().simple())
                .as_str()
                .into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut latencies = Vec::with_capacity(n);
    let mut came = HashMap::with_capacity(n);
    while latencies.len() < n {
        let d = tokio::time::timeout(Duration::from_secs(120), consumer.next())
            .await
            .expect("stalled")
            .unwrap()
            .unwrap();
        let key = d.properties.message_id().as_ref().unwrap().to_string();
        let t0 = sent.lock().unwrap().get(&key).copied();
        if let Some(t0) = t0 {
            latencies.push(t0.elapsed());
            came.insert(key, Instant::now());
        }
    }
    let end = Instant::now();
    let _ = channel.close(200, "done".into()).await;
    (end, latencies, came)
}

/// Declares a new quorum queue named after `what` and returns its name.
async fn quorum_queue(channel: &Channel, what: &str) -> String {
    let queue = format!("samgate-bench-{what}-{}", uuid::Uuid::new_v4().simple());
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        lapin::types::AMQPValue::LongString("quorum".into()),
    );
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await
        .unwrap();
    queue
}

fn raw_bodies(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| (format!("raw-{i}"), vec![b'x'; 1500]))
        .collect()
}

async fn raw(
    channel: &Channel,
    connection: &Arc<Connection>,
    n: usize,
    interval: Option<Duration>,
) -> Figures {
    let queue = quorum_queue(channel, "raw").await;
    let sent = Arc::new(Mutex::new(HashMap::new()));
    let start = Instant::now();
    let consumer = {
        let c = connection.clone();
        let q = queue.clone();
        let s = sent.clone();
        tokio::spawn(async move { consume_n(&c, &q, n, s).await })
    };
    let queued = publish_all(channel, &queue, raw_bodies(n), interval, sent).await;
    let (end, latencies, came) = consumer.await.unwrap();
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    Figures {
        from_queue: between(&queued, &came),
        ..figures(n, end - start, latencies)
    }
}

/// The broker work samgate does per message, without samgate: publish to
/// an inbound queue, consume from it, publish a copy to each of `copies`
/// quorum queues with confirms, and acknowledge the inbound message once
/// its copies are confirmed (pipelined: the next batch is forwarded while
/// the broker confirms the one before). Latency is to the first queue's
/// consumer.
async fn raw_fanout(
    channel: &Channel,
    connection: &Arc<Connection>,
    copies: usize,
    n: usize,
    interval: Option<Duration>,
) -> Figures {
    let inbound = quorum_queue(channel, "fan-in").await;
    let mut outbound = Vec::new();
    for _ in 0..copies {
        outbound.push(quorum_queue(channel, "fan-out").await);
    }
    let sent = Arc::new(Mutex::new(HashMap::new()));
    let start = Instant::now();
    let consumer = {
        let c = connection.clone();
        let q = outbound[0].clone();
        let s = sent.clone();
        tokio::spawn(async move { consume_n(&c, &q, n, s).await })
    };
    let forwarder = tokio::spawn(forward(
        connection.clone(),
        inbound.clone(),
        outbound.clone(),
        n,
    ));
    let queued = publish_all(channel, &inbound, raw_bodies(n), interval, sent).await;
    let (end, latencies, came) = consumer.await.unwrap();
    forwarder.await.unwrap();
    for q in std::iter::once(inbound).chain(outbound) {
        channel
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await
            .unwrap();
    }
    Figures {
        from_queue: between(&queued, &came),
        ..figures(n, end - start, latencies)
    }
}

/// `raw_fanout`'s forwarder: `n` messages from `from`, each to every queue
/// in `to`.
async fn forward(connection: Arc<Connection>, from: String, to: Vec<String>, n: usize) {
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    channel
        .basic_qos(64, BasicQosOptions::default())
        .await
        .unwrap();
    let mut consumer = channel
        .basic_consume(
            from.as_str().into(),
            "bench-forward".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    // Batches are acknowledged in order, each once its copies are confirmed.
    let (batches, mut to_ack) = tokio::sync::mpsc::unbounded_channel::<(
        lapin::message::Delivery,
        Vec<Result<lapin::PublisherConfirm, lapin::Error>>,
    )>();
    let acker = tokio::spawn(async move {
        while let Some((last, confirms)) = to_ack.recv().await {
            for c in confirms {
                c.unwrap().await.unwrap();
            }
            last.ack(BasicAckOptions { multiple: true }).await.unwrap();
        }
    });
    let mut forwarded = 0;
    while forwarded < n {
        let mut batch = vec![consumer.next().await.unwrap().unwrap()];
        while batch.len() < 64 {
            match consumer.next().now_or_never() {
                Some(Some(Ok(d))) => batch.push(d),
                _ => break,
            }
        }
        let publishes = batch.iter().flat_map(|d| {
            to.iter().map(|q| {
                channel.basic_publish(
                    "".into(),
                    q.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &d.data,
                    d.properties.clone(),
                )
            })
        });
        let confirms = futures_util::future::join_all(publishes).await;
        forwarded += batch.len();
        batches.send((batch.pop().unwrap(), confirms)).unwrap();
    }
    drop(batches);
    acker.await.unwrap();
}

async fn through_samgate(
    channel: &Channel,
    connection: &Arc<Connection>,
    store_url: &str,
    fanout: Fanout,
    n: usize,
    interval: Option<Duration>,
    confirms: &ConfirmTimes,
) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open(store_url, dir.path()).await.unwrap();
    let directory = match fanout {
        Fanout::Three => Directory::builtin(),
        Fanout::One => Directory::from_files([(
            "bench.toml".to_string(),
            ONE_RECIPIENT_DIRECTORY.to_string(),
        )])
        .unwrap(),
    };
    let gateway = Arc::new(Gateway::new(
        store.clone(),
        Router::new(Engine::default(), directory.clone()),
    ));
    let config = AmqpConfig {
        url: amqp_url(),
        prefix: format!("samgate-bench-{}", uuid::Uuid::new_v4().simple()),
    };
    let names = Names::new(&config.prefix);
    declare(channel, &names, &directory).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let journal = Arc::new(
        samgate::journal::Journal::new(gateway.clone(), &samgate::journal::Hl7Config::default())
            .unwrap(),
    );
    let tasks = start(gateway, journal, &config, stopped);

    // One admission notice per case; the outbound message id is known in
    // advance (UUIDv5), which ties each output to its input.
    let template = {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/examples/canonical/admissionNotice.json"
        ))
        .unwrap();
        samgate_proto::canonical::from_str(&text).unwrap()
    };
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut bodies = Vec::with_capacity(n);
    for i in 0..n {
        let mut e = template.clone();
        e.case_ref = format!("B-{run}-{i}");
        e.source_message_id = format!("B-{run}-{i}");
        if let (Fanout::One, Some(patient)) = (fanout, e.patient.as_mut()) {
            patient.listed_unit_hsa_id.clear();
        }
        let bytes = DialectName::Lifecare
            .adapter()
            .encode(
                &samgate_proto::validate::check_event(e.clone()).unwrap(),
                None,
            )
            .unwrap()
            .bytes;
        e.source_system = SourceSystem::Lifecare as i32;
        bodies.push((
            delivery_message_id(&e, RECIPIENT, DeliveryKind::Event),
            bytes,
        ));
    }
    let sent = Arc::new(Mutex::new(HashMap::new()));
    let start_at = Instant::now();
    let consumer = {
        let c = connection.clone();
        let q = names.outbound(RECIPIENT);
        let s = sent.clone();
        tokio::spawn(async move { consume_n(&c, &q, n, s).await })
    };
    if interval.is_some() {
        confirms.arm();
    }
    let queued = publish_all(
        channel,
        &names.inbound(DialectName::Lifecare),
        bodies,
        interval,
        sent,
    )
    .await;
    let (end, latencies, _) = consumer.await.unwrap();
    stop.send(true).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    // Taken once the relay has stopped: it settles its last confirms first.
    let confirmed = confirms.take();
    store.close().await;
    let mut queues = vec![names.quarantine(), names.journal_inbound(), names.alerts()];
    queues.extend(DialectName::ALL.iter().map(|d| names.inbound(*d)));
    queues.extend(directory.units().iter().map(|u| names.outbound(&u.hsa_id)));
    for q in queues {
        let _ = channel
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    Figures {
        from_queue: between(&queued, &confirmed),
        ..figures(n, end - start_at, latencies)
    }
}

/// A run's store: the embedded default, or a new schema on the local
/// PostgreSQL, removed when the run is over (`remove`), so that runs do not
/// pile up in the test database.
struct BenchStore {
    url: String,
    schema: Option<String>,
}

impl BenchStore {
    async fn new(backend: &str) -> Self {
        if backend != "postgres" {
            return BenchStore {
                url: String::new(),
                schema: None,
            };
        }
        let base = postgres_url();
        let schema = format!("samgate_bench_{}", uuid::Uuid::new_v4().simple());
        postgres_statement(&format!("CREATE SCHEMA {schema}")).await;
        let joiner = if base.contains('?') { '&' } else { '?' };
        BenchStore {
            url: format!("{base}{joiner}options=-c%20search_path%3D{schema}"),
            schema: Some(schema),
        }
    }

    async fn remove(self) {
        if let Some(schema) = self.schema {
            postgres_statement(&format!("DROP SCHEMA {schema} CASCADE")).await;
        }
    }
}

/// Runs one statement on the local PostgreSQL's test database.
async fn postgres_statement(sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&postgres_url())
        .await
        .expect("PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(5_000);
    let rounds: usize = args
        .iter()
        .find_map(|a| a.strip_prefix("rounds=")?.parse().ok())
        .unwrap_or(1)
        .max(1);
    let parts: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| ["raw", "forward", "fanout", "sqlite", "postgres"].contains(a))
        .collect();
    let runs = |part: &str| parts.is_empty() || parts.contains(&part);
    let unpaced = !args.iter().any(|a| a == "paced");
    let timings = args.iter().any(|a| a == "timings").then(SpanTimes::default);
    // The relay's confirm event always (for `from_queue`); samgate's debug
    // spans with `timings`.
    let confirms = ConfirmTimes::default();
    let confirmed = samgate::transport::relay::CONFIRMED_EVENT;
    let filter = match timings {
        Some(_) => format!("samgate=debug,{confirmed}=trace"),
        None => format!("{confirmed}=trace"),
    };
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(filter))
        .with(timings.clone())
        .with(confirms.clone())
        .init();
    let mut summary = Rounds::default();
    let mut report = |what: &str, f: Figures, samgate: bool| {
        print(what, &f);
        if let (true, Some(t)) = (samgate, &timings) {
            t.print_and_reset();
        }
        summary.add(what, f);
    };
    let connection = samgate::transport::connect(&amqp_url())
        .await
        .expect("RabbitMQ");
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let connection = Arc::new(connection);
    let paced = Some(Duration::from_millis(1));
    let paced_n = n.min(3_000);
    println!("{n} messages as fast as they go; {paced_n} at 1,000 msg/s for latency");
    // Each store with one recipient per message (like for like with the
    // raw path), then with the example's three.
    let fanouts: Vec<(Fanout, &str)> = [(Fanout::One, "one"), (Fanout::Three, "three")]
        .into_iter()
        .filter(|(_, name)| {
            !args.iter().any(|a| a == "one" || a == "three") || args.iter().any(|a| a == name)
        })
        .collect();
    for round in 1..=rounds {
        if rounds > 1 {
            println!("\nround {round} of {rounds}");
        }
        println!();
        if runs("raw") {
            if unpaced {
                let f = raw(&channel, &connection, n, None).await;
                report(rounds::RAW, f, false);
            }
            let f = raw(&channel, &connection, paced_n, paced).await;
            report("raw RabbitMQ at 1,000 msg/s", f, false);
        }
        for (part, copies, what) in [
            ("forward", 1, rounds::FORWARD),
            ("fanout", 3, rounds::FANOUT),
        ] {
            if !runs(part) {
                continue;
            }
            if unpaced {
                let f = raw_fanout(&channel, &connection, copies, n, None).await;
                report(what, f, false);
            }
            let f = raw_fanout(&channel, &connection, copies, paced_n, paced).await;
            report(&format!("raw RabbitMQ {part} at 1,000 msg/s"), f, false);
        }
        for (backend, label) in [("sqlite", "SQLite"), ("postgres", "PostgreSQL")] {
            if !runs(backend) {
                continue;
            }
            for &(fanout, name) in &fanouts {
                let what = format!(
                    "samgate, {label}, {name} recipient{}",
                    if name == "one" { "" } else { "s" }
                );
                if unpaced {
                    let store = BenchStore::new(backend).await;
                    let url = &store.url;
                    let f = through_samgate(&channel, &connection, url, fanout, n, None, &confirms)
                        .await;
                    report(&what, f, true);
                    store.remove().await;
                }
                let store = BenchStore::new(backend).await;
                let url = &store.url;
                let f = through_samgate(
                    &channel,
                    &connection,
                    url,
                    fanout,
                    paced_n,
                    paced,
                    &confirms,
                )
                .await;
                report(&format!("{what} at 1,000 msg/s"), f, true);
                store.remove().await;
            }
        }
    }
    if rounds > 1 {
        summary.print_summary();
    }
}
