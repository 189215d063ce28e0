//! The load engine against a real service: `ms-service analytics` (async S6) on the test
//! RabbitMQ and PostgreSQL (scripts/test-infra.sh). Exact request counts from the open-model
//! schedule, unique correlation ids, every accepted click stored, and `ms-tui load` as a user
//! runs it (JSON report, exit codes, bad input).

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::Mode;
use common::scenario::ScenarioId;
use ms_tui::load::{self, LoadSpec};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test.sh (it starts RabbitMQ and PostgreSQL)")
    })
}

/// `target/<profile>/ms-service`, next to this test's own directory (`…/deps/`).
fn ms_service() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("ms-service");
    assert!(
        bin.exists(),
        "{} is missing: `cargo test --workspace` builds it (or cargo build -p services)",
        bin.display()
    );
    bin
}

struct Analytics {
    _child: Child,
    base: String,
    log: PathBuf,
}

/// A vhost of the test's own: two tests running at once each start an analytics consumer,
/// and on a shared queue each would store some of the other's clicks.
async fn private_amqp_url(tag: &str) -> String {
    let api = required("MS_TEST_RABBIT_API");
    let (user, pass) = (
        required("MS_TEST_RABBIT_USER"),
        required("MS_TEST_RABBIT_PASS"),
    );
    let vhost = format!("t-tui-load-{tag}");
    let http = reqwest::Client::new();
    for (path, body) in [
        (format!("{api}/api/vhosts/{vhost}"), serde_json::json!({})),
        (
            format!("{api}/api/permissions/{vhost}/{user}"),
            serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"}),
        ),
    ] {
        let r = http
            .put(&path)
            .basic_auth(&user, Some(&pass))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "PUT {path}: {}", r.status());
    }
    let amqp = required("MS_TEST_AMQP_URL");
    format!("{}/{vhost}", amqp.rsplit_once('/').unwrap().0)
}

async fn start_analytics() -> Analytics {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = required("MS_TEST_DATABASE_URL");
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let database_url = format!("{}/t_tui_load_{tag}", db.rsplit_once('/').unwrap().0);
    let amqp_url = private_amqp_url(tag).await;
    let log = std::env::temp_dir().join(format!("ms-tui-load-analytics-{tag}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(ms_service())
        .arg("analytics")
        .env("MODE", "async")
        .env("PORT", port.to_string())
        .env("BIND_ADDR", "127.0.0.1")
        .env("AMQP_URL", &amqp_url)
        .env("DATABASE_URL", &database_url)
        .env("MS_ADMIN_TOKEN", "test-token")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ms-service");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..120 {
        if let Ok(r) = http.get(format!("{base}/ready")).send().await
            && r.status().is_success()
        {
            return Analytics {
                _child: child,
                base,
                log,
            };
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!(
        "analytics did not become ready in 60 s; its log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

impl Analytics {
    async fn stored(&self) -> u64 {
        let body: serde_json::Value = reqwest::get(format!("{}/clicks/count", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["count"].as_u64().unwrap()
    }

    /// Waits until `n` clicks are stored (the consumer works behind the acknowledgement).
    async fn wait_stored(&self, n: u64) {
        let mut last = 0;
        for _ in 0..240 {
            last = self.stored().await;
            if last >= n {
                assert_eq!(last, n, "more clicks stored than requests sent");
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "{last} of {n} clicks stored after 60 s; analytics log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

#[tokio::test]
async fn an_open_model_run_sends_the_schedule_and_loses_nothing() {
    let service = start_analytics().await;
    let mut spec = LoadSpec::for_stack(ScenarioId::S6, Mode::Async, "127.0.0.1");
    spec.base_url = service.base.clone();
    spec.rate = 100.0;
    spec.uncapped = true;
    spec.duration = Some(Duration::from_secs(3));
    let (samples_tx, mut samples) = mpsc::channel(1024);
    let summary = load::start(spec, reqwest::Client::new(), Some(samples_tx))
        .finish()
        .await;

    // Requests 0..300 are due inside 3 s at 100/s; the 301st would be due at the end.
    assert_eq!(summary.count, 300, "{summary:?}");
    assert_eq!(summary.ok, 300, "{summary:?}");
    assert_eq!(summary.by_label.get("200"), Some(&300));
    assert!(
        summary.p50 > Duration::ZERO && summary.p50 <= summary.p99 && summary.p99 <= summary.max
    );

    let mut ids = HashSet::new();
    while let Ok(sample) = samples.try_recv() {
        assert!(sample.outcome.is_success());
        ids.insert(sample.correlation_id);
    }
    assert_eq!(
        ids.len(),
        300,
        "every request carries its own correlation id"
    );

    service.wait_stored(300).await;
}

/// Runs the real `ms-tui` binary, its app log kept out of the user's log file.
async fn ms_tui(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ms-tui"))
        .args(args)
        .env(
            "MS_TUI_LOG_FILE",
            std::env::temp_dir().join("ms-tui-load-test.log"),
        )
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn ms_tui_load_reports_json_and_refuses_bad_input() {
    let service = start_analytics().await;
    let out = ms_tui(&[
        "load",
        "s6",
        "--mode",
        "async",
        "--url",
        &service.base,
        "-q",
        "50",
        "-z",
        "2",
        "--uncapped",
        "--json",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}; stderr:\n{stderr}",
        out.status
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["answers"], 100, "{report}");
    assert_eq!(report[0]["expected"], 100, "{report}");
    assert_eq!(report[0]["scenario"], "s6");
    assert!(
        stderr.contains("achieved"),
        "progress lines go to stderr: {stderr}"
    );
    service.wait_stored(100).await;

    for (args, says) in [
        (&["load", "s9"][..], "s1…s8"),
        (&["load", "s6", "-q", "0"], "not a rate"),
        (&["load", "s6", "--url", "http://127.0.0.1:1"], "--mode"),
    ] {
        let out = ms_tui(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
