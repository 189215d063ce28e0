//! End to end with faults: the real `ms-tui` in tmux on the running stack (the driver of
//! `ui_e2e_tmux`), faults made from the keyboard.
//!
//! - With S3 load running, 1 s of latency injected into sync search from the fault menu: the
//!   faults panel lists it, the timeline marks it, sync's per-second p50 goes above 1 s while
//!   async's ack stays fast, and the panel empties when the fault expires.
//! - A control room holding a partition (async analytics) and a pause (sync cache), both made
//!   with `i`, is sent SIGTERM: it reverts both on its way out, and `docker inspect` shows
//!   both containers running and on the stack's network (with their compose aliases) again.
//!
//! Needs tmux and the stack up and healthy; without them the tests FAIL with the reason.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ui_e2e_tmux::{BIN, KEYS_FPS, Tmux, millis, open_on_stack, select_container};

/// Async S3's ack p50 a second stays under this with search 1 s slower: a quarter of the
/// injected latency, so an ack that waited for search (≥ 1 s) can never pass, while a busy
/// machine's slower publish does.
const ASYNC_BOUND_MS: f64 = 250.0;

/// The per-second ack p50 in milliseconds that the timeline's `mode` chart gives in its title
/// (` sync · S3 · last s: p50 1.05 s · p99 …`).
fn last_second_p50(screen: &str, mode: &str, scenario: &str) -> Option<f64> {
    let needle = format!("{mode} · {scenario} · last s: p50 ");
    let at = screen.find(&needle)?;
    millis(&screen[at + needle.len()..])
}

#[test]
fn the_timeline_titles_are_read_per_mode() {
    let screen = "\
┌ sync · S3 · last s: p50 1.05 s · p99 1.10 s · 20/s · 0 err/s ──┐
┌ async · S3 · last s: p50 3.00 ms · p99 11.0 ms · done p99 28.0 ms · 20/s · 0 err/s ┐";
    assert_eq!(last_second_p50(screen, "sync", "S3"), Some(1050.0));
    assert_eq!(last_second_p50(screen, "async", "S3"), Some(3.0));
    assert_eq!(last_second_p50(screen, "sync", "S1"), None);
}

/// Reverts every fault however the test ends (`ms-tui fault --clear`); a service fault
/// would also end by itself at its TTL.
struct ClearFaults;

