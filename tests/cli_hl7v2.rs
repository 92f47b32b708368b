//! `samgate validate --dialect hl7v2` and `samgate translate --from hl7v2`
//! as a process: a line per message with the HL7 answer, batches read
//! message by message, the stay update as JSON, and `hl7v2` as a target a
//! usage error. Inputs are the corpus's real messages (tests/data/hl7v2)
//! and messages built by the reader's own test builder.

#[path = "../adapters/hl7v2/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{Msg, PNR};

fn samgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_samgate"))
}

fn real(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hl7v2/real")
        .join(name)
}

/// HAPI's inpatient A03 (visit 2008003369 at SANTER), whose PID-3 holds
/// Italian identifiers only.
const A03: &str = "hapi_test_adt_a03.hl7";
/// Its PID-3, as written.
const A03_PID3: &str = "5520255^^^PK^PK~ZZZZZZ83M64Z148R^^^CF^CF~ZZZZZZ83M64Z148R^^^SSN^SSN^^20070103^99991231~^^^^TEAM";

/// HAPI's A03 with a Swedish personnummer as PID-3 (as the reader's corpus
/// test gives every real message one), written into `dir`.
fn swedish_a03(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(real(A03)).unwrap();
    assert!(text.contains(A03_PID3));
    let path = dir.join("a03-swedish.hl7");
    std::fs::write(&path, text.replace(A03_PID3, &format!("{PNR}^^^^NNSWE"))).unwrap();
    path
}

/// An FHS/BHS … BTS/FTS batch file of `messages`, written into `dir`.
fn batch_file(dir: &Path, name: &str, messages: &[Msg]) -> PathBuf {
    let mut batch = b"FHS|^~\\&|COSMIC\rBHS|^~\\&|COSMIC\r".to_vec();
    for m in messages {
        batch.extend(m.bytes());
    }
    batch.extend(format!("BTS|{}\rFTS|1\r", messages.len()).into_bytes());
    let path = dir.join(name);
    std::fs::write(&path, batch).unwrap();
    path
}

fn run(args: &[&str], files: &[&Path]) -> Output {
    samgate().args(args).args(files).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn validate_accepts_a_real_message_given_a_swedish_personnummer() {
    let dir = tempfile::tempdir().unwrap();
    let file = swedish_a03(dir.path());
    let out = run(&["validate", "--dialect", "hl7v2"], &[&file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("ok {}\n", file.display()));
}

#[test]
fn validate_refuses_a_message_without_a_swedish_identity_with_ae_101_at_pid_3() {
    let file = real(A03);
    let out = run(&["validate", "--dialect", "hl7v2"], &[&file]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let prefix = format!("refused {}: hl7v2: PID-3: ", file.display());
    assert!(stdout.starts_with(&prefix), "{stdout}");
    assert!(stdout.trim_end().ends_with("(AE 101)"), "{stdout}");
    assert_eq!(stdout.lines().count(), 1);
    // The reason names where and why, never the identifiers or the name.
    for personal in ["5520255", "ZZZZZZ83M64Z148R", "ZZZ^ZZZ", "19830824"] {
        assert!(!stdout.contains(personal), "{stdout}");
    }
}

#[test]
fn validate_reads_each_message_of_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let file = batch_file(
        dir.path(),
        "batch.hl7",
        &[
            Msg::a01(),
            Msg::a01().set("MSH", 10, "MSG0002").set("PID", 3, ""),
            Msg::a01().set("MSH", 10, "MSG0003").trigger("A04"),
        ],
    );
    let out = run(&["validate", "--dialect", "hl7v2"], &[&file]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let f = file.display();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0], format!("ok {f} message 1"));
    assert!(
        lines[1].starts_with(&format!("refused {f} message 2: hl7v2: PID-3: "))
            && lines[1].ends_with("(AE 101)"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with(&format!("ok {f} message 3 (ADT^A04: ")),
        "{stdout}"
    );

    // The corpus's batch (one ignored A04) is valid; with the good message
    // alone the batch file is too.
    let good = batch_file(dir.path(), "good.hl7", &[Msg::a01()]);
    let corpus = real("pythonhl7_batch_FHS_BHS_ADT_A04.hl7");
    let out = run(&["validate", "--dialect", "hl7v2"], &[&corpus, &good]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with(&format!("ok {} (ADT^A04: ", corpus.display())));
    assert_eq!(lines[1], format!("ok {}", good.display()));
}

#[test]
fn validate_limits_what_it_reads_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.hl7");
    let mut big = Msg::a01().bytes();
    big.resize(samgate_hl7v2::MAX_MESSAGE_BYTES * 3, b'Z');
    std::fs::write(&file, big).unwrap();
    let out = run(&["validate", "--dialect", "hl7v2"], &[&file]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("refused {}: hl7v2: MSH: ", file.display()))
            && stdout.contains("message limit")
            && stdout.trim_end().ends_with("(AR 100)"),
        "{stdout}"
    );
}

