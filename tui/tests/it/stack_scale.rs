//! Competing consumers on the running Docker stack (issue 18, item 2), through the code
//! `ms-tui scale`, the knobs and the faults use:
//!
//! - `ms-tui scale email 2` adds one healthy e-mail container with the replica labels and no
//!   published port, which runs the service's knobs (read back through exec: it has no port)
//!   and takes a knob written through exec;
//! - a service fault aimed at the replica (`async/email#2`) reaches it by exec and is listed
//!   under its name;
//! - 1,000 registrations on the async user service → exactly 1,000 e-mails, consumed by both
//!   containers, with the replica killed mid-way (a kill aimed at that one replica);
//! - `ms-tui scale email 1` → back to the layout's containers, `ms-tui status` healthy.
//!
//! A guard scales e-mail back to one consumer and its delay to the default, even when the
//! test fails.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::Mode;
use common::scenario::Service;
use futures_util::StreamExt;
use ms_tui::admin::AdminSettings;
use ms_tui::docker::status::{self as containers, ContainerStatus};
use ms_tui::docker::{Project, exec, labels};
use ms_tui::faults::control::Faults;
use ms_tui::faults::{FaultKind, FaultRequest, FaultTarget};
use serde_json::{Value, json};

use crate::stack_support::{Stack, eventually, unique};

const BIN: &str = env!("CARGO_BIN_EXE_ms-tui");
const REGISTRATIONS: usize = 1_000;
/// The e-mail delay the main container has when the replica is made: the replica must
/// start with it, not with the default 500 ms.
const DELAY_BEFORE_MS: u64 = 300;
/// The delay set once both run: 2 × 16 in flight at 200 ms drain ~160 e-mails/s, so the
/// replica's kill lands mid-way and the rest takes seconds, not minutes.
const DELAY_MS: u64 = 200;
/// The stack's default e-mail delay, restored at the end.
const DEFAULT_DELAY_MS: u64 = 500;
/// The replica is killed once this many e-mails are sent.
const KILL_AFTER: i64 = 300;

/// `ms-tui <args>` on the stack of `MS_STACK_ROOT`.
fn ms_tui(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(std::env::var("MS_STACK_ROOT").unwrap())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Scales e-mail back to one consumer and puts its default delay back, when dropped.
struct Restore {
    token: String,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let out = ms_tui(&["scale", "email", "1"]);
        eprintln!("guard: ms-tui scale email 1: {}", text(&out).trim());
        let token = self.token.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let url = format!(
                    "http://127.0.0.1:{}/admin/config",
                    Service::Email.port(Mode::Async)
                );
                let _ = reqwest::Client::new()
                    .put(url)
                    .bearer_auth(token)
                    .json(&json!({ "email_delay_ms": DEFAULT_DELAY_MS }))
                    .send()
                    .await;
            });
        })
        .join();
    }
}

