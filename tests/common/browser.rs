//! Headless Chromium and the PDFs it prints, for the tests that render a
//! page as a person would see it (the printable SIP, the indicators
//! report, the operator console). A missing tool fails the test with the
//! command that installs it (scripts/test installs them); never a skip.

use std::path::Path;
use std::process::Command;

/// The flags every headless Chromium of the tests runs with: no sandbox
/// (the tests run as root in a container), nothing fetched from Google,
/// no first-run screens.
pub const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// Fails, with the command that installs it, when `program` is missing.
pub fn require_tool(program: &str, package: &str) {
    let found = Command::new(program).arg("--version").output().is_ok();
    assert!(
        found,
        "{program} is not installed; install it with: apt-get install -y {package} (scripts/test does)"
    );
}

/// Runs headless Chromium on `url` with `extra` arguments and its own
/// profile; returns what it printed (the DOM, with `--dump-dom`).
pub fn chromium(profile: &Path, extra: &[String], url: &str) -> String {
    require_tool("chromium", "chromium");
    let out = Command::new("timeout")
        .arg("120")
        .arg("chromium")
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The page objects of a PDF: every `/Type /Page` that is not `/Pages`.
pub fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices("/Type")
        .filter(|(at, _)| {
            let rest = text[at + 5..].trim_start();
            rest.starts_with("/Page") && !rest.starts_with("/Pages")
        })
        .count()
}

/// The numbers of every `/MediaBox [..]` in a PDF: one per page.
pub fn media_boxes(pdf: &[u8]) -> Vec<Vec<f64>> {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices("/MediaBox")
        .map(|(at, _)| {
            let rest = &text[at..];
            let open = rest.find('[').unwrap();
            let close = rest.find(']').unwrap();
            rest[open + 1..close]
                .split_whitespace()
                .map(|n| n.parse().unwrap())
                .collect()
        })
        .collect()
}
