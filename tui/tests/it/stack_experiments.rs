//! Experiments on the running Docker stack, through the binary users run (`ms-tui run`):
//!
//! - the built-ins CI runs — `backlog`, `broker-outage`, `saga-storm` — exit 0 with nothing
//!   lost or duplicated, the stock invariant held, the broker's outage recovered;
//! - the accounting can fail: a copy of backlog that purges the e-mail queue while the
//!   consumer is down reports as lost what was purged, and exits 1 on `lost == 0`;
//! - an impossible threshold exits 1 and is marked failed; a malformed file exits 2 naming
//!   its line and column, and nothing runs;
//! - SIGINT during `partition`: the e-mail services are back on the network afterwards, and
//!   the partial report says interrupted.
//!
//! The assertions are about loss, duplication, invariants and recovery; latencies belong to
//! the report, not to a pass/fail on a shared 2-core machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::stack_support::{Stack, unique};
use ms_tui::docker::Project;
use ms_tui::experiment::result::RunResult;
use ms_tui::faults::FaultTarget;
use ms_tui::faults::platform::Platform;
use tokio::sync::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_ms-tui");

/// One experiment at a time: each resets the data and takes containers down.
static TURN: Mutex<()> = Mutex::const_new(());

/// A fresh folder for one run's result.
fn out_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(unique(&format!("ms-exp-{name}")))
}

