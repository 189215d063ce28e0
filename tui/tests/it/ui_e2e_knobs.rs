//! End to end with the consumer-concurrency knob: the real `ms-tui` in tmux on the running
//! stack (the driver of `ui_e2e_tmux`).
//!
//! `c` on S1: async email's own `GET /admin/config` says `consumer_concurrency` 128. Then
//! async email is killed and started behind the control room's back (`docker kill`, `docker
//! start`): once it is healthy, the control room has put 128 back and its log says so.
//!
//! Needs tmux, the stack up and healthy, and services that know `consumer_concurrency`
//! (issue 18); without them the test FAILS with the reason. A guard puts the default (16)
//! back on async email whatever happens.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Mode;
use common::scenario::Service;
use ms_tui::admin::{self, AdminSettings, KnobChange};

use crate::ui_e2e_tmux::{KEYS_FPS, open_on_stack};

const EMAIL: (Service, Mode) = (Service::Email, Mode::Async);

fn settings() -> AdminSettings {
    AdminSettings::discover("127.0.0.1", &Default::default())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Async email's consumer concurrency on S1's queue, from its own admin API.
fn concurrency() -> anyhow::Result<Option<u32>> {
    let http = reqwest::Client::new();
    let answer = runtime().block_on(admin::call(
        &http,
        &settings(),
        EMAIL,
        reqwest::Method::GET,
        "/admin/config",
        None,
    ))?;
    Ok(admin::effective_concurrency(
        &answer,
        &[common::broker::topology::USER_REGISTERED],
    ))
}

/// Puts async email's concurrency back to the default (16) however the test ends, and
/// starts it again if the test left it down.
struct ResetEmail;

impl Drop for ResetEmail {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["start", "ms-tui-email-async-1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let change = KnobChange {
            label: "reset".into(),
            patch: serde_json::json!({ admin::CONCURRENCY_FIELD: admin::CONCURRENCIES[0] }),
            services: vec![EMAIL],
            replicas: Vec::new(),
            queues: &[],
            reapply: false,
        };
        let http = reqwest::Client::new();
        let _ = runtime().block_on(admin::apply(&http, &settings(), change));
    }
}

fn docker(args: &[&str]) {
    let status = Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("docker");
    assert!(status.success(), "docker {args:?}");
}

/// Polls `probe` until it holds; fails with `what` after `within`.
fn eventually(what: &str, within: Duration, probe: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !probe() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Driven by scripts/test.sh's Docker phase (the name keeps the other phase off them).
mod on_the_running_stack {
    use super::*;

    #[test]
    fn c_sets_the_concurrency_and_a_restart_gets_it_back() {
        let _reset = ResetEmail;
        assert_eq!(
            concurrency().expect("async email's admin API"),
            Some(16),
            "async email should start at the default (does it know consumer_concurrency?)"
        );
        let (tui, log_file) = open_on_stack(KEYS_FPS);
        tui.keys(&["1", "c"]);
        tui.wait_for("the knob applied", Duration::from_secs(30), |s| {
            s.contains("consumer concurrency 128 on S1 (email): applied on 1/1")
                && s.contains("consumers email 128")
        });
        assert_eq!(concurrency().unwrap(), Some(128));

        // Behind the control room's back, as a crash and a supervisor would.
        docker(&["kill", "ms-tui-email-async-1"]);
        docker(&["start", "ms-tui-email-async-1"]);
        let log_says = || {
            std::fs::read_to_string(&log_file).is_ok_and(|log| {
                log.contains("email-async restarted: re-applied consumer_concurrency=128")
            })
        };
        eventually(
            "the log to say the knob was re-applied",
            Duration::from_secs(180),
            log_says,
        );
        assert_eq!(
            concurrency().unwrap(),
            Some(128),
            "re-applied on the new process"
        );
        tui.keys(&["q"]);
        let _ = std::fs::remove_file(&log_file);
    }
}
