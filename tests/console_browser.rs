//! The operator console driven in a real browser (issue 26): headless
//! Chromium under Debian's chromedriver, through WebDriver, against
//! `samgate serve` as an operator runs it — the demo's data, RabbitMQ for
//! real. The operator types the token into the login page, searches for
//! Esther and opens her timeline, replays a quarantined delivery and
//! watches it become delivered, discards another with a reason that the
//! access log keeps, and sees an overdue SIP invitation under Tidsgränser
//! (and on `samgate.alerts`) until the invitation comes.
//!
//! Screenshots of each step go to `SAMGATE_TEST_OUTPUT` when it is set;
//! `SAMGATE_TEST_OUTPUT=/tmp/shots cargo test --test console_browser`
//! leaves them there to look at.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::process::{Stderr, demo, stop};
use common::webdriver::{BODY, Browser, row};
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeleteOptions};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use samgate::store::{DeliveryStatus, Store};

const TOKEN: &str = "browser-test-token-0123456789abcdef";
const ESTHER: &str = "194102069046";
/// A unit every story's case sends to, in Cosmic Link.
const KHSL: &str = "SE2120000449-KHSL";
/// The longest the test waits for the gateway to deliver or raise.
const WAIT: Duration = Duration::from_secs(60);

/// `samgate serve` with its console on `data`, and RabbitMQ under
/// `prefix` when given.
struct Served {
    /// Taken by [`Served::stop`]; a failed test kills it on drop.
    child: Option<Child>,
    stderr: Option<Stderr>,
    console: String,
    /// The metrics listener's address.
    metrics: String,
}

