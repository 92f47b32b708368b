//! Indicators over a large region's year (issue 25): a generated history
//! of about 60,000 inpatient cases and 500,000 events over 2025
//! (tests/common/history.rs, the generator of tests/indicators_e2e.rs),
//! loaded with `samgate import --from json` (the release binary, as a
//! process: the import's own path) into embedded SQLite and into
//! PostgreSQL, with `--no-deliver` and with deliveries; then the whole
//! year's indicators by municipality (`samgate::indicators::from_store`) on
//! each store, and where that time goes: reading the event pages (the
//! store's own query), decoding the protobuf bodies, folding them into the
//! `Collector`, and making the rows. Needs the local PostgreSQL (the test
//! services) for `postgres`. Figures: benches/README.md.
//!
//! cargo bench --bench indicators -- [CASES] [sqlite|postgres]... [no-deliver|deliver]... [runs=N]
//!
//! CASES: inpatient cases to generate (60,000). Naming stores or import
//! modes runs only those (both by default); the indicators are timed `runs`
//! times (5) on each store, on the `--no-deliver` import when there is one.

#[path = "../tests/common/history.rs"]
mod history;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prost::Message;
use samgate::engine::LiabilityAgreements;
use samgate::indicators::{Collector, Grouping, Month, from_store};
use samgate_proto::CaseEvent;
use samgate_proto::v1::StoredEvent;

/// The store's own page size (`store::MAX_EVENT_PAGE`) and query.
const PAGE: i64 = samgate::store::MAX_EVENT_PAGE as i64;
const PAGE_QUERY: &str =
    "SELECT id, case_id, sequence, body FROM events WHERE id > $1 ORDER BY id LIMIT $2";
/// The same, for only the six payloads whose content the indicators use:
/// what a filter on `payload_type` would save (a measurement, not what
/// `from_store` does: it reads every event, for each case's first
/// process, its units' names and its latest municipality).
const INDICATOR_PAGE_QUERY: &str = "SELECT id, case_id, sequence, body FROM events WHERE id > $1 \
     AND payload_type IN ('admissionNotice', 'dischargeReady', 'sipInvitation', 'sipPlan', 'dischargeNotice', 'deviation') \
     ORDER BY id LIMIT $2";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A store to import into: a data directory and, for PostgreSQL, the URL
/// of a fresh schema.
struct Target {
    backend: Backend,
    dir: tempfile::TempDir,
    url: String,
    schema: Option<String>,
}