fn run_cmd(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("run")
        .args(args)
        .current_dir(std::env::var("MS_STACK_ROOT").unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// `ms-tui run …` to its end (printed, for the CI log).
fn run(args: &[&str]) -> Output {
    let began = Instant::now();
    let out = run_cmd(args).output().unwrap();
    println!(
        "ms-tui run {} → {} after {:.1} s\n{}{}",
        args.join(" "),
        out.status,
        began.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn result(dir: &Path) -> RunResult {
    let text = std::fs::read_to_string(dir.join("result.json"))
        .unwrap_or_else(|e| panic!("{}/result.json: {e}", dir.display()));
    serde_json::from_str(&text).unwrap()
}

/// Runs a built-in to its end and returns its result; it must have passed.
fn passes(name: &str) -> RunResult {
    let dir = out_dir(name);
    let out = run(&[name, "--out", dir.to_str().unwrap()]);
    let result = result(&dir);
    assert_eq!(out.status.code(), Some(0), "{name} did not pass");
    assert!(!result.interrupted);
    for file in ["report.md", "timeline.svg"] {
        assert!(dir.join(file).is_file(), "{name}: no {file}");
    }
    result
}

/// The tests; `scripts/test.sh` runs this module only once the stack is up.
mod on_the_running_stack {
    use super::*;

    #[tokio::test]
    async fn backlog_loses_and_duplicates_nothing_and_counts_from_the_email_rows() {
        let _turn = TURN.lock().await;
        Stack::healthy().await;
        let result = passes("backlog");
        let a = &result.modes["async"];
        assert!(a.accepted > 0, "{a:?}");
        assert_eq!((a.lost, a.duplicated), (0, 0), "{a:?}");
        assert_eq!(a.completed, a.accepted, "{a:?}");
        assert!(a.loss_source.contains("emails"), "{}", a.loss_source);
        assert!(
            result.events.iter().any(|e| e.kind == "fault")
                && result.events.iter().any(|e| e.kind == "revert"),
            "{:?}",
            result.events
        );
    }

    #[tokio::test]
    async fn purged_messages_are_counted_lost_and_fail_the_threshold() {
        let _turn = TURN.lock().await;
        Stack::healthy().await;
        let dir = out_dir("purge");
        let file = dir.with_extension("toml");
        std::fs::write(
            &file,
            r#"
name = "backlog-purged"
lesson = "Purging the queue while the consumer is down loses exactly what was purged."
scenario = "s1"
modes = "async"
rate = 20
duration = "10s"
# What was purged never completes: the grace is waited out in full.
grace = "8s"

[[steps]]
at = "2s"
until = "8s"
action = "kill"
target = "email"

[[steps]]
at = "6s"
action = "purge"
queue = "user_registered_queue"

[thresholds]
async = ["lost == 0"]
"#,
        )
        .unwrap();
        let out = run(&[file.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "lost == 0 must fail");
        let result = result(&dir);
        let purge = result
            .events
            .iter()
            .find(|e| e.kind == "purge")
            .unwrap_or_else(|| panic!("no purge event: {:?}", result.events));
        let purged: u64 = purge
            .detail
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("purge detail: {}", purge.detail));
        let lost = result.modes["async"].lost;
        println!("purged {purged}, counted lost {lost}");
        assert!(
            purged > 0,
            "the consumer was down 4 s at 20/s: the queue held messages"
        );
        // A message the consumer had taken before its kill and stored, but not acked, went
        // back to the queue and may be among the purged: it is stored, so not lost. The
        // consumer takes at most 16 at once (its prefetch).
        assert!(
            lost <= purged && lost + 16 >= purged,
            "lost {lost} should be the {purged} purged, give or take the 16 in flight"
        );
        let threshold = &result.thresholds[0];
        assert!(
            !threshold.pass && threshold.value == Some(lost as f64),
            "{threshold:?}"
        );
    }

    #[tokio::test]
    async fn an_impossible_threshold_fails_and_a_malformed_file_runs_nothing() {
        let _turn = TURN.lock().await;
        Stack::healthy().await;
        let dir = out_dir("impossible");
        let file = dir.with_extension("toml");
        std::fs::write(
            &file,
            r#"
name = "impossible"
lesson = "Nothing answers in a microsecond."
scenario = "s6"
modes = "async"
rate = 20
duration = "3s"
grace = "5s"

[thresholds]
async = ["ack_p99 < 0.001ms", "lost == 0"]
"#,
        )
        .unwrap();
        let out = run(&[file.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        let result = result(&dir);
        let failed: Vec<_> = result.thresholds.iter().filter(|t| !t.pass).collect();
        assert_eq!(failed.len(), 1, "{:?}", result.thresholds);
        assert_eq!(failed[0].expr, "ack_p99 < 0.001ms");
        let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(
            report.contains("ack_p99 < 0.001ms") && report.contains("FAIL"),
            "{report}"
        );

        let broken = out_dir("broken");
        let file = broken.with_extension("toml");
        std::fs::write(&file, "name = \"broken\"\nlesson = \"x\"\nscenario = s1\n").unwrap();
        let out = run(&[file.to_str().unwrap(), "--out", broken.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(":3:"), "the line of the mistake: {stderr}");
        assert!(stderr.contains("nothing ran"), "{stderr}");
        assert!(!broken.exists(), "nothing ran, nothing was written");
    }

    #[tokio::test]
    async fn broker_outage_refuses_what_it_cannot_confirm_and_stores_every_accepted_click() {
        let _turn = TURN.lock().await;
        Stack::healthy().await;
        let result = passes("broker-outage");
        let a = &result.modes["async"];
        assert!(a.accepted > 0, "{a:?}");
        assert_eq!((a.lost, a.duplicated), (0, 0), "{a:?}");
        assert!(a.loss_source.contains("clicks"), "{}", a.loss_source);
        assert_eq!(a.recovered, Some(true), "{a:?}");
        println!(
            "broker outage: refused {:?}, recovery {:?} s",
            a.refused, a.recovery_s
        );
        // The broker is restarted in the test's own stack; let the next test find it healthy.
        Stack::healthy().await;
    }

    #[tokio::test]
    async fn a_saga_storm_ends_every_order_and_keeps_the_stock_invariant() {
        let _turn = TURN.lock().await;
        Stack::healthy().await;
        let result = passes("saga-storm");
        assert_eq!(result.invariants.len(), 2, "{:?}", result.invariants);
        assert!(
            result.invariants.iter().all(|i| i.pass),
            "{:?}",
            result.invariants
        );
        for key in ["sync", "async"] {
            let m = &result.modes[key];
            assert_eq!(m.sent, 100, "{key}: {m:?}");
            assert_eq!((m.lost, m.duplicated), (0, 0), "{key}: {m:?}");
        }
    }

    #[tokio::test]
    async fn sigint_during_a_partition_reconnects_and_writes_a_partial_report() {
        let _turn = TURN.lock().await;
        let stack = Stack::healthy().await;
        let dir = out_dir("partition");
        let mut child = run_cmd(&["partition", "--out", dir.to_str().unwrap()])
            .spawn()
            .unwrap();
        let platform = Platform::new(stack.docker.clone(), Project::default());
        let network = platform.network().await.unwrap();
        let email = |group: &str| FaultTarget {
            group: group.into(),
            service: "email".into(),
        };
        let on_network = |seen: &[ms_tui::faults::platform::Seen], group: &str| {
            seen.iter()
                .find(|s| s.target == email(group))
                .is_some_and(|s| s.on_network)
        };
        // The partition starts 8 s into the load, after the reset.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen = platform.snapshot(&network).await.unwrap();
            if !on_network(&seen, "sync") && !on_network(&seen, "async") {
                break;
            }
            assert!(Instant::now() < deadline, "the partition never began");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "ms-tui run did not stop after SIGINT"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let out = child.wait_with_output().unwrap();
        println!(
            "{status}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(status.code(), Some(1), "an interrupted run is not a pass");
        let seen = platform.snapshot(&network).await.unwrap();
        assert!(
            on_network(&seen, "sync") && on_network(&seen, "async"),
            "the e-mail services must be back on the network"
        );
        let result = result(&dir);
        assert!(result.interrupted);
        assert!(
            result.events.iter().any(|e| e.kind == "revert"),
            "{:?}",
            result.events
        );
        let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(report.to_lowercase().contains("interrupted"), "{report}");
        stack.wait_healthy(Duration::from_secs(120)).await;
    }
}
