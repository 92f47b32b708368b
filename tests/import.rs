//! `samgate import` as a process on a temporary data directory: a
//! directory of dialect files, running it again (all duplicates), JSON
//! Lines with a refused line and its report, `--no-deliver`, standard input.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

/// The examples in the story's order: by their message ids, as the
/// systems sent them.
fn story() -> Vec<&'static str> {
    let mut types = TYPES.to_vec();
    types.sort_by_key(|ty| canonical_example(ty).source_message_id);
    types
}

fn import(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_samgate"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("import")
        .args(args)
        .env_remove("SAMGATE_CONFIG")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The story's Lifecare files in a directory, named so that file-name order
/// is the story's order.
fn story_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, ty) in story().iter().enumerate() {
        std::fs::write(
            dir.path().join(format!("{:02}-{ty}.xml", i + 1)),
            example_bytes("lifecare", ty),
        )
        .unwrap();
    }
    dir
}

/// A valid personnummer (12 digits) from a 9-digit date and serial.
fn personnummer(digits: &str) -> String {
    let sum: u32 = digits
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let v = u32::from(b - b'0') * (2 - (i as u32 % 2));
            v / 10 + v % 10
        })
        .sum();
    format!("19{digits}{}", (10 - sum % 10) % 10)
}

/// The admission notice as case `n` of its own patient, on one line.
fn admission(n: u32) -> String {
    let mut v: serde_json::Value =
        serde_json::from_slice(&example_bytes("canonical", "admissionNotice")).unwrap();
    v["sourceMessageId"] = format!("IMP-{n:05}").into();
    v["caseRef"] = format!("IMP-{n:05}").into();
    v["patient"]["id"] = personnummer(&format!("4001{:02}{:03}", 1 + n / 1000, n % 1000)).into();
    serde_json::to_string(&v).unwrap()
}

async fn deliveries_of_every_case(data_dir: &Path) -> (usize, usize) {
    let store = samgate::store::open("", data_dir).await.unwrap();
    let (cases, _) = store
        .list_cases(&Default::default(), 0, None)
        .await
        .unwrap();
    let mut deliveries = 0;
    for case in &cases {
        deliveries += store.case_deliveries(&case.id).await.unwrap().len();
    }
    (cases.len(), deliveries)
}

#[test]
fn a_directory_imports_in_name_order_and_again_as_duplicates() {
    let data = tempfile::tempdir().unwrap();
    let dir = story_dir();
    let dir = dir.path().to_str().unwrap();
    let out = import(data.path(), &["--from", "lifecare", dir]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("read 13, stored 13, duplicates 0, refused 0"),
        "{}",
        stdout(&out)
    );
    let again = import(data.path(), &["--from", "lifecare", dir]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert!(
        stdout(&again).starts_with("read 13, stored 0, duplicates 13, refused 0"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn a_refused_line_is_reported_by_its_line_and_the_others_are_stored() {
    let data = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    // Line 3 names a personnummer with a wrong check digit: the report
    // names the field, never the value.
    let bad_id = "194001010001";
    let mut bad: serde_json::Value = serde_json::from_str(&admission(2)).unwrap();
    bad["patient"]["id"] = bad_id.into();
    let lines = [admission(1), admission(2), bad.to_string(), admission(4)];
    let file = inputs.path().join("history.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let report = inputs.path().join("refused.tsv");
    let out = import(
        data.path(),
        &[
            "--from",
            "json",
            "--report",
            report.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("read 4, stored 3, duplicates 0, refused 1"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("refused refused-json: 1"));
    let report = std::fs::read_to_string(report).unwrap();
    assert_eq!(
        report,
        format!("{}\t3\t-\trefused-json: patient.id\n", file.display())
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains(bad_id));
}

#[tokio::test]
async fn no_deliver_stores_the_events_and_no_deliveries() {
    let inputs = tempfile::tempdir().unwrap();
    let file = inputs.path().join("history.jsonl");
    std::fs::write(&file, (1..=3).map(admission).collect::<Vec<_>>().join("\n")).unwrap();
    let file = file.to_str().unwrap();

    let quiet = tempfile::tempdir().unwrap();
    let out = import(quiet.path(), &["--from", "json", "--no-deliver", file]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(deliveries_of_every_case(quiet.path()).await, (3, 0));

    // The same history delivered: each case has its deliveries.
    let delivered = tempfile::tempdir().unwrap();
    let out = import(delivered.path(), &["--from", "json", file]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let (cases, deliveries) = deliveries_of_every_case(delivered.path()).await;
    assert_eq!(cases, 3);
    assert!(deliveries >= 3, "{deliveries} deliveries");
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_samgate"))
        .arg("--data-dir")
        .arg(data.path())
        .args(["import", "--from", "json", "-"])
        .env_remove("SAMGATE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // One pretty-printed event: the whole input is the message.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&example_bytes("canonical", "admissionNotice"))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("read 1, stored 1, duplicates 0, refused 0"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_unknown_form_is_a_usage_error() {
    let data = tempfile::tempdir().unwrap();
    let out = import(data.path(), &["--from", "xml", "x"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn batches_follow_each_other_and_a_line_over_the_limit_is_refused_alone() {
    let data = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    // More than two transactions' worth, then a line longer than a message
    // may be (never held whole), then one more event.
    let mut text: String = (0..1_100).map(|n| admission(n) + "\n").collect();
    text.push_str(&" ".repeat(samgate_adapter_core::MAX_MESSAGE_BYTES + 10));
    text.push('\n');
    text.push_str(&admission(1_100));
    let file = inputs.path().join("history.jsonl");
    std::fs::write(&file, text).unwrap();
    let report = inputs.path().join("refused.tsv");
    let args = [
        "--from",
        "json",
        "--report",
        report.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    let out = import(data.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("read 1102, stored 1101, duplicates 0, refused 1"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&report).unwrap(),
        format!("{}\t1101\t-\ttoo-large\n", file.display())
    );
    let again = import(data.path(), &args);
    assert!(
        stdout(&again).starts_with("read 1102, stored 0, duplicates 1101, refused 1"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn journal_history_imports_through_the_journal_feed_and_again_as_duplicates() {
    let data = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    // Two messages in one file (as a journal export writes them), one
    // batch file, and one that is no HL7 at all.
    let mut two = adt_a01("IMP-1", "V-IMP-1");
    two.extend(adt_a01("IMP-2", "V-IMP-2"));
    std::fs::write(inputs.path().join("01-two.hl7"), two).unwrap();
    let mut batch = b"FHS|^~\\&\rBHS|^~\\&\r".to_vec();
    batch.extend(adt_a01("IMP-3", "V-IMP-3"));
    batch.extend(b"BTS|1\rFTS|1\r");
    std::fs::write(inputs.path().join("02-batch.hl7"), batch).unwrap();
    std::fs::write(inputs.path().join("03-junk.hl7"), b"not HL7").unwrap();
    let report = data.path().join("refused.tsv");
    let dir = inputs.path().to_str().unwrap();
    let args = ["--from", "hl7v2", "--report", report.to_str().unwrap(), dir];
    let out = import(data.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("read 4, stored 3, duplicates 0, refused 1"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("refused hl7-100-segment: 1"),
        "{}",
        stdout(&out)
    );
    let reported = std::fs::read_to_string(&report).unwrap();
    assert!(
        reported.contains("03-junk.hl7\t-\t-\thl7-100-segment"),
        "{reported}"
    );
    let again = import(data.path(), &args);
    assert!(
        stdout(&again).starts_with("read 4, stored 0, duplicates 3, refused 1"),
        "{}",
        stdout(&again)
    );
}
