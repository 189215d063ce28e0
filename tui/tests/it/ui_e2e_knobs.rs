//! End to end with the knobs and their re-apply: the real `ms-tui` in tmux on the running
//! stack (the driver of `ui_e2e_tmux`).
//!
//! - `d` on S1 sets async email's e-mail delay to 100 ms; async email is then killed and
//!   started behind the control room's back (`docker kill`, `docker start`): once it is
//!   healthy, the control room has put 100 back, and its log says so.
//! - `c` on S1: async email's own `GET /admin/config` says `consumer_concurrency` 128 on
//!   S1's queue (needs services that know the knob, issue 18).
//! - `]` on async email: the status line shows the scale, then the pane lists `└ #2` under
//!   email, running and healthy; `[` asks first, and `y` takes the replica away again.
//!
//! Needs tmux and the stack up and healthy; without them the tests FAIL with the reason.
//! Guards put async email's defaults back and start it again whatever happens.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Mode;
use common::broker::topology::USER_REGISTERED;
use common::scenario::Service;
use ms_tui::admin::{self, AdminSettings, KnobChange};
use serde_json::{Value, json};

use crate::ui_e2e_tmux::{BIN, KEYS_FPS, open_on_stack, select_container};

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

/// Async email's `GET /admin/config`.
fn config() -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    runtime().block_on(admin::call(
        &http,
        &settings(),
        EMAIL,
        reqwest::Method::GET,
        "/admin/config",
        None,
    ))
}

fn email_delay_ms() -> Option<u64> {
    config().ok()?.pointer("/knobs/email_delay_ms")?.as_u64()
}

/// Async email's main container (not a replica), by the project's labels: compose v1 and
/// v2 name containers differently.
fn email_container() -> String {
    let out = Command::new("docker")
        .args(["ps", "-a", "--filter", "label=ms-tui.project=ms-tui"])
        .args(["--filter", "label=ms-tui.service=email"])
        .args(["--filter", "label=ms-tui.mode=async"])
        .args(["--format", "{{.ID}} {{.Label \"ms-tui.replica\"}}"])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.split_whitespace().nth(1).is_none())
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .expect("async email's container")
}

/// Puts async email's knobs back to their defaults however the test ends, and starts it
/// again if the test left it down.
struct ResetEmail;

impl Drop for ResetEmail {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["start", &email_container()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let http = reqwest::Client::new();
        // `d` sets the e-mail delay in both modes (the comparison stays fair): both go back,
        // or the next test's sync S1 answers in 100 ms instead of 500.
        for (field, value, services) in [
            (
                admin::EMAIL_DELAY_FIELD,
                json!(admin::EMAIL_DELAYS_MS[0]),
                vec![EMAIL, (Service::Email, Mode::Sync)],
            ),
            (
                admin::CONCURRENCY_FIELD,
                json!(admin::CONCURRENCIES[0]),
                vec![EMAIL],
            ),
        ] {
            let change = KnobChange {
                label: "reset".into(),
                patch: json!({ field: value }),
                services,
                replicas: Vec::new(),
                queues: &[],
                reapply: false,
            };
            let _ = runtime().block_on(admin::apply(&http, &settings(), change));
        }
    }
}

/// Scales e-mail back to one consumer however the test ends (`ms-tui scale email 1`).
struct OneEmailConsumer;

impl Drop for OneEmailConsumer {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .args(["scale", "email", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The row of the pane that names replica #2 (`└ #2`).
fn second_replica(screen: &str) -> Option<&str> {
    screen.lines().find(|l| l.contains("└ #2"))
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
    fn a_knob_set_from_the_keyboard_comes_back_after_a_kill_and_start() {
        let _reset = ResetEmail;
        assert_eq!(email_delay_ms(), Some(500), "async email at its default");
        let (tui, log_file) = open_on_stack(KEYS_FPS);
        tui.keys(&["1", "d"]);
        tui.wait_for("the delay applied", Duration::from_secs(30), |s| {
            s.contains("e-mail delay 100 ms: applied on 2/2")
        });
        assert_eq!(email_delay_ms(), Some(100));

        // Behind the control room's back, as a crash and a supervisor would.
        let container = email_container();
        docker(&["kill", &container]);
        docker(&["start", &container]);
        let log_says = || {
            std::fs::read_to_string(&log_file).is_ok_and(|log| {
                log.contains("email-async restarted: re-applied email_delay_ms=100")
            })
        };
        eventually(
            "the log to say the knob was re-applied",
            Duration::from_secs(180),
            log_says,
        );
        assert_eq!(email_delay_ms(), Some(100), "re-applied on the new process");
        tui.keys(&["q"]);
        let _ = std::fs::remove_file(&log_file);
    }

    #[test]
    fn c_sets_the_consumer_concurrency_of_s1s_consumer() {
        let _reset = ResetEmail;
        let before = config().expect("async email's admin API");
        assert_eq!(
            admin::effective_concurrency(&before, &[USER_REGISTERED]),
            Some(16),
            "async email should report its consumers at the default 16; an image from before \
             issue 18 has no consumer_concurrency (rebuild: `ms-tui up --build`): {before}"
        );
        let (tui, log_file) = open_on_stack(KEYS_FPS);
        tui.keys(&["1", "c"]);
        tui.wait_for("the knob applied", Duration::from_secs(30), |s| {
            s.contains("consumer concurrency 128 on S1 (email): applied on 1/1")
                && s.contains("consumers email 128")
        });
        let after = config().unwrap();
        assert_eq!(
            admin::effective_concurrency(&after, &[USER_REGISTERED]),
            Some(128),
            "{after}"
        );
        tui.keys(&["q"]);
        let _ = std::fs::remove_file(&log_file);
    }

    #[test]
    fn brackets_scale_async_email_out_and_back_from_the_keyboard() {
        let _one = OneEmailConsumer;
        let (tui, log_file) = open_on_stack(KEYS_FPS);
        select_container(&tui, "async/email");
        tui.keys(&["]"]);
        tui.wait_for(
            "the scale in the status line",
            Duration::from_secs(10),
            |s| s.contains("scaling async/email to 2 consumers…"),
        );
        let scaled = tui.wait_for(
            "the replica running and healthy under email",
            Duration::from_secs(240),
            |s| {
                s.contains("async/email scaled to 2 consumers")
                    && second_replica(s)
                        .is_some_and(|r| r.contains("running") && r.contains("healthy"))
            },
        );
        assert!(second_replica(&scaled).is_some(), "{scaled}");

        tui.keys(&["["]);
        tui.wait_for("the scale-down question", Duration::from_secs(10), |s| {
            s.contains("Scale down async/email to 1 consumer?")
        });
        tui.keys(&["y"]);
        tui.wait_for("the replica gone", Duration::from_secs(120), |s| {
            s.contains("async/email scaled to 1 consumer") && second_replica(s).is_none()
        });
        tui.keys(&["q"]);
        let _ = std::fs::remove_file(&log_file);
    }
}
