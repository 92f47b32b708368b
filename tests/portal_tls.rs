//! The portal endpoints served for real: HTTPS with mutual TLS on a local
//! port, consumers known by the serialNumber of their client certificates
//! (made here with rcgen), the GetCarePlans response validated against the
//! contract's XSD with xmllint, the printable plan rendered and printed by
//! headless Chromium, and the FHIR resources parsed with a FHIR R4 model.
//!
//! xmllint and Chromium are test tools: a missing one fails the test with
//! the line that installs it (scripts/test checks them first).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::browser::{chromium, media_boxes, require_tool};
use common::pki::{Ca, Credentials, https_client, tls_listener};
use common::*;
use samgate::api::mtls::{SubjectSerial, subject_serial_number};
use samgate::api::portal::{PortalState, serve};
use samgate::config::PortalConfig;
use samgate::portal::audit::AuditLog;
use samgate::portal::request::REGISTRY_NS;
use samgate::portal::rivta::{CORE_NS, RESPONDER_NS, SOAP_NS};
use samgate::store::Store;

const PORTAL: &str = "SE2321000016-1177";
const ESTHER: &str = "194102069046";

struct Portal {
    url: String,
    ca: Ca,
    consumer: Credentials,
    store: Arc<dyn Store>,
    audit: Arc<AuditLog>,
    dir: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Portal {
    fn client(&self) -> reqwest::Client {
        https_client(&self.ca, Some(&self.consumer))
    }

    fn access_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.audit.path())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Stores the spec's canonical example `name`.
    async fn submit_example(&self, name: &str) {
        self.store
            .submit(
                &checked(&canonical_example(name)),
                &samgate::engine::Engine::default(),
            )
            .await
            .unwrap();
    }

    /// Stores the spec's SIP for Esther; returns its case id.
    async fn with_esthers_plan(&self) -> String {
        self.store
            .submit(
                &checked(&canonical_example("sipPlan")),
                &samgate::engine::Engine::default(),
            )
            .await
            .unwrap()
            .case_id
    }
}

