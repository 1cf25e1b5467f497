//! Headless Chromium through chromedriver: finding both, starting them with a fresh
//! profile, and small helpers the tests read like a person's steps (fill, click, wait
//! for text, take a screenshot).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// Desktop and phone widths the screenshots are taken at.
pub const DESKTOP: (u32, u32) = (1280, 860);
pub const PHONE: (u32, u32) = (360, 1000);

const WAIT: Duration = Duration::from_secs(30);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(|p| p.is_file())
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    driver_port: u16,
    session: String,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium. `None` (with a note) when they are
    /// not installed, except under CI, where that fails the test.
    pub async fn start(test: &str) -> Option<Self> {
        let driver = find_program("CLIENTS_TEST_CHROMEDRIVER", &["chromedriver"]);
        let chromium = find_program("CLIENTS_TEST_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]);
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            assert!(!in_ci(), "chromium and chromedriver must be installed under CI (.ci/run installs them)");
            eprintln!(
                "note: {test} skipped: chromium or chromedriver not found (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let driver_port = crate::server::free_port();
        let child = Command::new(&driver)
            .arg(format!("--port={driver_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver.display()));
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", driver_port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {driver_port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = std::env::temp_dir().join(format!("clients-chromium-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&profile).unwrap();
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), json!({ "binary": chromium, "args": args }));
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
            .unwrap_or_else(|e| panic!("starting a chromium session: {e}"));
        let session = client.session_id().await.unwrap().unwrap_or_default();
        let browser = Self { client, driver: child, driver_port, session, profile };
        browser.client.set_window_size(DESKTOP.0, DESKTOP.1).await.unwrap();
        Some(browser)
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css).await.select_by_value(value).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Clicks `css` and waits for the next page to load.
    pub async fn submit(&self, css: &str) {
        let before = self.marker().await;
        self.click(css).await;
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.marker().await;
            if now.is_some() && now != before {
                break;
            }
            assert!(Instant::now() < deadline, "no new page after clicking {css}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.settle().await;
    }

    /// Tags the current document so a new one can be told apart.
    async fn marker(&self) -> Option<String> {
        let script = "if (document.readyState !== 'complete') return null; \
                      if (!document.documentElement.dataset.t) document.documentElement.dataset.t = String(Math.random()); \
                      return document.documentElement.dataset.t;";
        self.client.execute(script, vec![]).await.ok()?.as_str().map(str::to_owned)
    }

    /// Waits until the page is loaded and its script ran.
    pub async fn settle(&self) {
        let deadline = Instant::now() + WAIT;
        while self.marker().await.is_none() {
            assert!(Instant::now() < deadline, "the page did not finish loading");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Asserts the browser is at `path` (path and query), showing the page if not.
    pub async fn expect_path(&self, path: &str) {
        let now = self.path().await;
        if now != path {
            panic!("expected to be at {path}, but at {now}, showing:\n{}", self.body().await);
        }
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    pub async fn body(&self) -> String {
        self.text("body").await
    }

    /// Waits until the page shows `needle`.
    pub async fn wait_for_text(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let body = self.body().await;
            if body.contains(needle) {
                return;
            }
            assert!(Instant::now() < deadline, "the page never showed {needle:?}; it shows:\n{body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the element is displayed (for dialogs: open).
    pub async fn visible(&self, css: &str) -> bool {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// The id of the focused element.
    pub async fn focused_id(&self) -> String {
        let v = self.client.execute("return document.activeElement && document.activeElement.id;", vec![]).await;
        v.ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }

    /// Whether `css` is a modal dialog (opened with `showModal`).
    pub async fn is_modal(&self, css: &str) -> bool {
        let script = format!("var d = document.querySelector('{css}'); return !!d && d.open && d.matches(':modal');");
        self.client.execute(&script, vec![]).await.ok().and_then(|v| v.as_bool()).unwrap_or(false)
    }

    /// Presses Escape in the focused element.
    pub async fn press_escape(&self) {
        let focused = self.client.active_element().await.unwrap();
        focused.send_keys("\u{E00C}").await.unwrap();
    }

    pub async fn sign_out_everyone(&self) {
        self.client.delete_all_cookies().await.unwrap();
    }

    pub async fn resize(&self, (w, h): (u32, u32)) {
        self.client.set_window_size(w, h).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    /// Saves a screenshot of the window as `<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        // Let dialogs and fonts settle before the picture.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let png = self.client.screenshot().await.unwrap();
        save_screenshot(name, &png);
    }

    /// Screenshots of the current page at desktop width and at 360 px.
    pub async fn screenshots(&self, name: &str) {
        self.screenshot(name).await;
        self.resize(PHONE).await;
        self.screenshot(&format!("{name}-360")).await;
        self.resize(DESKTOP).await;
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn save_screenshot(name: &str, png: &[u8]) {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let mut dirs = vec![target.join("screenshots")];
    if std::env::var("CLIENTS_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        dirs.push(workspace_root().join("docs/screenshots"));
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Close the session (chromedriver then ends Chromium), even when a test failed
        // half-way, then stop chromedriver itself.
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.driver_port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let req = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                self.session, self.driver_port
            );
            if s.write_all(req.as_bytes()).is_ok() {
                let _ = s.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
