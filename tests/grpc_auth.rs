//! gRPC authentication and authorisation through the real listener (issue
//! 21, finding 7): mutual TLS with rcgen certificates whose subject
//! serialNumber is the caller's HSA-id, the access table's units and
//! rights on every kind of request, the gRPC access log, and `samgate
//! serve` refusing plaintext off loopback unless told otherwise (and, as
//! the one process test of gRPC, stopping promptly with a stream open).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pki::{Ca, Credentials};
use common::process::{LOG_WAIT, Stderr, exit_status, stop};
use common::*;
use samgate::api::access::{AccessEntry, AccessTable};
use samgate::api::connection::{GRPC_ALPN, GRPC_SETTINGS, GrpcTransport};
use samgate::api::mtls::{TlsFiles, mutual_tls_config};
use samgate::api::read_log::ReadLog;
use samgate::api::{GrpcSecurity, serve_secured};
use samgate::engine::Engine;
use samgate::gateway::Gateway;
use samgate::portal::audit::AuditLog;
use samgate::routing::{Directory, Router};
use samgate_proto::v1::case_service_client::CaseServiceClient;
use samgate_proto::v1::delivery_service_client::DeliveryServiceClient;
use samgate_proto::v1::translation_service_client::TranslationServiceClient;
use samgate_proto::v1::*;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The hospital ward that writes the example admission notice.
const WARD: &str = "SE2321000164-7381";
/// Linköping home care, which receives it.
const HOME_CARE: &str = "SE2120000449-KHSL";
/// The hospital's integration platform: submits for the ward.
const PLATFORM: &str = "SE2321000016-PLAT";
/// A unit of its own, allowed to receive, but not for home care.
const SNOOP: &str = "SE2321000016-SNOP";
/// A national reader with `read-cases`.
const READER: &str = "SE2321000016-READ";
/// A certificate from the right CA that the access table does not name.
const STRANGER: &str = "SE2321000016-STRA";
/// A hospital journal system's integration engine.
const JOURNAL_ENGINE: &str = "SE2321000164-JRNL";
const ESTHER: &str = "194102069046";

fn entry(hsa_id: &str, units: &[&str], rights: &[&str]) -> AccessEntry {
    AccessEntry {
        hsa_id: hsa_id.into(),
        units: units.iter().map(|s| s.to_string()).collect(),
        rights: rights.iter().map(|s| s.to_string()).collect(),
    }
}

fn access_entries() -> Vec<AccessEntry> {
    vec![
        entry(PLATFORM, &[WARD], &["submit"]),
        entry(HOME_CARE, &[HOME_CARE], &["receive"]),
        entry(SNOOP, &[SNOOP], &["receive", "submit"]),
        entry(READER, &[], &["read-cases"]),
        entry(JOURNAL_ENGINE, &[], &["journal"]),
    ]
}