/// The portal on 127.0.0.1, one CA issuing the server's and the consumers'
/// certificates, `PORTAL` on the allow-list.
async fn portal() -> Portal {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "test");
    let consumer = ca.client(dir.path(), PORTAL);
    let store = samgate::store::open("", dir.path()).await.unwrap();
    let (listener, port) = tls_listener(&ca, dir.path()).await;
    let url = format!("https://127.0.0.1:{port}");
    let audit = Arc::new(AuditLog::open(&dir.path().join("access.log")).unwrap());
    let state = PortalState {
        store: store.clone(),
        audit: audit.clone(),
        config: portal_config(&url, &[PORTAL]),
    };
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(serve(state, listener, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    Portal {
        url,
        ca,
        consumer,
        store,
        audit,
        dir,
        _stop: stop,
    }
}

fn portal_config(url: &str, allowed: &[&str]) -> PortalConfig {
    PortalConfig {
        source_system_hsa_id: "SE0000000000-SAMGATE".into(),
        fhir_base_url: format!("{url}/fhir"),
        allowed_consumers: allowed.iter().map(|a| a.to_string()).collect(),
        ..PortalConfig::default()
    }
}

fn search_url(p: &Portal, patient: &str) -> String {
    format!(
        "{}/fhir/CarePlan?subject:identifier=http://electronichealth.se/identifier/personnummer%7C{patient}",
        p.url
    )
}

fn get_care_plans(patient: &str) -> String {
    format!(
        "<soapenv:Envelope xmlns:soapenv=\"{SOAP_NS}\" xmlns:r=\"{REGISTRY_NS}\" xmlns:g=\"{RESPONDER_NS}\" xmlns:c=\"{CORE_NS}\">\
         <soapenv:Header><r:LogicalAddress>5565594230</r:LogicalAddress></soapenv:Header><soapenv:Body><g:GetCarePlans>\
         <g:patientId><c:id>{patient}</c:id><c:type>1.2.752.129.2.1.3.1</c:type></g:patientId>\
         </g:GetCarePlans></soapenv:Body></soapenv:Envelope>"
    )
}

/// The body of a GET.
async fn fetch(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The body of GetCarePlans for `patient`, posted to the portal.
async fn soap(p: &Portal, client: &reqwest::Client, patient: &str) -> String {
    client
        .post(format!("{}/rivta/GetCarePlans", p.url))
        .header("content-type", "text/xml; charset=utf-8")
        .body(get_care_plans(patient))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn text(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn every_endpoint_answers_over_mutual_tls() {
    let p = portal().await;
    let case_id = p.with_esthers_plan().await;
    let client = p.client();

    let (status, ctype, body) = text(
        client
            .get(format!("{}/fhir/metadata", p.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, ctype.as_str()),
        (200, "application/fhir+json; charset=utf-8")
    );
    assert!(body.contains("\"CapabilityStatement\""));

    let (status, _, body) = text(client.get(search_url(&p, ESTHER)).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let bundle: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(bundle["type"], "searchset");
    assert_eq!(bundle["total"], 1);
    let id = format!("{case_id}-sip-1");
    assert_eq!(bundle["entry"][0]["resource"]["id"], id.as_str());

    let (status, _, body) = text(
        client
            .get(format!("{}/fhir/CarePlan/{id}", p.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("\"resourceType\":\"CarePlan\""));

    let (status, ctype, body) = text(
        client
            .get(format!("{}/sip/{case_id}", p.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, ctype.as_str()), (200, "text/html; charset=utf-8"));
    assert!(body.contains("Kunna bo kvar hemma"));

    let (status, ctype, body) = text(
        client
            .post(format!("{}/rivta/GetCarePlans", p.url))
            .header("content-type", "text/xml; charset=utf-8")
            .body(get_care_plans(ESTHER))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, ctype.as_str()), (200, "text/xml; charset=utf-8"));
    assert!(body.contains("<core:resultCode>OK</core:resultCode>"));

    // Every read is in the access log, under the HSA-id of the certificate.
    let log = p.access_log();
    let whats: Vec<&str> = log.iter().map(|r| r["what"].as_str().unwrap()).collect();
    assert_eq!(
        whats,
        [
            "fhir-search",
            "fhir-read",
            "printable-plan",
            "get-care-plans"
        ]
    );
    assert!(
        log.iter().all(|r| r["consumerHsaId"] == PORTAL
            && r["patientId"] == ESTHER
            && r["result"] == "ok")
    );
}

#[tokio::test]
async fn only_certified_and_listed_consumers_read_plans() {
    let p = portal().await;
    p.with_esthers_plan().await;
    let search = search_url(&p, ESTHER);

    // No client certificate: the handshake is refused, nothing is served.
    let anonymous = https_client(&p.ca, None);
    assert!(anonymous.get(&search).send().await.is_err());

    // A certificate from another CA: refused the same way.
    let other_ca = Ca::new(p.dir.path(), "other");
    let stranger = other_ca.client(p.dir.path(), PORTAL);
    let impostor = https_client(&p.ca, Some(&stranger));
    assert!(impostor.get(&search).send().await.is_err());

    // A good certificate whose HSA-id is not on the allow-list: 403, logged.
    let unlisted = p.ca.client(p.dir.path(), "SE2321000016-9999");
    let response = https_client(&p.ca, Some(&unlisted))
        .get(&search)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);

    // A certificate with no serialNumber at all: 403 too.
    let nameless = p.ca.client(p.dir.path(), "");
    let response = https_client(&p.ca, Some(&nameless))
        .get(&search)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);

    let log = p.access_log();
    assert_eq!(
        log.len(),
        2,
        "only requests that got through TLS are logged"
    );
    assert_eq!(log[0]["consumerHsaId"], "SE2321000016-9999");
    assert_eq!(log[1]["consumerHsaId"], "");
    assert!(log.iter().all(|r| r["result"] == "refused"));
}

#[tokio::test]
async fn protected_identity_and_approval_rules_hold_over_the_wire() {
    let p = portal().await;
    // Esther's plan: she took part, so it is approved for her.
    let case_id = p.with_esthers_plan().await;
    // Another person, protected, with a plan of their own.
    let mut hidden = canonical_example("sipPlan");
    let patient = hidden.patient.as_mut().unwrap();
    patient.id = "195009072553".into();
    patient.protected_identity = true;
    hidden.source_message_id.push_str("-protected");
    hidden.case_ref.push_str("-protected");
    let hidden_case = p
        .store
        .submit(&checked(&hidden), &samgate::engine::Engine::default())
        .await
        .unwrap()
        .case_id;
    let client = p.client();

    let body = soap(&p, &client, ESTHER).await;
    assert!(body.contains("<core:approvedForPatient>true</core:approvedForPatient>"));

    let (status, _, body) = text(
        client
            .get(search_url(&p, "195009072553"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("\"total\":0"), "{body}");
    let (status, _, _) = text(
        client
            .get(format!("{}/sip/{hidden_case}", p.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let body = soap(&p, &client, "195009072553").await;
    assert!(!body.contains("<carePlan>") && body.contains("<core:resultCode>OK</core:resultCode>"));
    let withheld: Vec<_> = p
        .access_log()
        .into_iter()
        .filter(|r| r["patientId"] == "195009072553")
        .collect();
    assert_eq!(withheld.len(), 3);
    assert!(
        withheld
            .iter()
            .all(|r| r["result"] == "withheld" && r["reason"] == "protected-identity")
    );
    assert_ne!(case_id, hidden_case);
}

/// Validates a SOAP envelope against the GetCarePlans v2 contract with
/// xmllint; panics with xmllint's report when it is not valid.
fn validate_with_xmllint(dir: &Path, name: &str, envelope: &str) {
    require_tool("xmllint", "libxml2-utils");
    let file = dir.join(name);
    std::fs::write(&file, envelope).unwrap();
    let schema = data("rivta/soap-envelope-1.1.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(&schema)
        .arg(&file)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name} is not valid:\n{report}");
    assert!(report.contains("validates"), "{report}");
}

#[tokio::test]
async fn get_care_plans_responses_validate_against_the_contract_schema() {
    let p = portal().await;
    p.with_esthers_plan().await;
    let client = p.client();
    for (name, patient) in [
        ("with-plan.xml", ESTHER),
        ("without-plan.xml", "195009072553"),
    ] {
        let body = soap(&p, &client, patient).await;
        validate_with_xmllint(p.dir.path(), name, &body);
    }
    // The check has teeth: a response with an unknown plan type is refused.
    let body = soap(&p, &client, ESTHER).await.replace(">SIP<", ">XYZ<");
    let result = std::panic::catch_unwind(|| {
        validate_with_xmllint(p.dir.path(), "broken.xml", &body);
    });
    assert!(result.is_err(), "xmllint accepted an invalid response");
}

#[tokio::test]
async fn the_printable_plan_renders_and_prints_on_one_a4_page_in_chromium() {
    let p = portal().await;
    // Her care contact first, so the page says whom to call.
    p.submit_example("careContactAssigned").await;
    let case_id = p.with_esthers_plan().await;
    let page = fetch(&p.client(), &format!("{}/sip/{case_id}", p.url)).await;
    assert!(
        page.contains(
            "Din fasta vårdkontakt är Karin Lind, Distriktssköterska, telefon 010-1031000."
        )
    );
    // Chromium reads the page as served; the portal itself needs a client
    // certificate Chromium has no way to present headless.
    let out = std::env::var_os("SAMGATE_TEST_OUTPUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| p.dir.path().to_owned());
    std::fs::create_dir_all(&out).unwrap();
    let html = out.join("sip.html");
    std::fs::write(&html, &page).unwrap();
    let url = format!("file://{}", html.display());
    let profile = p.dir.path().join("chromium-profile");

    let png = out.join("sip.png");
    // A4 at 96 dpi: 794 × 1123 CSS pixels.
    chromium(
        &profile,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=794,1123".into(),
        ],
        &url,
    );
    let shot = std::fs::read(&png).unwrap();
    assert_eq!(&shot[1..4], b"PNG");
    let width = u32::from_be_bytes(shot[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(shot[20..24].try_into().unwrap());
    assert_eq!((width, height), (794, 1123));
    assert!(shot.len() > 20_000, "the screenshot looks empty");

    let pdf = out.join("sip.pdf");
    chromium(
        &profile,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
        &url,
    );
    let printed = std::fs::read(&pdf).unwrap();
    assert!(printed.starts_with(b"%PDF-"));
    let pages = media_boxes(&printed);
    assert_eq!(pages.len(), 1, "the plan should print on one page");
    // A4 is 595.28 × 841.89 points; Chromium rounds to whole device pixels.
    let (w, h) = (pages[0][2] - pages[0][0], pages[0][3] - pages[0][1]);
    assert!(
        (w - 595.3).abs() < 2.0 && (h - 841.9).abs() < 2.0,
        "not A4: {w} × {h}"
    );
}

/// Every object key in a JSON value, as a path of keys.
fn key_paths(
    value: &serde_json::Value,
    prefix: &str,
    out: &mut std::collections::BTreeSet<String>,
) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let path = format!("{prefix}/{k}");
                out.insert(path.clone());
                key_paths(v, &path, out);
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                key_paths(v, prefix, out);
            }
        }
        _ => {}
    }
}

/// Parses `json` as the FHIR R4 type `T` and checks it is read exactly:
/// written back, it is the same JSON (no element unknown to FHIR R4, none
/// of the wrong type), and the model's own validation finds nothing.
fn parse_exactly<T>(what: &str, json: &str) -> T
where
    T: serde::de::DeserializeOwned + serde::Serialize + fhir::r4::validate::Validate,
{
    let parsed: T = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("{what} does not parse as FHIR R4: {e}\n{json}"));
    let mut original: serde_json::Value = serde_json::from_str(json).unwrap();
    // The concrete types write no resourceType of their own.
    original.as_object_mut().unwrap().remove("resourceType");
    let written = serde_json::to_value(&parsed).unwrap();
    assert_eq!(
        written, original,
        "{what} does not round-trip through FHIR R4"
    );
    let issues = parsed.validate();
    assert!(issues.is_empty(), "{what}: {issues:?}");
    parsed
}

#[tokio::test]
async fn fhir_resources_parse_with_a_fhir_r4_model_and_follow_the_official_shape() {
    use fhir::r4::resources::{Bundle, CapabilityStatement, CarePlan};

    let p = portal().await;
    let case_id = p.with_esthers_plan().await;
    let client = p.client();
    let bundle: Bundle = parse_exactly(
        "the search Bundle",
        &fetch(&client, &search_url(&p, ESTHER)).await,
    );
    assert_eq!(bundle.entry.len(), 1);
    let read = fetch(&client, &format!("{}/fhir/CarePlan/{case_id}-sip-1", p.url)).await;
    let plan: CarePlan = parse_exactly("the CarePlan", &read);
    assert_eq!(plan.activity.len(), 3);
    let _: CapabilityStatement = parse_exactly(
        "the capability statement",
        &fetch(&client, &format!("{}/fhir/metadata", p.url)).await,
    );

    // The official R4 CarePlan examples read exactly with the same model,
    // and samgate's CarePlan has what every one of them has: the same
    // shape (samgate refers to people and units by identifier, as Inera's
    // mapping of GetCarePlans does, where the examples use references).
    let top_level = |json: &serde_json::Value| -> std::collections::BTreeSet<String> {
        json.as_object().unwrap().keys().cloned().collect()
    };
    let mut common: Option<std::collections::BTreeSet<String>> = None;
    let mut activity_details = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(data("fhir")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("CarePlan-") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let _: CarePlan = parse_exactly(&name, &text);
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys = top_level(&json);
        common = Some(match common {
            None => keys,
            Some(c) => c.intersection(&keys).cloned().collect(),
        });
        key_paths(&json["activity"], "", &mut activity_details);
    }
    let ours: serde_json::Value = serde_json::from_str(&read).unwrap();
    let common = common.unwrap();
    assert!(
        common.is_subset(&top_level(&ours)),
        "every official example has {common:?}"
    );
    assert!(common.contains("text") && common.contains("subject"));
    let mut our_details = std::collections::BTreeSet::new();
    key_paths(&ours["activity"], "", &mut our_details);
    for path in ["/detail/status", "/detail/description", "/detail/performer"] {
        assert!(
            activity_details.contains(path) && our_details.contains(path),
            "{path}"
        );
    }
}

/// `samgate serve` on `dir` with the portal on 127.0.0.1:`port`, mutual
/// TLS from `ca`, and `PORTAL` on the allow-list.
fn serve_portal(dir: &Path, ca: &Ca, server: &Credentials, port: u16) -> Command {
    let mut serve = Command::new(env!("CARGO_BIN_EXE_samgate"));
    serve
        .arg("--data-dir")
        .arg(dir)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", common::free_port()),
        ])
        .env("SAMGATE_PORTAL_LISTEN", format!("127.0.0.1:{port}"))
        .env("SAMGATE_PORTAL_TLS_CERT", &server.cert_path)
        .env("SAMGATE_PORTAL_TLS_KEY", &server.key_path)
        .env("SAMGATE_PORTAL_CLIENT_CA", &ca.cert_path)
        .env(
            "SAMGATE_PORTAL_ALLOWED_CONSUMERS",
            format!("[\"{PORTAL}\"]"),
        );
    serve
}

#[cfg(unix)]
#[test]
fn samgate_serve_answers_the_readme_curl_line() {
    require_tool("curl", "curl");
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "test");
    let server = ca.server(dir.path());
    let portal = ca.client(dir.path(), PORTAL);
    let samgate = env!("CARGO_BIN_EXE_samgate");
    let demo = Command::new(samgate)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("demo")
        .output()
        .unwrap();
    assert!(demo.status.success());
    let port = common::free_port();
    let mut serve = serve_portal(dir.path(), &ca, &server, port)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The README's line, with this test's certificates.
    let url = format!(
        "https://localhost:{port}/fhir/CarePlan?subject:identifier=http://electronichealth.se/identifier/personnummer|{ESTHER}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let answer = loop {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--globoff", "--cacert"])
            .arg(&ca.cert_path)
            .arg("--cert")
            .arg(&portal.cert_path)
            .arg("--key")
            .arg(&portal.key_path)
            .arg(&url)
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap();
        }
        if std::time::Instant::now() > deadline {
            let _ = serve.kill();
            panic!("curl: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(serve.id().to_string())
        .status();
    assert!(serve.wait().unwrap().success());
    let bundle: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(bundle["total"], 1, "{answer}");
    let log = std::fs::read_to_string(dir.path().join("portal-access.log")).unwrap();
    assert!(
        log.contains(PORTAL) && log.contains("\"fhir-search\""),
        "{log}"
    );
}

#[test]
fn after_the_demo_esthers_plan_exports_in_all_three_forms() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| common::process::run(dir.path(), args);
    run(&["demo"]);
    let rivta = run(&[
        "sip",
        "export",
        "--patient",
        "19410206-9046",
        "--format",
        "rivta",
    ]);
    assert!(rivta.contains("<core:typeOfCarePlanEnum>SIP</core:typeOfCarePlanEnum>"));
    validate_with_xmllint(dir.path(), "export.xml", &rivta);
    let fhir: serde_json::Value = serde_json::from_str(&run(&[
        "sip",
        "export",
        "--patient",
        ESTHER,
        "--format",
        "fhir",
    ]))
    .unwrap();
    assert_eq!(fhir["total"], 1);
    let page = run(&["sip", "export", "--patient", ESTHER, "--format", "html"]);
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("Samordnad individuell plan"));
    // Each export is a read of patient data: in the access log.
    let log = std::fs::read_to_string(dir.path().join("portal-access.log")).unwrap();
    let whats: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["what"].to_string())
        .collect();
    assert_eq!(
        whats,
        [
            "\"sip-export-rivta\"",
            "\"sip-export-fhir\"",
            "\"sip-export-html\""
        ]
    );
}

// ---- issue 21, finding 8: the portal's edges; findings 1 and 2, portal side.

/// The probes a consumer can send, one to each endpoint, valid or not:
/// (what the access log calls it, method, path, SOAP body).
fn probes(case_id: &str) -> Vec<(&'static str, &'static str, String, Option<String>)> {
    let search =
        "/fhir/CarePlan?subject:identifier=http://electronichealth.se/identifier/personnummer%7C";
    vec![
        ("fhir-metadata", "GET", "/fhir/metadata".into(), None),
        ("unknown-path", "GET", "/fhir/Patient".into(), None),
        ("fhir-search", "GET", format!("{search}{ESTHER}"), None),
        // A bad check digit: a listed consumer would be told so.
        ("fhir-search", "GET", format!("{search}194102069047"), None),
        (
            "fhir-read",
            "GET",
            format!("/fhir/CarePlan/{case_id}-sip-1"),
            None,
        ),
        (
            "fhir-read",
            "GET",
            format!("/fhir/CarePlan/{case_id}-sip-99"),
            None,
        ),
        ("fhir-read", "GET", "/fhir/CarePlan/nonsense".into(), None),
        ("printable-plan", "GET", format!("/sip/{case_id}"), None),
        ("printable-plan", "GET", "/sip/no-such-case".into(), None),
        (
            "get-care-plans",
            "POST",
            "/rivta/GetCarePlans".into(),
            Some(get_care_plans(ESTHER)),
        ),
        (
            "get-care-plans",
            "POST",
            "/rivta/GetCarePlans".into(),
            Some("<a/>".into()),
        ),
        (
            "get-care-plans",
            "POST",
            "/rivta/GetCarePlans".into(),
            Some(get_care_plans("194102069047")),
        ),
    ]
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    body: Option<String>,
) -> (u16, String, String) {
    let url = format!("{base}{path}");
    let request = match (method, body) {
        ("POST", Some(body)) => client
            .post(url)
            .header("content-type", "text/xml; charset=utf-8")
            .body(body),
        _ => client.get(url),
    };
    text(request.send().await.unwrap()).await
}

/// Sends every probe as `client` and checks each got a plain refusal: 403
/// (a SOAP 1.1 fault for GetCarePlans) that says nothing about the request,
/// and a `refused` line in the access log naming `consumer` and `reason`.
async fn assert_every_probe_refused(
    p: &Portal,
    client: &reqwest::Client,
    consumer: &str,
    reason: &str,
) {
    let case_id = p.with_esthers_plan().await;
    let before = p.access_log().len();
    let probes = probes(&case_id);
    for (_, method, path, body) in &probes {
        let soap = body.is_some();
        let (status, ctype, text) = send(client, &p.url, method, path, body.clone()).await;
        if soap {
            assert_eq!(status, 500, "{path}: {text}");
            assert!(ctype.starts_with("text/xml"), "{path}: {ctype}");
            // A SOAP 1.1 Fault as the national platform words it, naming
            // the calling system when its certificate names one.
            let (code, string) = soap_fault(&text);
            assert_eq!(code, (SOAP_NS.to_owned(), "Client".to_owned()), "{path}");
            let expected = match consumer {
                "" => "Obehörigt anrop: klientcertifikatet anger inte ett HSA-id".to_owned(),
                hsa_id => format!("Obehörigt anrop för system {hsa_id}"),
            };
            assert_eq!(string, expected, "{path}");
        } else {
            assert_eq!(status, 403, "{path}: {text}");
            assert!(text.contains("access denied"), "{path}: {text}");
        }
        for detail in [
            "check digit",
            "SOAP",
            "patientId",
            "not-found",
            "CarePlan\"",
            "Esther",
            ESTHER,
        ] {
            assert!(!text.contains(detail), "{path} tells '{detail}': {text}");
        }
    }
    let log = p.access_log();
    let refused = &log[before..];
    assert_eq!(
        refused.len(),
        probes.len(),
        "one line per attempt: {refused:?}"
    );
    for ((what, _, path, _), record) in probes.iter().zip(refused) {
        assert_eq!(record["what"], *what, "{path}");
        assert_eq!(record["result"], "refused", "{path}");
        assert_eq!(record["reason"], reason, "{path}");
        assert_eq!(record["consumerHsaId"], consumer, "{path}");
        // Refused before the request was read: no patient, no plans.
        assert_eq!(record["patientId"], "", "{path}");
        assert_eq!(record["documents"], 0, "{path}");
    }
}

/// The DER of a PEM certificate.
fn der(credentials: &Credentials) -> rustls_pki_types::CertificateDer<'static> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(credentials.cert_pem.as_bytes()).unwrap()
}

#[tokio::test]
async fn a_refused_consumer_probing_any_endpoint_gets_a_plain_refusal_and_is_logged() {
    let p = portal().await;
    let unlisted = p.ca.client(p.dir.path(), "SE2321000016-9999");
    let client = https_client(&p.ca, Some(&unlisted));
    assert_every_probe_refused(&p, &client, "SE2321000016-9999", "not on the allow-list").await;
}

#[tokio::test]
async fn a_certificate_without_a_serial_number_is_no_consumer() {
    let p = portal().await;
    let nameless = p.ca.client(p.dir.path(), "");
    assert_eq!(
        subject_serial_number(&der(&nameless)),
        SubjectSerial::Absent
    );
    let client = https_client(&p.ca, Some(&nameless));
    assert_every_probe_refused(
        &p,
        &client,
        "",
        "no serialNumber in the certificate subject",
    )
    .await;
}

#[tokio::test]
async fn a_certificate_with_two_serial_numbers_is_ambiguous_and_refused() {
    let p = portal().await;
    // The first names a listed consumer: taking the first would let it in.
    let two =
        p.ca.client_with_two_serials(p.dir.path(), PORTAL, "SE2321000016-9999");
    assert_eq!(subject_serial_number(&der(&two)), SubjectSerial::Ambiguous);
    let client = https_client(&p.ca, Some(&two));
    assert_every_probe_refused(
        &p,
        &client,
        "",
        "more than one serialNumber in the certificate subject",
    )
    .await;
}

#[tokio::test]
async fn settings_that_name_no_hsa_id_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "test");
    let store = samgate::store::open("", dir.path()).await.unwrap();
    let audit = Arc::new(AuditLog::open(&dir.path().join("access.log")).unwrap());
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &[""],
            "SE0000000000-SAMGATE",
            "portal.allowed_consumers, entry 1 of 1: \"\" is not an HSA-id",
        ),
        (
            &["nope"],
            "SE0000000000-SAMGATE",
            "portal.allowed_consumers, entry 1 of 1: \"nope\" is not an HSA-id",
        ),
        (
            &[PORTAL, ""],
            "SE0000000000-SAMGATE",
            "portal.allowed_consumers, entry 2 of 2: \"\"",
        ),
        (
            &[PORTAL],
            "samgate",
            "portal.source_system_hsa_id: \"samgate\" is not an HSA-id",
        ),
    ];
    for (allowed, source, expected) in cases {
        let (listener, port) = tls_listener(&ca, dir.path()).await;
        let mut config = portal_config(&format!("https://127.0.0.1:{port}"), allowed);
        config.source_system_hsa_id = source.into();
        let state = PortalState {
            store: store.clone(),
            audit: audit.clone(),
            config,
        };
        // serve returns at once, before anything is served.
        let served = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            serve(state, listener, std::future::pending()),
        )
        .await
        .expect("serve should refuse at once");
        let e = served.unwrap_err().to_string();
        assert!(e.contains(expected), "{e}");
    }
}

