//! The journal feed over MLLP: ADT messages/s with each ACK sent after
//! its commit, from 20 concurrent senders that each send one message at a
//! time and wait for its ACK (as journal systems do), on the embedded
//! SQLite store and on PostgreSQL. The gateway runs in this process: the
//! journal service (`Journal`, its group committer) behind the real MLLP
//! listener (`api::mllp::serve`) on a local port; the senders are tasks of
//! the same runtime, so they share the machine's two cores with it, as
//! senders on the same host would. Each sender admits and discharges
//! persons of its own (A01 then A03; every message a new key, every person
//! a new stay). Needs the local PostgreSQL (the test services) for its
//! part. Figures: benches/README.md.
//!
//! cargo bench --bench mllp -- [PER_SENDER] [sqlite|postgres]... [logs] [groups] [rounds=N]
//!
//! PER_SENDER messages per sender (default 1,000: 20,000 in all), after
//! 50 per sender to warm up. Naming a store runs only that one. `logs`
//! installs samgate's own subscriber at its default level (`info`, the
//! human format, written to a sink), as `samgate serve` has it: each
//! message is then a log line. `groups` also measures the store alone:
//! `commit_journal` called with groups of 1, 20 and 256 messages in turn,
//! one after the other, which gives a group's fixed cost (the transaction,
//! the fsync) and each message's own. `rounds=N` runs everything N times.
//!
//! Beside messages/s it prints the ACK's round trip seen by the senders
//! (p50, p99), and what tells where the time goes: how many messages were
//! inside the journal service (waiting for a commit or in one) when each
//! arrived there, on average (at most 19 with 20 senders); the mean size of
//! the ACKs' bursts (a commit answers its whole group at once, so a gap of
//! over half a millisecond between ACKs starts the next burst: the mean
//! burst is about the mean group committed); and the CPU time of the
//! process (gateway and senders together) a message, with the cores it
//! kept busy and the share of a core its busiest thread took (a thread
//! near 1.00 is the limit: sqlx runs each SQLite connection on a thread
//! of its own, named `sqlx-sqlite-worker-N`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use samgate::api::mllp::{Answerer, MllpSettings, serve};
use samgate::engine::Engine;
use samgate::gateway::Gateway;
use samgate::journal::Journal;
use samgate::routing::{Directory, Router};
use samgate::store::Store;
use samgate::store::journal::{JournalEffect, JournalMessage, digest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SENDERS: usize = 20;
/// Messages per sender before the measured ones.
const WARM_UP: usize = 50;
const FACILITY: &str = "SE2321000164-1004";
const WARD: &str = "SE2321000164-7381^^^SE2321000164-1004";

fn postgres_url() -> String {
    std::env::var("SAMGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A valid personnummer for person `p`: a birth date of its own for the
/// first 23,520, then other serial numbers.
fn personnummer(p: usize) -> String {
    let year = 1930 + p % 70;
    let month = 1 + (p / 70) % 12;
    let day = 1 + (p / 840) % 28;
    let serial = 100 + (p / 23_520) % 900;
    let nine = format!("{:02}{month:02}{day:02}{serial:03}", year % 100);
    let check = samgate_proto::ids::luhn_check_digit(nine.as_bytes());
    format!("{}{nine}{check}", year / 100)
}

/// Message `k` of sender `s` of the run `run` (its MSH-3): even `k` admits
/// the sender's person `k / 2`, odd `k` discharges them. Its MSH-10 and
/// bytes.
fn message(run: &str, s: usize, k: usize, per_sender: usize) -> (String, Vec<u8>) {
    let i = k / 2;
    let person = (s * per_sender + k) / 2;
    let admit = k.is_multiple_of(2);
    let trigger = if admit { "A01" } else { "A03" };
    let control_id = format!("{run}-{s:02}-{k:05}");
    let day = 1 + i % 28;
    let admitted = format!("202611{day:02}0800");
    let discharged = format!("202611{day:02}1630");
    let at = if admit { &admitted } else { &discharged };
    let pnr = personnummer(person);
    let discharge = if admit {
        String::new()
    } else {
        format!("|{discharged}")
    };
    let text = format!(
        "MSH|^~\\&|{run}-{s:02}|{FACILITY}|SAMGATE|REGION|{at}||ADT^{trigger}^ADT_{trigger}|{control_id}|P|2.5\r\
         EVN|{trigger}|{at}\r\
         PID|1||{pnr}^^^SKV&1.2.752.129.2.1.3.1&ISO^PN||Lastprov^Patient^^^^^L\r\
         PV1|1|I|{WARD}{}{run}-{s:02}-{i:05}{}{admitted}{discharge}\r",
        "|".repeat(16),
        "|".repeat(25),
    );
    (control_id, text.into_bytes())
}

/// The journal service, counting how many messages are inside it (waiting
/// for a commit or in one) as each arrives.
struct Counting {
    journal: Arc<Journal>,
    inside: AtomicUsize,
    arrivals: AtomicU64,
    /// The sum over arrivals of the messages already inside.
    inside_sum: AtomicU64,
}

#[async_trait::async_trait]
impl Answerer for Counting {
    async fn answer(&self, message: Vec<u8>) -> Option<Vec<u8>> {
        let before = self.inside.fetch_add(1, Ordering::SeqCst);
        self.arrivals.fetch_add(1, Ordering::Relaxed);
        self.inside_sum.fetch_add(before as u64, Ordering::Relaxed);
        let ack = self
            .journal
            .receive(samgate::metrics::Way::Mllp, &message)
            .await
            .ack;
        self.inside.fetch_sub(1, Ordering::SeqCst);
        ack
    }
}

impl Counting {
    fn take_mean(&self) -> f64 {
        let n = self.arrivals.swap(0, Ordering::SeqCst);
        let sum = self.inside_sum.swap(0, Ordering::SeqCst);
        sum as f64 / n.max(1) as f64
    }
}

/// A store for one run: a new SQLite file or a new PostgreSQL schema.
struct BenchStore {
    url: String,
    schema: Option<String>,
    dir: tempfile::TempDir,
}

impl BenchStore {
    async fn new(backend: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        if backend != "postgres" {
            return BenchStore {
                url: String::new(),
                schema: None,
                dir,
            };
        }
        let schema = format!("samgate_bench_{}", uuid::Uuid::new_v4().simple());
        postgres_statement(&format!("CREATE SCHEMA {schema}")).await;
        let base = postgres_url();
        let joiner = if base.contains('?') { '&' } else { '?' };
        BenchStore {
            url: format!("{base}{joiner}options=-c%20search_path%3D{schema}"),
            schema: Some(schema),
            dir,
        }
    }

    async fn open(&self) -> Arc<dyn Store> {
        samgate::store::open(&self.url, self.dir.path())
            .await
            .expect("the store")
    }

    async fn remove(self) {
        if let Some(schema) = self.schema {
            postgres_statement(&format!("DROP SCHEMA {schema} CASCADE")).await;
        }
    }
}

async fn postgres_statement(sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&postgres_url())
        .await
        .expect("PostgreSQL at SAMGATE_TEST_POSTGRES_URL (scripts/test starts it)");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
}

/// CPU time each of this process's threads has run so far, by thread id,
/// with its name (Linux: schedstat and comm).
fn cpu_by_thread() -> std::collections::HashMap<String, (String, Duration)> {
    let mut threads = std::collections::HashMap::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let path = task.path();
            let ns = std::fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            threads.insert(
                task.file_name().to_string_lossy().into_owned(),
                (name.trim().to_owned(), Duration::from_nanos(ns)),
            );
        }
    }
    threads
}

