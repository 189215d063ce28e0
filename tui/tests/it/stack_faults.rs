//! Platform faults on the running Docker stack (issue 15), through the same code the control
//! room and `ms-tui fault` use:
//!
//! - a partitioned async service fails its healthcheck (read by exec: its published port is
//!   gone) within the heartbeat bound and keeps running; reverted, it is healthy again without
//!   a restart and its peers (the gateway) reach it by name;
//! - a partitioned sync inventory makes sync orders (S8) fail with a clear 503/504 within the
//!   HTTP timeout, and work again once it is back;
//! - SIGTERM to a headless `ms-tui fault` holding a partition or a pause reverts it;
//! - service faults made with `ms-tui fault`: latency delays a real route, an errors PUT
//!   replaces it and answers the injected 503, it ends by itself at its TTL, `--clear` ends a
//!   longer one; a slow consumer slows a real drain;
//! - after a SIGKILLed holder, a second `ms-tui fault --list` lists the leftover and
//!   `--clear` reverts it.
//!
//! Each test holds a guard that reverts its fault even when the test fails.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::stack_support::{Reply, Stack, eventually, unique};
use common::Mode;
use common::scenario::{self, ScenarioId, Service};
use ms_tui::admin::AdminSettings;
use ms_tui::docker::Project;
use ms_tui::faults::control::Faults;
use ms_tui::faults::platform::{Platform, Seen};
use ms_tui::faults::{FaultKind, FaultMsg, FaultRequest, FaultTarget};
use serde_json::Value;
use tokio::sync::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_ms-tui");

/// One fault test at a time: each takes a container the others may rely on.
static TURN: Mutex<()> = Mutex::const_new(());

/// A partitioned service must notice within this: the 5 s AMQP heartbeat's ~15 s, plus the
/// healthcheck's own 2 s timeout and a margin for this slow VM. The measured time is printed.
const NOTICED_WITHIN: Duration = Duration::from_secs(25);
/// The services' HTTP timeout (HTTP_TIMEOUT_MS, 10 s) and a margin: a sync call past it is 504.
const HTTP_TIMEOUT_AND_MARGIN: Duration = Duration::from_secs(13);

fn faults(stack: &Stack) -> Faults {
    Faults::new(
        Project::default(),
        AdminSettings {
            host: "127.0.0.1".into(),
            token: Some(stack.env.admin_token().to_owned()),
        },
    )
}

fn platform(stack: &Stack) -> Platform {
    Platform::new(stack.docker.clone(), Project::default())
}

fn request(target: &FaultTarget, kind: FaultKind) -> FaultRequest {
    FaultRequest {
        target: target.clone(),
        kind,
        route_prefix: None,
        duration: Duration::from_secs(120),
    }
}

/// Reverts a fault (by its key, as a second ms-tui would) when dropped, a failing test
/// included; [`Reverting::done`] disarms it.
struct Reverting(Option<String>);

impl Reverting {
    fn new(key: &str) -> Reverting {
        Reverting(Some(key.to_owned()))
    }

    fn done(mut self) {
        self.0 = None;
    }
}

impl Drop for Reverting {
    fn drop(&mut self) {
        let Some(key) = self.0.take() else { return };
        let reverted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let admin = AdminSettings {
                    host: "127.0.0.1".into(),
                    token: None,
                };
                Ok::<_, String>(
                    Faults::new(Project::default(), admin)
                        .revert(&key, "guard")
                        .await,
                )
            })
        })
        .join();
        eprintln!("guard: {reverted:?}");
    }
}

/// The container of `target` as the fault list sees it.
async fn seen(stack: &Stack, target: &FaultTarget) -> Seen {
    let platform = platform(stack);
    let network = platform.network().await.unwrap();
    platform
        .snapshot(&network)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.target == *target)
        .unwrap_or_else(|| panic!("{} not in the stack", target.label()))
}