#[cfg(unix)]
#[test]
fn samgate_serve_refuses_an_allow_list_entry_that_is_no_hsa_id() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "test");
    let server = ca.server(dir.path());
    let samgate = env!("CARGO_BIN_EXE_samgate");
    for (allowed, expected) in [
        ("[\"\"]", "portal.allowed_consumers, entry 1 of 1"),
        (
            "[\"SE2321000016-1177\", \"nope\"]",
            "portal.allowed_consumers, entry 2 of 2: \"nope\"",
        ),
    ] {
        let out = Command::new(samgate)
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", common::free_port()),
            ])
            .env(
                "SAMGATE_PORTAL_LISTEN",
                format!("127.0.0.1:{}", common::free_port()),
            )
            .env("SAMGATE_PORTAL_TLS_CERT", &server.cert_path)
            .env("SAMGATE_PORTAL_TLS_KEY", &server.key_path)
            .env("SAMGATE_PORTAL_CLIENT_CA", &ca.cert_path)
            .env("SAMGATE_PORTAL_ALLOWED_CONSUMERS", allowed)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "serve started with {allowed}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[tokio::test]
async fn a_plan_not_found_is_logged_as_not_found() {
    let p = portal().await;
    let case_id = p.with_esthers_plan().await;
    let client = p.client();
    for (what, path, patient) in [
        (
            "fhir-read",
            format!("/fhir/CarePlan/{case_id}-sip-99"),
            ESTHER,
        ),
        ("fhir-read", "/fhir/CarePlan/nonsense".to_owned(), ""),
        (
            "fhir-read",
            "/fhir/CarePlan/no-such-case-sip-1".to_owned(),
            "",
        ),
        ("printable-plan", "/sip/no-such-case".to_owned(), ""),
    ] {
        let before = p.access_log().len();
        let (status, _, body) = send(&client, &p.url, "GET", &path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
        let log = p.access_log();
        assert_eq!(log.len(), before + 1, "{path}");
        let record = &log[before];
        assert_eq!(record["what"], what, "{path}");
        assert_eq!(record["result"], "not-found", "{path}");
        assert_eq!(record["documents"], 0, "{path}");
        assert_eq!(record["patientId"], patient, "{path}");
    }
    // A read that finds its plan counts one document, not the person's all.
    let (status, _, _) = send(&client, &p.url, "GET", &format!("/sip/{case_id}"), None).await;
    assert_eq!(status, 200);
    let last = p.access_log().pop().unwrap();
    assert_eq!(
        (last["result"].as_str(), last["documents"].as_u64()),
        (Some("ok"), Some(1))
    );
}

#[tokio::test]
async fn a_request_naming_two_patients_is_refused_as_ambiguous() {
    let p = portal().await;
    p.with_esthers_plan().await;
    let client = p.client();
    let system = "http://electronichealth.se/identifier/personnummer";
    let url = format!(
        "{}/fhir/CarePlan?subject:identifier={system}%7C195009072553&subject:identifier={system}%7C{ESTHER}",
        p.url
    );
    let (status, _, body) = text(client.get(url).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("OperationOutcome") && body.contains("more than once"),
        "{body}"
    );
    assert!(!body.contains("CarePlan\""), "{body}");

    let two = get_care_plans(ESTHER).replace(
        "</g:GetCarePlans>",
        "<g:patientId><c:id>195009072553</c:id><c:type>1.2.752.129.2.1.3.1</c:type></g:patientId></g:GetCarePlans>",
    );
    let (status, _, body) = send(&client, &p.url, "POST", "/rivta/GetCarePlans", Some(two)).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("<faultcode>soapenv:Client</faultcode>"),
        "{body}"
    );
    assert!(body.contains("patientId: given more than once"), "{body}");
    assert!(!body.contains("<carePlan>"), "{body}");

    let log = p.access_log();
    assert_eq!(log.len(), 2);
    for (record, what) in log.iter().zip(["fhir-search", "get-care-plans"]) {
        assert_eq!(record["what"], what);
        assert_eq!(record["result"], "invalid");
        assert_eq!(record["patientId"], "");
        assert_eq!(record["documents"], 0);
    }
}

