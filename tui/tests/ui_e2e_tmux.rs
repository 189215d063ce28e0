//! End to end: the real `ms-tui` binary in tmux against the running stack, driven by keys and
//! read from the screen (send-keys, capture-pane), as a user would.
//!
//! Select async email, `k` and confirm: the screen shows it exited (137). `s` starts it: the
//! screen shows it running and healthy again. A registration sent with a known correlation id,
//! then `/` with that id: the logs pane shows only lines carrying it.
//!
//! Needs tmux and the stack up and healthy (`ms-tui up`; `scripts/test.sh` does it). Without
//! them the test FAILS with the reason; it never skips. A guard starts async email again
//! whatever happens.
// Test code: a setup step that fails should panic with its reason (clippy.toml allows this
// inside #[test] functions; the harness helpers here are test code too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

const WIDTH: u16 = 300;
const HEIGHT: u16 = 50;
const BIN: &str = env!("CARGO_BIN_EXE_ms-tui");

/// A detached tmux session running one command; killed on drop.
struct Tmux {
    session: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let session = format!("ms-tui-e2e-{}", std::process::id());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session])
            .args(["-x", &WIDTH.to_string(), "-y", &HEIGHT.to_string()])
            .arg(command)
            .status()
            .expect("tmux is needed for this test (apt-get install tmux)");
        assert!(status.success(), "tmux new-session failed");
        Tmux { session }
    }

    /// Sends keys by tmux's names (`Down`, `Home`, `Enter`) or literal text.
    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    fn literal(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-l", "-t", &self.session, text])
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until `ready` holds; fails with the last screen after `within`.
    fn wait_for(&self, what: &str, within: Duration, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out after {within:?} waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

/// Starts async email again however the test ends.
struct RestartEmail;

impl Drop for RestartEmail {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("docker")
            .args(["ps", "-aq", "--filter", "label=ms-tui.project=ms-tui"])
            .args(["--filter", "label=ms-tui.service=email"])
            .args(["--filter", "label=ms-tui.mode=async"])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("docker").args(["start", id]).status();
            }
        }
    }
}

/// The row of the selected container (the table marks it with `›`).
fn selected_row(screen: &str) -> Option<&str> {
    screen.lines().find(|l| l.contains("› "))
}

/// The text rows of the logs pane: between its title row and its bottom border, inside its
/// side borders.
fn logs_pane(screen: &str) -> Vec<String> {
    let lines: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let Some(top) = lines
        .iter()
        .position(|l| l.iter().collect::<String>().contains("Logs · "))
    else {
        return Vec::new();
    };
    let title: String = lines[top].iter().collect();
    let before_title = title.find("Logs · ").unwrap_or(0);
    // The pane's left border: the last corner before the title.
    let left = title[..before_title].chars().count()
        - title[..before_title]
            .chars()
            .rev()
            .position(|c| c == '┌')
            .map_or(0, |p| p + 1);
    let mut rows = Vec::new();
    for line in &lines[top + 1..] {
        if line.get(left) == Some(&'└') {
            break;
        }
        let inner: String = line.iter().skip(left + 1).collect();
        let inner = inner.trim_end().trim_end_matches('│').trim().to_string();
        if !inner.is_empty() {
            rows.push(inner);
        }
    }
    rows
}

fn stack_is_healthy() -> Result<(), String> {
    let out = Command::new(BIN)
        .arg("status")
        .output()
        .map_err(|e| format!("running ms-tui status: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "the stack is not up and healthy (bring it up with `ms-tui up`; scripts/test.sh \
             does it):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn kill_start_and_filter_from_the_keyboard() {
    if let Err(why) = stack_is_healthy() {
        panic!("{why}");
    }
    let _restart = RestartEmail;
    let log_file = std::env::temp_dir().join(format!("ms-tui-e2e-{}.log", std::process::id()));
    let tui = Tmux::start(&format!(
        "MS_TUI_LOG_FILE={} {BIN} --no-up",
        log_file.display()
    ));
    tui.wait_for("the stack on screen", Duration::from_secs(60), |s| {
        s.contains("23/23 running") && s.contains("Docker ")
    });

    // Select async email: with the logs on the selected container (`a`), the logs title names
    // the selection; move down until it says async/email.
    tui.keys(&["Home", "a"]);
    let mut found = false;
    for _ in 0..30 {
        let screen = tui.wait_for("the logs title", Duration::from_secs(10), |s| {
            s.contains("Logs · ")
        });
        if screen.contains("Logs · async/email") {
            found = true;
            break;
        }
        tui.keys(&["Down"]);
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(found, "never selected async/email:\n{}", tui.screen());

    tui.keys(&["k"]);
    tui.wait_for("the kill confirmation", Duration::from_secs(10), |s| {
        s.contains("Kill async/email?")
    });
    tui.keys(&["y"]);
    let killed = tui.wait_for("async email exited", Duration::from_secs(30), |s| {
        selected_row(s).is_some_and(|r| r.contains("email") && r.contains("exited 137"))
    });
    assert!(killed.contains("22/23 running"), "{killed}");

    tui.keys(&["s"]);
    tui.wait_for(
        "async email running and healthy again",
        Duration::from_secs(180),
        |s| {
            selected_row(s).is_some_and(|r| {
                r.contains("email") && r.contains("running") && r.contains("healthy")
            }) && s.contains("23/23 running")
        },
    );

    // A registration with a correlation id of our own, then filter the logs to it.
    let cid = format!(
        "e2e-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post("http://127.0.0.1:8101/register")
            .header("x-correlation-id", &cid)
            .json(&serde_json::json!({ "email": format!("{cid}@example.com") }))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert_eq!(status.ok(), Some(202), "async register");

    tui.keys(&["a", "/"]);
    tui.literal(&cid);
    tui.keys(&["Enter"]);
    let screen = tui.wait_for(
        "the registration's lines, from user and email",
        Duration::from_secs(30),
        |s| {
            let rows = logs_pane(s);
            rows.iter().any(|r| r.contains("user/a")) && rows.iter().any(|r| r.contains("email/a"))
        },
    );
    assert!(screen.contains(&format!("filter \"{cid}\"")), "{screen}");
    let rows = logs_pane(&screen);
    assert!(!rows.is_empty());
    for row in &rows {
        assert!(row.contains(&cid), "a line without {cid}: {row}\n{screen}");
    }

    tui.keys(&["q"]);
    std::thread::sleep(Duration::from_millis(500));
    let log = std::fs::read_to_string(&log_file).unwrap_or_default();
    assert!(
        log.contains("kill async/email: done"),
        "the log file:\n{log}"
    );
    let _ = std::fs::remove_file(&log_file);
}
