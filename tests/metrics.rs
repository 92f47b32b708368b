//! Metrics and probes through the real listener: `samgate serve` on a
//! temporary data directory with `SAMGATE_METRICS_LISTEN=127.0.0.1:0`,
//! its address read from its log. `/healthz` and `/readyz` answer 200;
//! `/metrics` parses with `prometheus-parse` (not samgate's own encoder)
//! and with a real Prometheus server (Debian's, scraping it and
//! evaluating deploy/'s alert rules), and its counters move with the demo's messages submitted over gRPC
//! `SubmitRaw`; no personnummer, name or message id ever shows in it; and
//! `/readyz` answers 503 while the configured broker cannot be reached;
//! over RabbitMQ, the inbound message and the relay's confirmed deliveries
//! are counted.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::process::{Stderr, stop};
use common::*;
use samgate_proto::v1::case_service_client::CaseServiceClient;
use samgate_proto::v1::{Dialect, SubmitRawRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;

/// The demo's story: dialect and example, in order.
const STORY: &[(Dialect, &str, &str)] = &[
    (Dialect::Lifecare, "lifecare", "admissionNotice"),
    (Dialect::CosmicLink, "cosmic-link", "inNotice"),
    (Dialect::CosmicLink, "cosmic-link", "careContactAssigned"),
    (Dialect::Lifecare, "lifecare", "dischargeReady"),
    (Dialect::CosmicLink, "cosmic-link", "sipInvitation"),
    (Dialect::CosmicLink, "cosmic-link", "sipPlan"),
    (Dialect::Lifecare, "lifecare", "dischargeNotice"),
];

struct Serve {
    child: Child,
    stderr: Stderr,
    grpc: String,
    metrics: String,
}

/// The `address` field of the JSON log line that says `what`.
fn logged_address(stderr: &Stderr, what: &str) -> String {
    let tail = stderr.tail();
    let line = tail.lines().find(|l| l.contains(what)).unwrap();
    let line: serde_json::Value = serde_json::from_str(line).unwrap();
    line["fields"]["address"].as_str().unwrap().to_owned()
}

async fn serve(data_dir: &Path) -> Serve {
    serve_with(data_dir, &[]).await
}

async fn serve_with(data_dir: &Path, env: &[(&str, &str)]) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_samgate"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .env("SAMGATE_METRICS_LISTEN", "127.0.0.1:0")
        .env("SAMGATE_LOG_FORMAT", "json")
        .env_remove("SAMGATE_AMQP_URL")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Stderr::follow(&mut child);
    stderr
        .wait_for("samgate serving metrics and probes", 1, &mut child)
        .await;
    stderr.wait_for("samgate serving gRPC", 1, &mut child).await;
    let metrics = logged_address(&stderr, "samgate serving metrics and probes");
    let grpc = logged_address(&stderr, "samgate serving gRPC");
    Serve {
        child,
        stderr,
        grpc,
        metrics,
    }
}

/// An HTTP/1.1 GET of `path`: its status and body.
async fn get(address: &str, path: &str) -> (u16, String) {
    let response = eventually(
        "the metrics listener answers",
        std::time::Duration::from_secs(30),
        || async move {
            let mut tcp = tokio::net::TcpStream::connect(address).await.ok()?;
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
            tcp.write_all(request.as_bytes()).await.ok()?;
            let mut response = Vec::new();
            tcp.read_to_end(&mut response).await.ok()?;
            Some(String::from_utf8(response).unwrap())
        },
    )
    .await;
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    // axum answers these in one piece, with a Content-Length.
    assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
    (status, body.to_owned())
}

/// `/metrics` parsed: each sample's name with its labels sorted, and value.
async fn scrape(address: &str) -> (String, HashMap<String, f64>) {
    let (status, text) = get(address, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let mut samples = HashMap::new();
    for s in scrape.samples {
        let mut labels: Vec<_> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            prometheus_parse::Value::Summary(_) => continue,
        };
        samples.insert(format!("{}{{{}}}", s.metric, labels.join(",")), value);
    }
    assert!(!samples.is_empty(), "nothing parsed from:\n{text}");
    (text, samples)
}

