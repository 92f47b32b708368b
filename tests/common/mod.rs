//! Helpers the integration tests share: the test data and an XML tree
//! comparison like the reviewers' checker (namespace URI + local name,
//! attributes, trimmed text, child order; prefixes and whitespace between
//! elements do not matter).

#![allow(dead_code)]

pub mod amqp;
pub mod browser;
pub mod grpc;
pub mod history;
pub mod pki;
pub mod process;
pub mod webdriver;

use std::path::PathBuf;

use samgate_adapter_core::xml::read::{Element, parse};
use samgate_proto::{CaseEvent, canonical};

pub const DIALECTS: [&str; 3] = ["lifecare", "cosmic-link", "samsa"];
pub const TYPES: [&str; 13] = samgate_proto::validate::PAYLOAD_NAMES;

pub fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

pub fn example_bytes(dialect: &str, ty: &str) -> Vec<u8> {
    let ext = if dialect == "canonical" {
        "json"
    } else {
        "xml"
    };
    std::fs::read(data(&format!("examples/{dialect}/{ty}.{ext}"))).unwrap()
}

pub fn canonical_example(ty: &str) -> CaseEvent {
    canonical::from_str(&String::from_utf8(example_bytes("canonical", ty)).unwrap()).unwrap()
}

/// A comparable form of an XML element.
#[derive(Debug, PartialEq, Eq)]
pub struct Tree {
    pub ns: String,
    pub local: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Tree>,
}

fn tree_of(e: &Element) -> Tree {
    let mut attrs: Vec<(String, String)> = e
        .attributes
        .iter()
        .map(|a| (a.local.to_string(), a.value.trim().to_string()))
        .collect();
    attrs.sort();
    Tree {
        ns: e.ns.to_string(),
        local: e.local.to_string(),
        attrs,
        text: e.text.trim().to_string(),
        children: e.children.iter().map(tree_of).collect(),
    }
}

/// Parses XML bytes (ISO-8859-1 when declared so) into a comparable tree.
pub fn xml_tree(bytes: &[u8]) -> Tree {
    let text = match samgate_adapter_core::encoding::declared_encoding(bytes).0 {
        samgate_adapter_core::encoding::Declared::Latin1 => {
            samgate_adapter_core::encoding::latin1_text(bytes)
        }
        _ => String::from_utf8(bytes.to_vec()).unwrap(),
    };
    tree_of(&parse(&text).unwrap())
}