fn postgres_base() -> String {
    std::env::var("SAMGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn target(backend: Backend) -> Target {
    let dir = tempfile::tempdir().unwrap();
    match backend {
        Backend::Sqlite => Target {
            backend,
            dir,
            url: String::new(),
            schema: None,
        },
        Backend::Postgres => {
            use sqlx::Connection;
            let base = postgres_base();
            let mut conn = sqlx::PgConnection::connect(&base)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {base}: {e}"));
            let schema = format!("samgate_bench_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut conn)
                .await
                .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            Target {
                backend,
                dir,
                url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                schema: Some(schema),
            }
        }
    }
}

async fn drop_target(t: Target) {
    use sqlx::Connection;
    if let Some(schema) = t.schema {
        let mut conn = sqlx::PgConnection::connect(&postgres_base()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

/// Runs `samgate import --from json` on `file`; the wall time.
fn import(t: &Target, file: &Path, deliver: bool, events: usize) -> Duration {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_samgate"));
    cmd.arg("--data-dir")
        .arg(t.dir.path())
        .args(["import", "--from", "json"])
        .env_remove("SAMGATE_CONFIG")
        .env("SAMGATE_STORE_URL", &t.url)
        .env("RUST_LOG", "warn");
    if !deliver {
        cmd.arg("--no-deliver");
    }
    cmd.arg(file);
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let took = started.elapsed();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && said.starts_with(&format!("read {events}, stored {events}, duplicates 0")),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The rows of the store's events table, a page at a time, undecoded.
async fn raw_pages(t: &Target, query: &'static str) -> Vec<(i64, String, i64, Vec<u8>)> {
    let mut all = Vec::new();
    let mut after = 0;
    match t.backend {
        Backend::Sqlite => {
            let path = t.dir.path().join("samgate.db");
            let url = format!("sqlite://{}?mode=ro", path.display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            loop {
                let page: Vec<(i64, String, i64, Vec<u8>)> = sqlx::query_as(query)
                    .bind(after)
                    .bind(PAGE)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                let Some(last) = page.last() else { break };
                after = last.0;
                all.extend(page);
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&t.url).await.unwrap();
            loop {
                let page: Vec<(i64, String, i64, Vec<u8>)> = sqlx::query_as(query)
                    .bind(after)
                    .bind(PAGE)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                let Some(last) = page.last() else { break };
                after = last.0;
                all.extend(page);
            }
            pool.close().await;
        }
    }
    all
}

/// The whole year's indicators on `t`, `runs` times, and where the time
/// goes.
async fn indicators(t: &Target, runs: usize, year: (Month, Month)) {
    let rules = LiabilityAgreements::default();
    let store = samgate::store::open(&t.url, t.dir.path()).await.unwrap();
    let mut times = Vec::new();
    let mut rows = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        rows = from_store(
            store.as_ref(),
            year.0,
            year.1,
            Grouping::Municipality,
            &rules,
        )
        .await
        .unwrap();
        times.push(started.elapsed());
    }
    let admissions: i64 = rows.iter().map(|r| r.admissions).sum();
    let (best, worst) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
    println!(
        "  indicators {}: from_store, whole year by municipality: median {} (best {}, worst {}, {runs} runs); {} rows, {admissions} admissions",
        t.backend.name(),
        secs(median(times)),
        secs(best),
        secs(worst),
        rows.len(),
    );
    store.close().await;
    drop(store);

    // Where the time goes, step by step.
    let started = Instant::now();
    let raw = raw_pages(t, PAGE_QUERY).await;
    let read = started.elapsed();
    let bytes: usize = raw.iter().map(|r| r.3.len()).sum();
    let started = Instant::now();
    let events: Vec<StoredEvent> = raw
        .into_iter()
        .map(|(_, case_id, sequence, body)| StoredEvent {
            case_id,
            sequence,
            event: Some(CaseEvent::decode(body.as_slice()).unwrap()),
        })
        .collect();
    let decode = started.elapsed();
    let started = Instant::now();
    let mut collector = Collector::new(rules.clone());
    for e in &events {
        collector.add(e);
    }
    let fold = started.elapsed();
    let started = Instant::now();
    let again = collector.rows(year.0, year.1, Grouping::Municipality);
    let make_rows = started.elapsed();
    assert_eq!(again, rows);
    let started = Instant::now();
    let used = raw_pages(t, INDICATOR_PAGE_QUERY).await;
    let read_used = started.elapsed();
    let used_bytes: usize = used.iter().map(|r| r.3.len()).sum();
    println!(
        "    of which: read {} pages ({} events, {:.1} MB of bodies) {}, decode {}, collect {}, rows {}",
        events.len().div_ceil(PAGE as usize),
        events.len(),
        bytes as f64 / 1e6,
        secs(read),
        secs(decode),
        secs(fold),
        secs(make_rows),
    );
    println!(
        "    reading only the six payloads the indicators use: {} events, {:.1} MB of bodies, {}",
        used.len(),
        used_bytes as f64 / 1e6,
        secs(read_used),
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let cases: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(60_000);
    let runs: usize = args
        .iter()
        .find_map(|a| a.strip_prefix("runs=")?.parse().ok())
        .unwrap_or(5);
    let named = |names: &[&str]| -> Vec<String> {
        let chosen: Vec<String> = args
            .iter()
            .filter(|a| names.contains(&a.as_str()))
            .cloned()
            .collect();
        if chosen.is_empty() {
            names.iter().map(|s| s.to_string()).collect()
        } else {
            chosen
        }
    };
    let backends: Vec<Backend> = named(&["sqlite", "postgres"])
        .iter()
        .map(|s| {
            if s == "sqlite" {
                Backend::Sqlite
            } else {
                Backend::Postgres
            }
        })
        .collect();
    let modes: Vec<bool> = named(&["no-deliver", "deliver"])
        .iter()
        .map(|s| s == "deliver")
        .collect();

    let started = Instant::now();
    let start: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
    let events = history::generate(&history::Params {
        seed: 2025,
        cases,
        start,
        days: 365,
        threads: 4,
        first_person: 0,
    });
    let inputs = tempfile::tempdir().unwrap();
    let file: PathBuf = inputs.path().join("history.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for e in &events {
        writeln!(out, "{}", e.to_json()).unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let n = events.len();
    let case_count = events
        .iter()
        .map(|e| e.case_ref.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len();
    drop(events);
    println!(
        "generated {n} events of {case_count} cases ({cases} inpatient) in {}, {:.0} MB of JSON Lines",
        secs(started.elapsed()),
        std::fs::metadata(&file).unwrap().len() as f64 / 1e6
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let year = (
        Month::parse("2025-01").unwrap(),
        Month::parse("2025-12").unwrap(),
    );
    for backend in backends {
        let mut kept: Option<Target> = None;
        for &deliver in &modes {
            let t = rt.block_on(target(backend));
            let took = import(&t, &file, deliver, n);
            println!(
                "  import {} {}: {n} events in {} = {:.0} events/s",
                backend.name(),
                if deliver {
                    "with deliveries"
                } else {
                    "--no-deliver"
                },
                secs(took),
                n as f64 / took.as_secs_f64()
            );
            // The indicators run on the first import (--no-deliver when
            // both ran): the events are the same.
            match kept {
                None => kept = Some(t),
                Some(_) => rt.block_on(drop_target(t)),
            }
        }
        if let Some(t) = kept {
            rt.block_on(indicators(&t, runs, year));
            rt.block_on(drop_target(t));
        }
    }
}
