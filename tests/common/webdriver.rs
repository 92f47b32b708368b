//! A real browser driven as a person would use it: Debian's `chromedriver`
//! with headless Chromium, through fantoccini (WebDriver). Typing into
//! fields, clicking buttons, following links and taking screenshots, so a
//! test can say what an operator saw. A missing tool fails the test with
//! the command that installs it (scripts/test installs them); never a skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

use super::browser::{CHROMIUM_FLAGS, require_tool};

/// How long chromedriver may take to answer, and a page to show what a
/// test waits for: a loaded 2-core machine starts Chromium in seconds.
pub const BROWSER_WAIT: Duration = Duration::from_secs(60);

/// The size of the window, and so of every screenshot.
pub const WINDOW: (u32, u32) = (1280, 1400);

/// The XPath of the page's body, for [`Browser::text_at`] and
/// [`Browser::reload_until`].
pub const BODY: &str = "//body";

/// The XPath of the table row whose `<code>` cell holds `code` (a message
/// id, an HSA-id).
pub fn row(code: &str) -> String {
    format!("//tr[td/code[.='{code}']]")
}

/// Chromium under chromedriver, and the folder its profile and
/// screenshots go to.
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// The profile; removed with the browser.
    _profile: tempfile::TempDir,
    /// Where screenshots go: `SAMGATE_TEST_OUTPUT` when set (to look at
    /// them after the run), else the profile's folder.
    output: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session with a profile
    /// of its own (no cookies from another test).
    pub async fn start() -> Browser {
        require_tool("chromium", "chromium");
        require_tool("chromedriver", "chromium-driver");
        let profile = tempfile::tempdir().unwrap();
        let output = std::env::var_os("SAMGATE_TEST_OUTPUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| profile.path().to_owned());
        std::fs::create_dir_all(&output).unwrap();
        let port = super::free_port();
        let mut driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.extend([
            "--disable-dev-shm-usage".into(),
            "--lang=sv-SE".into(),
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
            format!(
                "--user-data-dir={}",
                profile.path().join("chromium").display()
            ),
        ]);
        let mut options = serde_json::Map::new();
        options.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "args": args }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(options.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) => {
                    if let Some(status) = driver.try_wait().unwrap() {
                        panic!("chromedriver stopped ({status}) before a session: {e}");
                    }
                    if started.elapsed() > BROWSER_WAIT {
                        let _ = driver.kill();
                        panic!("no Chromium session from chromedriver after {BROWSER_WAIT:?}: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
            output,
        }
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The page's `<h1>`.
    pub async fn heading(&self) -> String {
        self.find("h1").await.text().await.unwrap()
    }

    /// The one element `locator` finds, waiting for it as a person waits
    /// for a page to load.
    async fn wait_for(&self, locator: Locator<'_>) -> Element {
        self.client
            .wait()
            .at_most(BROWSER_WAIT)
            .for_element(locator)
            .await
            .unwrap_or_else(|e| panic!("no {locator:?} on the page: {e}"))
    }

    /// The one element `css` finds, waiting for it.
    pub async fn find(&self, css: &str) -> Element {
        self.wait_for(Locator::Css(css)).await
    }

    /// Every element `xpath` finds now.
    pub async fn all(&self, xpath: &str) -> Vec<Element> {
        self.client.find_all(Locator::XPath(xpath)).await.unwrap()
    }

    /// The visible text of what `xpath` finds, waiting for it.
    pub async fn text_at(&self, xpath: &str) -> String {
        let found = self.wait_for(Locator::XPath(xpath)).await;
        found.text().await.unwrap()
    }

    /// The visible text of the page's body.
    pub async fn text(&self) -> String {
        self.text_at(BODY).await
    }

    /// Types `text` into the field `css` finds, after clearing it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks what `css` finds and waits for the page it leads to: the
    /// page it was on gone (its root element stale), the new one loaded.
    /// Without the wait, a read just after the click may still see the
    /// old page.
    pub async fn click(&self, css: &str) {
        let old = self.find("html").await;
        self.find(css).await.click().await.unwrap();
        let started = Instant::now();
        while old.tag_name().await.is_ok() {
            assert!(
                started.elapsed() < BROWSER_WAIT,
                "clicking {css} led to no new page"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.find("body").await;
    }

    /// The path (and query) the browser is at.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Reloads the page until the text of what `xpath` finds ([`BODY`]:
    /// the whole page) satisfies `check`; fails the test, naming `what`,
    /// after [`BROWSER_WAIT`]. What an operator does while the gateway
    /// works in the background.
    pub async fn reload_until(
        &self,
        xpath: &str,
        what: &str,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let started = Instant::now();
        loop {
            let text = self.text_at(xpath).await;
            if check(&text) {
                return text;
            }
            assert!(
                started.elapsed() < BROWSER_WAIT,
                "{what}: not after {BROWSER_WAIT:?}; the page says:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.client.refresh().await.unwrap();
        }
    }

    /// Takes a screenshot of the window as `name`.png and returns its
    /// path; checks it is a PNG of the window's viewport.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
        // IHDR: width and height, big-endian, after the signature and the
        // chunk's length and type.
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        // The viewport: the window's width, its height less the frame.
        assert_eq!(width, WINDOW.0, "the window's width");
        assert!(height > WINDOW.1 / 2 && height <= WINDOW.1, "{height}");
        let path = self.output.join(format!("{name}.png"));
        std::fs::write(&path, &png).unwrap();
        path
    }

    /// Where screenshots go.
    pub fn output(&self) -> &Path {
        &self.output
    }

    /// Ends the session and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test: no chromedriver left behind.
        let _ = self.driver.kill();
    }
}
