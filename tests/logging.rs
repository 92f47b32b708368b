//! Personal identity numbers and names never reach a log line: every
//! example goes through the gateway (accepted, duplicated, refused by the
//! decoder, refused by the rules) with logging at TRACE in both formats,
//! and the captured output is searched for the patient's identity.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use samgate::config::{LogConfig, LogFormat};
use samgate::dialects::DialectName;
use samgate::engine::Engine;
use samgate::gateway::Gateway;
use samgate::routing::{Directory, Router};

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
    let gateway = Gateway::new(store, Router::new(Engine::default(), Directory::builtin()));
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

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("event stored"),
        "the test must see real log lines"
    );
    assert!(logs.contains("event refused"));
    assert!(logs.contains("refused by the decoder"));
    for secret in [
        "194102069046",
        "194102069047",
        "19410206-9046",
        "410206",
        "Esther",
        "Åström",
        "str\\u00f6m",
        "Britt-Marie",
        "Karin Lind",
    ] {
        assert!(!logs.contains(secret), "{secret} was logged");
    }
}