fn value(samples: &HashMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

async fn submit_story(grpc: &str) {
    let channel = Channel::from_shared(format!("http://{grpc}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = CaseServiceClient::new(channel);
    for (dialect, dir, ty) in STORY {
        client
            .submit_raw(SubmitRawRequest {
                dialect: *dialect as i32,
                payload: example_bytes(dir, ty),
            })
            .await
            .unwrap_or_else(|e| panic!("{dir}/{ty}: {e}"));
    }
    // The same message again: a duplicate, received but not stored anew.
    client
        .submit_raw(SubmitRawRequest {
            dialect: Dialect::Lifecare as i32,
            payload: example_bytes("lifecare", "admissionNotice"),
        })
        .await
        .unwrap();
    // A message the decoder refuses, with Esther's personnummer in it.
    let mut broken = example_bytes("lifecare", "dischargeReady");
    broken.truncate(broken.len() / 2);
    client
        .submit_raw(SubmitRawRequest {
            dialect: Dialect::Lifecare as i32,
            payload: broken,
        })
        .await
        .unwrap_err();
}

#[tokio::test]
async fn probes_answer_and_counters_move_with_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let mut gate = serve(dir.path()).await;

    let (status, body) = get(&gate.metrics, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&gate.metrics, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&gate.metrics, "/nothing").await.0, 404);

    let (_, before) = scrape(&gate.metrics).await;
    assert_eq!(value(&before, "samgate_build_info{version=0.1.0}"), 1.0);
    let lifecare = "samgate_messages_received_total{dialect=lifecare,way=grpc}";
    let cosmic = "samgate_messages_received_total{dialect=cosmic-link,way=grpc}";
    assert_eq!(value(&before, lifecare), 0.0);

    submit_story(&gate.grpc).await;

    let (text, after) = scrape(&gate.metrics).await;
    assert_eq!(value(&after, lifecare), 5.0, "{text}");
    assert_eq!(value(&after, cosmic), 4.0, "{text}");
    assert_eq!(
        value(
            &after,
            "samgate_messages_refused_total{dialect=lifecare,reason=decode,way=grpc}"
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(&after, "samgate_events_stored_total{}"),
        7.0,
        "{text}"
    );
    // One commit per stored or duplicate message; the refused one never
    // reached the store.
    assert_eq!(
        value(&after, "samgate_store_commit_seconds_count{}"),
        8.0,
        "{text}"
    );
    assert!(text.contains("# TYPE samgate_store_commit_seconds histogram"));
    assert!(text.contains("# TYPE samgate_messages_received counter"));
    // Without a broker every delivery waits for DeliveryService: the
    // outbox by target system and its oldest age are read from the store.
    assert!(
        value(&after, "samgate_outbox_pending{system=cosmic-link}") > 0.0,
        "{text}"
    );
    assert!(value(&after, "samgate_outbox_pending{system=lifecare}") > 0.0);
    assert_eq!(value(&after, "samgate_outbox_pending{system=samsa}"), 0.0);
    assert!(value(&after, "samgate_outbox_oldest_pending_age_seconds{}") >= 0.0);
    assert_eq!(value(&after, "samgate_quarantine_deliveries{}"), 0.0);
    assert_eq!(value(&after, "samgate_timers_pending{}"), 0.0);
    assert_eq!(
        value(
            &after,
            "samgate_translation_seconds_count{dialect=lifecare,direction=decode}"
        ),
        5.0,
        "each Lifecare message received was decoded once: {text}"
    );

    gate.child.try_wait().unwrap();
    let log = stop(gate.child, gate.stderr).await;
    assert!(log.contains("samgate serving metrics and probes"));
}

#[tokio::test]
async fn metrics_carry_no_personal_data_or_message_ids() {
    // The scan means something: the messages sent carried each of them.
    let sent: String = STORY
        .iter()
        .map(|(_, dir, ty)| String::from_utf8_lossy(&example_bytes(dir, ty)).into_owned())
        .collect();
    for secret in ["194102069046", "Esther", "MSG-"] {
        assert!(sent.contains(secret), "the story lacks {secret}");
    }
    let dir = tempfile::tempdir().unwrap();
    let gate = serve(dir.path()).await;
    submit_story(&gate.grpc).await;
    let (text, samples) = scrape(&gate.metrics).await;
    assert!(value(&samples, "samgate_events_stored_total{}") > 0.0);
    // What the story's messages carry: Esther's personnummer and name,
    // and the senders' message ids.
    for secret in ["194102069046", "19410206-9046", "Esther", "Åström", "MSG-"] {
        assert!(!text.contains(secret), "{secret} in /metrics:\n{text}");
    }
    stop(gate.child, gate.stderr).await;
}

#[tokio::test]
async fn not_ready_while_the_configured_broker_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: serve starts and keeps trying.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("amqp://guest:guest@{}/%2f", closed.local_addr().unwrap());
    drop(closed);
    let gate = serve_with(dir.path(), &[("SAMGATE_AMQP_URL", &url)]).await;
    assert_eq!(get(&gate.metrics, "/healthz").await.0, 200);
    let (status, body) = get(&gate.metrics, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("AMQP broker not connected"), "{body}");
    let (_, samples) = scrape(&gate.metrics).await;
    assert_eq!(value(&samples, "samgate_amqp_connected{}"), 0.0);
    stop(gate.child, gate.stderr).await;
}

#[tokio::test]
async fn amqp_messages_and_deliveries_are_counted() {
    use samgate::dialects::DialectName;
    use samgate::transport::topology::Names;
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("metrics-{}", uuid::Uuid::new_v4().simple());
    let _cleanup = common::amqp::DeleteOnPanic::new(
        &Names::new(&prefix),
        &samgate::routing::Directory::builtin(),
    );
    let url = amqp_url();
    let mut gate = serve_with(
        dir.path(),
        &[("SAMGATE_AMQP_URL", &url), ("SAMGATE_AMQP_PREFIX", &prefix)],
    )
    .await;
    gate.stderr
        .wait_for("relay connected", 1, &mut gate.child)
        .await;
    let (status, body) = get(&gate.metrics, "/readyz").await;
    assert_eq!(status, 200, "{body}");

    let names = Names::new(&prefix);
    let connection = samgate::transport::connect(&url).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let inbound = names.inbound(DialectName::Lifecare);
    publish_stream(&channel, inbound.as_str(), "METRICS", 1, 1).await;

    let received = "samgate_messages_received_total{dialect=lifecare,way=amqp}";
    let address = gate.metrics.clone();
    let samples = eventually(
        "the AMQP message and its deliveries counted",
        std::time::Duration::from_secs(30),
        || {
            let address = address.clone();
            async move {
                let (_, samples) = scrape(&address).await;
                let confirmed: f64 = samples
                    .iter()
                    .filter(|(k, _)| {
                        k.starts_with("samgate_deliveries_total{")
                            && k.contains("outcome=confirmed")
                    })
                    .map(|(_, v)| v)
                    .sum();
                (value(&samples, received) == 1.0 && confirmed > 0.0).then_some(samples)
            }
        },
    )
    .await;
    assert_eq!(value(&samples, "samgate_amqp_connected{}"), 1.0);
    assert_eq!(value(&samples, "samgate_events_stored_total{}"), 1.0);

    // The gateway first: running, it would declare its inbound queues
    // again as soon as they were deleted.
    stop(gate.child, gate.stderr).await;
    clean_amqp(&channel, &names, &samgate::routing::Directory::builtin()).await;
    let _ = connection.close(200, "done".into()).await;
}

/// Debian's Prometheus server, scraping `target` every second and
/// evaluating the alert rules of deploy/; its listen address.
struct Prometheus {
    child: Child,
    address: String,
    /// Its configuration and time-series database.
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus(target: &str) -> Prometheus {
    let found = Command::new("prometheus").arg("--version").output();
    assert!(
        found.is_ok(),
        "prometheus is needed by this test: sudo apt-get install -y prometheus (scripts/test installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/samgate-alerts.yml");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: samgate\n    static_configs:\n      - targets: ['{target}']\n",
            rules.display()
        ),
    )
    .unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={address}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Prometheus {
        child,
        address,
        _dir: dir,
    }
}