/// The CPU time run between two readings of [`cpu_by_thread`]: in all,
/// and by the busiest thread (its name and time).
fn cpu_between(
    before: &std::collections::HashMap<String, (String, Duration)>,
    after: &std::collections::HashMap<String, (String, Duration)>,
) -> (Duration, String, Duration) {
    let mut total = Duration::ZERO;
    let mut busiest = (String::new(), Duration::ZERO);
    for (id, (name, t)) in after {
        let ran = t.saturating_sub(before.get(id).map_or(Duration::ZERO, |b| b.1));
        total += ran;
        if ran > busiest.1 {
            busiest = (name.clone(), ran);
        }
    }
    (total, busiest.0, busiest.1)
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// One sender: connects, waits for the start, sends each message and waits
/// for its ACK (checked: AA for that MSH-10); the round trip of each.
async fn sender(
    address: std::net::SocketAddr,
    messages: Vec<(String, Vec<u8>)>,
    start: Arc<tokio::sync::Barrier>,
) -> (Vec<Duration>, Vec<Instant>) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut times = Vec::with_capacity(messages.len());
    let mut arrivals = Vec::with_capacity(messages.len());
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::with_capacity(4096);
    start.wait().await;
    for (control_id, framed) in messages {
        let sent = Instant::now();
        stream.write_all(&framed).await.unwrap();
        got.clear();
        while !got.ends_with(&[0x1C, 0x0D]) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the listener closed the connection");
            got.extend_from_slice(&buf[..n]);
        }
        let arrived = Instant::now();
        times.push(arrived - sent);
        arrivals.push(arrived);
        let ack = std::str::from_utf8(&got).unwrap();
        assert!(
            ack.contains(&format!("\rMSA|AA|{control_id}\r")),
            "not AA for {control_id}: {ack:?}"
        );
    }
    (times, arrivals)
}