struct Gate {
    port: u16,
    ca: Ca,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// The gateway over mutual TLS on a free loopback port, with a fresh CA
/// and the access table of `access_entries`.
async fn start() -> Gate {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "samgate-test");
    let server = ca.server(dir.path());
    let tls = mutual_tls_config(
        &TlsFiles {
            cert: server.cert_path.to_str().unwrap(),
            key: server.key_path.to_str().unwrap(),
            client_ca: ca.cert_path.to_str().unwrap(),
        },
        GRPC_SETTINGS,
        &[GRPC_ALPN],
    )
    .unwrap();
    let entries = access_entries();
    let access = AccessTable::new(entries.iter().map(|e| ("test", e))).unwrap();
    let log = AuditLog::open(&dir.path().join("grpc-access.log")).unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    let gateway = Arc::new(Gateway::new(
        store,
        Router::new(Engine::default(), Directory::builtin()),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let security = GrpcSecurity {
        transport: GrpcTransport::MutualTls(tls),
        access: Arc::new(access),
        reads: ReadLog::new(Arc::new(log)),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let journal = Arc::new(
        samgate::journal::Journal::new(gateway.clone(), &samgate::journal::Hl7Config::default())
            .unwrap(),
    );
    let handle = tokio::spawn(serve_secured(gateway, journal, listener, security, async {
        let _ = stopped.await;
    }));
    Gate {
        port,
        ca,
        dir,
        stop: Some(stop),
        handle,
    }
}

/// A TLS endpoint trusting `ca`, presenting `client` if given.
fn endpoint(port: u16, ca: &Path, client: Option<&Credentials>) -> Endpoint {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()))
        .domain_name("localhost");
    if let Some(c) = client {
        tls = tls.identity(Identity::from_pem(&c.cert_pem, &c.key_pem));
    }
    Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .timeout(Duration::from_secs(20))
}

impl Gate {
    /// A channel presenting a certificate from the gateway's CA naming
    /// `hsa_id`.
    async fn channel(&self, hsa_id: &str) -> Channel {
        let client = self.ca.client(self.dir.path(), hsa_id);
        endpoint(self.port, &self.ca.cert_path, Some(&client))
            .connect()
            .await
            .unwrap()
    }

