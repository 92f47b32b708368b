//! Personal identity numbers and names never reach a log line: every
//! example goes through the gateway (accepted, duplicated, refused by the
//! decoder, refused by the rules) with logging at TRACE in both formats,
//! and a message the broker returns goes through `samgate serve` with
//! `RUST_LOG=trace`, lapin included. Every captured log is searched by
//! [`leaks`]: for the identity as text, and hidden in decimal byte arrays
//! (lapin's `data: [60, 63, …]`), hex and base64, as UTF-8 and Latin-1.
//! A sender's message id holding a personnummer is logged only hashed; a
//! `RUST_LOG` that does not parse stops `serve` at start.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::process::{Stderr, terminate};
use common::*;
use samgate::config::{LogConfig, LogFormat};
use samgate::dialects::DialectName;
use samgate::engine::Engine;
use samgate::gateway::Gateway;
use samgate::routing::{Directory, Router};
use samgate::store::DeliveryStatus;
use samgate::telemetry::log_id;
use samgate::transport::topology::{Names, declare};

/// The patient of the examples, and the other people in them, in every
/// form a log could give them away in.
const SECRETS: [&str; 9] = [
    "194102069046",
    "194102069047",
    "19410206-9046",
    "4102069046",
    "410206",
    "Esther",
    "Åström",
    "Britt-Marie",
    "Karin Lind",
];

/// A sender's own message id that names the patient.
const SENDER_ID: &str = "19410206-9046-ESTHER";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_identity_number_or_name_is_ever_logged() {
    let captured = Captured::default();
    let config = LogConfig {
        format: LogFormat::Json,
        level: "trace".into(),
    };
    samgate::telemetry::init_with(&config, captured.clone()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    let gateway = Arc::new(Gateway::new(
        store,
        Router::new(Engine::default(), Directory::builtin()),
    ));
    for d in DialectName::ALL {
        for ty in TYPES {
            let bytes = example_bytes(d.as_str(), ty);
            let _ = gateway.submit_raw(d, &bytes).await;
            let _ = gateway.submit_raw(d, &bytes).await;
            // Refused by the decoder, with the number in the error text.
            let at = bytes.windows(4).position(|w| w == b"9046").unwrap();
            let mut bad = bytes.clone();
            bad[at..at + 4].copy_from_slice(b"9047");
            let err = gateway.submit_raw(d, &bad).await.unwrap_err();
            assert!(err.to_string().contains("194102069047"), "{d}/{ty}: {err}");
        }
    }
    for ty in TYPES {
        let mut event = canonical_example(ty);
        let _ = gateway.submit_event(event.clone()).await;
        event.patient.as_mut().unwrap().id = "194102069047".into();
        let _ = gateway.submit_event(event).await;
    }
    // A sender's message id that holds a personnummer and a name: stored,
    // then refused (another patient under the same id), then invalid.
    let mut event = canonical_example("admissionNotice");
    event.source_message_id = SENDER_ID.into();
    event.case_ref = "SV-SENDER-ID".into();
    gateway.submit_event(event.clone()).await.unwrap();
    event.patient.as_mut().unwrap().id = "194102069047".into();
    let _ = gateway.submit_event(event.clone()).await;
    event.case_ref.clear();
    assert!(gateway.submit_event(event).await.is_err());

    // The journal feed: Esther's A03 (her number and name in PID), applied,
    // resent, reused with other content, refused for a broken number, and
    // reconciled into her case when its timer fires.
    let hl7 = samgate::journal::Hl7Config {
        discharge_grace_minutes: 0,
        ..Default::default()
    };
    let journal = samgate::journal::Journal::new(gateway.clone(), &hl7).unwrap();
    let a03 = std::fs::read(data("hl7v2/demo/esther-a03.hl7")).unwrap();
    let way = samgate::metrics::Way::Mllp;
    for message in [
        a03.clone(),
        a03.clone(),
        String::from_utf8(a03.clone())
            .unwrap()
            .replace("|01|", "|02|")
            .into_bytes(),
        String::from_utf8(a03.clone())
            .unwrap()
            .replace("194102069046", "194102069047")
            .replace("ADT-EST-0003", "ADT-EST-0004")
            .into_bytes(),
    ] {
        let receipt = journal.receive(way, &message).await;
        assert!(receipt.ack.is_some());
    }
    samgate::journal::timers::fire_due(&gateway).await.unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("hl7v2 message acknowledged AA"));
    assert!(logs.contains("hl7v2 message refused"));
    assert!(
        logs.contains("event stored"),
        "the test must see real log lines"
    );
    assert!(logs.contains("event refused"));
    assert!(logs.contains("refused by the decoder"));
    assert!(logs.contains(&log_id(SENDER_ID).to_string()));
    assert_eq!(leaks(&logs, &SECRETS), Vec::<String>::new());
}

