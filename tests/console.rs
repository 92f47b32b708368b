//! The operator console (issue 26 item 3) against a real store holding the
//! demo's story: the token gate, the session cookie, CSRF, replay and
//! discard of quarantined deliveries, the case page, the search by
//! personnummer, the access log, escaping, and headless Chromium reading
//! the pages as an operator's browser would.

mod common;

use common::browser::chromium;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use samgate::config::Config;
use samgate::console::Console;
use samgate::dialects::DialectName;
use samgate::gateway::Gateway;
use samgate::portal::PublishRules;
use samgate::portal::audit::AuditLog;
use samgate::routing::{Directory, Router};
use samgate::store::{Alert, DeliveryStatus, Store};
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789";
const ESTHER: &str = "194102069046";
/// A unit of the story, renamed in the test's directory so that every page
/// showing it must escape it.
const KHSL: &str = "SE2120000449-KHSL";
const TRICKY_NAME: &str = "Linköpings kommun <&> hemsjukvård";
const TRICKY_ESCAPED: &str = "Linköpings kommun &lt;&amp;&gt; hemsjukvård";

struct Rig {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    console: Arc<Console>,
    case_id: String,
}

/// The built-in directory's files, with KHSL renamed.
fn directory(dir: &Path) -> Directory {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/directory");
    let to = dir.join("directory");
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap().replace(
                "\"Linköpings kommun, hemsjukvård\"",
                &format!("\"{TRICKY_NAME}\""),
            );
            std::fs::write(to.join(path.file_name().unwrap()), text).unwrap();
        }
    }
    let directory = Directory::load(&to).unwrap();
    assert_eq!(directory.unit(KHSL).unwrap().name, TRICKY_NAME);
    directory
}

/// The demo's story through a gateway on SQLite, two of its deliveries
/// quarantined, one deadline falling due within the day and one alert.
async fn rig() -> Rig {
    rig_on("").await
}