    fn access_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("grpc-access.log"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.handle.await.unwrap().unwrap();
    }
}

/// Whether a call through `endpoint` fails before any service answers:
/// the handshake (or the connection right after it) was refused.
async fn refused(endpoint: Endpoint) -> bool {
    let Ok(channel) = endpoint.connect().await else {
        return true;
    };
    let answer = TranslationServiceClient::new(channel)
        .decode(DecodeRequest {
            dialect: Dialect::Lifecare as i32,
            payload: example_bytes("lifecare", "admissionNotice"),
        })
        .await;
    match answer {
        Ok(_) => false,
        // A refused connection is a transport failure, never a service's
        // own answer.
        Err(status) => !matches!(
            status.code(),
            Code::PermissionDenied | Code::InvalidArgument | Code::Ok
        ),
    }
}

/// The admission notice submitted by the platform for the ward; its case
/// id.
async fn admit(gate: &Gate) -> String {
    CaseServiceClient::new(gate.channel(PLATFORM).await)
        .submit_raw(SubmitRawRequest {
            dialect: Dialect::Lifecare as i32,
            payload: example_bytes("lifecare", "admissionNotice"),
        })
        .await
        .unwrap()
        .into_inner()
        .case_id
}

fn pull(hsa: &str) -> PullRequest {
    PullRequest {
        recipient_hsa_id: hsa.into(),
        max: 0,
    }
}

#[tokio::test]
async fn a_caller_reads_and_acknowledges_only_its_own_units_deliveries() {
    let gate = start().await;
    let case_id = admit(&gate).await;
    let mut snoop = DeliveryServiceClient::new(gate.channel(SNOOP).await);
    let mut home = DeliveryServiceClient::new(gate.channel(HOME_CARE).await);

    // Another unit's deliveries: refused, pulled or streamed.
    let status = snoop.pull(pull(HOME_CARE)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = snoop.subscribe(pull(HOME_CARE)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // The real owner sees its delivery; the snoop learns its message id
    // somehow and acknowledges it: refused, and nothing is acknowledged.
    let pending = home.pull(pull(HOME_CARE)).await.unwrap().into_inner();
    assert_eq!(pending.deliveries.len(), 1);
    let message_id = pending.deliveries[0].message_id.clone();
    let status = snoop
        .ack(AckRequest {
            recipient_hsa_id: HOME_CARE.into(),
            message_ids: vec![message_id.clone()],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // An ack naming its own unit acknowledges nothing of home care's.
    let own = snoop
        .ack(AckRequest {
            recipient_hsa_id: SNOOP.into(),
            message_ids: vec![message_id.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.acknowledged, 0);
    let still = home.pull(pull(HOME_CARE)).await.unwrap().into_inner();
    assert_eq!(
        still
            .deliveries
            .iter()
            .map(|d| d.message_id.as_str())
            .collect::<Vec<_>>(),
        [message_id.as_str()],
        "the delivery is still pending for its owner"
    );
    let acked = home
        .ack(AckRequest {
            recipient_hsa_id: HOME_CARE.into(),
            message_ids: vec![message_id],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.acknowledged, 1);

    // The platform may submit but not receive, even for its own unit.
    let status = DeliveryServiceClient::new(gate.channel(PLATFORM).await)
        .pull(pull(WARD))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // Each read is in the access log, with who, which case and patient,
    // and the outcome.
    let log = gate.access_log();
    let lines = |caller: &str, what: &str, result: &str| {
        log.iter()
            .filter(|l| l["caller"] == caller && l["what"] == what && l["result"] == result)
            .collect::<Vec<_>>()
    };
    let home_pulls = lines(HOME_CARE, "Pull", "ok");
    assert_eq!(home_pulls.len(), 2, "{log:#?}");
    for l in &home_pulls {
        assert_eq!(l["caseId"], case_id.as_str());
        assert_eq!(l["patientId"], ESTHER);
        assert_eq!(l["unit"], HOME_CARE);
        assert!(l["at"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(lines(SNOOP, "Pull", "denied").len(), 1, "{log:#?}");
    assert_eq!(lines(SNOOP, "Subscribe", "denied").len(), 1, "{log:#?}");
    gate.stop().await;
}

#[tokio::test]
async fn a_caller_submits_only_as_a_unit_it_acts_for() {
    let gate = start().await;
    let mut snoop = CaseServiceClient::new(gate.channel(SNOOP).await);
    // The ward's notice, canonical or in its dialect (decoded, then the
    // author checked): the snoop does not act for the ward.
    let status = snoop
        .submit_event(SubmitEventRequest {
            event: Some(canonical_example("admissionNotice")),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains(WARD), "{}", status.message());
    let status = snoop
        .submit_raw(SubmitRawRequest {
            dialect: Dialect::Lifecare as i32,
            payload: example_bytes("lifecare", "admissionNotice"),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // Home care may receive, not submit; a stranger may do nothing.
    for hsa_id in [HOME_CARE, STRANGER] {
        let status = CaseServiceClient::new(gate.channel(hsa_id).await)
            .submit_event(SubmitEventRequest {
                event: Some(canonical_example("admissionNotice")),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{hsa_id}");
    }
    // Nothing was stored: the platform's own submission is the first.
    let mut platform = CaseServiceClient::new(gate.channel(PLATFORM).await);
    let first = platform
        .submit_event(SubmitEventRequest {
            event: Some(canonical_example("admissionNotice")),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate);
    // A stranger is still authenticated: it may translate.
    TranslationServiceClient::new(gate.channel(STRANGER).await)
        .decode(DecodeRequest {
            dialect: Dialect::Lifecare as i32,
            payload: example_bytes("lifecare", "admissionNotice"),
        })
        .await
        .unwrap();
    gate.stop().await;
}

#[tokio::test]
async fn only_a_caller_with_the_journal_right_sends_the_journal_feed() {
    let gate = start().await;
    let adt = SubmitRawRequest {
        dialect: Dialect::Hl7v2 as i32,
        payload: adt_a01("GRPC-1", "V-GRPC-1"),
    };
    let status = CaseServiceClient::new(gate.channel(PLATFORM).await)
        .submit_raw(adt.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let answer = CaseServiceClient::new(gate.channel(JOURNAL_ENGINE).await)
        .submit_raw(adt)
        .await
        .unwrap()
        .into_inner();
    let ack = String::from_utf8(answer.hl7_ack).unwrap();
    assert!(ack.contains("\rMSA|AA|GRPC-1\r"), "{ack}");
    assert!(answer.case_id.is_empty(), "an ADT message opens no case");
    gate.stop().await;
}

#[tokio::test]
async fn indicators_are_computed_only_with_read_cases() {
    use samgate_proto::v1::indicator_service_client::IndicatorServiceClient;
    let gate = start().await;
    let ask = ComputeIndicatorsRequest {
        from: "2024-10".into(),
        to: "2024-11".into(),
        by: "county".into(),
        suppress_small: true,
    };
    let status = IndicatorServiceClient::new(gate.channel(PLATFORM).await)
        .compute(ask.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    IndicatorServiceClient::new(gate.channel(READER).await)
        .compute(ask)
        .await
        .unwrap();
    gate.stop().await;
}

#[tokio::test]
async fn cases_are_read_only_by_their_participants_or_with_read_cases() {
    let gate = start().await;
    let case_id = admit(&gate).await;
    let get = |id: &str| GetCaseRequest { case_id: id.into() };

    let mut snoop = CaseServiceClient::new(gate.channel(SNOOP).await);
    let status = snoop.get_case(get(&case_id)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = snoop
        .watch_case(WatchCaseRequest {
            case_id: case_id.clone(),
            from_sequence: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = snoop
        .list_cases(ListCasesRequest {
            participant_hsa_id: HOME_CARE.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // Without a filter, the snoop's only unit is the filter: no case.
    let own = snoop
        .list_cases(ListCasesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(own.cases.is_empty());

    // Home care takes part; the reader may read every case.
    let mut home = CaseServiceClient::new(gate.channel(HOME_CARE).await);
    assert_eq!(
        home.get_case(get(&case_id)).await.unwrap().into_inner().id,
        case_id
    );
    let mut reader = CaseServiceClient::new(gate.channel(READER).await);
    assert_eq!(
        reader
            .get_case(get(&case_id))
            .await
            .unwrap()
            .into_inner()
            .id,
        case_id
    );
    let listed = reader
        .list_cases(ListCasesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.cases.len(), 1);
    let mut watch = home
        .watch_case(WatchCaseRequest {
            case_id: case_id.clone(),
            from_sequence: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().sequence, 1);
    // An open watch would hold the server's shutdown.
    drop(watch);

    let log = gate.access_log();
    let find = |caller: &str, what: &str| {
        log.iter()
            .filter(|l| l["caller"] == caller && l["what"] == what)
            .map(|l| {
                (
                    l["result"].as_str().unwrap().to_owned(),
                    l["caseId"].as_str().unwrap_or("").to_owned(),
                    l["patientId"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    let denied = ("denied".to_owned(), case_id.clone(), ESTHER.to_owned());
    let ok = ("ok".to_owned(), case_id.clone(), ESTHER.to_owned());
    assert_eq!(find(SNOOP, "GetCase"), vec![denied.clone()]);
    assert_eq!(find(SNOOP, "WatchCase"), vec![denied]);
    assert_eq!(
        find(SNOOP, "ListCases"),
        [("denied".to_owned(), String::new(), String::new())]
    );
    assert_eq!(find(HOME_CARE, "GetCase"), vec![ok.clone()]);
    assert_eq!(find(HOME_CARE, "WatchCase"), vec![ok.clone()]);
    assert_eq!(find(READER, "GetCase"), vec![ok.clone()]);
    assert_eq!(find(READER, "ListCases"), vec![ok]);
    gate.stop().await;
}

#[tokio::test]
async fn a_client_without_a_good_certificate_is_refused() {
    let gate = start().await;
    let other_dir = gate.dir.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other_ca = Ca::new(&other_dir, "other");
    let foreign = other_ca.client(&other_dir, HOME_CARE);
    let anonymous = gate.ca.client(gate.dir.path(), "");
    let ca = &gate.ca.cert_path;
    assert!(
        refused(endpoint(gate.port, ca, None)).await,
        "no certificate"
    );
    assert!(
        refused(endpoint(gate.port, ca, Some(&foreign))).await,
        "a certificate from another CA"
    );
    assert!(
        refused(endpoint(gate.port, ca, Some(&anonymous))).await,
        "a certificate without serialNumber"
    );
    // The same call with a good certificate is answered.
    let good = gate.ca.client(gate.dir.path(), STRANGER);
    assert!(!refused(endpoint(gate.port, ca, Some(&good))).await);
    // Health checking stays open to any authenticated connection.
    let health = tonic_health::pb::health_client::HealthClient::new(gate.channel(STRANGER).await)
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, 1);
    gate.stop().await;
}

fn samgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_samgate"))
}

/// An access table of one entry for `PLATFORM`, acting for the ward with
/// `rights`, written to `dir`.
fn write_table(dir: &Path, rights: &str) -> PathBuf {
    let table = dir.join("grpc-access.toml");
    let text =
        format!("[[access]]\nhsa_id = \"{PLATFORM}\"\nunits = [\"{WARD}\"]\nrights = [{rights}]\n");
    std::fs::write(&table, text).unwrap();
    table
}

/// `samgate serve` in `data_dir` with `args` and `env`, its standard
/// error followed.
fn spawn_serve(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Child, Stderr) {
    let mut child = samgate()
        .arg("--data-dir")
        .arg(data_dir)
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .env("SAMGATE_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Stderr::follow(&mut child);
    (child, stderr)
}

/// Waits until a plaintext `serve` says it serves gRPC and answers a
/// health check on loopback: then its signal handlers are in place. Its
/// port.
async fn wait_until_serving(child: &mut Child, stderr: &Stderr) -> u16 {
    stderr.wait_for("samgate serving gRPC", 1, child).await;
    let tail = stderr.tail();
    let line = tail
        .lines()
        .find(|l| l.contains("samgate serving gRPC"))
        .unwrap();
    let line: serde_json::Value = serde_json::from_str(line).unwrap();
    let address = line["fields"]["address"]
        .as_str()
        .unwrap_or_else(|| panic!("no address in {line}"));
    let port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    let started = Instant::now();
    loop {
        let url = format!("http://127.0.0.1:{port}");
        if let Ok(channel) = Channel::from_shared(url).unwrap().connect().await {
            let check = tonic_health::pb::health_client::HealthClient::new(channel)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await;
            if check.is_ok() {
                return port;
            }
        }
        assert!(started.elapsed() < LOG_WAIT, "port {port} does not answer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for a `serve` that should refuse to start; its standard error.
async fn refused_start(mut child: Child, stderr: Stderr) -> String {
    let status = exit_status(&mut child, LOG_WAIT).await;
    let log = stderr.finish();
    assert!(!status.success(), "{log}");
    log
}

#[tokio::test]
async fn serve_refuses_plaintext_off_loopback_unless_told_and_then_warns() {
    let dir = tempfile::tempdir().unwrap();
    let (child, stderr) = spawn_serve(dir.path(), &["--listen", "0.0.0.0:0"], &[]);
    let log = refused_start(child, stderr).await;
    assert!(
        log.contains("refusing to serve gRPC in plaintext")
            && log.contains("not a loopback address")
            && log.contains("--insecure-plaintext")
            && log.contains("grpc.tls_cert"),
        "{log}"
    );
    // Nothing was opened before the refusal.
    assert!(!dir.path().join("samgate.db").exists());

    let (mut child, stderr) = spawn_serve(
        dir.path(),
        &["--listen", "0.0.0.0:0", "--insecure-plaintext"],
        &[],
    );
    wait_until_serving(&mut child, &stderr).await;
    let log = stop(child, stderr).await;
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("--insecure-plaintext")),
        "{log}"
    );

    // The same from the configuration.
    let (mut child, stderr) = spawn_serve(
        dir.path(),
        &["--listen", "0.0.0.0:0"],
        &[("SAMGATE_GRPC_INSECURE_PLAINTEXT", "true")],
    );
    wait_until_serving(&mut child, &stderr).await;
    stop(child, stderr).await;
}

#[tokio::test]
async fn serve_refuses_an_access_table_that_does_not_validate() {
    let dir = tempfile::tempdir().unwrap();
    let table = write_table(dir.path(), "\"write\"");
    let (child, stderr) = spawn_serve(
        dir.path(),
        &["--listen", "127.0.0.1:0"],
        &[("SAMGATE_GRPC_ACCESS_TABLE", table.to_str().unwrap())],
    );
    let log = refused_start(child, stderr).await;
    assert!(
        log.contains(PLATFORM) && log.contains("\"write\" is not a right"),
        "{log}"
    );
}

/// `samgate serve` as configured for production: mutual TLS from
/// `[grpc]`, the access table from a file, the access log in the data
/// directory.
#[tokio::test]
async fn serve_takes_mutual_tls_and_the_access_table_from_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "samgate-test");
    let server = ca.server(dir.path());
    let table = write_table(dir.path(), "\"submit\"");
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let (cert, key, client_ca, table) = (
        path(&server.cert_path),
        path(&server.key_path),
        path(&ca.cert_path),
        path(&table),
    );
    let (child, stderr) = spawn_serve(
        &data,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[
            ("SAMGATE_GRPC_TLS_CERT", &cert),
            ("SAMGATE_GRPC_TLS_KEY", &key),
            ("SAMGATE_GRPC_CLIENT_CA", &client_ca),
            ("SAMGATE_GRPC_ACCESS_TABLE", &table),
        ],
    );
    let platform = ca.client(dir.path(), PLATFORM);
    let started = Instant::now();
    let channel = loop {
        match endpoint(port, &ca.cert_path, Some(&platform))
            .connect()
            .await
        {
            Ok(c) => break c,
            Err(e) => {
                assert!(started.elapsed() < LOG_WAIT, "{e}: {}", stderr.tail());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let mut client = CaseServiceClient::new(channel);
    client
        .submit_event(SubmitEventRequest {
            event: Some(canonical_example("admissionNotice")),
        })
        .await
        .unwrap();
    let mut other = canonical_example("admissionNotice");
    other.author.as_mut().unwrap().hsa_id = HOME_CARE.into();
    let status = client
        .submit_event(SubmitEventRequest { event: Some(other) })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // Plaintext is not served on the TLS port.
    let plain = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(plain) = plain {
        assert!(
            CaseServiceClient::new(plain)
                .get_case(GetCaseRequest::default())
                .await
                .is_err()
        );
    }
    drop(client);
    stop(child, stderr).await;
    // Opened, owner-only, though nothing was read yet.
    assert!(data.join("grpc-access.log").exists());
}

/// How soon `serve` must exit after SIGTERM with a stream open: it ends the
/// stream rather than wait for the client (issue 22, item 7: it waited
/// forever for an idle subscriber).
const PROMPT_EXIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn serve_ends_an_idle_subscription_on_sigterm_and_exits_promptly() {
    use tokio_stream::StreamExt;

    let dir = tempfile::tempdir().unwrap();
    let (mut child, stderr) = spawn_serve(dir.path(), &["--listen", "127.0.0.1:0"], &[]);
    let port = wait_until_serving(&mut child, &stderr).await;
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    // Nothing is pending for home care: the stream idles.
    let mut subscription = DeliveryServiceClient::new(channel)
        .subscribe(pull(HOME_CARE))
        .await
        .unwrap()
        .into_inner();
    common::process::terminate(&child);
    let status = exit_status(&mut child, PROMPT_EXIT).await;
    let log = stderr.finish();
    assert!(status.success(), "{status}: {log}");
    let ended = subscription
        .next()
        .await
        .expect("an ending status")
        .unwrap_err();
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert_eq!(ended.message(), "server shutting down");
    assert!(log.contains("gRPC draining"), "{log}");
}