impl Served {
    /// Ends `serve` with SIGTERM; returns its log once it has exited.
    async fn stop(mut self) -> String {
        stop(self.child.take().unwrap(), self.stderr.take().unwrap()).await
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn serve(data: &Path, amqp_prefix: Option<&str>) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_samgate"));
    command
        .arg("--data-dir")
        .arg(data)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .env("SAMGATE_CONSOLE_LISTEN", "127.0.0.1:0")
        .env("SAMGATE_CONSOLE_TOKEN", TOKEN)
        .env("SAMGATE_METRICS_LISTEN", "127.0.0.1:0")
        .env("SAMGATE_LOG_FORMAT", "json")
        .env_remove("SAMGATE_AMQP_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(prefix) = amqp_prefix {
        command
            .env("SAMGATE_AMQP_URL", common::amqp_url())
            .env("SAMGATE_AMQP_PREFIX", prefix);
    }
    let mut child = command.spawn().unwrap();
    let stderr = Stderr::follow(&mut child);
    let said = "samgate serving the operator console";
    stderr.wait_for(said, 1, &mut child).await;
    if amqp_prefix.is_some() {
        // Messages published before the queues exist would be lost, and
        // the replay needs the relay.
        stderr
            .wait_for("inbound consumers connected", 1, &mut child)
            .await;
        stderr.wait_for("relay connected", 1, &mut child).await;
    }
    stderr
        .wait_for("samgate serving metrics and probes", 1, &mut child)
        .await;
    let address = |what: &str| {
        let tail = stderr.tail();
        let line = tail.lines().find(|l| l.contains(what)).unwrap();
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        line["fields"]["address"].as_str().unwrap().to_owned()
    };
    let (console, metrics) = (address(said), address("samgate serving metrics and probes"));
    Served {
        child: Some(child),
        stderr: Some(stderr),
        console: format!("http://{console}"),
        metrics,
    }
}

/// The access log's records.
fn access_log(data: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(data.join("console-access.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Logs in as an operator does who opens the console's address: the
/// login page, the token typed into it.
async fn log_in(browser: &Browser, console: &str, path: &str) {
    browser.open(&format!("{console}{path}")).await;
    assert_eq!(browser.heading().await, "Inloggning krävs");
    browser.type_into("#token", TOKEN).await;
    browser.click("#logga-in").await;
    assert_ne!(browser.heading().await, "Inloggning krävs");
    assert_eq!(browser.path().await, path, "sent on to the page asked for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_logs_in_with_the_token_and_reads_esthers_timeline_after_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo(&data);
    let served = serve(&data, None).await;
    let console = served.console.clone();
    let browser = Browser::start().await;

    // Without the token: the login page, for every page; a wrong token
    // is refused there too.
    browser.open(&format!("{console}/arenden")).await;
    assert_eq!(browser.heading().await, "Inloggning krävs");
    assert!(!browser.text().await.contains("Esther"));
    browser.screenshot("console-1-login").await;
    browser.type_into("#token", "not-the-token").await;
    browser.click("#logga-in").await;
    assert_eq!(browser.heading().await, "Inloggning krävs");
    assert!(browser.text().await.contains("Fel token"));
    browser.open(&format!("{console}/arenden/{}", "x")).await;
    assert_eq!(browser.heading().await, "Inloggning krävs");

    // With it: in, and on to the page asked for.
    log_in(&browser, &console, "/arenden").await;
    browser.type_into("input[name=q]", "19410206-9046").await;
    browser.click("form[action=\"/arenden\"] button").await;
    assert!(browser.text().await.contains("Sökresultat"));
    browser.click("table a[href^=\"/arenden/\"]").await;
    assert_eq!(browser.heading().await, "Ärende");
    let page = browser.text().await;
    assert!(page.contains("Esther"), "{page}");
    assert!(page.contains("Händelser"));
    // The timeline: every event of the demo's story, in its own row.
    let timeline = browser
        .all("//h2[.='Händelser']/following-sibling::table[1]//tbody/tr")
        .await;
    assert!(
        timeline.len() >= 7,
        "{} events in the timeline",
        timeline.len()
    );
    for what in [
        "Inskrivningsmeddelande",
        "Utskrivningsklar",
        "Kallelse till SIP",
        "Utskrivningsmeddelande",
    ] {
        assert!(
            page.contains(what),
            "{what} missing from the timeline: {page}"
        );
    }
    browser.screenshot("console-2-esthers-case").await;
    browser.open(&format!("{console}/aktorer")).await;
    assert!(browser.text().await.contains("Utan RabbitMQ"));
    browser.close().await;

    let log = served.stop().await;
    assert!(
        !log.contains(ESTHER),
        "no personnummer in the application log"
    );
    assert!(!log.contains(TOKEN), "a configured token is never printed");
    let access = access_log(&data);
    assert!(
        access
            .iter()
            .any(|r| r["what"] == "case-search-personnummer"
                && r["patientId"] == ESTHER
                && r["operator"] == "console"),
        "{access:?}"
    );
    assert!(
        access
            .iter()
            .any(|r| r["what"] == "case-view" && r["patientId"] == ESTHER)
    );
}

/// A connection and a channel to the tests' RabbitMQ.
async fn broker() -> (Connection, Channel) {
    let url = common::amqp_url();
    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| {
            panic!("RabbitMQ at {url} is needed by this test and cannot be reached: {e} (scripts/test starts it)")
        });
    let channel = connection.create_channel().await.unwrap();
    (connection, channel)
}

/// Deletes the queues and exchanges a test's gateway declared.
async fn clean(channel: &Channel, prefix: &str) {
    let names = samgate::transport::topology::Names::new(prefix);
    let directory = samgate::routing::Directory::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("config/directory"),
    )
    .unwrap();
    common::clean_amqp(channel, &names, &directory).await;
}

fn prefix(test: &str) -> String {
    format!("samgate-test-{test}-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_replays_one_quarantined_delivery_and_discards_another_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo(&data);
    // Two of the demo's deliveries to KHSL quarantined, as an operator
    // finds them after a queue was missing.
    let (case_id, replayed, discarded) = {
        let store: Arc<dyn Store> = samgate::store::open("", &data).await.unwrap();
        let to_khsl: Vec<_> = store
            .case_deliveries(&esthers_case(&store).await)
            .await
            .unwrap()
            .into_iter()
            .filter(|d| d.recipient == KHSL && d.status == DeliveryStatus::Pending)
            .collect();
        assert!(to_khsl.len() >= 2, "the demo sends KHSL at least two");
        for d in &to_khsl[..2] {
            store
                .quarantine_delivery(
                    &d.message_id,
                    "queue-missing: samgate.out.SE2120000449-KHSL",
                )
                .await
                .unwrap();
        }
        (
            to_khsl[0].case_id.clone(),
            to_khsl[0].message_id.clone(),
            to_khsl[1].message_id.clone(),
        )
    };
    let prefix = prefix("console-replay");
    let _cleanup = common::amqp::DeleteOnPanic::new(
        &samgate::transport::topology::Names::new(&prefix),
        &samgate::routing::Directory::builtin(),
    );
    let (_connection, channel) = broker().await;
    let served = serve(&data, Some(&prefix)).await;
    let console = served.console.clone();
    let browser = Browser::start().await;
    log_in(&browser, &console, "/karantan").await;
    let page = browser.text().await;
    assert!(page.contains("queue-missing"), "{page}");
    assert!(
        page.contains(&replayed) && page.contains(&discarded),
        "{page}"
    );
    browser.screenshot("console-3-quarantine").await;

    // Skicka igen: back to the outbox, and the relay delivers it.
    browser
        .click(&format!(
            "form[action=\"/karantan/{replayed}/replay\"] button"
        ))
        .await;
    let page = browser.text().await;
    assert!(!page.contains(&replayed), "no longer quarantined: {page}");
    browser.open(&format!("{console}/arenden/{case_id}")).await;
    browser
        .reload_until(&row(&replayed), "the replayed delivery delivered", |r| {
            r.contains("Levererad")
        })
        .await;
    browser.screenshot("console-4-replayed-and-delivered").await;
    // And it is in KHSL's queue, under its message id.
    let queue = format!("{prefix}.out.{KHSL}");
    let arrived = common::eventually("the replayed message in KHSL's queue", WAIT, async || {
        loop {
            let got = channel
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .unwrap()?;
            if got.properties.message_id().as_ref().map(|m| m.as_str()) == Some(replayed.as_str()) {
                return Some(got.delivery.data.clone());
            }
        }
    })
    .await;
    assert!(!arrived.is_empty());

    // Kassera, with a reason the access log keeps.
    browser.open(&format!("{console}/karantan")).await;
    let reason = "Dubblett, redan skickad per telefon till hemsjukvården";
    browser
        .type_into(
            &format!("form[action=\"/karantan/{discarded}/discard\"] input[name=reason]"),
            reason,
        )
        .await;
    browser
        .click(&format!(
            "form[action=\"/karantan/{discarded}/discard\"] button"
        ))
        .await;
    let page = browser.text().await;
    assert!(!page.contains(&discarded), "no longer quarantined: {page}");
    browser.screenshot("console-5-discarded").await;
    browser.open(&format!("{console}/arenden/{case_id}")).await;
    let status = browser.text_at(&row(&discarded)).await;
    assert!(
        status.contains("Kasserad") && status.contains(reason),
        "{status}"
    );
    // Aktörer: each unit's queue and how many messages wait in it, as the
    // broker says. Nobody consumes the ward's queue in this test.
    browser.open(&format!("{console}/aktorer")).await;
    let ward = "SE2321000164-7381";
    let depth = browser.text_at(&format!("{}/td[last()]", row(ward))).await;
    let waiting: u32 = depth
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("a depth: {depth}"));
    assert!(
        waiting >= 1,
        "the demo's deliveries to the ward wait in its queue"
    );
    browser.screenshot("console-5b-actors").await;
    browser.close().await;

    // The two actions counted in the metrics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = reqwest::get(format!("http://{}/metrics", served.metrics))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for action in ["replay", "discard"] {
        let sample = format!("samgate_operator_actions_total{{action=\"{action}\"}} 1");
        assert!(text.contains(&sample), "{sample} missing:\n{text}");
    }

    let log = served.stop().await;
    assert!(
        !log.contains(ESTHER),
        "no personnummer in the application log"
    );
    let access = access_log(&data);
    assert!(
        access.iter().any(|r| r["what"] == "quarantine-replay"
            && r["messageId"] == replayed.as_str()
            && r["result"] == "ok"),
        "{access:?}"
    );
    assert!(
        access.iter().any(|r| r["what"] == "quarantine-discard"
            && r["messageId"] == discarded.as_str()
            && r["reason"] == reason),
        "the discard's reason in the access log: {access:?}"
    );
    let store = samgate::store::open("", &data).await.unwrap();
    assert_eq!(
        store.delivery(&replayed).await.unwrap().unwrap().status,
        DeliveryStatus::Delivered
    );
    assert_eq!(
        store.delivery(&discarded).await.unwrap().unwrap().status,
        DeliveryStatus::Discarded
    );
    clean(&channel, &prefix).await;
}

/// The demo's one case.
async fn esthers_case(store: &Arc<dyn Store>) -> String {
    let cases = store.cases_for_patient(ESTHER).await.unwrap();
    assert_eq!(cases.len(), 1, "{cases:?}");
    cases[0].id.clone()
}

/// Publishes an example message to the gateway's inbound queue.
async fn publish_example(channel: &Channel, prefix: &str, dialect: &str, ty: &str) {
    let body = common::example_bytes(dialect, ty);
    channel
        .basic_publish(
            "".into(),
            format!("{prefix}.in.{dialect}").as_str().into(),
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
}

/// The next alert on `<prefix>.alerts` of `kind` in `state`.
async fn alert(channel: &Channel, prefix: &str, kind: &str, state: &str) -> serde_json::Value {
    let queue = format!("{prefix}.alerts");
    common::eventually(&format!("a {state} {kind} on {queue}"), WAIT, async || {
        loop {
            let got = channel
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .unwrap()?;
            let text = String::from_utf8(got.delivery.data.clone()).unwrap();
            assert!(
                !text.contains(ESTHER),
                "no personnummer in an alert: {text}"
            );
            assert!(!text.contains("Esther"), "no name in an alert: {text}");
            let body: serde_json::Value = serde_json::from_str(&text).unwrap();
            if body["kind"] == kind && body["state"] == state {
                return Some(body);
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_sip_invitation_is_under_tidsgranser_and_on_the_alerts_queue_until_it_comes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let prefix = prefix("console-alerts");
    let _cleanup = common::amqp::DeleteOnPanic::new(
        &samgate::transport::topology::Names::new(&prefix),
        &samgate::routing::Directory::builtin(),
    );
    let (_connection, channel) = broker().await;
    let served = serve(&data, Some(&prefix)).await;
    let console = served.console.clone();
    // Ready for discharge on 1 November 2024, and no SIP invitation since.
    publish_example(&channel, &prefix, "lifecare", "admissionNotice").await;
    publish_example(&channel, &prefix, "lifecare", "dischargeReady").await;
    let raised = alert(&channel, &prefix, "sip-invitation-overdue", "raised").await;
    let case_id = raised["caseId"].as_str().unwrap().to_owned();
    assert!(
        raised["dueAt"]
            .as_str()
            .is_some_and(|d| d.starts_with("2024-11-")),
        "due days after the readyAt of 1 November 2024: {raised}"
    );
    assert!(
        raised["units"].as_array().is_some_and(|u| !u.is_empty()),
        "{raised}"
    );

    let browser = Browser::start().await;
    log_in(&browser, &console, "/tidsgranser").await;
    let overdue = |text: &str| -> String {
        let end = text.find("Inom 24 timmar").unwrap_or(text.len());
        text[..end].to_owned()
    };
    let page = browser
        .reload_until(BODY, "the overdue invitation under Tidsgränser", |t| {
            overdue(t).contains("Kallelse till SIP försenad")
        })
        .await;
    assert!(overdue(&page).contains(&case_id), "{page}");
    browser.screenshot("console-6-sip-invitation-overdue").await;
    // Översikt counts it too.
    browser.open(&format!("{console}/")).await;
    let overview = browser.text().await;
    assert!(
        overview.contains("Kallelse till SIP försenad"),
        "{overview}"
    );
    // And the two messages in, over the last hour.
    let received: u64 = overview
        .split(" meddelanden in")
        .next()
        .and_then(|s| s.rsplit(char::is_whitespace).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of messages in: {overview}"));
    assert_eq!(received, 2, "{overview}");
    browser.screenshot("console-6b-overview").await;

    // The municipality's invitation arrives: the alert is cleared, on the
    // queue and in the console.
    publish_example(&channel, &prefix, "cosmic-link", "careContactAssigned").await;
    publish_example(&channel, &prefix, "cosmic-link", "sipInvitation").await;
    let cleared = alert(&channel, &prefix, "sip-invitation-overdue", "cleared").await;
    assert_eq!(cleared["caseId"], case_id.as_str());
    browser.open(&format!("{console}/tidsgranser")).await;
    let page = browser
        .reload_until(BODY, "the invitation's alert gone from Tidsgränser", |t| {
            !overdue(t).contains("Kallelse till SIP försenad")
        })
        .await;
    assert!(
        overdue(&page).contains("Betalningsansvar har inträtt"),
        "liability stays until the discharge: {page}"
    );
    browser.screenshot("console-7-invitation-arrived").await;
    browser.close().await;

    let log = served.stop().await;
    assert!(
        !log.contains(ESTHER),
        "no personnummer in the application log"
    );
    clean(&channel, &prefix).await;
    let _ = channel
        .queue_delete(
            format!("{prefix}.alerts").as_str().into(),
            QueueDeleteOptions::default(),
        )
        .await;
}