impl Drop for ClearFaults {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .args(["fault", "--clear"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Driven by scripts/test.sh's Docker phase (the name keeps the other phase off them).
mod on_the_running_stack {
    use super::*;

    /// Issue 15's cause and effect, by keys only: S3 load, then `i` on sync search, latency
    /// +1 s for 10 s, confirmed. The panel lists the fault with its time left, the chart
    /// marks it, sync S3's per-second p50 passes 1 s while async S3's ack stays well under
    /// the injected second; after the 10 s the panel is empty again.
    #[test]
    fn latency_injected_from_the_keyboard_shows_its_effect_on_the_timeline() {
        let _clear = ClearFaults;
        // 5 fps: the tests run the debug build, whose full-screen frame with the timeline's
        // charts takes ~45 ms to draw; at 15 fps that is most of a core taken from the stack
        // under test on a 2-core machine (CI saw S3's latency climb for minutes). Five frames
        // a second still show every per-second figure; selecting a row waits two frames a key.
        let (tui, log_file) = open_on_stack(5);
        tui.keys(&["3"]);
        tui.wait_for("S3 selected", Duration::from_secs(10), |s| {
            s.contains("Latency · S3")
        });
        tui.keys(&["l"]);
        tui.wait_for(
            "S3 load on the timeline in both modes",
            Duration::from_secs(30),
            |s| {
                last_second_p50(s, "sync", "S3").is_some()
                    && last_second_p50(s, "async", "S3").is_some()
            },
        );
        // The load's first seconds on a cold stack (pools connecting, first queries planned)
        // are slow in both modes: the fault goes in once both have settled, so the effect
        // measured is the fault's. The bound is the lesson's, not this machine's speed: CI's
        // loaded host was seen holding async's ack at ~150 ms a second for minutes, which is
        // still far from paying search's extra second.
        steady(
            &tui,
            &format!(
                "S3 settled before the fault: sync under 1 s, async's ack under {ASYNC_BOUND_MS} ms, for 3 s"
            ),
            |s| {
                last_second_p50(s, "sync", "S3").is_some_and(|ms| ms < 1000.0)
                    && last_second_p50(s, "async", "S3").is_some_and(|ms| ms < ASYNC_BOUND_MS)
            },
        );

        select_container(&tui, "sync/search");
        tui.keys(&["i"]);
        tui.wait_for("the fault menu", Duration::from_secs(10), |s| {
            s.contains("Fault · sync/search")
        });
        tui.keys(&["Down"]);
        tui.wait_for("latency +1 s chosen", Duration::from_secs(10), |s| {
            s.contains("› latency +1 s")
        });
        // 30 → 20 → 15 → 10 s.
        tui.keys(&["-", "-", "-"]);
        tui.wait_for("10 s chosen", Duration::from_secs(10), |s| {
            s.contains("for 10 s")
        });
        tui.keys(&["Enter"]);
        tui.wait_for("the question", Duration::from_secs(10), |s| {
            s.contains("Inject latency +1000 ms sync/search for 10 s?")
        });
        tui.keys(&["y"]);

        let screen = tui.wait_for(
            "the fault in the panel and its marker on the chart",
            Duration::from_secs(15),
            |s| {
                s.contains("Faults · 1 active")
                    && s.contains("s left  latency +1000 ms sync/search")
                    && s.contains("▲latency +1000 ms sync/search")
            },
        );
        assert!(
            screen.contains("── ") && screen.contains("▲latency +1000 ms sync/search ─"),
            "no separator in the logs pane:\n{screen}"
        );
        let effect = tui.wait_for(
            "sync S3 above 1 s a second while async S3 stays fast",
            Duration::from_secs(10),
            |s| last_second_p50(s, "sync", "S3").is_some_and(|ms| ms > 1000.0),
        );
        // One second of a per-second figure on a shared 2-core machine can be an outlier: the
        // async ack's median over the fault's next seconds is what must stay well under the
        // injected second while sync pays it.
        let mut acks = vec![last_second_p50(&effect, "async", "S3").unwrap()];
        for _ in 0..7 {
            std::thread::sleep(Duration::from_millis(400));
            if let Some(ms) = last_second_p50(&tui.screen(), "async", "S3") {
                acks.push(ms);
            }
        }
        acks.sort_by(f64::total_cmp);
        let async_ms = acks[acks.len() / 2];
        println!(
            "during the fault: sync S3 p50 {:?} ms a second, async S3 ack p50s {acks:?} ms (median {async_ms})\n{effect}",
            last_second_p50(&effect, "sync", "S3")
        );
        assert!(
            async_ms < ASYNC_BOUND_MS,
            "async S3's ack took a median {async_ms} ms a second during the fault ({acks:?})\n{effect}"
        );

        tui.wait_for(
            "the fault expired and the panel empty",
            Duration::from_secs(30),
            |s| {
                !s.contains("left  latency +1000 ms sync/search")
                    && !s.contains("ending…  latency +1000 ms sync/search")
                    && !s.contains("Faults · 1 active")
            },
        );
        tui.keys(&["l"]);
        tui.keys(&["q"]);
        let _ = std::fs::remove_file(&log_file);
    }

    /// SIGTERM to a control room that holds a partition and a pause it made with `i`: both
    /// are reverted on quit, as `docker inspect` (not ms-tui's own view) confirms.
    #[test]
    fn sigterm_to_the_control_room_reverts_its_partition_and_its_pause() {
        let _clear = ClearFaults;
        let restarts = inspect("analytics", "async").restarts;
        let (tui, log_file) = open_on_stack(KEYS_FPS);
        let pid = tui.pane_pid();
        assert_eq!(
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .unwrap_or_default()
                .trim(),
            "ms-tui",
            "the pane runs ms-tui itself"
        );

        // Async: … slow consumer, partition, pause; sync: … partition, pause.
        inject(
            &tui,
            "async/analytics",
            &["End", "Up"],
            "partition async/analytics",
        );
        tui.wait_for("the partition in force", Duration::from_secs(20), |s| {
            s.contains("Faults · 1 active")
        });
        inject(&tui, "sync/cache", &["End"], "pause sync/cache");
        tui.wait_for("both faults in force", Duration::from_secs(20), |s| {
            s.contains("Faults · 2 active")
        });
        let analytics = inspect("analytics", "async");
        assert!(!analytics.on_network(), "partitioned: {analytics:?}");
        assert_eq!(inspect("cache", "sync").state, "paused");

        let signalled = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                Instant::now() < deadline,
                "ms-tui still running 30 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let exited = signalled.elapsed();

        let analytics = inspect("analytics", "async");
        assert_eq!(analytics.state, "running", "{analytics:?}");
        assert!(
            analytics.on_network() && analytics.networks.contains("analytics-async"),
            "reconnected with its compose alias: {analytics:?}"
        );
        assert_eq!(analytics.restarts, restarts, "no restart");
        let cache = inspect("cache", "sync");
        assert_eq!(cache.state, "running", "{cache:?}");
        assert!(cache.on_network(), "{cache:?}");
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        for key in ["partition async/analytics", "pause sync/cache"] {
            assert!(
                log.contains(&format!("on quit: reverted {key}")),
                "the log says {key} was reverted on quit:\n{log}"
            );
        }
        println!(
            "SIGTERM: ms-tui reverted both and exited in {:.1} s",
            exited.as_secs_f64()
        );
        let _ = std::fs::remove_file(&log_file);
    }
}

/// Waits (up to 150 s) until `ready` has held on every screen read for 3 s in a row: one
/// lucky second of a per-second figure is not a steady state.
fn steady(tui: &Tmux, what: &str, ready: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut since: Option<Instant> = None;
    loop {
        let screen = tui.screen();
        if ready(&screen) {
            let began = *since.get_or_insert_with(Instant::now);
            if began.elapsed() >= Duration::from_secs(3) {
                return;
            }
        } else {
            since = None;
        }
        if Instant::now() > deadline {
            panic!("timed out after 150 s waiting for {what}; the screen:\n{screen}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `i` on `container`, the choice the `moves` reach, the default 30 s, confirmed with `y`.
fn inject(tui: &Tmux, container: &str, moves: &[&str], label: &str) {
    select_container(tui, container);
    tui.keys(&["i"]);
    tui.wait_for("the fault menu", Duration::from_secs(10), |s| {
        s.contains(&format!("Fault · {container}"))
    });
    tui.keys(moves);
    let question = format!("Inject {label} for 30 s?");
    tui.keys(&["Enter"]);
    tui.wait_for(&question, Duration::from_secs(10), |s| {
        s.contains(&question)
    });
    tui.keys(&["y"]);
}

/// A container as `docker inspect` shows it (label-filtered: the project's only).
#[derive(Debug)]
struct Inspected {
    state: String,
    restarts: u64,
    /// `network:[aliases] …`
    networks: String,
}

impl Inspected {
    fn on_network(&self) -> bool {
        self.networks.contains("ms-tui_default:")
    }
}

fn inspect(service: &str, mode: &str) -> Inspected {
    let ids = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=ms-tui.project=ms-tui"])
        .args(["--filter", &format!("label=ms-tui.service={service}")])
        .args(["--filter", &format!("label=ms-tui.mode={mode}")])
        .output()
        .expect("docker ps");
    let id = String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .next()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no container {mode}/{service}"));
    let out = Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}:{{$v.Aliases}} {{end}}",
            &id,
        ])
        .output()
        .expect("docker inspect");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.trim().splitn(3, ' ');
    Inspected {
        state: words.next().unwrap_or_default().to_owned(),
        restarts: words
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or(u64::MAX),
        networks: words.next().unwrap_or_default().to_owned(),
    }
}
