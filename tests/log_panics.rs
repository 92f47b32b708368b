//! A panic is logged through tracing by the hook telemetry installs: in
//! JSON mode one JSON line at ERROR with the panic's message and location,
//! not the default hook's plain text. (Its own test binary: the hook is
//! global to the process.)

use std::io::{Read, Seek};
use std::sync::Arc;

use samgate::config::{LogConfig, LogFormat};

#[test]
fn a_panic_is_one_json_line_with_its_message_and_location() {
    let mut file = tempfile::tempfile().unwrap();
    let config = LogConfig {
        format: LogFormat::Json,
        level: "info".into(),
    };
    samgate::telemetry::init_with(&config, Arc::new(file.try_clone().unwrap())).unwrap();
    samgate::telemetry::log_panics();
    let line = line!() + 3;
    let panicked = std::thread::Builder::new()
        .name("doomed".into())
        .spawn(|| panic!("the relay's window is inconsistent"))
        .unwrap()
        .join();
    // The default hook again, so that this test's own failures show.
    drop(std::panic::take_hook());
    assert!(panicked.is_err());

    let mut logs = String::new();
    file.rewind().unwrap();
    file.read_to_string(&mut logs).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 1, "{logs}");
    let event = &lines[0];
    assert_eq!(event["level"], "ERROR", "{event}");
    assert_eq!(event["target"], samgate::telemetry::PANIC_TARGET, "{event}");
    assert_eq!(
        event["fields"]["message"], "panic: the relay's window is inconsistent",
        "{event}"
    );
    assert_eq!(event["fields"]["thread"], "doomed", "{event}");
    let location = event["fields"]["location"].as_str().unwrap();
    assert!(
        location.starts_with(&format!("tests/log_panics.rs:{line}:")),
        "{location}"
    );
}