// ---------------------------------------------------------------------
// The scanner

/// Every way `secrets` show in `log`, described ("Esther as text",
/// "194102069046 in a decimal byte array", …); empty when none does.
/// Matching ignores ASCII case. A secret is looked for as UTF-8, as
/// Latin-1 (the Lifecare dialect's encoding) and JSON-escaped, in the text
/// itself and in what decodes from every run of comma-separated decimal
/// bytes (`[49, 57, 52, …]`), every hex run and every base64-looking token
/// of 16 characters or more (standard or URL-safe alphabet, at each of the
/// four alignments, so that a token glued to a prefix decodes too).
fn leaks(log: &str, secrets: &[&str]) -> Vec<String> {
    let text = log.as_bytes().to_ascii_lowercase();
    let decoded: [(&str, Vec<Vec<u8>>); 3] = [
        ("a decimal byte array", decimal_arrays(log)),
        ("hex", hex_runs(log)),
        ("base64", base64_tokens(log)),
    ];
    let mut found = Vec::new();
    for secret in secrets {
        let needles = forms(secret);
        if needles.iter().any(|n| contains(&text, n)) {
            found.push(format!("{secret} as text"));
        }
        for (how, blobs) in &decoded {
            if blobs
                .iter()
                .any(|b| needles.iter().any(|n| contains(&b.to_ascii_lowercase(), n)))
            {
                found.push(format!("{secret} in {how}"));
            }
        }
    }
    found
}

/// A secret's byte forms, ASCII lower-cased (as the haystacks are):
/// UTF-8, Latin-1, JSON-escaped.
fn forms(secret: &str) -> Vec<Vec<u8>> {
    let lower = secret.to_ascii_lowercase();
    let mut forms = vec![lower.as_bytes().to_vec()];
    if lower.chars().all(|c| (c as u32) < 0x100) {
        forms.push(lower.chars().map(|c| c as u8).collect());
    }
    let escaped: String = lower
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect();
    forms.push(escaped.into_bytes());
    forms.dedup();
    forms
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The bytes of every run of at least four comma-separated numbers
/// 0–255 (spaces allowed around the commas).
fn decimal_arrays(log: &str) -> Vec<Vec<u8>> {
    let b = log.as_bytes();
    let mut runs = Vec::new();
    let mut run: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let number = std::str::from_utf8(&b[start..i])
            .ok()
            .and_then(|n| n.parse::<u8>().ok());
        let Some(number) = number else {
            finish_run(&mut runs, &mut run);
            continue;
        };
        run.push(number);
        // A comma (spaces around it) followed by a digit continues the run.
        let mut j = i;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        if j < b.len() && b[j] == b',' {
            j += 1;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                i = j;
                continue;
            }
        }
        finish_run(&mut runs, &mut run);
    }
    finish_run(&mut runs, &mut run);
    runs
}

fn finish_run(runs: &mut Vec<Vec<u8>>, run: &mut Vec<u8>) {
    if run.len() >= 4 {
        runs.push(std::mem::take(run));
    }
    run.clear();
}