/// Every way the portal shows Esther's plans, with the status of each
/// single read and the number of plans in each list.
async fn shown(p: &Portal, case_id: &str) -> (usize, u16, u16, usize) {
    let client = p.client();
    let bundle: serde_json::Value =
        serde_json::from_str(&fetch(&client, &search_url(p, ESTHER)).await).unwrap();
    let total = bundle["total"].as_u64().unwrap() as usize;
    let (read, _, _) = send(
        &client,
        &p.url,
        "GET",
        &format!("/fhir/CarePlan/{case_id}-sip-1"),
        None,
    )
    .await;
    let (page, _, _) = send(&client, &p.url, "GET", &format!("/sip/{case_id}"), None).await;
    let plans = soap(p, &client, ESTHER).await.matches("<carePlan>").count();
    (total, read, page, plans)
}

#[tokio::test]
async fn protection_is_sticky_per_person_across_cases_and_events() {
    let p = portal().await;
    let engine = samgate::engine::Engine::default();
    // Case B: Esther's plan, not protected; shown.
    let case_b = p.with_esthers_plan().await;
    assert_eq!(shown(&p, &case_b).await, (1, 200, 200, 1));
    // Case A: another case of Esther's, protected. B is no longer shown.
    let mut protected = canonical_example("sipPlan");
    protected.patient.as_mut().unwrap().protected_identity = true;
    protected.source_message_id.push_str("-A");
    protected.case_ref.push_str("-A");
    let case_a = p
        .store
        .submit(&checked(&protected), &engine)
        .await
        .unwrap()
        .case_id;
    assert_ne!(case_a, case_b);
    assert_eq!(shown(&p, &case_b).await, (0, 404, 404, 0));
    // A later message of case A that says "not protected" lifts nothing
    // (only the audited `samgate person unprotect` does).
    let mut lifted = canonical_example("threadMessage");
    lifted.case_ref = protected.case_ref.clone();
    lifted.author = protected.author.clone();
    lifted.source_message_id.push_str("-A");
    lifted.patient.as_mut().unwrap().protected_identity = false;
    p.store.submit(&checked(&lifted), &engine).await.unwrap();
    assert_eq!(shown(&p, &case_b).await, (0, 404, 404, 0));
    assert_eq!(shown(&p, &case_a).await, (0, 404, 404, 0));
    let withheld = p
        .access_log()
        .into_iter()
        .filter(|r| r["result"] == "withheld")
        .count();
    assert_eq!(withheld, 12);
    // The audited lift (`samgate person unprotect`) is what ends it.
    // Both cases' plans are shown then.
    p.store.lift_protection(ESTHER).await.unwrap();
    assert_eq!(shown(&p, &case_b).await, (2, 200, 200, 2));
}

