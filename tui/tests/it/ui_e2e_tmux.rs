//! End to end: the real `ms-tui` binary in tmux against the running stack, driven by keys and
//! read from the screen (send-keys, capture-pane), as a user would.
//!
//! Select async email, `k` and confirm: the screen shows it exited (137). `s` starts it: the
//! screen shows it running and healthy again. A registration sent with a known correlation id,
//! then `/` with that id: the logs pane shows only lines carrying it. The faults' own end to
//! end tests, on this module's tmux driver, are in `ui_e2e_faults`.
//!
//! Needs tmux and the stack up and healthy (`ms-tui up`; `scripts/test.sh` does it). Without
//! them the test FAILS with the reason; it never skips. A guard starts async email again
//! whatever happens.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WIDTH: u16 = 300;
const HEIGHT: u16 = 50;
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_ms-tui");

/// A detached tmux session running one command; killed on drop.
pub(crate) struct Tmux {
    session: String,
}

impl Tmux {
    pub(crate) fn start(command: &str) -> Tmux {
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
    pub(crate) fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    pub(crate) fn literal(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-l", "-t", &self.session, text])
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    /// The pid of the pane's process (ms-tui itself: `open_on_stack` execs it).
    pub(crate) fn pane_pid(&self) -> u32 {
        let out = Command::new("tmux")
            .args(["list-panes", "-t", &self.session, "-F", "#{pane_pid}"])
            .output()
            .expect("tmux list-panes");
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("no pane pid in {text:?}"))
    }

    pub(crate) fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until `ready` holds; fails with the last screen after `within`.
    pub(crate) fn wait_for(
        &self,
        what: &str,
        within: Duration,
        ready: impl Fn(&str) -> bool,
    ) -> String {
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
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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
                let _ = Command::new("docker")
                    .args(["start", id])
                    .stdout(Stdio::null())
                    .status();
            }
        }
    }
}

/// Puts the payment failure rate back to its default (1, docs/contract.md, Delays) however the test ends,
/// through the same admin API the `f` key uses.
struct ResetFailureRate;