/// `messages_consumed_total` over every queue, from a Prometheus text.
fn consumed(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("messages_consumed_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The replica's `/metrics`, read inside it (it has no published port).
async fn replica_consumed(stack: &Stack, replica: &ContainerStatus) -> u64 {
    let text = exec::admin_text(
        &stack.docker,
        &Project::default(),
        &replica.id,
        &reqwest::Method::GET,
        "/metrics",
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    consumed(&text)
}

/// The main container's `/metrics`, on its port.
async fn main_consumed(stack: &Stack) -> u64 {
    let url = format!("{}/metrics", stack.base(Service::Email, Mode::Async));
    consumed(&stack.get(&url).await.text)
}

/// The replica's knobs, read inside it.
async fn replica_knobs(stack: &Stack, replica: &ContainerStatus) -> Value {
    exec::admin(
        &stack.docker,
        &Project::default(),
        &replica.id,
        &reqwest::Method::GET,
        "/admin/config",
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"))["knobs"]
        .clone()
}

/// E-mails sent to recipients starting with `prefix`: (all, distinct recipients).
async fn sent(db: &sqlx::PgPool, prefix: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*), count(DISTINCT recipient) FROM email_service.emails \
         WHERE recipient LIKE $1",
    )
    .bind(format!("{prefix}%"))
    .fetch_one(db)
    .await
    .unwrap()
}

/// The tests; `scripts/test.sh` runs this module only once the stack is up.
mod on_the_running_stack {
    use super::*;

    /// The exec layer on its own, with a command every service image has: the output and the
    /// exit code come back, and a container of another project is refused.
    #[tokio::test]
    async fn exec_runs_a_command_in_a_service_container_and_reads_its_exit_code() {
        let stack = Stack::healthy().await;
        let email = stack.container("email", "async").await;
        let ours = Project::default();
        let ok = exec::run(
            &stack.docker,
            &ours,
            &email.id,
            &[exec::SERVICE_BINARY, "healthcheck"],
            exec::TIMEOUT,
        )
        .await
        .unwrap();
        assert_eq!(ok.exit_code, Some(0), "{ok:?}");
        assert_eq!(ok.container, email.name);
        let missing = exec::run(
            &stack.docker,
            &ours,
            &email.id,
            &[
                exec::SERVICE_BINARY,
                "healthcheck",
                "--path",
                "/no-such-path",
            ],
            exec::TIMEOUT,
        )
        .await
        .unwrap();
        assert_eq!(missing.exit_code, Some(1), "{missing:?}");
        assert!(missing.stderr.contains("404"), "{missing:?}");
        let refused = exec::run(
            &stack.docker,
            &Project::new("another-project"),
            &email.id,
            &[exec::SERVICE_BINARY, "healthcheck"],
            exec::TIMEOUT,
        )
        .await
        .unwrap_err();
        assert!(
            format!("{refused:#}").contains("not a container of"),
            "{refused:#}"
        );
    }

    #[tokio::test]
    async fn two_e_mail_consumers_share_the_queue_exactly_once_and_scale_back() {
        let began = Instant::now();
        let stack = Stack::healthy().await;
        let layout = stack.containers().await;
        let before = stack.expected(&layout);
        assert_eq!(
            layout.len(),
            before,
            "the stack starts as its layout expects"
        );
        assert!(
            layout.iter().all(|c| !c.is_replica()),
            "no replica before the test"
        );
        let _restore = Restore {
            token: stack.env.admin_token().to_owned(),
        };
        let config = format!("{}/admin/config", stack.base(Service::Email, Mode::Async));
        let set = stack
            .admin(
                "PUT",
                &config,
                Some(&json!({ "email_delay_ms": DELAY_BEFORE_MS })),
            )
            .await;
        assert_eq!(set.status, 200, "{}", set.text);

        // Scale out: one replica, healthy, labelled, without a port, on the service's knobs.
        let out = ms_tui(&["scale", "email", "2"]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("email-async#2"), "{}", text(&out));
        let scaled_in = began.elapsed();
        let replicas = containers::replicas(&stack.docker, "email", "async")
            .await
            .unwrap();
        assert_eq!(replicas.len(), 1, "{replicas:?}");
        let replica = replicas[0].clone();
        assert_eq!(replica.replica, 2);
        assert!(replica.is_ready(), "{replica}");
        assert!(
            replica.ports.is_empty(),
            "a replica publishes no port: {replica}"
        );
        assert_eq!(replica.compose_service, "email-async-replica");
        let inspect = stack
            .docker
            .inspect_container(&replica.id, None)
            .await
            .unwrap();
        let own = inspect.config.unwrap().labels.unwrap();
        for (key, value) in [
            (labels::PROJECT_KEY, labels::PROJECT),
            (labels::MODE_KEY, "async"),
            (labels::SERVICE_KEY, "email"),
            (labels::REPLICA_KEY, "true"),
        ] {
            assert_eq!(own.get(key).map(String::as_str), Some(value), "{key}");
        }
        let now = stack.containers().await;
        assert_eq!(now.len(), before + 1);
        assert_eq!(
            stack.expected(&now),
            before + 1,
            "the replica is expected now"
        );
        assert_eq!(
            replica_knobs(&stack, &replica).await["email_delay_ms"],
            DELAY_BEFORE_MS,
            "the replica starts with the service's knobs"
        );

        // A knob written through exec reaches the replica (as the control room's do).
        let patch = json!({ "email_delay_ms": DELAY_MS });
        let answer = exec::admin(
            &stack.docker,
            &Project::default(),
            &replica.id,
            &reqwest::Method::PUT,
            "/admin/config",
            Some(&patch),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(answer["knobs"]["email_delay_ms"], DELAY_MS, "{answer}");
        assert_eq!(
            replica_knobs(&stack, &replica).await["email_delay_ms"],
            DELAY_MS
        );
        let set = stack.admin("PUT", &config, Some(&patch)).await;
        assert_eq!(set.status, 200, "{}", set.text);
        let settings = AdminSettings {
            host: "127.0.0.1".into(),
            token: Some(stack.env.admin_token().to_owned()),
        };

        // A service fault aimed at the replica goes inside it, is listed under its name, and
        // leaves the main container alone.
        let mut faults = Faults::new(Project::default(), settings.clone());
        let slow = FaultRequest {
            target: FaultTarget::replica_of("email", 2),
            kind: FaultKind::SlowConsumer { ms: 300 },
            route_prefix: None,
            duration: Duration::from_secs(30),
        };
        faults
            .apply(&slow)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let (listed, error) = faults.list().await;
        assert!(error.is_none(), "{error:?}");
        let keys: Vec<String> = listed.iter().map(|f| f.key()).collect();
        assert!(
            keys.contains(&"slow-consumer async/email#2".to_owned()),
            "{keys:?}"
        );
        assert!(
            !keys.iter().any(|k| k.ends_with(" async/email")),
            "{keys:?}"
        );
        let reverted = faults.revert("slow-consumer async/email#2", "test").await;
        assert!(
            matches!(reverted, ms_tui::faults::FaultMsg::Reverted { .. }),
            "{reverted:?}"
        );

        // 1,000 registrations; the replica is killed mid-way.
        let db = sqlx::PgPool::connect(&stack.env.database_url("ms_async"))
            .await
            .unwrap();
        let prefix = unique("scale");
        let main_before = main_consumed(&stack).await;
        let register = format!("{}/register", stack.base(Service::User, Mode::Async));
        let fired = Instant::now();
        let statuses: Vec<u16> = futures_util::stream::iter(0..REGISTRATIONS)
            .map(|i| {
                let (stack, register, prefix) = (&stack, &register, &prefix);
                async move {
                    let body = json!({ "email": format!("{prefix}-{i}@example.com") });
                    stack.post(register, &body).await.status
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        let accepted = statuses.iter().filter(|s| **s == 202).count();
        assert_eq!(accepted, REGISTRATIONS, "every registration accepted");
        println!(
            "{REGISTRATIONS} registrations accepted in {:.1} s",
            fired.elapsed().as_secs_f64()
        );
        let replica_took = eventually(
            Duration::from_secs(30),
            "the replica consumes some of the e-mails",
            || async {
                let n = replica_consumed(&stack, &replica).await;
                (n > 0).then_some(n)
            },
        )
        .await;
        let at_kill = eventually(
            Duration::from_secs(30),
            "e-mails are being sent",
            || async {
                let (all, _) = sent(&db, &prefix).await;
                (all >= KILL_AFTER).then_some(all)
            },
        )
        .await;
        let kill = FaultRequest {
            target: FaultTarget::replica_of("email", 2),
            kind: FaultKind::Kill,
            route_prefix: None,
            duration: Duration::from_secs(60),
        };
        let replica_consumed_at_kill = replica_consumed(&stack, &replica).await;
        faults.apply(&kill).await.unwrap();
        let after_kill = containers::refresh(&stack.docker, &replica).await.unwrap();
        assert_eq!(after_kill.state, "exited", "the replica is killed");
        let main = stack.container("email", "async").await;
        assert_eq!(main.state, "running", "only the replica was killed");
        println!(
            "replica killed with {at_kill} of {REGISTRATIONS} e-mails sent; it had consumed \
             {replica_consumed_at_kill} (first seen: {replica_took})"
        );

        let (all, distinct) = eventually(
            Duration::from_secs(90),
            "every registration's e-mail is sent",
            || async {
                let (all, distinct) = sent(&db, &prefix).await;
                (all >= REGISTRATIONS as i64).then_some((all, distinct))
            },
        )
        .await;
        let drained = fired.elapsed();
        // Exactly once: nothing arrives later (a redelivered message has no second effect).
        tokio::time::sleep(Duration::from_secs(3)).await;
        let late = sent(&db, &prefix).await;
        assert_eq!(
            (all, distinct, late),
            (
                REGISTRATIONS as i64,
                REGISTRATIONS as i64,
                (REGISTRATIONS as i64, REGISTRATIONS as i64)
            ),
            "exactly one e-mail per registration"
        );
        let main_took = main_consumed(&stack).await - main_before;
        assert!(main_took > 0, "the main container consumed none");
        println!(
            "{REGISTRATIONS} e-mails in {:.1} s from the first registration; consumed: main \
             {main_took}, replica {replica_consumed_at_kill} before its kill",
            drained.as_secs_f64()
        );

        // Scale back: the killed replica goes, the layout is as before.
        let out = ms_tui(&["scale", "email", "1"]);
        assert!(out.status.success(), "{}", text(&out));
        let replicas = containers::replicas(&stack.docker, "email", "async")
            .await
            .unwrap();
        assert!(replicas.is_empty(), "{replicas:?}");
        let now = stack.containers().await;
        assert_eq!((now.len(), stack.expected(&now)), (before, before));
        let status = ms_tui(&["status"]);
        assert!(status.status.success(), "{}", text(&status));
        assert!(
            text(&status).contains(&format!("{before}/{before} containers running and healthy")),
            "{}",
            text(&status)
        );
        println!(
            "scaled out in {:.1} s; the whole test {:.1} s",
            scaled_in.as_secs_f64(),
            began.elapsed().as_secs_f64()
        );
    }
}
