//! End to end with an experiment: the real `ms-tui` in tmux on the running stack (the driver
//! of `ui_e2e_tmux`), `showdown` picked and run from the keyboard.
//!
//! `e` opens the picker; the arrows move to showdown and Enter starts it. The status line
//! says it runs, the timeline marks payment's `stop` when the step makes it, the verdict
//! overlay shows when the run ends (PASS or FAIL: with the accounting still a stub, which one
//! is not this test's business), and the result folder it names holds a result.json of the
//! run.
//!
//! Stopped from the keyboard instead (`e`, `Esc`, `y`) while payment is down: the verdict
//! says INTERRUPTED, the partial result.json says so too, and both payments run again.
//!
//! Needs tmux and the stack up and healthy; without them the test FAILS with the reason.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ui_e2e_tmux::{BIN, open_on_stack_in};

/// ms-tui's frame rate here: the debug build's full screen with the charts costs ~45 ms a
/// frame, and the stack under test shares the two cores (see `ui_e2e_faults`).
const FPS: u16 = 5;

/// However the test ends: the control room is closed first (its quit stops the run, which
/// reverts the stop of payment), then every fault left is cleared and a payment still down
/// is started, so the next test finds the stack whole.
struct Restore {
    pid: Option<u32>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(40);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        let _ = Command::new(BIN)
            .args(["fault", "--clear"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Ok(out) = Command::new("docker")
            .args(["ps", "-aq", "--filter", "label=ms-tui.project=ms-tui"])
            .args(["--filter", "label=ms-tui.service=payment"])
            .args(["--filter", "status=exited"])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("docker")
                    .args(["start", id])
                    .stdout(Stdio::null())
                    .status();
            }
        }
    }
}

/// `results/showdown-20261202T031500Z/` as the verdict names it (`report: …`).
fn reported_folder(screen: &str) -> Option<String> {
    let at = screen.find("report: ")? + "report: ".len();
    let folder: String = screen[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '│')
        .collect();
    folder.starts_with("results/showdown-").then_some(folder)
}

#[test]
fn the_reported_folder_is_read_from_the_verdict() {
    let screen = "│report: results/showdown-20261202T031500Z/        │\n";
    assert_eq!(
        reported_folder(screen).as_deref(),
        Some("results/showdown-20261202T031500Z/")
    );
    assert_eq!(reported_folder("report: elsewhere/"), None);
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ms-tui-e2e-experiment-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `e`, then showdown (the first) chosen with the arrows and started: the status line says it
/// runs.
fn start_showdown(tui: &crate::ui_e2e_tmux::Tmux) {
    tui.keys(&["e"]);
    tui.wait_for("the experiment picker", Duration::from_secs(10), |s| {
        s.contains("Experiments · Enter runs") && s.contains("› showdown")
    });
    // Showdown is the first: down and back up, to pick it with the arrows.
    tui.keys(&["Down"]);
    tui.wait_for("the cursor on backlog", Duration::from_secs(10), |s| {
        s.contains("› backlog")
    });
    tui.keys(&["Up"]);
    tui.wait_for("the cursor on showdown", Duration::from_secs(10), |s| {
        s.contains("› showdown")
    });
    tui.keys(&["Enter"]);
    tui.wait_for(
        "the status line saying the experiment runs",
        Duration::from_secs(15),
        |s| s.contains("experiment showdown: ") && !s.contains("Experiments · Enter runs"),
    );
}

/// Setup (data reset), then 8 s of load before the stop; stopping a container may take its
/// 10 s grace.
fn wait_for_the_stop_marker(tui: &crate::ui_e2e_tmux::Tmux) -> String {
    tui.wait_for(
        "the stop of payment marked on the timeline",
        Duration::from_secs(90),
        |s| s.contains("▲stop sync/payment") || s.contains("▲stop async/payment"),
    )
}

fn read_result(cwd: &Path, folder: &str, screen: &str) -> serde_json::Value {
    let json = cwd.join(folder).join("result.json");
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("{}: {e}\n{screen}", json.display()));
    serde_json::from_str(&text).unwrap()
}