#[tokio::test]
async fn a_plan_reopened_after_withdrawn_consent_waits_for_new_consent() {
    let p = portal().await;
    let engine = samgate::engine::Engine::default();
    let submit = |event: samgate_proto::CaseEvent| {
        let store = p.store.clone();
        let engine = engine.clone();
        async move { store.submit(&checked(&event), &engine).await.unwrap() }
    };
    let consent = |id: &str, decision: samgate_proto::v1::ConsentDecision| {
        let mut c = canonical_example("consent");
        c.source_message_id = id.into();
        if let Some(samgate_proto::Payload::Consent(c)) = &mut c.payload {
            c.decision = decision as i32;
        }
        c
    };
    use samgate_proto::v1::{ConsentDecision, ConsentState};
    submit(canonical_example("caseOpened")).await;
    submit(consent("MSG-GIVEN-1", ConsentDecision::Given)).await;
    let mut plan = canonical_example("sipPlan");
    plan.case_ref = "OV-2025-0042".into();
    plan.process = samgate_proto::v1::CareProcess::Outpatient as i32;
    let case_id = submit(plan).await.case_id;
    assert_eq!(shown(&p, &case_id).await, (1, 200, 200, 1));

    submit(consent("MSG-WITHDRAWN", ConsentDecision::Withdrawn)).await;
    assert_eq!(shown(&p, &case_id).await, (0, 404, 404, 0));

    // Reopened by a participant: the case is open, its consent still
    // withdrawn, and its plan stays unpublished.
    let reopened = submit(canonical_example("caseReopened")).await;
    assert_eq!(reopened.case_id, case_id);
    assert_eq!(reopened.case.consent, ConsentState::Withdrawn as i32);
    assert_eq!(
        reopened.case.status,
        samgate_proto::v1::CaseStatus::Open as i32
    );
    assert_eq!(shown(&p, &case_id).await, (0, 404, 404, 0));

    // A new consent GIVEN publishes it again.
    submit(consent("MSG-GIVEN-2", ConsentDecision::Given)).await;
    assert_eq!(shown(&p, &case_id).await, (1, 200, 200, 1));
}

// ---- issue 22, items 3, 4 and 6: FHIR REST, RIVTA and the printable plan
// as their clients expect them, each through the real mutual-TLS listener.

const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";
const PERSONNUMMER: &str = "http://electronichealth.se/identifier/personnummer";
/// The ward that admitted Esther (tests/data/examples/canonical/admissionNotice.json).
const WARD: &str = "SE2321000164-7381";

/// The faultcode (namespace URI, local name) and faultstring of a SOAP 1.1
/// Fault, read namespace-aware; panics when `text` is not one.
fn soap_fault(text: &str) -> ((String, String), String) {
    use samgate_adapter_core::xml::read::parse;
    let envelope = parse(text).unwrap_or_else(|e| panic!("not XML: {} {text}", e.reason));
    assert_eq!((&*envelope.ns, &*envelope.local), (SOAP_NS, "Envelope"));
    let body = envelope
        .children
        .iter()
        .find(|c| &*c.ns == SOAP_NS && c.local == "Body")
        .expect("a SOAP Body");
    assert_eq!(body.children.len(), 1, "{text}");
    let fault = &body.children[0];
    assert_eq!((&*fault.ns, &*fault.local), (SOAP_NS, "Fault"), "{text}");
    // SOAP 1.1: faultcode and faultstring are unqualified.
    let field = |name: &str| {
        fault
            .children
            .iter()
            .find(|c| c.ns.is_empty() && c.local == name)
            .unwrap_or_else(|| panic!("no {name}: {text}"))
            .text
            .trim()
            .to_owned()
    };
    let code = field("faultcode");
    let (prefix, local) = code.split_once(':').expect("a QName faultcode");
    // The prefix's namespace, as declared in the envelope.
    let declaration = format!("xmlns:{prefix}=\"");
    let at = text
        .find(&declaration)
        .expect("the faultcode's prefix is declared")
        + declaration.len();
    let ns = &text[at..at + text[at..].find('"').unwrap()];
    ((ns.to_owned(), local.to_owned()), field("faultstring"))
}

