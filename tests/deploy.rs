//! What `deploy/` gives an operations team holds: the Prometheus alert
//! rules load and fire as meant (Debian's `promtool`, run for real), and
//! the alert rules and the Grafana dashboard ask only for metrics samgate
//! exports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `promtool`, or a failure naming the package (scripts/test installs it).
fn promtool() -> Command {
    let found = Command::new("promtool").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "promtool is needed by this test: sudo apt-get install -y prometheus (scripts/test installs it)"
    );
    Command::new("promtool")
}

fn run(mut command: Command, dir: &Path) -> String {
    let out = command.current_dir(dir).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{command:?}:\n{text}");
    text
}

#[test]
fn the_alert_rules_load_and_fire_as_meant() {
    let mut check = promtool();
    check.args(["check", "rules", "deploy/prometheus/samgate-alerts.yml"]);
    let text = run(check, &root());
    assert!(text.contains("SUCCESS"), "{text}");
    let mut test = promtool();
    test.args(["test", "rules", "samgate-alerts.test.yml"]);
    run(test, &root().join("tests/data/prometheus"));
}

/// The names of samgate's metric families, as its registry writes them
/// once each has a sample (a family without one is not written).
async fn exported() -> BTreeSet<String> {
    use samgate::metrics::{self, Way};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    metrics::refresh_from_store(store.as_ref()).await;
    metrics::received(Way::Grpc, "lifecare");
    metrics::refused(Way::Grpc, "lifecare", "decode");
    metrics::delivery("lifecare", "confirmed");
    metrics::relay_confirm(Duration::from_millis(1));
    metrics::translation("lifecare", "decode", Duration::from_micros(10));
    metrics::store_commit(Duration::from_millis(1));
    metrics::stored(1);
    metrics::amqp_connected(true);
    metrics::operator_action("replay");
    metrics::render()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Every `samgate_…` name in `text`, without the suffixes the text format
/// adds to a family's samples.
fn asked_for(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(found) = text[at..].find("samgate_") {
        let start = at + found;
        let end = start
            + bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count();
        let name = &text[start..end];
        let family = ["_bucket", "_count", "_sum", "_total"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.insert(family.to_owned());
        at = end;
    }
    names
}

#[tokio::test]
async fn the_dashboard_and_the_rules_ask_only_for_exported_metrics() {
    let exported = exported().await;
    assert!(exported.contains("samgate_outbox_pending"), "{exported:?}");
    let dashboard =
        std::fs::read_to_string(root().join("deploy/grafana/samgate-dashboard.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let panels = json["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    for panel in panels {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", panel["title"]);
    }
    let rules =
        std::fs::read_to_string(root().join("deploy/prometheus/samgate-alerts.yml")).unwrap();
    for (what, text) in [("dashboard", &dashboard), ("rules", &rules)] {
        let asked = asked_for(text);
        assert!(!asked.is_empty());
        let unknown: Vec<_> = asked.difference(&exported).collect();
        assert!(unknown.is_empty(), "the {what} asks for {unknown:?}");
    }
}
