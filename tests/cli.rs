//! `samgate` as a process: translate and validate exit codes and streams,
//! `--help` on every subcommand, and serve shutting down on SIGTERM.

mod common;

use std::process::{Command, Stdio};

use common::*;

fn samgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_samgate"))
}

#[test]
fn translate_writes_the_result_and_exits_zero() {
    let out = samgate()
        .args(["translate", "--from", "lifecare", "--to", "json"])
        .arg(data("examples/lifecare/sipPlan.xml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let event =
        samgate_proto::canonical::from_str(std::str::from_utf8(&out.stdout).unwrap()).unwrap();
    let mut want = canonical_example("sipPlan");
    want.source_system = event.source_system;
    assert_eq!(event, want);
}

#[test]
fn translate_reads_standard_input() {
    let mut child = samgate()
        .args(["translate", "--from", "json", "--to", "samsa"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&example_bytes("canonical", "consent"))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        xml_tree(&out.stdout),
        xml_tree(&example_bytes("samsa", "consent"))
    );
}

#[test]
fn a_refused_input_exits_one_with_the_error_on_stderr_and_nothing_on_stdout() {
    let out = samgate()
        .args(["translate", "--from", "samsa", "--to", "json"])
        .arg(data("xml-attacks/defusedxml_xmlbomb.xml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("samsa") && err.contains("DOCTYPE"), "{err}");
}

#[test]
fn a_usage_error_exits_two() {
    let out = samgate()
        .args(["translate", "--from", "hl7", "--to", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = samgate()
        .args(["translate", "--to", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_cross_dialect_extension_drop_is_a_warning_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("with-ext.xml");
    let text = String::from_utf8(example_bytes("samsa", "caseOpened"))
        .unwrap()
        .replace(
            "</Notification>",
            "<extension><x xmlns=\"urn:x\"/></extension></Notification>",
        );
    std::fs::write(&path, text).unwrap();
    let out = samgate()
        .args(["translate", "--from", "samsa", "--to", "lifecare"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("extension-dropped"));
}

#[test]
fn validate_prints_one_line_per_file() {
    let out = samgate()
        .args(["validate", "--dialect", "cosmic-link"])
        .arg(data("examples/cosmic-link/admissionNotice.xml"))
        .arg(data("examples/samsa/admissionNotice.xml"))
        .arg(data("examples/cosmic-link/sipPlan.xml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("ok "));
    assert!(lines[1].starts_with("refused ") && lines[1].contains("namespace"));
    assert!(lines[2].starts_with("ok "));
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["translate", "--help"],
        vec!["validate", "--help"],
        vec!["case", "--help"],
        vec!["case", "show", "--help"],
        vec!["case", "list", "--help"],
        vec!["demo", "--help"],
        vec!["sip", "export", "--help"],
        vec!["delivery", "list", "--help"],
        vec!["delivery", "replay", "--help"],
    ] {
        let out = samgate().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn serve_stops_cleanly_on_sigterm_and_the_case_commands_read_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = samgate()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("SAMGATE_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Submit one event over gRPC once the port answers.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let case_id = rt.block_on(async {
        let url = format!("http://127.0.0.1:{port}");
        let mut client = loop {
            match samgate_proto::v1::case_service_client::CaseServiceClient::connect(url.clone())
                .await
            {
                Ok(c) => break c,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        client
            .submit_event(samgate_proto::v1::SubmitEventRequest {
                event: Some(canonical_example("admissionNotice")),
            })
            .await
            .unwrap()
            .into_inner()
            .case_id
    });
    common::process::terminate(&child);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("\"stopped\""), "{logs}");

    let show = samgate()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["case", "show", &case_id])
        .output()
        .unwrap();
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    let case: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(case["status"], "OPEN");
    assert_eq!(case["deadlines"][0]["kind"], "ADMISSION_NOTICE");
    let list = samgate()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["case", "list", "--status", "OPEN"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().count(), 1);
    let missing = samgate()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["case", "show", "x"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn the_demo_plays_the_cross_county_story_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = samgate()
            .arg("--data-dir")
            .arg(dir.path())
            .args(["demo", "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run();
    let lines: Vec<serde_json::Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The Lifecare admission notice reaches Linköping in Cosmic Link.
    let admission: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["messageType"] == "admissionNotice")
        .map(|l| {
            (
                l["recipient"].as_str().unwrap(),
                l["dialect"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(admission.len(), 3);
    for hsa in [
        "SE2120000449-KHSL",
        "SE2120000449-BIST",
        "SE2321000040-V2K1",
    ] {
        assert!(admission.contains(&(hsa, "cosmic-link")), "{hsa}");
    }
    // The ward in Örebro gets the SIP in Lifecare.
    assert!(lines.iter().any(|l| l["recipient"] == "SE2321000164-7381"
        && l["messageType"] == "sipPlan"
        && l["dialect"] == "lifecare"
        && l["recipientName"] == "Ortopedavdelning 3, Universitetssjukhuset Örebro"));
    for l in &lines {
        for key in [
            "recipient",
            "recipientName",
            "dialect",
            "messageType",
            "caseId",
            "messageId",
        ] {
            assert!(l[key].is_string(), "{key} in {l}");
        }
    }
    assert_eq!(run(), first, "a second run changes nothing");
    let text = samgate()
        .arg("--data-dir")
        .arg(dir.path())
        .arg("demo")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("What each actor received"));
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_directory_and_a_bad_one_is_refused() {
    use samgate_proto::v1::case_service_client::CaseServiceClient;
    use samgate_proto::v1::delivery_service_client::DeliveryServiceClient;
    use samgate_proto::v1::{PullRequest, SubmitEventRequest};

    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().join("directory");
    std::fs::create_dir(&directory).unwrap();
    let county = |system: &str| {
        format!(
            "county = \"05\"\nsystem = \"{system}\"\n[[unit]]\nhsa_id = \"SE2120000449-KHSL\"\nname = \"Linköping HSL\"\nkind = \"MUNICIPAL_HEALTHCARE\"\nmunicipality = \"0580\"\n"
        )
    };
    std::fs::write(directory.join("05.toml"), county("cosmic-link")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = samgate()
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("SAMGATE_DIRECTORY_PATH", &directory)
        .env("SAMGATE_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = common::process::Stderr::follow(&mut child);
    let hup = |pid: u32| {
        assert!(
            Command::new("kill")
                .arg("-HUP")
                .arg(pid.to_string())
                .status()
                .unwrap()
                .success()
        )
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let systems = rt.block_on(async {
        let url = format!("http://127.0.0.1:{port}");
        let mut cases = loop {
            match CaseServiceClient::connect(url.clone()).await {
                Ok(c) => break c,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        let mut deliveries = DeliveryServiceClient::connect(url).await.unwrap();
        let mut systems = Vec::new();
        for (i, system) in ["cosmic-link", "samsa", "broken"].iter().enumerate() {
            if i > 0 {
                let text = if *system == "broken" {
                    "county = \"05\"\nsystem = \"fax\"\n".to_owned()
                } else {
                    county(system)
                };
                std::fs::write(directory.join("05.toml"), text).unwrap();
                hup(child.id());
                // Handled once the log says so, one way or the other.
                let said = if *system == "broken" {
                    "not reloaded, the old one stays"
                } else {
                    "actor directory reloaded"
                };
                stderr.wait_for(said, 1, &mut child).await;
            }
            let mut event = canonical_example("admissionNotice");
            event.case_ref = format!("HUP-{i}");
            event.source_message_id = format!("HUP-{i}");
            cases
                .submit_event(SubmitEventRequest { event: Some(event) })
                .await
                .unwrap();
            let pulled = deliveries
                .pull(PullRequest {
                    recipient_hsa_id: "SE2120000449-KHSL".into(),
                    max: 10,
                })
                .await
                .unwrap()
                .into_inner()
                .deliveries;
            systems.push(pulled.last().unwrap().system.clone());
        }
        systems
    });
    // The reload changed the system; the broken directory was refused and
    // the one before it stayed.
    assert_eq!(systems, ["cosmic-link", "samsa", "samsa"]);
    common::process::terminate(&child);
    child.wait().unwrap();
    let logs = stderr.finish();
    assert_eq!(
        logs.matches("actor directory reloaded").count(),
        1,
        "{logs}"
    );
    assert_eq!(
        logs.matches("not reloaded, the old one stays").count(),
        1,
        "{logs}"
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    // `samgate demo | head -1`, at its most abrupt: the reader closes the
    // pipe before the demo has printed anything (the story is played and
    // stored first), so its first line meets a closed pipe.
    let dir = tempfile::tempdir().unwrap();
    let mut child = samgate()
        .args(["demo", "--format", "json", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}

/// Stores two admissions whose deliveries the directory of the day could
/// not all make: Esther's to her primary-care unit, missing from it, and
/// a person with protected identity's, whose Cosmic Link deliveries the
/// policy quarantines. Returns (Esther's quarantined delivery, one refused
/// by the policy).
fn store_quarantined_deliveries(data_dir: &std::path::Path) -> (String, String) {
    use samgate::engine::Engine;
    use samgate::routing::{Directory, Router};
    // Linköping's municipal units, without Esther's primary-care unit.
    let directory = Directory::from_files([(
        "ostergotland.toml".to_string(),
        r#"
county = "05"
system = "cosmic-link"

[[unit]]
hsa_id = "SE2120000449-KHSL"
name = "Linköpings kommun, hemsjukvård"
kind = "MUNICIPAL_HEALTHCARE"
municipality = "0580"

[[unit]]
hsa_id = "SE2120000449-BIST"
name = "Linköpings kommun, biståndsenheten"
kind = "SOCIAL_SERVICES"
municipality = "0580"
"#
        .to_string(),
    )])
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = samgate::store::open("", data_dir).await.unwrap();
        let router = Router::new(Engine::default(), directory);
        let esther = store
            .submit(&checked(&canonical_example("admissionNotice")), &router)
            .await
            .unwrap();
        let mut protected = canonical_example("admissionNotice");
        protected.source_message_id = "MSG-PROTECTED".into();
        protected.case_ref = "SV-PROTECTED".into();
        protected.patient.as_mut().unwrap().protected_identity = true;
        let protected = store.submit(&checked(&protected), &router).await.unwrap();
        let quarantined = |case_id: String, recipient: &'static str| {
            let store = store.clone();
            async move {
                store
                    .case_deliveries(&case_id)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|d| d.recipient == recipient)
                    .unwrap()
                    .message_id
            }
        };
        let found = (
            quarantined(esther.case_id, "SE2321000040-V2K1").await,
            quarantined(protected.case_id, "SE2120000449-BIST").await,
        );
        store.close().await;
        found
    })
}

#[test]
fn quarantined_deliveries_are_listed_and_replayed_unless_the_policy_forbids() {
    let dir = tempfile::tempdir().unwrap();
    let (missing_unit, protected) = store_quarantined_deliveries(dir.path());
    let list = || {
        let out = samgate()
            .arg("--data-dir")
            .arg(dir.path())
            .args(["delivery", "list"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let before = list();
    // Esther's primary-care unit, and the protected person's three.
    assert_eq!(before.lines().count(), 4, "{before}");
    assert!(before.contains(&missing_unit) && before.contains(&protected));
    assert!(before.contains("unknown-recipient") && before.contains("protected-identity-policy"));
    // Nobody's identity number or name is listed.
    assert!(!before.contains("194102069046") && !before.contains("Esther"));

    // The built-in directory has the unit now: the delivery goes again.
    let out = samgate()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["delivery", "replay", &missing_unit])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("through cosmic-link"));

    // A protected identity's delivery to Cosmic Link never does.
    let out = samgate()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["delivery", "replay", &protected])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("protected-identity-policy"));

    let after = list();
    assert_eq!(after.lines().count(), 3, "{after}");
    assert!(!after.contains(&missing_unit));
}