/// Every key path in `value` whose value is an empty array, object or string.
fn empties(value: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Array(a) if a.is_empty() => out.push(path.to_owned()),
        serde_json::Value::Object(o) if o.is_empty() => out.push(path.to_owned()),
        serde_json::Value::String(s) if s.is_empty() => out.push(path.to_owned()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| empties(v, path, out)),
        serde_json::Value::Object(o) => {
            for (k, v) in o {
                empties(v, &format!("{path}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// Every Reference in a CarePlan (by the elements that hold one), with the
/// path it is at.
fn references(plan: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    let mut push = |path: &str, v: &serde_json::Value| match v {
        serde_json::Value::Array(items) => {
            out.extend(items.iter().map(|i| (path.to_owned(), i.clone())))
        }
        serde_json::Value::Null => {}
        other => out.push((path.to_owned(), other.clone())),
    };
    for key in ["subject", "author", "contributor", "goal"] {
        push(key, &plan[key]);
    }
    for activity in plan["activity"].as_array().unwrap() {
        push(
            "activity.detail.performer",
            &activity["detail"]["performer"],
        );
    }
    for goal in plan["contained"].as_array().unwrap() {
        push("contained.subject", &goal["subject"]);
    }
    out
}

async fn get_with(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = client.get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn content_type(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get("content-type")
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

/// An OperationOutcome body, checked as one: at least one issue, each with
/// a severity, a code and diagnostics.
fn outcome(status: u16, headers: &reqwest::header::HeaderMap, body: &str) -> serde_json::Value {
    assert_eq!(content_type(headers), FHIR_JSON, "{status}: {body}");
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("{status}: not JSON: {body:?}"));
    assert_eq!(json["resourceType"], "OperationOutcome", "{status}: {body}");
    let issues = json["issue"].as_array().unwrap();
    assert!(!issues.is_empty(), "{body}");
    for issue in issues {
        assert!(
            issue["severity"].is_string() && issue["code"].is_string(),
            "{body}"
        );
        assert!(issue["diagnostics"].is_string(), "{body}");
    }
    let _: fhir::r4::resources::OperationOutcome = parse_exactly("an OperationOutcome", body);
    json
}

/// Stores three versions of Esther's plan in one case; returns its id.
async fn with_three_versions(p: &Portal) -> String {
    let case_id = p.with_esthers_plan().await;
    for version in [2, 3] {
        let mut plan = canonical_example("sipPlan");
        plan.source_message_id = format!("MSG-0006-v{version}");
        if let Some(samgate_proto::Payload::SipPlan(sip)) = &mut plan.payload {
            sip.version = version;
        }
        p.store
            .submit(&checked(&plan), &samgate::engine::Engine::default())
            .await
            .unwrap();
    }
    case_id
}

#[tokio::test]
async fn fhir_is_labelled_fhir_json_and_other_formats_are_406() {
    let p = portal().await;
    let case_id = p.with_esthers_plan().await;
    let client = p.client();
    let read = format!("{}/fhir/CarePlan/{case_id}-sip-1", p.url);
    let metadata = format!("{}/fhir/metadata", p.url);
    let search = search_url(&p, ESTHER);
    for url in [&metadata, &search, &read] {
        let (status, headers, body) = get_with(&client, url, &[]).await;
        assert_eq!(
            (status, content_type(&headers)),
            (200, FHIR_JSON),
            "{url}: {body}"
        );
        // A client that prefers XML but takes JSON gets JSON.
        let (status, _, _) = get_with(
            &client,
            url,
            &[(
                "accept",
                "application/fhir+xml, application/fhir+json;q=0.8",
            )],
        )
        .await;
        assert_eq!(status, 200, "{url}");
        let with_format = |f: &str| {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}_format={f}")
        };
        for (url, headers) in [
            (with_format("xml"), vec![]),
            (with_format("application/fhir+xml"), vec![]),
            (url.to_string(), vec![("accept", "application/fhir+xml")]),
        ] {
            let (status, h, body) = get_with(&client, &url, &headers).await;
            assert_eq!(status, 406, "{url} {headers:?}: {body}");
            let o = outcome(status, &h, &body);
            assert!(
                o["issue"][0]["diagnostics"]
                    .as_str()
                    .unwrap()
                    .contains("JSON only"),
                "{body}"
            );
        }
        let (status, _, _) = get_with(&client, &with_format("json"), &[]).await;
        assert_eq!(status, 200, "{url}");
    }
    // The refused searches and reads are in the access log as invalid.
    let invalid = p
        .access_log()
        .into_iter()
        .filter(|r| r["result"] == "invalid")
        .count();
    assert_eq!(invalid, 6);
}

#[tokio::test]
async fn unknown_search_parameters_are_refused_by_name_unless_lenient() {
    let p = portal().await;
    p.with_esthers_plan().await;
    let client = p.client();
    let url = format!(
        "{}&date=ge2024-01-01&_sort=-date&_summary=text",
        search_url(&p, ESTHER)
    );
    let (status, headers, body) = get_with(&client, &url, &[]).await;
    assert_eq!(status, 400, "{body}");
    let o = outcome(status, &headers, &body);
    assert_eq!(
        o["issue"][0]["diagnostics"],
        "unknown or unsupported search parameters: date, _sort, _summary=text"
    );
    assert!(!body.contains(ESTHER), "{body}");

    // Prefer: handling=lenient ignores them, and the self link says which
    // parameters were used: not those.
    let (status, _, body) = get_with(&client, &url, &[("prefer", "handling=lenient")]).await;
    assert_eq!(status, 200, "{body}");
    let bundle: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(bundle["total"], 1);
    let own = bundle["link"][0].clone();
    assert_eq!(own["relation"], "self");
    let own = own["url"].as_str().unwrap();
    assert_eq!(
        own,
        format!(
            "{}/fhir/CarePlan?subject:identifier={PERSONNUMMER}%7C{ESTHER}&_count=50",
            p.url
        )
    );
    for ignored in ["date", "_sort", "_summary"] {
        assert!(!own.contains(ignored), "{own}");
    }
}

#[tokio::test]
async fn search_takes_the_patient_alias_status_count_with_paging_and_summary_count() {
    let p = portal().await;
    with_three_versions(&p).await;
    let client = p.client();
    let base = format!(
        "{}/fhir/CarePlan?patient:identifier={PERSONNUMMER}%7C{ESTHER}",
        p.url
    );
    let bundle = |body: &str| -> serde_json::Value { serde_json::from_str(body).unwrap() };
    let link = |b: &serde_json::Value, relation: &str| -> Option<String> {
        b["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == relation)
            .map(|l| l["url"].as_str().unwrap().to_owned())
    };

    // patient:identifier is subject:identifier.
    let (status, _, body) = get_with(&client, &base, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(bundle(&body)["total"], 3);

    // _count pages, and the links walk the pages.
    let (_, _, body) = get_with(&client, &format!("{base}&_count=2"), &[]).await;
    let first = bundle(&body);
    assert_eq!(
        (
            first["total"].as_u64(),
            first["entry"].as_array().map(Vec::len)
        ),
        (Some(3), Some(2))
    );
    assert_eq!(link(&first, "previous"), None);
    let next = link(&first, "next").expect("a next link");
    let (status, _, body) = get_with(&client, &next, &[]).await;
    assert_eq!(status, 200, "{next}: {body}");
    let second = bundle(&body);
    assert_eq!(second["entry"].as_array().unwrap().len(), 1);
    assert_eq!(
        second["entry"][0]["resource"]["meta"]["versionId"]
            .as_str()
            .unwrap()
            .split('-')
            .next(),
        Some("3")
    );
    assert_eq!(link(&second, "next"), None);
    assert_eq!(link(&second, "previous"), link(&first, "first"));
    assert_eq!(link(&second, "last"), Some(next));

    // status: the case is open, so its plans are active, none completed.
    let (_, _, body) = get_with(&client, &format!("{base}&status=active,on-hold"), &[]).await;
    assert_eq!(bundle(&body)["total"], 3);
    let (status, _, body) = get_with(&client, &format!("{base}&status=completed"), &[]).await;
    assert_eq!(status, 200);
    let none = bundle(&body);
    assert_eq!(none["total"], 0);
    // An empty search omits entry rather than writing "entry": [].
    assert!(
        none.get("entry").is_none() && !body.contains("[]"),
        "{body}"
    );
    let (status, headers, body) = get_with(&client, &format!("{base}&status=closed"), &[]).await;
    assert_eq!(status, 400);
    outcome(status, &headers, &body);

    // _summary=count: the total only.
    let (_, _, body) = get_with(&client, &format!("{base}&_summary=count"), &[]).await;
    let count = bundle(&body);
    assert_eq!(count["total"], 3);
    assert!(count.get("entry").is_none(), "{body}");
    let _: fhir::r4::resources::Bundle = parse_exactly("the _summary=count Bundle", &body);

    // Bad paging values are refused, not defaulted.
    for bad in ["_count=-1", "_count=x", "_offset=-2"] {
        let (status, headers, body) = get_with(&client, &format!("{base}&{bad}"), &[]).await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            outcome(status, &headers, &body)["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(bad.split('=').next().unwrap())
        );
    }
}

#[tokio::test]
async fn the_searchset_and_its_plans_carry_ids_times_versions_and_typed_references() {
    let p = portal().await;
    // The ward admits Esther first: a participant of her case.
    p.submit_example("admissionNotice").await;
    with_three_versions(&p).await;
    let (status, _, body) = get_with(&p.client(), &search_url(&p, ESTHER), &[]).await;
    assert_eq!(status, 200, "{body}");
    let bundle: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(bundle["id"].as_str().is_some_and(|id| !id.is_empty()));
    let timestamp = bundle["timestamp"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
        "{timestamp}"
    );
    assert_eq!(bundle["link"][0]["relation"], "self");
    let mut found = Vec::new();
    empties(&bundle, "", &mut found);
    assert!(found.is_empty(), "empty values at {found:?}");
    let mut versions = std::collections::BTreeSet::new();
    for entry in bundle["entry"].as_array().unwrap() {
        let plan = &entry["resource"];
        assert!(
            entry["fullUrl"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/fhir/CarePlan/", p.url)),
            "{entry}"
        );
        let version = plan["meta"]["versionId"].as_str().unwrap();
        versions.insert(version.to_owned());
        let updated = plan["meta"]["lastUpdated"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(updated).is_ok(),
            "{updated}"
        );
        for (path, reference) in references(plan) {
            let expected = match path.as_str() {
                "subject" | "contained.subject" => "Patient",
                "goal" => "Goal",
                _ => "Organization",
            };
            assert_eq!(reference["type"], expected, "{path}: {reference}");
        }
        // The ward is a contributor.
        let contributors: Vec<&str> = plan["contributor"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["identifier"]["value"].as_str().unwrap())
            .collect();
        assert!(contributors.contains(&WARD), "{contributors:?}");
    }
    assert_eq!(versions.len(), 3, "each plan version has its own versionId");
    let _: fhir::r4::resources::Bundle = parse_exactly("the search Bundle", &body);
}

#[tokio::test]
async fn a_read_answers_etag_and_last_modified_and_304_when_unchanged() {
    let p = portal().await;
    let engine = samgate::engine::Engine::default();
    // An outpatient case with consent, so that it can later be closed.
    p.store
        .submit(&checked(&canonical_example("caseOpened")), &engine)
        .await
        .unwrap();
    let mut consent = canonical_example("consent");
    if let Some(samgate_proto::Payload::Consent(c)) = &mut consent.payload {
        c.decision = samgate_proto::v1::ConsentDecision::Given as i32;
    }
    p.store.submit(&checked(&consent), &engine).await.unwrap();
    let mut plan = canonical_example("sipPlan");
    plan.case_ref = "OV-2025-0042".into();
    plan.process = samgate_proto::v1::CareProcess::Outpatient as i32;
    let case_id = p
        .store
        .submit(&checked(&plan), &engine)
        .await
        .unwrap()
        .case_id;
    let client = p.client();
    let url = format!("{}/fhir/CarePlan/{case_id}-sip-1", p.url);
    let (status, headers, body) = get_with(&client, &url, &[]).await;
    assert_eq!(status, 200);
    let plan: serde_json::Value = serde_json::from_str(&body).unwrap();
    let version = plan["meta"]["versionId"].as_str().unwrap();
    let etag = headers.get("etag").unwrap().to_str().unwrap().to_owned();
    assert_eq!(etag, format!("W/\"{version}\""));
    let modified = headers.get("last-modified").unwrap().to_str().unwrap();
    let modified = chrono::DateTime::parse_from_rfc2822(&modified.replace("GMT", "+0000")).unwrap();
    let updated =
        chrono::DateTime::parse_from_rfc3339(plan["meta"]["lastUpdated"].as_str().unwrap())
            .unwrap();
    assert_eq!(modified, updated);

    for matching in [
        etag.clone(),
        format!("\"{version}\""),
        "*".into(),
        format!("W/\"other\", {etag}"),
    ] {
        let (status, h, body) = get_with(&client, &url, &[("if-none-match", &matching)]).await;
        assert_eq!(status, 304, "{matching}");
        assert!(body.is_empty());
        assert_eq!(h.get("etag").unwrap().to_str().unwrap(), etag);
    }
    let (status, _, _) = get_with(&client, &url, &[("if-none-match", "W/\"1-00000000\"")]).await;
    assert_eq!(status, 200);

    // The case closes: the plan is completed, a new version of the resource.
    p.store
        .submit(&checked(&canonical_example("caseClosed")), &engine)
        .await
        .unwrap();
    let (status, h, body) = get_with(&client, &url, &[("if-none-match", &etag)]).await;
    assert_eq!(status, 200, "a changed plan is sent again");
    assert_ne!(h.get("etag").unwrap().to_str().unwrap(), etag);
    assert!(body.contains("\"status\":\"completed\""), "{body}");
}

#[tokio::test]
async fn every_error_under_fhir_is_an_operation_outcome() {
    let p = portal().await;
    let case_id = p.with_esthers_plan().await;
    let client = p.client();
    let unlisted = p.ca.client(p.dir.path(), "SE2321000016-9999");
    let stranger = https_client(&p.ca, Some(&unlisted));
    let url = |path: &str| format!("{}{path}", p.url);
    let big = vec![b'x'; 1024 * 1024];
    let cases: Vec<(u16, reqwest::RequestBuilder)> = vec![
        (403, stranger.get(search_url(&p, ESTHER))),
        (403, stranger.get(url("/fhir/metadata"))),
        (404, client.get(url("/fhir/Patient/1"))),
        (404, client.get(url("/fhir"))),
        (
            404,
            client.get(url(&format!("/fhir/CarePlan/{case_id}-sip-9"))),
        ),
        (405, client.post(url("/fhir/CarePlan")).body("{}")),
        (
            405,
            client.delete(url(&format!("/fhir/CarePlan/{case_id}-sip-1"))),
        ),
        (413, client.get(search_url(&p, ESTHER)).body(big)),
        (400, client.get(url("/fhir/CarePlan"))),
    ];
    for (expected, request) in cases {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        assert_eq!(status, expected, "{body}");
        outcome(status, &headers, &body);
        if status == 405 {
            assert!(headers.get("allow").is_some(), "405 says what is allowed");
        }
    }
}

#[tokio::test]
async fn the_capability_statement_declares_software_security_and_search_parameters() {
    let p = portal().await;
    let body = fetch(&p.client(), &format!("{}/fhir/metadata", p.url)).await;
    let statement: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(statement["software"]["name"], "samgate");
    assert!(statement["software"]["version"].is_string());
    assert_eq!(
        statement["implementation"]["url"],
        format!("{}/fhir", p.url)
    );
    let security = &statement["rest"][0]["security"];
    assert_eq!(security["service"][0]["coding"][0]["code"], "Certificates");
    assert!(
        security["description"]
            .as_str()
            .unwrap()
            .contains("Mutual TLS")
    );
    let params = statement["rest"][0]["resource"][0]["searchParam"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["subject", "patient", "status"]);
    for param in params {
        let definition = param["definition"].as_str().unwrap();
        assert!(
            definition.starts_with("http://hl7.org/fhir/SearchParameter/"),
            "{definition}"
        );
    }
    let _: fhir::r4::resources::CapabilityStatement =
        parse_exactly("the capability statement", &body);
}

#[cfg(unix)]
#[test]
fn samgate_serve_warns_when_the_fhir_base_url_is_the_default_but_the_portal_listens_elsewhere() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "test");
    let server = ca.server(dir.path());
    let port = common::free_port();
    let mut serve = serve_portal(dir.path(), &ca, &server, port)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = serve.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let expected = format!(
        "portal.fhir_base_url is the default https://localhost:8443/fhir but the portal listens on 127.0.0.1:{port}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    let found = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(&expected) => break true,
            Ok(line) => seen.push(line),
            Err(_) => break false,
        }
    };
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(serve.id().to_string())
        .status();
    let _ = serve.wait();
    assert!(found, "no warning; stderr:\n{}", seen.join("\n"));
}

#[tokio::test]
async fn an_over_long_soap_request_is_a_soap_fault() {
    let p = portal().await;
    let client = p.client();
    let padding = "<!--".to_owned() + &"x".repeat(1024 * 1024) + "-->";
    for path in ["/rivta/GetCarePlans", "/rivta/PingForConfiguration"] {
        let body = format!("{}{padding}", get_care_plans(ESTHER));
        let (status, ctype, text) = send(&client, &p.url, "POST", path, Some(body)).await;
        assert_eq!(status, 500, "{path}: {text}");
        assert!(ctype.starts_with("text/xml"), "{ctype}");
        let (code, string) = soap_fault(&text);
        assert_eq!(code, (SOAP_NS.to_owned(), "Client".to_owned()));
        assert_eq!(string, "the request is larger than 65536 bytes");
    }
    let log = p.access_log();
    let whats: Vec<_> = log
        .iter()
        .map(|r| (r["what"].as_str().unwrap(), r["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        whats,
        [
            ("get-care-plans", "invalid"),
            ("ping-for-configuration", "invalid")
        ]
    );
}

#[tokio::test]
async fn the_wsdl_is_served_with_the_endpoint_address_and_its_schemas() {
    let p = portal().await;
    let client = p.client();
    let endpoint = format!("{}/rivta/GetCarePlans", p.url);
    let (status, headers, wsdl) = get_with(&client, &format!("{endpoint}?wsdl"), &[]).await;
    assert_eq!(status, 200, "{wsdl}");
    assert!(content_type(&headers).starts_with("text/xml"));
    assert!(
        wsdl.contains(&format!("<soap:address location='{endpoint}' />")),
        "{wsdl}"
    );
    assert!(wsdl.contains("name='GetCarePlansResponderService'"));
    // Every schema the contract imports is served from the endpoint, and
    // the whole contract, read from there, is well-formed.
    require_tool("xmllint", "libxml2-utils");
    let mut pending = vec![wsdl];
    let mut fetched = std::collections::BTreeSet::new();
    while let Some(text) = pending.pop() {
        let file = p.dir.path().join(format!("contract-{}.xml", fetched.len()));
        std::fs::write(&file, &text).unwrap();
        let out = Command::new("xmllint")
            .args(["--noout", "--nonet"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (at, _) in text.match_indices("schemaLocation=") {
            let rest = &text[at + 16..];
            let location = &rest[..rest.find(['"', '\'']).unwrap()];
            assert!(
                location.starts_with(&format!("{endpoint}?xsd=")),
                "{location}"
            );
            if fetched.insert(location.to_owned()) {
                let (status, _, schema) = get_with(&client, location, &[]).await;
                assert_eq!(status, 200, "{location}");
                assert!(schema.contains("<xs:schema"), "{location}");
                pending.push(schema);
            }
        }
    }
    assert_eq!(fetched.len(), 4, "{fetched:?}");
    let (status, _, text) =
        get_with(&client, &format!("{endpoint}?xsd=../../etc/passwd"), &[]).await;
    assert_eq!(status, 500);
    soap_fault(&text);
}

#[tokio::test]
async fn ping_for_configuration_answers_the_platform() {
    let p = portal().await;
    let ns = "urn:riv:itintegration:monitoring:PingForConfigurationResponder:1";
    let request = format!(
        "<soapenv:Envelope xmlns:soapenv=\"{SOAP_NS}\" xmlns:urn=\"{REGISTRY_NS}\" xmlns:urn1=\"{ns}\">\
         <soapenv:Header><urn:LogicalAddress>5565594230</urn:LogicalAddress></soapenv:Header><soapenv:Body>\
         <urn1:PingForConfiguration><urn1:serviceContractNamespace>{RESPONDER_NS}</urn1:serviceContractNamespace>\
         <urn1:logicalAddress>5565594230</urn1:logicalAddress><!--You may enter ANY elements at this point-->\
         </urn1:PingForConfiguration></soapenv:Body></soapenv:Envelope>"
    );
    let (status, ctype, text) = send(
        &p.client(),
        &p.url,
        "POST",
        "/rivta/PingForConfiguration",
        Some(request),
    )
    .await;
    assert_eq!(
        (status, ctype.as_str()),
        (200, "text/xml; charset=utf-8"),
        "{text}"
    );
    let envelope = samgate_adapter_core::xml::read::parse(&text).unwrap();
    let body = envelope
        .children
        .iter()
        .find(|c| c.local == "Body")
        .unwrap();
    let answer = &body.children[0];
    assert_eq!(
        (&*answer.ns, &*answer.local),
        (ns, "PingForConfigurationResponse")
    );
    let names: Vec<&str> = answer.children.iter().map(|c| &*c.local).collect();
    assert_eq!(&names[..2], ["version", "pingDateTime"]);
    assert!(answer.children.iter().all(|c| &*c.ns == ns));
    let time = answer.children[1].text.trim();
    assert!(
        time.len() == 14 && time.bytes().all(|b| b.is_ascii_digit()),
        "{time}"
    );
    let configuration: Vec<(String, String)> = answer.children[2..]
        .iter()
        .map(|c| {
            assert_eq!(c.local, "configuration");
            (
                c.children[0].text.to_string(),
                c.children[1].text.to_string(),
            )
        })
        .collect();
    assert!(
        configuration.contains(&("servesServiceContract".into(), "yes".into())),
        "{configuration:?}"
    );
    // A ping reads no patient data: nothing in the access log.
    assert!(p.access_log().is_empty());
}

#[tokio::test]
async fn care_unit_filter_matches_every_participating_unit_and_lists_the_fhir_contributors() {
    let p = portal().await;
    p.submit_example("admissionNotice").await;
    let case_id = p.with_esthers_plan().await;
    let client = p.client();
    let with_units = |units: &[&str]| {
        let filter: String = units
            .iter()
            .map(|u| format!("<g:careUnitHSAId>{u}</g:careUnitHSAId>"))
            .collect();
        get_care_plans(ESTHER).replace("<g:patientId>", &format!("{filter}<g:patientId>"))
    };
    let plans = |body: &str| body.matches("<carePlan>").count();
    for (units, expected) in [
        (&[WARD][..], 1),
        (&["SE2120000449-KHSL"][..], 1),
        (&["SE2321000040-V2K1"][..], 1),
        (&["SE9999999999-NONE"][..], 0),
        (&["SE9999999999-NONE", WARD][..], 1),
    ] {
        let (status, _, body) = send(
            &client,
            &p.url,
            "POST",
            "/rivta/GetCarePlans",
            Some(with_units(units)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(plans(&body), expected, "{units:?}");
    }
    // participatingCareUnitHSAId lists exactly the FHIR contributors.
    let body = soap(&p, &client, ESTHER).await;
    validate_with_xmllint(p.dir.path(), "participants.xml", &body);
    let tree = xml_tree(body.as_bytes());
    fn collect(t: &common::Tree, out: &mut std::collections::BTreeSet<String>) {
        if t.local == "participatingCareUnitHSAId" {
            let ext = t.children.iter().find(|c| c.local == "extension").unwrap();
            out.insert(ext.text.clone());
        }
        t.children.iter().for_each(|c| collect(c, out));
    }
    let mut rivta_units = std::collections::BTreeSet::new();
    collect(&tree, &mut rivta_units);
    let read = fetch(&client, &format!("{}/fhir/CarePlan/{case_id}-sip-1", p.url)).await;
    let plan: serde_json::Value = serde_json::from_str(&read).unwrap();
    let fhir_units: std::collections::BTreeSet<String> = plan["contributor"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["identifier"]["value"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rivta_units, fhir_units);
    assert!(rivta_units.contains(WARD), "{rivta_units:?}");
}

#[tokio::test]
async fn the_printable_plan_has_a_main_landmark_a_viewport_and_a_top_margin_on_screen() {
    let p = portal().await;
    let case_id = p.with_esthers_plan().await;
    let client = p.client();
    for (path, status) in [
        (format!("/sip/{case_id}"), 200),
        ("/sip/no-such-case".into(), 404),
    ] {
        let (got, ctype, page) = send(&client, &p.url, "GET", &path, None).await;
        assert_eq!((got, ctype.as_str()), (status, "text/html; charset=utf-8"));
        assert!(
            page.contains(
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            ),
            "{page}"
        );
        // One main landmark holding the heading; the footer outside it.
        assert_eq!(page.matches("<main>").count(), 1);
        let main = &page[page.find("<main>").unwrap()..page.find("</main>").unwrap()];
        assert!(main.contains("<h1>"));
        assert!(!main.contains("<footer>"));
        // A top margin on screen; print keeps its @page margins.
        assert!(
            page.contains("@media screen { body { margin-top: 10mm;"),
            "{page}"
        );
        assert!(page.contains("@page { size: A4; margin: 18mm 16mm; }"));
    }
}