impl Drop for ResetFailureRate {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let settings = ms_tui::admin::AdminSettings::discover("127.0.0.1", &Default::default());
        let mut knobs = ms_tui::admin::Knobs {
            failure_rate: 0.0,
            ..Default::default()
        };
        let change = knobs.cycle(
            ms_tui::admin::Knob::FailureRate,
            common::scenario::ScenarioId::S5,
        );
        let http = reqwest::Client::new();
        let _ = runtime.block_on(ms_tui::admin::apply(&http, &settings, change));
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

/// The control room in tmux on the running stack (`--no-up`: the test must not bring it up),
/// once the whole stack shows; and the file its log goes to.
/// The frame rate of tests that move a selection key by key and read the screen after each
/// key: the default, so a frame follows a key within 67 ms.
pub(crate) const KEYS_FPS: u16 = 15;

/// Two frames at the slowest rate a test opens ms-tui with (5 fps).
const KEY_SETTLE: Duration = Duration::from_millis(400);

pub(crate) fn open_on_stack(fps: u16) -> (Tmux, std::path::PathBuf) {
    open_on_stack_in(fps, None)
}

/// As [`open_on_stack`], with ms-tui's working directory `cwd` (where it writes `results/`);
/// the stack's repository (`MS_STACK_ROOT`, as scripts/test.sh sets it, else this checkout)
/// is then passed as `MS_TUI_ROOT`.
pub(crate) fn open_on_stack_in(
    fps: u16,
    cwd: Option<&std::path::Path>,
) -> (Tmux, std::path::PathBuf) {
    // The test before may have just started a container again: give it time to be healthy.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while let Err(why) = stack_is_healthy() {
        if std::time::Instant::now() > deadline {
            panic!("{why}");
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    let log_file = std::env::temp_dir().join(format!(
        "ms-tui-e2e-{}-{}.log",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    ));
    // `exec`: the pane's process is ms-tui itself, so a test can signal it.
    let (cd, root) = cwd.map_or((String::new(), String::new()), |dir| {
        (
            format!("cd {} && ", dir.display()),
            format!(
                "MS_TUI_ROOT={} ",
                std::env::var("MS_STACK_ROOT")
                    .unwrap_or_else(|_| format!("{}/..", env!("CARGO_MANIFEST_DIR")))
            ),
        )
    });
    let tui = Tmux::start(&format!(
        "{cd}exec env {root}MS_TUI_LOG_FILE={} {BIN} --no-up --fps {fps}",
        log_file.display()
    ));
    let all = format!("{0}/{0} running", expected_containers());
    tui.wait_for("the stack on screen", Duration::from_secs(60), |s| {
        s.contains(&all) && s.contains("Docker ")
    });
    (tui, log_file)
}

/// Selects async email and kills it with `k`, confirmed: the screen shows it exited (137).
fn kill_async_email(tui: &Tmux) {
    // With the logs on the selected container (`a`), the logs title names the selection;
    // move down until it says async/email.
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
    let n = expected_containers();
    let one_less = format!("{}/{n} running", n - 1);
    assert!(killed.contains(&one_less), "{killed}");
}

/// `s` on the selected (stopped) async email: waits until it runs healthy again.
fn start_selected_email(tui: &Tmux) {
    let all = format!("{0}/{0} running", expected_containers());
    tui.keys(&["s"]);
    tui.wait_for(
        "async email running and healthy again",
        Duration::from_secs(180),
        |s| {
            selected_row(s).is_some_and(|r| {
                r.contains("email") && r.contains("running") && r.contains("healthy")
            }) && s.contains(&all)
        },
    );
}

/// The queue pane's figures for `queue`: (ready, consumers), from its row
/// `<queue> <ready> <unacked> <consumers>  in …`.
fn queue_row(screen: &str, queue: &str) -> Option<(u64, u64)> {
    let at = screen.find(&format!("{queue} "))?;
    let mut words = screen[at + queue.len()..].split_whitespace();
    let ready = words.next()?.parse().ok()?;
    let _unacked = words.next()?;
    let consumers = words.next()?.trim_end_matches('│').parse().ok()?;
    Some((ready, consumers))
}

/// The latency pane's last fire per mode: `fired: <status>×<n> in <time>[, done <time>]`,
/// sync's in the left column, async's in the right. Each column has rows of its own above
/// (a `done p50 …` line once completions arrived), so the two need not share a row: the
/// columns are told apart by where the pane's header puts `async :81…`.
fn fired(screen: &str) -> Option<(String, String)> {
    let column = |line: &str, needle: &str| line.find(needle).map(|at| line[..at].chars().count());
    let lines: Vec<&str> = screen.lines().collect();
    let left = lines.iter().find_map(|l| column(l, "┌ Latency"))?;
    let header = lines.iter().position(|l| l.contains("async :81"))?;
    let async_col = column(lines[header], "async :81")?;
    let (mut sync, mut asynchronous) = (None, None);
    // Only the pane's own rows: from its header down to its bottom border.
    for line in &lines[header..] {
        let chars: Vec<char> = line.chars().collect();
        if chars.get(left) == Some(&'└') {
            break;
        }
        let mut col = left;
        while let Some(at) = find_from(&chars, "fired: ", col) {
            let start = at + "fired: ".len();
            let end = if at < async_col {
                async_col
            } else {
                chars.len()
            };
            let cell: String = chars[start..end.max(start)]
                .iter()
                .take_while(|c| **c != '│')
                .collect();
            let cell = cell
                .split("  ")
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            if at < async_col {
                sync = Some(cell);
            } else {
                asynchronous = Some(cell);
            }
            col = start;
        }
    }
    Some((sync?, asynchronous?))
}

/// The column of the first `needle` at or after column `from` of a row.
fn find_from(row: &[char], needle: &str, from: usize) -> Option<usize> {
    let needle: Vec<char> = needle.chars().collect();
    (from..row.len().saturating_sub(needle.len() - 1)).find(|&at| row[at..].starts_with(&needle))
}

#[test]
fn the_last_fire_of_each_mode_is_read_from_its_own_column() {
    let screen = "\
┌ Scenarios ──┐┌ Latency · S1 · sync | async ─────────────────────────────────────────────┐
│›S1 fire     ││sync :8001/register                         async :8101/register          │
│ S2 slow     ││done p50 515.3 ms (10)                      fired: 202×1 in 20.2 ms       │
│ S3 fan-out  ││fired: 201×1 in 517.9 ms, done 515.2 ms                                   │
└─────────────┘└──────────────────────────────────────────────────────────────────────────┘
┌ Logs ───────────────────────────────────────────────────────────────────────────────────┐
│I: fired: 999×1 in 1 ms                                                                  │";
    let (sync, asynchronous) = fired(screen).expect("both fires");
    assert_eq!(sync, "201×1 in 517.9 ms, done 515.2 ms");
    assert_eq!(asynchronous, "202×1 in 20.2 ms");
    assert_eq!(fired_latency(&sync), Some(517.9));
    assert!(fired(&screen.replace("fired: 202", "xxxxxx 202")).is_none());
}

/// Milliseconds of a latency as the panes print it (`512 ms`, `4.00 ms`, `1.02 s`).
pub(crate) fn millis(text: &str) -> Option<f64> {
    let mut words = text.split_whitespace();
    let value: f64 = words.next()?.parse().ok()?;
    match words.next()?.trim_end_matches(',') {
        "ms" => Some(value),
        "s" => Some(value * 1000.0),
        "µs" => Some(value / 1000.0),
        _ => None,
    }
}

/// The time after ` in ` in a `fired:` text.
fn fired_latency(fired: &str) -> Option<f64> {
    millis(fired.split(" in ").nth(1)?)
}

/// With the logs on the selected container (`a`, pressed only when they show all: it
/// toggles), moves down until the logs title names `label` (e.g. `sync/search`).
pub(crate) fn select_container(tui: &Tmux, label: &str) {
    tui.keys(&["Home"]);
    // A screen read right after a key may still be the frame before it (at 5 fps a frame is
    // 200 ms): wait two frames after every key, or a stale title selects the wrong row.
    std::thread::sleep(KEY_SETTLE);
    let scope = tui.wait_for("the logs title", Duration::from_secs(10), |s| {
        s.contains("Logs · ")
    });
    if scope.contains("Logs · all") {
        tui.keys(&["a"]);
        std::thread::sleep(KEY_SETTLE);
        tui.wait_for("the logs on the selection", Duration::from_secs(10), |s| {
            s.contains("Logs · ") && !s.contains("Logs · all")
        });
    }
    let title = format!("Logs · {label}");
    for _ in 0..30 {
        let screen = tui.wait_for("the logs title", Duration::from_secs(10), |s| {
            s.contains("Logs · ")
        });
        if screen.contains(&title) {
            return;
        }
        tui.keys(&["Down"]);
        std::thread::sleep(KEY_SETTLE);
    }
    panic!("never selected {label}:\n{}", tui.screen());
}

fn stack_is_healthy() -> Result<(), String> {
    let (healthy, _, text) = stack_status()?;
    if healthy {
        Ok(())
    } else {
        Err(format!(
            "the stack is not up and healthy (bring it up with `ms-tui up`; scripts/test.sh \
             does it):\n{text}"
        ))
    }
}

/// `ms-tui status`: whether all is healthy, how many containers the layout expects (its
/// last line, `18/23 containers running and healthy`), and what it printed.
fn stack_status() -> Result<(bool, usize, String), String> {
    let out = Command::new(BIN)
        .arg("status")
        .output()
        .map_err(|e| format!("running ms-tui status: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = text
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once('/')?;
            let (n, _) = rest.split_once(" containers running")?;
            n.parse().ok()
        })
        .ok_or_else(|| format!("ms-tui status gave no count:\n{text}"))?;
    Ok((out.status.success(), expected, text))
}

/// How many containers the current layout expects (23 with no replicas scaled out).
fn expected_containers() -> usize {
    stack_status().unwrap_or_else(|e| panic!("{e}")).1
}

/// Driven by scripts/test.sh's Docker phase (the name keeps the other phase off them).
mod on_the_running_stack {
    use super::*;

    #[test]
    fn kill_start_and_filter_from_the_keyboard() {
        let _restart = RestartEmail;
        let (tui, log_file) = open_on_stack(KEYS_FPS);
        kill_async_email(&tui);

        start_selected_email(&tui);

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
        // The unfiltered pane already holds user/a and email/a lines: wait for the filter's
        // title too, or the screen may be read before the keys were.
        let title = format!("filter \"{cid}\"");
        let screen = tui.wait_for(
            "the filter applied and the registration's lines, from user and email",
            Duration::from_secs(30),
            |s| {
                let rows = logs_pane(s);
                s.contains(&title)
                    && rows.iter().any(|r| r.contains("user/a"))
                    && rows.iter().any(|r| r.contains("email/a"))
            },
        );
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

    /// Issue 7's walk through the measurement plane, by keys only: with async email killed,
    /// ten S1 fires leave ten registrations waiting in its queue; started again, it drains
    /// them and the completion latency appears; sync S1 shows its 500 ms e-mail; `f` to a
    /// failure rate of 0, then S5 completes in both modes.
    #[test]
    fn fires_fill_the_queue_it_drains_and_the_knob_lets_the_saga_complete() {
        let _restart = RestartEmail;
        let _failure_rate = ResetFailureRate;
        let (tui, log_file) = open_on_stack(KEYS_FPS);
        // S1 is selected at start; its queue is on screen with its consumer.
        let queue = "user_registered";
        let before = tui.wait_for(
            "S1's queue with its consumer",
            Duration::from_secs(30),
            |s| queue_row(s, queue).is_some_and(|(_, consumers)| consumers >= 1),
        );
        let (ready_before, _) = queue_row(&before, queue).unwrap();

        kill_async_email(&tui);
        tui.wait_for(
            "the queue without a consumer",
            Duration::from_secs(30),
            |s| queue_row(s, queue).is_some_and(|(_, consumers)| consumers == 0),
        );
        for _ in 0..10 {
            tui.keys(&["Enter"]);
            std::thread::sleep(Duration::from_millis(300));
        }
        let filled = tui.wait_for(
            "ten more registrations waiting",
            Duration::from_secs(60),
            |s| queue_row(s, queue).is_some_and(|(ready, _)| ready == ready_before + 10),
        );
        // Sync S1 sends the e-mail inside the request: at least its 500 ms delay.
        let screen = tui.wait_for("both modes' last fire", Duration::from_secs(60), |s| {
            fired(s).is_some()
        });
        let (sync, _) = fired(&screen).unwrap();
        assert!(sync.starts_with("201"), "sync S1 answered {sync}\n{screen}");
        let sync_ms = fired_latency(&sync).unwrap_or_else(|| panic!("no time in {sync}"));
        assert!(
            sync_ms >= 500.0,
            "sync S1 took {sync_ms} ms (< the 500 ms e-mail)\n{filled}"
        );

        start_selected_email(&tui);
        let drained = tui.wait_for(
            "the queue drained and the async completion shown",
            Duration::from_secs(120),
            |s| {
                queue_row(s, queue).is_some_and(|(ready, _)| ready == 0)
                    && fired(s).is_some_and(|(_, a)| a.contains(", done "))
            },
        );
        let (_, asynchronous) = fired(&drained).unwrap();
        assert!(asynchronous.starts_with("202"), "{drained}");

        // `f` steps the payment failure rate 1 -> 0.3 -> 0 on both payment services.
        tui.keys(&["f"]);
        tui.wait_for("failure rate 0.3 applied", Duration::from_secs(30), |s| {
            s.contains("payment failure rate 0.3: applied on 2/2")
        });
        tui.keys(&["f"]);
        tui.wait_for("failure rate 0 applied", Duration::from_secs(30), |s| {
            s.contains("payment failure rate 0: applied on 2/2") && s.contains("fail 0 ·")
        });
        tui.keys(&["5"]);
        tui.wait_for("S5 selected", Duration::from_secs(10), |s| {
            s.contains("Latency · S5")
        });
        tui.keys(&["Enter"]);
        let saga = tui.wait_for("S5 complete in both modes", Duration::from_secs(120), |s| {
            fired(s).is_some_and(|(sync, a)| {
                sync.starts_with("200") && a.starts_with("202") && a.contains(", done ")
            })
        });
        let (sync, asynchronous) = fired(&saga).unwrap();
        assert!(
            !sync.contains("400") && !asynchronous.contains("503"),
            "{saga}"
        );

        tui.keys(&["q"]);
        let _ = std::fs::remove_file(&log_file);
    }
}