/// `docker ps` states of the project's payment containers.
fn payment_states() -> String {
    let out = Command::new("docker")
        .args(["ps", "-a", "--filter", "label=ms-tui.project=ms-tui"])
        .args(["--filter", "label=ms-tui.service=payment"])
        .args(["--format", "{{.State}}"])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Driven by scripts/test.sh's Docker phase (the name keeps the other phase off them).
mod on_the_running_stack {
    use super::*;

    #[test]
    fn showdown_picked_from_the_keyboard_runs_on_the_timeline_and_ends_with_its_verdict() {
        let cwd = scratch_dir();
        let mut restore = Restore { pid: None };
        let (tui, log_file) = open_on_stack_in(FPS, Some(&cwd));
        restore.pid = Some(tui.pane_pid());

        let started = Instant::now();
        start_showdown(&tui);
        let marked = wait_for_the_stop_marker(&tui);
        assert!(
            marked.contains("experiment showdown: load"),
            "the status line names the phase while it runs:\n{marked}"
        );
        println!(
            "stop marked {:.0} s after Enter",
            started.elapsed().as_secs_f64()
        );

        // 30 s of load, a grace of up to 40 s after the stop ends at 18 s, restore and
        // accounting: well within four minutes.
        let verdict = tui.wait_for("the verdict overlay", Duration::from_secs(240), |s| {
            s.contains("Verdict · showdown")
                && (s.contains(" PASS ") || s.contains(" FAIL ") || s.contains(" INTERRUPTED "))
                && reported_folder(s).is_some()
        });
        println!(
            "verdict {:.0} s after Enter:\n{verdict}",
            started.elapsed().as_secs_f64()
        );
        let folder = reported_folder(&verdict).unwrap();
        let result = read_result(&cwd, &folder, &verdict);
        assert_eq!(result["experiment"], "showdown", "{result}");
        assert_eq!(result["interrupted"], false, "{result}");
        assert!(
            result["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["kind"] == "fault")),
            "the stop is in the result's events: {result}"
        );

        tui.keys(&["Escape"]);
        let after = tui.wait_for(
            "the verdict closed and the folder in the status line",
            Duration::from_secs(10),
            |s| !s.contains("Verdict · showdown") && s.contains(&format!("→ {folder}")),
        );
        assert!(
            after.contains("experiment showdown PASS")
                || after.contains("experiment showdown FAIL"),
            "{after}"
        );
        tui.keys(&["q"]);
        let _ = std::fs::remove_file(&log_file);
        let _ = std::fs::remove_dir_all(&cwd);
    }

    /// Stopped from its progress overlay while payment is down: the runner reverts the stop,
    /// the verdict says INTERRUPTED, and the partial result is written and marked so.
    #[test]
    fn showdown_stopped_from_the_keyboard_reverts_and_writes_a_partial_report() {
        let cwd = scratch_dir();
        let mut restore = Restore { pid: None };
        let (tui, log_file) = open_on_stack_in(FPS, Some(&cwd));
        restore.pid = Some(tui.pane_pid());
        start_showdown(&tui);
        wait_for_the_stop_marker(&tui);

        tui.keys(&["e"]);
        tui.wait_for("the progress overlay", Duration::from_secs(10), |s| {
            s.contains("Experiment · showdown") && s.contains("Esc or s stop it")
        });
        tui.keys(&["Escape"]);
        tui.wait_for("the stop question", Duration::from_secs(10), |s| {
            s.contains("Stop experiment showdown?")
        });
        let asked = Instant::now();
        tui.keys(&["y"]);
        // Reverting starts payment again (seconds), then restore and accounting.
        let verdict = tui.wait_for("the INTERRUPTED verdict", Duration::from_secs(90), |s| {
            s.contains("Verdict · showdown")
                && s.contains(" INTERRUPTED ")
                && reported_folder(s).is_some()
        });
        println!(
            "stopped {:.0} s after the yes:\n{verdict}",
            asked.elapsed().as_secs_f64()
        );
        let folder = reported_folder(&verdict).unwrap();
        let result = read_result(&cwd, &folder, &verdict);
        assert_eq!(result["interrupted"], true, "{result}");
        assert_eq!(result["verdict"], "fail", "an interrupted run never passes");
        assert!(
            result["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["kind"] == "revert")),
            "the stop's revert is in the result's events: {result}"
        );
        let states = payment_states();
        assert_eq!(
            states.split_whitespace().collect::<Vec<_>>(),
            ["running", "running"],
            "both payments run again"
        );
        tui.keys(&["Enter"]);
        tui.wait_for(
            "the folder in the status line",
            Duration::from_secs(10),
            |s| {
                !s.contains("Verdict · showdown")
                    && s.contains(&format!("experiment showdown INTERRUPTED → {folder}"))
            },
        );
        tui.keys(&["q"]);
        let _ = std::fs::remove_file(&log_file);
        let _ = std::fs::remove_dir_all(&cwd);
    }
}