#[test]
fn translate_writes_the_stay_update_of_an_a03_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = swedish_a03(dir.path());
    let out = run(&["translate", "--from", "hl7v2", "--to", "json"], &[&file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one object per message");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let want = serde_json::json!({
        "trigger": "A03",
        "facility": "SANTER",
        "visitNumber": "2008003369",
        "messageControlId": "263206",
        "eventAt": "2008-03-03T14:08:00Z",
        "patientClass": "I",
        "person": {
            "id": PNR,
            "idKind": "PERSONNUMMER",
            "familyName": "ZZZ",
            "givenName": "ZZZ",
        },
        "ward": "6402DH",
        "dischargedAt": "2008-03-03T14:08:00Z",
        "destination": "HOME",
    });
    assert_eq!(json, want);
    // Absent values are left out, not null: no admittedAt, hospital,
    // municipality, protection or death in this message.
    for absent in ["admittedAt", "hospital"] {
        assert!(json.get(absent).is_none());
    }
    for absent in ["municipalityCode", "protectedIdentity", "deceased"] {
        assert!(json["person"].get(absent).is_none());
    }
}

#[test]
fn translate_refuses_with_exit_one_and_reports_an_ignored_event_on_stderr() {
    let out = run(
        &["translate", "--from", "hl7v2", "--to", "json"],
        &[&real(A03)],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: hl7v2: PID-3: ") && stderr.trim_end().ends_with("(AE 101)"),
        "{stderr}"
    );
    assert!(!stderr.contains("5520255"), "{stderr}");

    // An ADT trigger samgate does not act on: answered AA, so no error and
    // no stay update; a note says why.
    let out = run(
        &["translate", "--from", "hl7v2", "--to", "json"],
        &[&real("msfhirconv_ADT-A04-01.hl7")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("note: ADT^A04: ") && stderr.contains("ignored"),
        "{stderr}"
    );
}

#[test]
fn translate_writes_one_object_per_message_of_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let file = batch_file(
        dir.path(),
        "batch.hl7",
        &[
            Msg::a01(),
            Msg::a01().set("MSH", 10, "MSG0002").trigger("A04"),
            Msg::a01()
                .set("MSH", 10, "MSG0003")
                .trigger("A03")
                .set("PV1", 45, "202410281500"),
        ],
    );
    let out = run(&["translate", "--from", "hl7v2", "--to", "json"], &[&file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let objects: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 2);
    assert_eq!(
        (&objects[0]["trigger"], &objects[0]["messageControlId"]),
        (&"A01".into(), &"MSG0001".into())
    );
    assert_eq!(objects[0]["admittedAt"], "2024-10-27T06:00:00Z");
    assert_eq!(objects[1]["trigger"], "A03");
    assert_eq!(objects[1]["dischargedAt"], "2024-10-28T14:00:00Z");
    assert!(text(&out.stderr).starts_with("note: message 2: ADT^A04: "));
}

#[test]
fn hl7v2_as_a_target_or_with_a_case_event_form_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = swedish_a03(dir.path());
    for (from, to) in [
        ("hl7v2", "hl7v2"),
        ("json", "hl7v2"),
        ("lifecare", "hl7v2"),
        ("hl7v2", "samsa"),
        ("hl7v2", "cosmic-link"),
    ] {
        let out = run(&["translate", "--from", from, "--to", to], &[&file]);
        assert_eq!(out.status.code(), Some(2), "{from} → {to}");
        assert!(out.stdout.is_empty());
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with("error: ") && stderr.contains("HL7 v2"),
            "{from} → {to}: {stderr}"
        );
    }
}

#[test]
fn translate_reads_standard_input_given_a_dash() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a01.hl7");
    std::fs::write(&file, Msg::a01().bytes()).unwrap();
    let out = samgate()
        .args(["translate", "--from", "hl7v2", "--to", "json", "-"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["trigger"], "A01");
    assert_eq!(json["person"]["id"], PNR);
}

#[test]
fn every_hostile_input_is_refused_by_validate_without_a_panic() {
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hl7v2/hostile"),
        &mut paths,
    );
    assert_eq!(paths.len(), 37);
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let out = run(&["validate", "--dialect", "hl7v2"], &refs);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    for path in &paths {
        let prefix = format!("refused {}", path.display());
        assert!(
            stdout.lines().any(|l| l.starts_with(&prefix)),
            "{prefix}: {stdout}"
        );
    }
    assert!(
        stdout.lines().all(|l| l.starts_with("refused ")),
        "{stdout}"
    );
}