impl Prometheus {
    /// `GET /api/v1/<path>`'s `data`, once Prometheus answers with success.
    async fn api(&self, path: &str) -> Option<serde_json::Value> {
        let url = format!("http://{}/api/v1/{path}", self.address);
        // reqwest is built on rustls without a default provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let answer = reqwest::get(&url).await.ok()?;
        let body: serde_json::Value = serde_json::from_slice(&answer.bytes().await.ok()?).ok()?;
        (body["status"] == "success").then(|| body["data"].clone())
    }

    /// The value of the one series `query` selects, once there is one.
    async fn value(&self, query: &str) -> Option<f64> {
        let data = self.api(&format!("query?query={query}")).await?;
        data["result"].as_array()?.first()?["value"][1]
            .as_str()?
            .parse()
            .ok()
    }
}

/// A real Prometheus scrapes `/metrics` (the OpenMetrics text, parsed by
/// Prometheus's own parser), sees the counters move after traffic, loads
/// the alert rules of deploy/ and evaluates them without error, and holds
/// no personnummer or name in any series it stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_metrics_and_evaluates_the_alert_rules() {
    const WAIT: std::time::Duration = std::time::Duration::from_secs(60);
    let dir = tempfile::tempdir().unwrap();
    let gate = serve(dir.path()).await;
    let prometheus = prometheus(&gate.metrics);
    let health = eventually("Prometheus scraping samgate", WAIT, async || {
        let data = prometheus.api("targets").await?;
        let target = data["activeTargets"].as_array()?.first()?.clone();
        (target["health"] != "unknown").then_some(target)
    })
    .await;
    assert_eq!(health["health"], "up", "the scrape failed: {health}");
    assert_eq!(health["lastError"], "", "{health}");
    assert_eq!(
        prometheus.value("samgate_build_info").await,
        Some(1.0),
        "build info"
    );

    submit_story(&gate.grpc).await;
    let stored = eventually(
        "the stored events counted by Prometheus",
        WAIT,
        async || {
            prometheus
                .value("samgate_events_stored_total")
                .await
                .filter(|v| *v >= 7.0)
        },
    )
    .await;
    assert_eq!(stored, 7.0);
    let received = prometheus
        .value("sum(samgate_messages_received_total{way=\"grpc\"})")
        .await;
    assert_eq!(received, Some(9.0), "five Lifecare and four Cosmic Link");

    // Every rule of deploy/ loaded and evaluated without error.
    let rules = eventually("the alert rules evaluated", WAIT, async || {
        let data = prometheus.api("rules").await?;
        let rules: Vec<serde_json::Value> = data["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        rules.iter().all(|r| r["health"] == "ok").then_some(rules)
    })
    .await;
    assert!(rules.len() >= 9, "{rules:?}");

    // What Prometheus keeps: no person in any series' labels.
    let series = prometheus
        .api("series?match[]=%7B__name__%3D~%22samgate_.%2A%22%7D")
        .await
        .unwrap()
        .to_string();
    assert!(series.contains("samgate_events_stored_total"), "{series}");
    for secret in ["194102069046", "19410206-9046", "Esther", "Åström", "MSG-"] {
        assert!(!series.contains(secret), "{secret} stored by Prometheus");
    }
    drop(prometheus);
    stop(gate.child, gate.stderr).await;
}