/// What a run of the senders measured.
struct Sent {
    per_second: f64,
    /// The ACK round trips, sorted.
    times: Vec<Duration>,
    /// The mean number of messages inside the journal service as each
    /// arrived there.
    inside: f64,
    /// The mean number of ACKs in a burst (a commit's).
    burst: f64,
    /// The process's CPU time (gateway and senders) per message, and the
    /// cores it kept busy on average.
    cpu_per_message: Duration,
    cores: f64,
    /// The thread that ran most, and the share of a core it took.
    busiest: (String, f64),
}

/// `per_sender` messages from each of the 20 senders, timed: (messages/s,
/// the round trips, the mean number inside the journal service).
async fn send_all(
    address: std::net::SocketAddr,
    counting: &Counting,
    run: &str,
    per_sender: usize,
) -> Sent {
    let start = Arc::new(tokio::sync::Barrier::new(SENDERS + 1));
    let tasks: Vec<_> = (0..SENDERS)
        .map(|s| {
            let messages = (0..per_sender)
                .map(|k| {
                    let (id, bytes) = message(run, s, k, per_sender);
                    (id, samgate_hl7v2::mllp::encode(&bytes))
                })
                .collect();
            tokio::spawn(sender(address, messages, start.clone()))
        })
        .collect();
    start.wait().await;
    counting.take_mean();
    let cpu_before = cpu_by_thread();
    let started = Instant::now();
    let mut times = Vec::with_capacity(SENDERS * per_sender);
    let mut arrivals = Vec::with_capacity(SENDERS * per_sender);
    for t in tasks {
        let (t, a) = t.await.unwrap();
        times.extend(t);
        arrivals.extend(a);
    }
    let elapsed = started.elapsed();
    let (cpu, busiest, busiest_cpu) = cpu_between(&cpu_before, &cpu_by_thread());
    times.sort();
    arrivals.sort();
    // ACKs come in bursts, one per commit: a gap of over half a
    // millisecond (a commit takes two at least) starts a new one.
    let bursts = 1 + arrivals
        .windows(2)
        .filter(|w| w[1] - w[0] > Duration::from_micros(500))
        .count();
    Sent {
        per_second: (SENDERS * per_sender) as f64 / elapsed.as_secs_f64(),
        times,
        inside: counting.take_mean(),
        burst: arrivals.len() as f64 / bursts as f64,
        cpu_per_message: cpu / (SENDERS * per_sender) as u32,
        cores: cpu.as_secs_f64() / elapsed.as_secs_f64(),
        busiest: (busiest, busiest_cpu.as_secs_f64() / elapsed.as_secs_f64()),
    }
}