/// A schema of its own on the tests' PostgreSQL. Not
/// `common::postgres_schema_url`: its first call drops every test schema,
/// and another test binary may be using one now; the next run of those
/// tests drops this one.
async fn postgres_schema() -> String {
    use sqlx::Connection;
    let base = common::postgres_url();
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {base} is needed by this test and cannot be reached: {e} (scripts/test starts it)")
    });
    let schema = format!("samgate_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// The rig on the store `url` names (empty: SQLite in the rig's folder).
async fn rig_on(url: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open(url, dir.path()).await.unwrap();
    let config = Config::load(None, Vec::new()).unwrap();
    let router = Router::new(config.engine(), directory(dir.path()));
    let gateway = Arc::new(Gateway::new(store.clone(), router));
    let mut case_id = String::new();
    for (dialect, name, ty) in [
        (DialectName::Lifecare, "lifecare", "admissionNotice"),
        (DialectName::CosmicLink, "cosmic-link", "inNotice"),
        (
            DialectName::CosmicLink,
            "cosmic-link",
            "careContactAssigned",
        ),
        (DialectName::Lifecare, "lifecare", "dischargeReady"),
        (DialectName::CosmicLink, "cosmic-link", "sipInvitation"),
        (DialectName::CosmicLink, "cosmic-link", "sipPlan"),
        (DialectName::Lifecare, "lifecare", "dischargeNotice"),
    ] {
        let bytes = common::example_bytes(name, ty);
        let (submitted, _) = gateway.submit_raw(dialect, &bytes).await.unwrap();
        case_id = submitted.case_id;
    }
    // Two deliveries to KHSL (a known unit, so a replay can make them)
    // are quarantined as an operator would find them.
    let to_khsl: Vec<_> = store
        .case_deliveries(&case_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.recipient == KHSL && d.status == DeliveryStatus::Pending)
        .collect();
    assert!(to_khsl.len() >= 2, "the story sends KHSL at least two");
    for d in &to_khsl[..2] {
        store
            .quarantine_delivery(&d.message_id, "queue-missing: samgate.out.test")
            .await
            .unwrap();
    }
    let now = chrono::Utc::now().timestamp();
    // The watch's own timers for the case, one of them moved to fall due
    // within the next day.
    samgate::watch::watch_case(store.as_ref(), &case_id, now)
        .await
        .unwrap();
    let timers = store
        .timers_due_between(samgate::watch::TIMER_DEADLINE, 0, i64::MAX, 10)
        .await
        .unwrap();
    let mut soon = timers
        .into_iter()
        .find(|t| t.key.contains(&case_id))
        .expect("the watch set a timer for the story's case");
    soon.due_at = (now + 3 * 3600) * 1000;
    store.schedule(&[soon], &[]).await.unwrap();
    // An alert as the watch raises one (after its look at the case, which
    // would clear it: the story's invitation was sent).
    store
        .raise_alert(&Alert {
            case_id: case_id.clone(),
            kind: "sip-invitation-overdue".into(),
            due_at: now - 7200,
            units: vec![KHSL.into()],
            raised_at: now,
            cleared_at: None,
            published: String::new(),
        })
        .await
        .unwrap();
    let console = console_for(gateway, dir.path());
    Rig {
        dir,
        store,
        console,
        case_id,
    }
}

/// A console over `gateway`, its access log in `dir`.
fn console_for(gateway: Arc<Gateway>, dir: &Path) -> Arc<Console> {
    let audit = AuditLog::open(&dir.join("console-access.log")).unwrap();
    Console::new(
        gateway,
        audit,
        samgate::console::auth::Auth::new(TOKEN.into(), "console".into()),
        PublishRules { approve_all: true },
        None,
    )
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Rig {
    async fn call(&self, request: Request<Body>) -> Answer {
        let response = samgate::console::pages::router(self.console.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(
            Request::get(path)
                .header(header::HOST, "console.test")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// A GET with a session cookie (`name=value`) and nothing else.
    async fn get_with_cookie(&self, path: &str, cookie: &str) -> Answer {
        self.call(
            Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post(&self, path: &str, form: &str) -> Answer {
        self.call(
            Request::post(path)
                .header(header::HOST, "console.test")
                .header(header::ORIGIN, "http://console.test")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .header("x-operator", "Anna Andersson")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form.to_owned()))
                .unwrap(),
        )
        .await
    }

    /// The access log's records.
    fn access_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("console-access.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn logged(&self, what: &str) -> Vec<serde_json::Value> {
        self.access_log()
            .into_iter()
            .filter(|r| r["what"] == what)
            .collect()
    }
}

/// The CSRF token in a page's forms.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form") + 19;
    page[at..at + page[at..].find('"').unwrap()].to_owned()
}

/// The message ids of the quarantine page's replay forms, in order.
fn quarantined_ids(page: &str) -> Vec<String> {
    page.match_indices("action=\"/karantan/")
        .map(|(at, _)| {
            let rest = &page[at + 18..];
            rest[..rest.find('/').unwrap()].to_owned()
        })
        .filter(|id| !id.is_empty())
        .fold(Vec::new(), |mut ids, id| {
            if !ids.contains(&id) {
                ids.push(id);
            }
            ids
        })
}

#[tokio::test]
async fn without_the_token_the_console_answers_401_in_swedish() {
    let rig = rig().await;
    for path in ["/", "/karantan", "/arenden", "/arenden/x", "/nowhere"] {
        let answer = rig
            .call(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(answer.body.contains("lang=\"sv\""));
        assert!(answer.body.contains("Inloggning krävs"));
    }
    let wrong = rig
        .call(
            Request::get("/")
                .header(header::AUTHORIZATION, "Bearer not-the-token")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let wrong = rig
        .call(Request::get("/?token=nope").body(Body::empty()).unwrap())
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    // Nothing was shown, so nothing is in the access log.
    assert!(rig.access_log().is_empty());
}

#[tokio::test]
async fn the_bearer_token_and_the_session_cookie_let_in() {
    let rig = rig().await;
    let answer = rig.get("/").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("<h1>Översikt</h1>"), "{}", answer.body);
    assert_eq!(
        answer.headers[header::CACHE_CONTROL],
        "no-store",
        "personal data is not cached"
    );

    // The token once in the URL: a cookie, and the same address without it.
    let login = rig
        .call(
            Request::get(format!("/arenden?q=x&token={TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert_eq!(login.headers[header::LOCATION], "/arenden?q=x");
    let cookie = login.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(
        !cookie.contains(TOKEN),
        "the cookie is a session id, not the token"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    // The redirect stays on the console.
    let away = rig
        .call(
            Request::get(format!("//elsewhere.example/x?token={TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(away.headers[header::LOCATION], "/");
    let answer = rig.get_with_cookie("/arenden", &session).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("<h1>Ärenden</h1>"));
    // A made-up session is not one.
    let answer = rig.get_with_cookie("/arenden", "samgate_console=00").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

/// The login page's form: the token posted from the console's own page
/// opens a session and goes on to `next` (only a path of the console's);
/// a wrong token gets the form again, a post from elsewhere 403.
#[tokio::test]
async fn the_login_form_opens_a_session_for_the_token_only() {
    let rig = rig().await;
    let post = |form: String, origin: &str| {
        Request::post("/logga-in")
            .header(header::HOST, "console.test")
            .header(header::ORIGIN, origin)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap()
    };
    let refused = rig
        .call(Request::get("/arenden?q=x").body(Body::empty()).unwrap())
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(
        refused
            .body
            .contains("name=\"next\" value=\"/arenden?q=x\""),
        "{}",
        refused.body
    );
    let good = format!("token={TOKEN}&next=%2Farenden%3Fq%3Dx");
    let login = rig.call(post(good.clone(), "http://console.test")).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
    assert_eq!(login.headers[header::LOCATION], "/arenden?q=x");
    let cookie = login.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = cookie.split(';').next().unwrap().to_owned();
    let answer = rig.get_with_cookie("/arenden", &session).await;
    assert_eq!(answer.status, StatusCode::OK);

    let wrong = rig
        .call(post("token=guess&next=%2F".into(), "http://console.test"))
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    assert!(wrong.body.contains("Fel token"));
    let elsewhere = rig.call(post(good, "http://evil.example")).await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    assert!(elsewhere.headers.get(header::SET_COOKIE).is_none());
    for next in [
        "%2F%2Fevil.example%2Fx",
        "https%3A%2F%2Fevil.example",
        "%2F%5Cevil.example",
    ] {
        let login = rig
            .call(post(
                format!("token={TOKEN}&next={next}"),
                "http://console.test",
            ))
            .await;
        assert_eq!(login.headers[header::LOCATION], "/", "{next}");
    }
}

#[tokio::test]
async fn a_post_without_its_csrf_token_or_from_elsewhere_is_403() {
    let rig = rig().await;
    let page = rig.get("/karantan").await.body;
    let id = quarantined_ids(&page).remove(0);
    let path = format!("/karantan/{id}/replay");
    assert_eq!(rig.post(&path, "").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        rig.post(&path, "csrf=0000").await.status,
        StatusCode::FORBIDDEN
    );
    // The right token, from another site.
    let answer = rig
        .call(
            Request::post(&path)
                .header(header::HOST, "console.test")
                .header(header::ORIGIN, "http://evil.example")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(Body::from(format!("csrf={}", csrf_of(&page))))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // Still quarantined.
    let d = rig.store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Quarantined);
}

#[tokio::test]
async fn replay_and_discard_work_and_are_in_the_access_log() {
    let rig = rig().await;
    let page = rig.get("/karantan").await;
    assert_eq!(page.status, StatusCode::OK);
    // Reason, system, and the content decoded.
    assert!(page.body.contains("queue-missing: samgate.out.test"));
    assert!(page.body.contains("Innehåll (avkodat)"));
    assert!(
        page.body.contains(ESTHER),
        "the decoded event names the person"
    );
    let ids = quarantined_ids(&page.body);
    assert_eq!(ids.len(), 2, "{ids:?}");
    let shown = rig.logged("quarantine-content");
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[0]["patientId"], ESTHER);
    let csrf = csrf_of(&page.body);

    let replay = rig
        .post(
            &format!("/karantan/{}/replay", ids[0]),
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(replay.status, StatusCode::SEE_OTHER);
    assert_eq!(
        replay.headers[header::LOCATION],
        "/karantan?utfall=replayed"
    );
    let d = rig.store.delivery(&ids[0]).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Pending, "made again");

    // A discard needs a reason.
    let none = rig
        .post(
            &format!("/karantan/{}/discard", ids[1]),
            &format!("csrf={csrf}&reason=+"),
        )
        .await;
    assert_eq!(
        none.headers[header::LOCATION],
        "/karantan?utfall=reason-missing"
    );
    let discard = rig
        .post(
            &format!("/karantan/{}/discard", ids[1]),
            &format!("csrf={csrf}&reason=Dubblett+av+%C3%A4rendet"),
        )
        .await;
    assert_eq!(
        discard.headers[header::LOCATION],
        "/karantan?utfall=discarded"
    );
    let d = rig.store.delivery(&ids[1]).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Discarded);
    assert_eq!(d.reason, "kasserad av Anna Andersson: Dubblett av ärendet");
    // Done once: not again.
    let again = rig
        .post(
            &format!("/karantan/{}/replay", ids[1]),
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(
        again.headers[header::LOCATION],
        "/karantan?utfall=not-quarantined"
    );

    let replays = rig.logged("quarantine-replay");
    assert_eq!(replays.len(), 2);
    assert_eq!(replays[0]["operator"], "Anna Andersson");
    assert_eq!(replays[0]["messageId"], ids[0].as_str());
    assert_eq!(replays[0]["caseId"], rig.case_id.as_str());
    assert_eq!(replays[0]["result"], "ok");
    assert_eq!(replays[1]["result"], "not-found");
    let discards = rig.logged("quarantine-discard");
    assert_eq!(discards.len(), 1);
    assert_eq!(discards[0]["reason"], "Dubblett av ärendet");
    assert_eq!(discards[0]["messageId"], ids[1].as_str());
    assert!(discards[0]["at"].as_str().unwrap().ends_with('Z'));

    let page = rig.get("/karantan?utfall=discarded").await.body;
    assert!(page.contains("Karantänen är tom."));
    assert!(page.contains("Leveransen är kasserad."));
}

#[tokio::test]
async fn the_case_page_shows_the_timeline_and_is_in_the_access_log() {
    let rig = rig().await;
    let page = rig.get(&format!("/arenden/{}", rig.case_id)).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    for expected in [
        "<h2>Händelser</h2>",
        "Inskrivningsmeddelande",
        "Kallelse till SIP",
        "Utskrivningsmeddelande",
        "Lifecare",
        "Cosmic Link",
        "<h2>Leveranser</h2>",
        "I karantän",
        "<h2>Tidsgränser</h2>",
        "<h2>Vårdtillfällen (journalen)</h2>",
        "Utskriftsvänlig SIP",
        ESTHER,
        TRICKY_ESCAPED,
    ] {
        assert!(body.contains(expected), "{expected} missing");
    }
    let views = rig.logged("case-view");
    assert_eq!(views.len(), 1);
    assert_eq!(views[0]["caseId"], rig.case_id.as_str());
    assert_eq!(views[0]["patientId"], ESTHER);
    assert_eq!(views[0]["operator"], "console");

    let sip = rig.get(&format!("/arenden/{}/sip", rig.case_id)).await;
    assert_eq!(sip.status, StatusCode::OK);
    assert!(sip.body.contains("lang=\"sv\""));
    assert_eq!(rig.logged("printable-plan").len(), 1);
    assert_eq!(
        rig.get("/arenden/00000000-0000-0000-0000-000000000000")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_search_by_personnummer_finds_esthers_case_and_is_logged() {
    searches_find_the_case(rig().await).await;
}

/// The console's own reads and writes of the store (search by ref,
/// discard, the deadlines due soon) on PostgreSQL too.
#[tokio::test]
async fn on_postgresql_the_console_searches_discards_and_lists_what_falls_due() {
    let rig = rig_on(&postgres_schema().await).await;
    searches_find_the_case(rig).await;
    let rig = rig_on(&postgres_schema().await).await;
    let page = rig.get("/karantan").await.body;
    let ids = quarantined_ids(&page);
    let discard = rig
        .post(
            &format!("/karantan/{}/discard", ids[0]),
            &format!("csrf={}&reason=fel", csrf_of(&page)),
        )
        .await;
    assert_eq!(
        discard.headers[header::LOCATION],
        "/karantan?utfall=discarded"
    );
    let d = rig.store.delivery(&ids[0]).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Discarded);
    let deadlines = rig.get("/tidsgranser").await.body;
    let soon = &deadlines[deadlines.find("Inom 24 timmar").unwrap()..];
    assert!(soon.contains(&rig.case_id), "{soon}");
    rig.store.close().await;
}

async fn searches_find_the_case(rig: Rig) {
    let found = rig.get("/arenden?q=19410206-9046").await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(found.body.contains(&rig.case_id));
    let searches = rig.logged("case-search-personnummer");
    assert_eq!(searches.len(), 1);
    assert_eq!(searches[0]["patientId"], ESTHER);
    assert_eq!(searches[0]["found"], 1);
    // By case id and by a system's own ref: found, not logged as a
    // personal-data search.
    let by_id = rig.get(&format!("/arenden?q={}", rig.case_id)).await;
    assert!(by_id.body.contains(&format!("/arenden/{}", rig.case_id)));
    let case = rig.store.get_case(&rig.case_id).await.unwrap().unwrap();
    let reference = &case.external_refs[0].case_ref;
    let by_ref = rig.get(&format!("/arenden?q={reference}")).await;
    assert!(
        by_ref.body.contains(&format!("/arenden/{}", rig.case_id)),
        "{reference}"
    );
    let nothing = rig.get("/arenden?q=no-such-ref").await;
    assert!(nothing.body.contains("Inga ärenden hittades."));
    assert_eq!(rig.logged("case-search-personnummer").len(), 1);
}

#[tokio::test]
async fn every_page_is_swedish_and_escapes_what_it_shows() {
    let rig = rig().await;
    let pages = [
        ("/", "Översikt", false),
        ("/karantan", "Karantän", true),
        ("/arenden", "Ärenden", false),
        (&*format!("/arenden/{}", rig.case_id), "Ärende", true),
        ("/tidsgranser", "Tidsgränser", true),
        ("/aktorer", "Aktörer", true),
    ];
    for (path, heading, shows_the_unit) in pages {
        let answer = rig.get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert!(answer.body.contains("<html lang=\"sv\">"), "{path}");
        assert!(
            answer.body.contains(&format!("<h1>{heading}</h1>")),
            "{path}"
        );
        assert!(!answer.body.contains("<&>"), "{path} shows <&> unescaped");
        if shows_the_unit {
            assert!(answer.body.contains(TRICKY_ESCAPED), "{path}");
        }
    }
    let deadlines = rig.get("/tidsgranser").await.body;
    assert!(deadlines.contains("Kallelse till SIP försenad"));
    let soon = &deadlines[deadlines.find("Inom 24 timmar").unwrap()..];
    assert!(soon.contains(&rig.case_id), "{soon}");
    assert!(soon.contains("om 2 h") || soon.contains("om 3 h"), "{soon}");
    assert!(deadlines.contains(&rig.case_id));
    let overview = rig.get("/").await.body;
    assert!(overview.contains("2 leveranser i karantän"), "{overview}");
    assert!(overview.contains("queue-missing"));
    assert!(overview.contains("Kallelse till SIP försenad"));
}

/// The deadline watch's own alert: a case declared ready for discharge
/// (in the examples' past) with no SIP invitation appears under
/// Tidsgränser once its timer fires, and leaves when the invitation comes.
#[tokio::test]
async fn an_overdue_sip_invitation_is_under_tidsgranser_until_the_invitation_comes() {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    let config = Config::load(None, Vec::new()).unwrap();
    let gateway = Arc::new(Gateway::new(
        store.clone(),
        Router::new(config.engine(), directory(dir.path())),
    ));
    let submit = async |dialect: DialectName, ty: &str| {
        let bytes = common::example_bytes(dialect.as_str(), ty);
        gateway.submit_raw(dialect, &bytes).await.unwrap().0.case_id
    };
    submit(DialectName::Lifecare, "admissionNotice").await;
    let case_id = submit(DialectName::Lifecare, "dischargeReady").await;
    let now = || chrono::Utc::now().timestamp();
    samgate::watch::follow(store.as_ref(), now()).await.unwrap();
    samgate::journal::timers::fire_due_at(&gateway, chrono::Utc::now().timestamp_millis())
        .await
        .unwrap();
    let rig = Rig {
        console: console_for(gateway.clone(), dir.path()),
        dir,
        store: store.clone(),
        case_id: case_id.clone(),
    };
    let page = rig.get("/tidsgranser").await.body;
    let overdue = &page[..page.find("Inom 24 timmar").unwrap()];
    assert!(overdue.contains("Kallelse till SIP försenad"), "{overdue}");
    assert!(overdue.contains(&case_id));
    assert!(overdue.contains(TRICKY_ESCAPED), "the responsible units");
    let overview = rig.get("/").await.body;
    assert!(overview.contains("Kallelse till SIP försenad"));

    submit(DialectName::CosmicLink, "careContactAssigned").await;
    submit(DialectName::CosmicLink, "sipInvitation").await;
    samgate::watch::follow(store.as_ref(), now()).await.unwrap();
    let page = rig.get("/tidsgranser").await.body;
    let overdue = &page[..page.find("Inom 24 timmar").unwrap()];
    assert!(!overdue.contains("Kallelse till SIP försenad"), "{overdue}");
    assert!(
        overdue.contains("Betalningsansvar har inträtt"),
        "liability stays until the discharge"
    );
}

// Headless Chromium.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_logs_in_with_the_token_and_reads_the_pages() {
    let rig = rig().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(samgate::console::serve(
        rig.console.clone(),
        listener,
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    ));
    // SAMGATE_TEST_OUTPUT keeps the screenshot.
    let out: PathBuf = std::env::var_os("SAMGATE_TEST_OUTPUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| rig.dir.path().to_owned());
    std::fs::create_dir_all(&out).unwrap();
    let profile = rig.dir.path().join("chromium-profile");
    let base = format!("http://{address}");
    let case_id = rig.case_id.clone();
    let (overview, refused, case_dom, png) = tokio::task::spawn_blocking(move || {
        // The token once in the URL: the console sets the cookie and
        // sends the browser on to the page without it.
        let overview = chromium(
            &profile,
            &["--dump-dom".into()],
            &format!("{base}/?token={TOKEN}"),
        );
        let refused = chromium(
            &rig_profile(&profile, "refused"),
            &["--dump-dom".into()],
            &format!("{base}/arenden/{case_id}"),
        );
        let url = format!("{base}/arenden/{case_id}?token={TOKEN}");
        let case_dom = chromium(&profile, &["--dump-dom".into()], &url);
        let png = out.join("console-case.png");
        chromium(
            &profile,
            &[
                format!("--screenshot={}", png.display()),
                "--window-size=1280,1800".into(),
            ],
            &url,
        );
        // The quarantine, as an operator sees it before acting.
        let quarantine_png = out.join("console-quarantine.png");
        chromium(
            &profile,
            &[
                format!("--screenshot={}", quarantine_png.display()),
                "--window-size=1280,1400".into(),
            ],
            &format!("{base}/karantan?token={TOKEN}"),
        );
        assert!(
            std::fs::read(&quarantine_png)
                .unwrap()
                .starts_with(b"\x89PNG")
        );
        (overview, refused, case_dom, png)
    })
    .await
    .unwrap();
    assert!(overview.contains("<h1>Översikt</h1>"), "{overview}");
    assert!(overview.contains("Väntande leveranser per system"));
    assert!(overview.contains("lang=\"sv\""));
    assert!(refused.contains("Inloggning krävs"), "{refused}");
    for heading in [
        "<h1>Ärende</h1>",
        "<h2>Händelser</h2>",
        "<h2>Leveranser</h2>",
        "<h2>Tidsgränser</h2>",
    ] {
        assert!(case_dom.contains(heading), "{heading} missing: {case_dom}");
    }
    assert!(case_dom.contains(TRICKY_ESCAPED));
    let shot = std::fs::read(&png).unwrap();
    assert!(shot.starts_with(b"\x89PNG"), "a PNG screenshot");
    // Chromium's views of the case page are in the access log.
    assert!(rig.logged("case-view").len() >= 2);

    // A page elsewhere that posts a replay form to the console, in the
    // browser that holds a session: the SameSite=Strict cookie stays home,
    // so the console answers 401 (and the CSRF token and the origin would
    // be refused after it), and the delivery stays quarantined.
    let page = rig.get("/karantan").await.body;
    let target = quarantined_ids(&page).remove(0);
    let evil = rig.dir.path().join("elsewhere.html");
    std::fs::write(
        &evil,
        format!(
            "<!DOCTYPE html><html><body><form method=\"post\" action=\"http://{address}/karantan/{target}/replay\">\
             <input type=\"hidden\" name=\"csrf\" value=\"guessed\"></form>\
             <script>document.forms[0].submit()</script></body></html>"
        ),
    )
    .unwrap();
    let profile = rig.dir.path().join("chromium-profile");
    let url = format!("file://{}", evil.display());
    let dom = tokio::task::spawn_blocking(move || {
        chromium(
            &profile,
            &["--dump-dom".into(), "--virtual-time-budget=5000".into()],
            &url,
        )
    })
    .await
    .unwrap();
    assert!(
        dom.contains("Inloggning krävs"),
        "the browser reached the console without its cookie (SameSite=Strict) and was refused: {dom}"
    );
    let d = rig.store.delivery(&target).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Quarantined);
    assert!(rig.logged("quarantine-replay").is_empty());
    let _ = stop.send(true);
    server.await.unwrap().unwrap();
}

/// A second, empty profile: a browser without the session cookie.
fn rig_profile(profile: &Path, name: &str) -> PathBuf {
    profile.with_file_name(format!("chromium-profile-{name}"))
}

/// The README's way to look at the demo (issue 26 item 4): `demo`, then
/// `serve` with the console on the same data directory, which prints the
/// URL with a new token once; Chromium opens it, finds Esther by her
/// personnummer and opens her case. The application log never carries
/// the personnummer, and the token only in that one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_demo_serve_prints_the_console_url_once_and_chromium_finds_esther() {
    use common::process::{Stderr, stop};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::process::demo(&data);
    let mut child = Command::new(env!("CARGO_BIN_EXE_samgate"))
        .arg("--data-dir")
        .arg(&data)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .env("SAMGATE_CONSOLE_LISTEN", "127.0.0.1:0")
        .env("SAMGATE_LOG_FORMAT", "json")
        .env_remove("SAMGATE_CONSOLE_TOKEN")
        .env_remove("SAMGATE_AMQP_URL")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Stderr::follow(&mut child);
    stderr.wait_for("/?token=", 1, &mut child).await;
    let tail = stderr.tail();
    let url = tail
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http://") && l.contains("/?token="))
        .expect("the console's URL on a line of its own")
        .to_owned();
    let (base, token) = url.split_once("/?token=").unwrap();
    let (base, token) = (base.to_owned(), token.to_owned());
    assert_eq!(token.len(), 64, "a 256-bit token");

    let profile = dir.path().join("chromium-profile");
    let (refused, found, case) = tokio::task::spawn_blocking({
        let (base, token) = (base.clone(), token.clone());
        move || {
            let refused = chromium(
                &profile.with_file_name("chromium-profile-refused"),
                &["--dump-dom".into()],
                &format!("{base}/"),
            );
            let found = chromium(
                &profile,
                &["--dump-dom".into()],
                &format!("{base}/arenden?q=19410206-9046&token={token}"),
            );
            let at = found.find("href=\"/arenden/").expect("a case found") + 6;
            let path = &found[at..at + found[at..].find('"').unwrap()];
            let case = chromium(
                &profile,
                &["--dump-dom".into()],
                &format!("{base}{path}?token={token}"),
            );
            (refused, found, case)
        }
    })
    .await
    .unwrap();
    assert!(refused.contains("Inloggning krävs"), "{refused}");
    assert!(found.contains("<h2>Sökresultat</h2>"), "{found}");
    assert!(case.contains("Esther"), "{case}");
    assert!(case.contains("<h2>Händelser</h2>"));
    assert!(case.contains("Utskrivningsmeddelande"));

    let log = stop(child, stderr).await;
    assert_eq!(log.matches(&token).count(), 1, "the token is printed once");
    assert!(!log.contains(ESTHER), "no personnummer in the log");
    assert!(!log.contains("19410206-9046"), "no personnummer in the log");
    let access = std::fs::read_to_string(data.join("console-access.log")).unwrap();
    let records: Vec<serde_json::Value> = access
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        records
            .iter()
            .any(|r| r["what"] == "case-search-personnummer"
                && r["patientId"] == ESTHER
                && r["operator"] == "console")
    );
    assert!(
        records
            .iter()
            .any(|r| r["what"] == "case-view" && r["patientId"] == ESTHER)
    );
}

/// The other way in (issue 26): mutual TLS with an allow-list, like the
/// portal. An operator whose certificate's serialNumber is on the list
/// gets in with no token and is named by the access log; another
/// operator's certificate gets 403; no certificate, no handshake; the
/// token is no way in then; a POST still needs its CSRF token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_mutual_tls_the_allow_listed_operator_gets_in_and_is_named_in_the_access_log() {
    use common::pki::{Ca, https_client, tls_listener};
    const OPERATOR: &str = "SE2321000016-OPS1";
    let rig = rig().await;
    let dir = rig.dir.path();
    let ca = Ca::new(dir, "operators");
    let (listener, port) = tls_listener(&ca, dir).await;
    let auth = samgate::console::auth::Auth::new(TOKEN.into(), "console".into())
        .by_certificate(&[OPERATOR.to_owned()]);
    let console = Console::new(
        rig.console.gateway.clone(),
        AuditLog::open(&dir.join("console-access.log")).unwrap(),
        auth,
        PublishRules { approve_all: true },
        None,
    );
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(samgate::console::serve_tls(console, listener, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    let base = format!("https://localhost:{port}");
    let operator = https_client(&ca, Some(&ca.client(dir, OPERATOR)));
    let case_url = format!("{base}/arenden/{}", rig.case_id);

    let page = operator.get(&case_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<h2>Händelser</h2>"));
    let viewed = rig.logged("case-view");
    assert_eq!(viewed.last().unwrap()["operator"], OPERATOR, "{viewed:?}");

    let stranger = https_client(&ca, Some(&ca.client(dir, "SE2321000016-OPS2")));
    let refused = stranger.get(&case_url).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("Ingen behörighet"));
    let with_token = stranger
        .get(&case_url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 403, "the token is no way in over TLS");
    assert!(
        https_client(&ca, None).get(&case_url).send().await.is_err(),
        "no certificate, no handshake"
    );

    // A replay: refused without the CSRF token, done with it.
    let quarantine = operator
        .get(format!("{base}/karantan"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let target = quarantined_ids(&quarantine).remove(0);
    let replay = format!("{base}/karantan/{target}/replay");
    let no_csrf = operator
        .post(&replay)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=x")
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    let csrf = csrf_of(&quarantine);
    let done = operator
        .post(&replay)
        .header("origin", &base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert!(done.status().is_success(), "{}", done.status());
    let replayed = rig.logged("quarantine-replay");
    assert_eq!(replayed.last().unwrap()["operator"], OPERATOR);
    let _ = stop.send(true);
    server.await.unwrap().unwrap();
}
