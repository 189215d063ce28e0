//! The load engine against a real service: `ms-service analytics` (async S6) on the test
//! RabbitMQ and PostgreSQL (scripts/test-infra.sh), in a `testkit` world. Exact request
//! counts from the open-model schedule, unique correlation ids, every accepted click stored,
//! and `ms-tui load` as a user runs it (JSON report, exit codes, bad input).

use std::collections::HashSet;
use std::time::Duration;

use common::Mode;
use common::scenario::ScenarioId;
use ms_tui::load::{self, LoadSpec};
use testkit::{Service, World};
use tokio::process::Command;
use tokio::sync::mpsc;

/// `ms-service analytics` in a world of its own: two tests running at once each start an
/// analytics consumer, and on a shared queue each would store some of the other's clicks.
struct Analytics {
    /// The service's base URL, where the load goes.
    base: String,
    /// Its world (vhost and database) goes with it when the test ends.
    service: Service,
}

async fn start_analytics() -> Analytics {
    let world = World::new("tui-load").await;
    let service = world
        .service("analytics", "async")
        .env("RUST_LOG", "warn")
        .start()
        .await;
    Analytics {
        base: service.base.clone(),
        service,
    }
}

impl Analytics {
    async fn stored(&self) -> u64 {
        let reply = self.service.get("/clicks/count").await;
        reply.body["count"].as_u64().unwrap()
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
            std::fs::read_to_string(&self.service.log).unwrap_or_default()
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