/// The local PostgreSQL server the tests use.
pub fn postgres_url() -> String {
    std::env::var("SAMGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh schema on the test server, and the URL that uses it: each test
/// gets its own tables. An unreachable server fails the test, loudly.
pub async fn postgres_schema_url() -> String {
    use sqlx::Connection;
    let base = postgres_url();
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {base} is needed by this test and cannot be reached: {e} (scripts/test starts it)")
    });
    // Schemas of earlier runs go first (test binaries run one at a time).
    static CLEANED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CLEANED
        .get_or_init(|| async {
            let mut conn = sqlx::PgConnection::connect(&postgres_url()).await.unwrap();
            let old: Vec<String> = sqlx::query_scalar(
                "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'samgate\\_test\\_%'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for schema in old {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&mut conn)
                    .await;
            }
        })
        .await;
    let schema = format!("samgate_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// Deletes everything a test declared under `names`.
pub async fn clean_amqp(
    channel: &lapin::Channel,
    names: &samgate::transport::topology::Names,
    directory: &samgate::routing::Directory,
) {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    use samgate::dialects::DialectName;
    let mut queues = vec![names.quarantine()];
    queues.extend(DialectName::ALL.iter().map(|d| names.inbound(*d)));
    queues.push(names.journal_inbound());
    queues.push(names.alerts());
    queues.extend(directory.units().iter().map(|u| names.outbound(&u.hsa_id)));
    for q in queues {
        let _ = channel
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    for e in [names.outbound_exchange(), names.dead_letter_exchange()] {
        let _ = channel
            .exchange_delete(e.as_str().into(), ExchangeDeleteOptions::default())
            .await;
    }
}

/// A port on 127.0.0.1 that nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The local RabbitMQ the tests use.
pub fn amqp_url() -> String {
    std::env::var("SAMGATE_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Event `k` of case `i` of a test stream, in Lifecare: an admission
/// notice, then thread messages; ids and case refs start with `tag`.
pub fn stream_message(tag: &str, i: usize, k: usize) -> Vec<u8> {
    let mut e = if k == 0 {
        canonical_example("admissionNotice")
    } else {
        let mut m = canonical_example("threadMessage");
        if let Some(samgate_proto::Payload::ThreadMessage(t)) = &mut m.payload {
            t.body = format!("Meddelande {k}");
        }
        m
    };
    e.case_ref = format!("{tag}-{i}");
    e.source_message_id = format!("{tag}-{i}-{k}");
    samgate::dialects::DialectName::Lifecare
        .adapter()
        .encode(&checked(&e), None)
        .unwrap()
        .bytes
}

/// Publishes `cases` × `events` stream messages to `queue`, event by event
/// across cases, with publisher confirms.
pub async fn publish_stream(
    channel: &lapin::Channel,
    queue: &str,
    tag: &str,
    cases: usize,
    events: usize,
) {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for k in 0..events {
        for i in 0..cases {
            channel
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions::default(),
                    &stream_message(tag, i, k),
                    lapin::BasicProperties::default().with_delivery_mode(2),
                )
                .await
                .unwrap();
        }
        channel.wait_for_confirms().await.unwrap();
    }
}

/// A topology of its own for one test (prefix `samgate-<tag>-<uuid>`),
/// declared with the built-in directory, with `cases` × `events` stream
/// messages waiting in the Lifecare queue before any gateway runs.
pub async fn topology_with_stream(
    channel: &lapin::Channel,
    tag: &str,
    cases: usize,
    events: usize,
) -> (
    samgate::transport::topology::Names,
    samgate::routing::Directory,
) {
    let prefix = format!("samgate-{tag}-{}", uuid::Uuid::new_v4().simple());
    let names = samgate::transport::topology::Names::new(&prefix);
    let directory = samgate::routing::Directory::builtin();
    samgate::transport::topology::declare(channel, &names, &directory)
        .await
        .unwrap();
    publish_stream(
        channel,
        &names.inbound(samgate::dialects::DialectName::Lifecare),
        &tag.to_uppercase(),
        cases,
        events,
    )
    .await;
    (names, directory)
}

/// The case id and sequence samgate puts in an outbound message's headers.
pub fn case_and_sequence(properties: &lapin::BasicProperties) -> (String, i64) {
    use lapin::types::AMQPValue;
    let h = properties.headers().clone().expect("samgate headers");
    let case = match h.inner().get("x-samgate-case-id") {
        Some(AMQPValue::LongString(s)) => s.to_string(),
        other => panic!("x-samgate-case-id: {other:?}"),
    };
    let sequence = match h.inner().get("x-samgate-sequence") {
        Some(AMQPValue::LongLongInt(n)) => *n,
        other => panic!("x-samgate-sequence: {other:?}"),
    };
    (case, sequence)
}

/// Waits until `expected` distinct message ids (`id_of`) have arrived in
/// `received`, failing the test after `limit`.
pub async fn wait_for_unique<T>(
    received: &std::sync::Mutex<Vec<T>>,
    id_of: impl Fn(&T) -> &str,
    expected: usize,
    limit: std::time::Duration,
) {
    let started = std::time::Instant::now();
    loop {
        let unique = {
            let r = received.lock().unwrap();
            r.iter()
                .map(&id_of)
                .collect::<std::collections::HashSet<&str>>()
                .len()
        };
        if unique >= expected {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "only {unique} of {expected} deliveries arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Polls `check` until it gives `Some`, and returns that; fails the test,
/// naming `what` it waited for, after `limit`.
pub async fn eventually<T, F>(
    what: &str,
    limit: std::time::Duration,
    mut check: impl FnMut() -> F,
) -> T
where
    F: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(started.elapsed() < limit, "{what}: not after {limit:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// An event checked, as every way into the gateway checks it before the
/// store sees it.
pub fn checked(event: &CaseEvent) -> samgate_proto::validate::Checked<CaseEvent> {
    samgate_proto::validate::check_event(event.clone()).expect("a valid event")
}

/// Events checked (see `checked`).
pub fn checked_all(events: &[CaseEvent]) -> Vec<samgate_proto::validate::Checked<CaseEvent>> {
    events.iter().map(checked).collect()
}

/// Makes a SIP plan name `count` invented units as intervention owners
/// (the amplification a hostile sender tried, issue 21).
pub fn name_invented_units(plan: &mut CaseEvent, count: usize) {
    if let Some(samgate_proto::Payload::SipPlan(p)) = plan.payload.as_mut() {
        let template = p.interventions[0].clone();
        p.interventions = (0..count)
            .map(|i| {
                let mut intervention = template.clone();
                intervention.responsible_hsa_id = format!("SE2321000164-X{i:05}");
                intervention
            })
            .collect();
    }
}

/// An inpatient ADT^A01 of the journal feed (HL7 v2.5) for the test
/// personnummer 191212121212, admitted to the Örebro ward of the examples
/// under `visit`.
pub fn adt_a01(control_id: &str, visit: &str) -> Vec<u8> {
    let mut pv1 = vec![""; 45];
    pv1[1] = "1";
    pv1[2] = "I";
    pv1[3] = "SE2321000164-7381^^^SE2321000164-1004";
    pv1[19] = visit;
    pv1[44] = "202410262215";
    format!(
        "MSH|^~\\&|COSMIC|SE2321000164|SAMGATE|REGION|202410262216||ADT^A01^ADT_A01|{control_id}|P|2.5\r\
         EVN|A01|202410262216\r\
         PID|1||191212121212^^^SKV&1.2.752.129.2.1.3.1&ISO^PN||Tolvansson^Tolvan^^^^^L\r\
         PV1|{}\r",
        pv1[1..].join("|")
    )
    .into_bytes()
}

/// The journal feed over `gateway`, with the built-in `[hl7]` settings
/// (what `transport::start` takes beside the gateway). Call it inside the
/// runtime: the journal starts its committer task.
pub fn journal_of(
    gateway: &std::sync::Arc<samgate::gateway::Gateway>,
) -> std::sync::Arc<samgate::journal::Journal> {
    std::sync::Arc::new(
        samgate::journal::Journal::new(gateway.clone(), &samgate::journal::Hl7Config::default())
            .unwrap(),
    )
}