/// The bytes of every run of 16 or more hex digits, from its first and
/// from its second digit.
fn hex_runs(log: &str) -> Vec<Vec<u8>> {
    log.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|t| t.len() >= 16)
        .flat_map(|t| [t, &t[1..]])
        .map(|t| {
            t.as_bytes()
                .chunks_exact(2)
                .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
                .collect()
        })
        .collect()
}

/// The value of a base64 character, either alphabet.
fn sextet(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    } as u32)
}

/// What every base64-looking token of 16 or more characters decodes to,
/// from each of its first four characters.
fn base64_tokens(log: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for token in log.as_bytes().split(|c| sextet(*c).is_none()) {
        if token.len() < 16 {
            continue;
        }
        for skip in 0..4 {
            let values: Vec<u32> = token[skip..].iter().filter_map(|c| sextet(*c)).collect();
            let mut bytes = Vec::with_capacity(values.len() * 3 / 4);
            for group in values.chunks(4) {
                let n = group
                    .iter()
                    .enumerate()
                    .fold(0u32, |n, (k, v)| n | v << (18 - 6 * k));
                let [_, a, b, c] = n.to_be_bytes();
                bytes.extend_from_slice(&[a, b, c][..group.len().saturating_sub(1)]);
            }
            out.push(bytes);
        }
    }
    out
}