/// The MLLP listener and the journal service over a new store of
/// `backend`, 20 senders.
async fn through_mllp(
    backend: &str,
    label: &str,
    per_sender: usize,
    hl7: &samgate::journal::Hl7Config,
) {
    let bench_store = BenchStore::new(backend).await;
    let store = bench_store.open().await;
    let gateway = Arc::new(Gateway::new(
        store.clone(),
        Router::new(Engine::default(), Directory::builtin()),
    ));
    let counting = Arc::new(Counting {
        journal: Arc::new(Journal::new(gateway, hl7).unwrap()),
        inside: AtomicUsize::new(0),
        arrivals: AtomicU64::new(0),
        inside_sum: AtomicU64::new(0),
    });
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = tcp.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        tcp,
        MllpSettings::default(),
        counting.clone(),
        async move {
            let _ = stopped.await;
        },
    ));

    send_all(address, &counting, "WARM", WARM_UP).await;
    let sent = send_all(address, &counting, "BENCH", per_sender).await;
    println!(
        "{label:<11} {:>6} ADT messages, 20 senders: {:>6.0} msg/s   ACK round trip p50 {:.2} ms, p99 {:.2} ms",
        SENDERS * per_sender,
        sent.per_second,
        quantile(&sent.times, 0.5).as_secs_f64() * 1e3,
        quantile(&sent.times, 0.99).as_secs_f64() * 1e3,
    );
    println!(
        "            inside the journal service on arrival {:.1}, ACKs a burst (a commit) {:.1}, CPU {:.0} µs a message ({:.2} cores; busiest thread {} {:.2})",
        sent.inside,
        sent.burst,
        sent.cpu_per_message.as_secs_f64() * 1e6,
        sent.cores,
        sent.busiest.0,
        sent.busiest.1,
    );

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    store.close().await;
    drop(store);
    bench_store.remove().await;
}

/// The store alone: `commit_journal` with groups of `sizes` messages, one
/// group after the other.
async fn groups(backend: &str, label: &str) {
    let options = samgate_hl7v2::Options::default();
    for size in [1usize, 20, 256] {
        let bench_store = BenchStore::new(backend).await;
        let store = bench_store.open().await;
        let total = if size == 1 { 500 } else { 5_120 };
        let messages: Vec<JournalMessage> = (0..total)
            .map(|k| {
                let (_, bytes) = message("GROUP", k % SENDERS, k / SENDERS, total / SENDERS);
                let reading = samgate_hl7v2::read(&bytes, &options);
                let samgate_hl7v2::Outcome::Stay(update) = reading.outcome else {
                    panic!("a stay update");
                };
                JournalMessage {
                    key: update.key(),
                    digest: digest(&reading.content),
                    effect: JournalEffect::Stay(update),
                }
            })
            .collect();
        let mut commits = Vec::new();
        let started = Instant::now();
        for group in messages.chunks(size) {
            let t = Instant::now();
            let now_ms = chrono::Utc::now().timestamp_millis();
            store
                .commit_journal(group, 3_600_000, now_ms)
                .await
                .unwrap();
            commits.push(t.elapsed());
        }
        let elapsed = started.elapsed();
        commits.sort();
        println!(
            "{label:<11} commit_journal, groups of {size:>3}: {:>5} commits, p50 {:>6.2} ms, mean {:>6.2} ms a commit = {:>7.0} msg/s",
            commits.len(),
            quantile(&commits, 0.5).as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e3 / commits.len() as f64,
            total as f64 / elapsed.as_secs_f64(),
        );
        store.close().await;
        drop(store);
        bench_store.remove().await;
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let per_sender: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000)
        .max(2);
    let rounds: usize = args
        .iter()
        .find_map(|a| a.strip_prefix("rounds=")?.parse().ok())
        .unwrap_or(1)
        .max(1);
    let stores: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| ["sqlite", "postgres"].contains(a))
        .collect();
    let runs = |store: &str| stores.is_empty() || stores.contains(&store);
    let config =
        samgate::config::Config::load(None, std::iter::empty::<(String, String)>()).unwrap();
    if args.iter().any(|a| a == "logs") {
        samgate::telemetry::init_with(&config.log, std::io::sink).unwrap();
        println!("samgate's logging on, at {:?}, to a sink", config.log.level);
    }
    for round in 1..=rounds {
        if rounds > 1 {
            println!("\nround {round} of {rounds}");
        }
        for (backend, label) in [("sqlite", "SQLite"), ("postgres", "PostgreSQL")] {
            if runs(backend) {
                through_mllp(backend, label, per_sender, &config.hl7).await;
            }
        }
        if args.iter().any(|a| a == "groups") {
            for (backend, label) in [("sqlite", "SQLite"), ("postgres", "PostgreSQL")] {
                if runs(backend) {
                    groups(backend, label).await;
                }
            }
        }
    }
}