/// `ms-tui fault …` in the foreground of its own process.
fn holder(args: &[&str]) -> Child {
    Command::new(BIN)
        .arg("fault")
        .args(args)
        .current_dir(std::env::var("MS_STACK_ROOT").unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `ms-tui fault …` to its end.
fn fault_cli(args: &[&str]) -> Output {
    let out = holder(args).wait_with_output().unwrap();
    println!(
        "ms-tui fault {}: {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// Waits for the child to exit (polling: the test's runtime must keep running meanwhile).
async fn exited(mut child: Child, within: Duration) -> Output {
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the holder did not exit within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = child.wait_with_output().unwrap();
    println!(
        "holder: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s8_order(stack: &Stack) -> (String, Value) {
    let spec = scenario::get(ScenarioId::S8).request(Mode::Sync);
    let token = unique("partition");
    let body = serde_json::from_str(&scenario::render(spec.body.unwrap(), &token, 1)).unwrap();
    let url = format!(
        "{}{}",
        stack.base(spec.service, Mode::Sync),
        scenario::render(spec.path, &token, 1)
    );
    (url, body)
}

/// The tests; `scripts/test.sh` runs this module only once the stack is up.
mod on_the_running_stack {
    use super::*;

    #[tokio::test]
    async fn a_partitioned_async_service_turns_unhealthy_keeps_running_and_comes_back_by_name() {
        let _turn = TURN.lock().await;
        let stack = Stack::healthy().await;
        let target = FaultTarget::service("email", Mode::Async);
        let platform = platform(&stack);
        let before = stack.container("email", "async").await;
        assert!(
            platform.healthcheck(&target).await.unwrap(),
            "healthy to begin with"
        );

        let mut faults = faults(&stack);
        let made = Instant::now();
        let fault = faults
            .apply(&request(&target, FaultKind::Partition))
            .await
            .unwrap();
        let guard = Reverting::new(&fault.key());
        assert!(!seen(&stack, &target).await.on_network);
        let noticed = eventually(
            NOTICED_WITHIN,
            "the partitioned service's healthcheck (by exec) fails",
            || async {
                let (healthy, _) = platform.healthcheck_output(&target).await.ok()?;
                (!healthy).then(|| made.elapsed())
            },
        )
        .await;
        let (_, probe) = platform.healthcheck_output(&target).await.unwrap();
        println!(
            "partition noticed {:.1} s after the disconnect: {}",
            noticed.as_secs_f64(),
            probe.trim()
        );
        assert_eq!(stack.container("email", "async").await.state, "running");

        let reverting = Instant::now();
        let msg = faults.revert(&fault.key(), "test").await;
        assert!(matches!(msg, FaultMsg::Reverted { .. }), "{msg:?}");
        guard.done();
        assert!(seen(&stack, &target).await.on_network);
        let healthy = eventually(
            Duration::from_secs(60),
            "healthy again after the reconnect",
            || async {
                platform
                    .healthcheck(&target)
                    .await
                    .ok()?
                    .then(|| reverting.elapsed())
            },
        )
        .await;
        let by_name = format!("{}/health", stack.via_gateway(Service::Email, Mode::Async));
        let resolved = eventually(
            Duration::from_secs(30),
            "the gateway reaches email-async by name",
            || async { (stack.get(&by_name).await.status == 200).then(|| reverting.elapsed()) },
        )
        .await;
        println!(
            "after the reconnect: healthy in {:.1} s, reached by name through the gateway in {:.1} s",
            healthy.as_secs_f64(),
            resolved.as_secs_f64()
        );
        let after = stack.container("email", "async").await;
        assert_eq!(
            (after.restart_count, &after.started_at),
            (before.restart_count, &before.started_at),
            "no restart"
        );
        stack.wait_healthy(Duration::from_secs(60)).await;
    }

    #[tokio::test]
    async fn sync_orders_fail_with_a_clear_503_or_504_while_inventory_is_partitioned() {
        let _turn = TURN.lock().await;
        let stack = Stack::healthy().await;
        let target = FaultTarget::service("inventory", Mode::Sync);
        let (url, body) = s8_order(&stack);
        let ok = stack.post(&url, &body).await;
        assert_eq!(ok.status, 200, "S8 sync to begin with: {}", ok.text);

        let mut faults = faults(&stack);
        let fault = faults
            .apply(&request(&target, FaultKind::Partition))
            .await
            .unwrap();
        let guard = Reverting::new(&fault.key());
        let (url, body) = s8_order(&stack);
        let failed = stack.post(&url, &body).await;
        println!(
            "S8 sync with inventory partitioned: {} in {:.0} ms: {}",
            failed.status,
            failed.elapsed.as_secs_f64() * 1000.0,
            failed.text
        );
        assert!(
            [503, 504].contains(&failed.status),
            "a clear 503/504: {} {}",
            failed.status,
            failed.text
        );
        assert!(
            failed.elapsed < HTTP_TIMEOUT_AND_MARGIN,
            "took {:?}",
            failed.elapsed
        );
        assert!(
            failed.text.contains("inventory"),
            "the answer names inventory: {}",
            failed.text
        );

        let msg = faults.revert(&fault.key(), "test").await;
        assert!(matches!(msg, FaultMsg::Reverted { .. }), "{msg:?}");
        guard.done();
        let back = Instant::now();
        eventually(
            Duration::from_secs(30),
            "S8 sync works again (order-sync reaches inventory-sync by name)",
            || async {
                let (url, body) = s8_order(&stack);
                (stack.post(&url, &body).await.status == 200).then_some(())
            },
        )
        .await;
        println!(
            "S8 sync back {:.1} s after the reconnect",
            back.elapsed().as_secs_f64()
        );
        stack.wait_healthy(Duration::from_secs(60)).await;
    }

    #[tokio::test]
    async fn sigterm_to_a_headless_holder_reverts_its_partition_and_its_pause() {
        let _turn = TURN.lock().await;
        let stack = Stack::healthy().await;
        let partitioned = FaultTarget::service("analytics", Mode::Async);
        let paused = FaultTarget::service("cache", Mode::Sync);
        let restarts = stack.container("analytics", "async").await.restart_count;
        let _guards = [
            Reverting::new("partition async/analytics"),
            Reverting::new("pause sync/cache"),
        ];
        let partition = holder(&["analytics", "--mode", "async", "partition", "--for", "60s"]);
        let pause = holder(&["cache", "--mode", "sync", "pause", "--for", "60s"]);
        eventually(Duration::from_secs(20), "both faults in force", || async {
            let off = !seen(&stack, &partitioned).await.on_network;
            let held = seen(&stack, &paused).await.state == "paused";
            (off && held).then_some(())
        })
        .await;
        signal(&partition, "TERM");
        signal(&pause, "TERM");
        let reverting = Instant::now();
        for (child, key) in [
            (partition, "partition async/analytics"),
            (pause, "pause sync/cache"),
        ] {
            let out = exited(child, Duration::from_secs(20)).await;
            assert!(out.status.success(), "{key}: {}", out.status);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains(&format!("reverted {key} (SIGTERM)")),
                "{text}"
            );
        }
        println!(
            "both reverted {:.1} s after SIGTERM",
            reverting.elapsed().as_secs_f64()
        );
        let now = seen(&stack, &partitioned).await;
        assert!(now.on_network && now.state == "running", "{now:?}");
        assert_eq!(seen(&stack, &paused).await.state, "running");
        assert_eq!(
            stack.container("analytics", "async").await.restart_count,
            restarts
        );
        stack.wait_healthy(Duration::from_secs(60)).await;
    }

    #[tokio::test]
    async fn a_second_ms_tui_lists_and_clears_what_a_sigkilled_one_left() {
        let _turn = TURN.lock().await;
        let stack = Stack::healthy().await;
        let target = FaultTarget::service("search", Mode::Async);
        let _guard = Reverting::new("pause async/search");
        let mut first = holder(&["search-async", "pause", "--for", "60s"]);
        eventually(Duration::from_secs(20), "the pause is in force", || async {
            (seen(&stack, &target).await.state == "paused").then_some(())
        })
        .await;
        first.kill().unwrap();
        first.wait().unwrap();
        assert_eq!(seen(&stack, &target).await.state, "paused", "left behind");

        let listed = fault_cli(&["--list"]);
        assert!(listed.status.success());
        let text = String::from_utf8_lossy(&listed.stdout);
        assert!(
            text.lines()
                .any(|l| l.starts_with("pause async/search") && l.contains("no known end")),
            "{text}"
        );
        let cleared = fault_cli(&["--clear"]);
        assert!(cleared.status.success());
        assert!(String::from_utf8_lossy(&cleared.stdout).contains("reverted pause async/search"));
        assert_eq!(seen(&stack, &target).await.state, "running");
        let listed = fault_cli(&["--list"]);
        assert!(listed.status.success());
        assert!(String::from_utf8_lossy(&listed.stdout).contains("no faults in force"));
        stack.wait_healthy(Duration::from_secs(60)).await;
    }

    /// A service fault through the headless CLI on the real stack: a latency fault delays a
    /// real route and is listed with its time left; an errors PUT replaces it (the latency is
    /// gone) and answers every request with the injected 503 in the usual envelope; it ends
    /// by itself at its TTL (no client call); a longer one is cleared by `--clear`. Then a
    /// slow consumer on async analytics slows the drain of its queue.
    #[tokio::test]
    async fn service_faults_through_the_cli_delay_fail_expire_and_clear_on_the_stack() {
        let _turn = TURN.lock().await;
        let stack = Stack::healthy().await;
        let _guard = Reverting::new("errors sync/search");
        let _latency_guard = Reverting::new("latency sync/search");
        let route = format!(
            "{}/handled_updates",
            stack.base(Service::Search, Mode::Sync)
        );
        let before = stack.get(&route).await;
        assert_eq!(
            before.status, 200,
            "sync search to begin with: {}",
            before.text
        );
        assert!(before.elapsed < Duration::from_millis(900), "{before:?}");

        let made = fault_cli(&[
            "search", "--mode", "sync", "latency", "--ms", "1000", "--for", "20s",
        ]);
        assert!(made.status.success());
        let slow = stack.get(&route).await;
        assert_eq!(slow.status, 200, "{}", slow.text);
        assert!(slow.elapsed >= Duration::from_millis(1000), "{slow:?}");
        let listed = fault_cli(&["--list"]);
        assert!(listed.status.success());
        let text = String::from_utf8_lossy(&listed.stdout);
        assert!(
            text.lines().any(|l| l.starts_with("latency sync/search")
                && l.contains("+1000 ms")
                && l.trim_end().ends_with("s left")),
            "{text}"
        );

        // A PUT replaces: the errors fault has no latency.
        let replaced = fault_cli(&[
            "search", "--mode", "sync", "errors", "--rate", "1.0", "--status", "503", "--for", "5s",
        ]);
        assert!(replaced.status.success());
        let set_at = Instant::now();
        for _ in 0..5 {
            let failed = stack.get(&route).await;
            assert_eq!(failed.status, 503, "{}", failed.text);
            assert!(
                failed.elapsed < Duration::from_millis(900),
                "the replaced latency is gone: {failed:?}"
            );
            let detail = failed.body["detail"].as_str().unwrap_or_default();
            assert!(detail.starts_with("injected fault"), "{}", failed.text);
            assert!(
                failed.body.get("correlation_id").is_some(),
                "the usual envelope: {}",
                failed.text
            );
        }
        let text = String::from_utf8_lossy(&fault_cli(&["--list"]).stdout).into_owned();
        assert!(
            text.lines().any(|l| l.starts_with("errors sync/search")),
            "{text}"
        );
        assert!(!text.contains("latency sync/search"), "replaced: {text}");

        // No client call: only the service's clock ends it.
        let expired = eventually(
            Duration::from_secs(10),
            "the errors fault expired by itself",
            || async {
                let listed = fault_cli(&["--list"]);
                String::from_utf8_lossy(&listed.stdout)
                    .contains("no faults in force")
                    .then(|| set_at.elapsed())
            },
        )
        .await;
        assert!(
            expired >= Duration::from_millis(4500),
            "a 5 s fault ended after {expired:?}"
        );
        println!(
            "the 5 s errors fault was gone from --list {:.1} s after it was made",
            expired.as_secs_f64()
        );
        assert_eq!(
            stack.get(&route).await.status,
            200,
            "200 again after the TTL"
        );

        let long = fault_cli(&[
            "search", "--mode", "sync", "errors", "--rate", "1.0", "--for", "60s",
        ]);
        assert!(long.status.success());
        assert_eq!(stack.get(&route).await.status, 503);
        let cleared = fault_cli(&["--clear"]);
        assert!(cleared.status.success());
        assert!(
            String::from_utf8_lossy(&cleared.stdout).contains("reverted errors sync/search"),
            "{}",
            String::from_utf8_lossy(&cleared.stdout)
        );
        assert!(
            String::from_utf8_lossy(&fault_cli(&["--list"]).stdout).contains("no faults in force")
        );
        assert_eq!(
            stack.get(&route).await.status,
            200,
            "200 again after --clear"
        );

        // A slow consumer: each delivery waits 1 s before it is handled, so the drain of a
        // batch of clicks takes at least that much longer than without the fault.
        let fast = click_drain(&stack, 10).await;
        let made = fault_cli(&[
            "analytics",
            "--mode",
            "async",
            "slow-consumer",
            "--ms",
            "1000",
            "--for",
            "30s",
        ]);
        assert!(made.status.success());
        let _consumer_guard = Reverting::new("slow-consumer async/analytics");
        let slow = click_drain(&stack, 10).await;
        println!(
            "drain of 10 clicks on async analytics: {fast:?} without a fault, {slow:?} with 1 s per delivery"
        );
        assert!(
            // The analytics consumer stores in batches and the fault pauses once per batch:
            // ten clicks that arrive together wait the one second once.
            slow >= Duration::from_millis(1000) && slow > fast,
            "fast {fast:?}, slow {slow:?}"
        );
        assert!(fault_cli(&["--clear"]).status.success());
    }

    /// The time from sending `clicks` clicks to async analytics until all are stored.
    async fn click_drain(stack: &Stack, clicks: i64) -> Duration {
        let base = stack.base(Service::Analytics, Mode::Async);
        let count = format!("{base}/clicks/count");
        let stored = |reply: Reply| reply.body["count"].as_i64();
        let before = stored(stack.get(&count).await).unwrap();
        let began = Instant::now();
        let page = unique("/drain");
        for i in 0..clicks {
            let click = stack
                .post(
                    &format!("{base}/track_click"),
                    &serde_json::json!({ "user_id": i, "page": page }),
                )
                .await;
            assert!([200, 202].contains(&click.status), "{}", click.text);
        }
        eventually(Duration::from_secs(60), "the clicks stored", || async {
            (stored(stack.get(&count).await)? >= before + clicks).then(|| began.elapsed())
        })
        .await
    }

    /// The control room's worker on the stack: a timed pause is reverted at its end, reported
    /// (made, listed as ours, reverted as expired), and nothing is left on close.
    mod worker {
        use super::*;
        use ms_tui::faults::FaultCommand;
        use ms_tui::faults::worker;
        use tokio::sync::mpsc;

        async fn next(
            rx: &mut mpsc::Receiver<FaultMsg>,
            what: &str,
            mut pick: impl FnMut(&FaultMsg) -> bool,
        ) -> FaultMsg {
            tokio::time::timeout(Duration::from_secs(20), async {
                loop {
                    let msg = rx
                        .recv()
                        .await
                        .unwrap_or_else(|| panic!("worker gone: {what}"));
                    if pick(&msg) {
                        return msg;
                    }
                }
            })
            .await
            .unwrap_or_else(|_| panic!("not within 20 s: {what}"))
        }

        #[tokio::test]
        async fn the_worker_reverts_a_timed_pause_at_its_end_and_says_so() {
            let _turn = TURN.lock().await;
            let stack = Stack::healthy().await;
            let target = FaultTarget::service("report", Mode::Async);
            let _guard = Reverting::new("pause async/report");
            let admin = AdminSettings {
                host: "127.0.0.1".into(),
                token: Some(stack.env.admin_token().to_owned()),
            };
            let (tx, mut rx) = mpsc::channel::<FaultMsg>(64);
            let (commands, task) = worker::spawn(Project::default(), admin, tx);
            let mut pause = request(&target, FaultKind::Pause);
            pause.duration = Duration::from_secs(3);
            let began = Instant::now();
            commands.send(FaultCommand::Apply(pause)).await.unwrap();
            next(&mut rx, "applied", |m| matches!(m, FaultMsg::Applied(_))).await;
            let listed = next(
                &mut rx,
                "listed",
                |m| matches!(m, FaultMsg::Active(l) if !l.is_empty()),
            )
            .await;
            let FaultMsg::Active(list) = listed else {
                unreachable!()
            };
            assert!(
                list.iter()
                    .any(|f| f.key() == "pause async/report" && f.ours),
                "{list:?}"
            );
            assert_eq!(seen(&stack, &target).await.state, "paused");
            let reverted = next(&mut rx, "reverted at its end", |m| {
                matches!(m, FaultMsg::Reverted { .. })
            })
            .await;
            println!(
                "{reverted:?} {:.1} s after the command",
                began.elapsed().as_secs_f64()
            );
            assert_eq!(
                reverted,
                FaultMsg::Reverted {
                    key: "pause async/report".into(),
                    why: "expired".into()
                }
            );
            let at = began.elapsed();
            assert!(
                at >= Duration::from_secs(3) && at < Duration::from_secs(6),
                "reverted at {at:?}, for a 3 s pause"
            );
            assert_eq!(seen(&stack, &target).await.state, "running");
            drop(commands);
            assert!(
                task.await.unwrap().is_empty(),
                "nothing of ours was left to revert on close"
            );
            stack.wait_healthy(Duration::from_secs(60)).await;
        }
    }
}