/// Standard base64 with padding, for the scanner's own test.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut n = [0u8; 3];
        n[..chunk.len()].copy_from_slice(chunk);
        let n = u32::from(n[0]) << 16 | u32::from(n[1]) << 8 | u32::from(n[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn the_scanner_finds_identity_as_text_bytes_hex_and_base64() {
    let body = "<?xml version=\"1.0\"?><Patient id=\"194102069046\"><Fornamn>Esther</Fornamn><Efternamn>Åström</Efternamn></Patient>";
    let latin1: Vec<u8> = body.chars().map(|c| c as u8).collect();
    let decimal = |b: &[u8]| {
        b.iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let url_safe = base64(body.as_bytes()).replace('+', "-").replace('/', "_");
    let hex: String = body.bytes().map(|b| format!("{b:02x}")).collect();
    let cases = [
        ("WARN id=194102069046".to_string(), "194102069046 as text"),
        (r#"{"name":"ESTHER"}"#.to_string(), "Esther as text"),
        (r#"{"n":"\u00c5str\u00f6m"}"#.to_string(), "Åström as text"),
        (
            format!(
                "BasicReturnMessage {{ data: [{}] }}",
                decimal(body.as_bytes())
            ),
            "194102069046 in a decimal byte array",
        ),
        (
            format!("data: [{}]", decimal(&latin1)),
            "Åström in a decimal byte array",
        ),
        (
            format!("body={}", base64(body.as_bytes())),
            "194102069046 in base64",
        ),
        (format!("x\"{url_safe}\""), "Esther in base64"),
        (format!("b64:{}", base64(&latin1)), "Åström in base64"),
        (format!("dump {hex}"), "194102069046 in hex"),
    ];
    for (log, want) in &cases {
        let found = leaks(log, &SECRETS);
        assert!(
            found.iter().any(|f| f == want),
            "{want} not found in {log}: {found:?}"
        );
    }
    // What logs do carry is not mistaken for a secret.
    let clean = format!(
        "{{\"level\":\"INFO\",\"case_id\":\"{}\",\"message_hash\":\"{}\",\"data\":[60, 63, 120, 109],\"path\":\"src/transport/relay/settler.rs\"}}",
        uuid::Uuid::new_v4(),
        log_id(SENDER_ID)
    );
    assert_eq!(leaks(&clean, &SECRETS), Vec::<String>::new());
}

// ---------------------------------------------------------------------
// `samgate serve` as a process

fn samgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_samgate"))
}

/// A message the broker returns (its recipient's queue is gone) goes
/// through `samgate serve` with everything at TRACE, lapin included: it
/// is quarantined as unroutable, never marked delivered, and neither the
/// log nor lapin's lines in it carry the patient, in any encoding.
async fn a_returned_message_leaves_no_trace_of_the_patient(format: &str) {
    let url = amqp_url();
    let connection = samgate::transport::connect(&url).await.unwrap_or_else(|e| {
        panic!("RabbitMQ at {url} is needed by this test and cannot be reached: {e}")
    });
    let channel = connection.create_channel().await.unwrap();
    let prefix = format!("samgate-returns-{}", uuid::Uuid::new_v4().simple());
    let names = Names::new(&prefix);
    let directory = Directory::builtin();
    let _cleanup = common::amqp::DeleteOnPanic::new(&names, &directory);
    declare(&channel, &names, &directory).await.unwrap();

    let data = tempfile::tempdir().unwrap();
    let mut child = common::process::KillOnDrop(
        samgate()
            .arg("--data-dir")
            .arg(data.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("SAMGATE_AMQP_URL", &url)
            .env("SAMGATE_AMQP_PREFIX", &prefix)
            .env("SAMGATE_LOG_FORMAT", format)
            .env("RUST_LOG", "trace")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = Stderr::follow(&mut child);
    // The relay declares the topology when it connects: the queues go
    // after that, so that every delivery finds no queue.
    stderr.wait_for("relay connected", 1, &mut child).await;
    for unit in directory.units() {
        channel
            .queue_delete(
                names.outbound(&unit.hsa_id).as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await
            .unwrap();
    }
    // Esther's admission notice in Lifecare (Latin-1), under a message id
    // that names her, in the body and in the AMQP properties.
    let mut event = canonical_example("admissionNotice");
    event.source_message_id = SENDER_ID.into();
    let body = DialectName::Lifecare
        .adapter()
        .encode(&checked(&event), None)
        .unwrap()
        .bytes;
    channel
        .basic_publish(
            "".into(),
            names.inbound(DialectName::Lifecare).as_str().into(),
            lapin::options::BasicPublishOptions::default(),
            &body,
            lapin::BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(SENDER_ID.into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    stderr.wait_for("delivery returned", 1, &mut child).await;
    terminate(&child);
    let status = child.wait().unwrap();
    let logs = stderr.finish();
    assert!(
        status.success(),
        "{status}: {}",
        &logs[logs.len().saturating_sub(4000)..]
    );
    clean_amqp(&channel, &names, &directory).await;

    // The test saw what it means to: lapin at TRACE, the event stored
    // under its hashed id, the deliveries returned.
    assert!(logs.contains("lapin::"), "lapin logged nothing");
    assert!(logs.contains(&log_id(SENDER_ID).to_string()));
    let returned = logs.matches("delivery returned").count();
    let store = samgate::store::open("", data.path()).await.unwrap();
    let (cases, _) = store
        .list_cases(&Default::default(), 0, None)
        .await
        .unwrap();
    assert_eq!(cases.len(), 1);
    let deliveries = store.case_deliveries(&cases[0].id).await.unwrap();
    let unroutable = deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Quarantined && d.reason.contains("unroutable"))
        .count();
    assert_eq!(unroutable, returned, "{deliveries:?}");
    assert!(
        deliveries
            .iter()
            .all(|d| d.status != DeliveryStatus::Delivered),
        "{deliveries:?}"
    );
    store.close().await;

    assert_eq!(leaks(&logs, &SECRETS), Vec::<String>::new());
    assert!(
        !logs.contains('\u{1b}'),
        "colours in a log that is not a terminal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_message_is_not_logged_in_json() {
    a_returned_message_leaves_no_trace_of_the_patient("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_message_is_not_logged_in_human_form() {
    a_returned_message_leaves_no_trace_of_the_patient("human").await;
}

#[test]
fn a_rust_log_that_does_not_parse_stops_serve_at_start() {
    let data = tempfile::tempdir().unwrap();
    let out = samgate()
        .arg("--data-dir")
        .arg(data.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "samgate=loud")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("RUST_LOG"), "{stderr}");
    assert!(stderr.contains("samgate=loud"), "{stderr}");
    assert!(!stderr.contains("serving"), "{stderr}");
}
