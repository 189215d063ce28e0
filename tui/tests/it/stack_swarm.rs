//! The stack on Docker Swarm (`ms-tui up --swarm`), reduced to S1's services: the compose
//! stack goes down, a single-node swarm is made, the broker, the database and user + email in
//! both modes are deployed, and through the edge container's 127.0.0.1 ports:
//!
//! - S1 in both modes answers as under compose (201 sync, 202 async) and every registration's
//!   welcome e-mail is sent exactly once;
//! - the control room (in tmux) shows the swarm's desired against running tasks; `k` kills
//!   async e-mail's task from the keyboard, the swarm replaces it (a new container, healthy)
//!   and the status line gives the self-healing lesson with the time it took;
//! - `ms-tui scale email 3` gives async e-mail three running, healthy tasks;
//! - `down --swarm` removes the stack and leaves the swarm.
//!
//! A guard puts the compose stack back however the test ends (`down --swarm`, then `up`).

use std::time::{Duration, Instant};

use common::Mode;
use common::scenario::Service;
use ms_tui::docker::status as containers;
use ms_tui::stack::{DownOptions, UpOptions};
use serde_json::{Value, json};

use crate::stack_support::{eventually, options, run_detached, unique};
use crate::ui_e2e_tmux::{BIN, Tmux, select_container};

/// S1's services and what they stand on: the reduced stack the issue asks for.
const REDUCED: [&str; 6] = [
    "rabbitmq",
    "postgres",
    "user-sync",
    "email-sync",
    "user-async",
    "email-async",
];

/// Registrations per mode.
const REGISTRATIONS: usize = 20;

async fn swarm_down() -> anyhow::Result<Duration> {
    ms_tui::stack::down(
        &DownOptions {
            stack: options(),
            swarm: true,
            ..DownOptions::default()
        },
        |p| println!("{p}"),
    )
    .await
}

/// Leaves no swarm behind and brings the compose stack back, passed or failed.
struct ComposeAgain;

impl Drop for ComposeAgain {
    fn drop(&mut self) {
        run_detached("the compose stack's restore", || async {
            if let Err(e) = swarm_down().await {
                eprintln!("guard: down --swarm failed: {e:#}");
            }
            let up = UpOptions {
                stack: options(),
                ..UpOptions::default()
            };
            if let Err(e) = ms_tui::stack::up(&up, |p| println!("{p}")).await {
                eprintln!("guard: bringing the compose stack back failed: {e:#}");
            }
        });
    }
}

fn base(service: Service, mode: Mode) -> String {
    format!("http://127.0.0.1:{}", service.port(mode))
}

/// The recipients of the welcome e-mails `mode`'s e-mail service has sent.
async fn welcomed(http: &reqwest::Client, mode: Mode) -> Vec<String> {
    let Ok(response) = http
        .get(format!("{}/emails", base(Service::Email, mode)))
        .send()
        .await
    else {
        return Vec::new();
    };
    let body: Value = response.json().await.unwrap_or(Value::Null);
    body["emails"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "welcome")
        .filter_map(|e| e["recipient"].as_str().map(str::to_owned))
        .collect()
}

/// Registers `REGISTRATIONS` users on `mode`, each answered with `status`; their addresses.
async fn register(http: &reqwest::Client, mode: Mode, status: u16) -> Vec<String> {
    let mut sent = Vec::new();
    for _ in 0..REGISTRATIONS {
        let email = format!("{}@example.com", unique("swarm"));
        let response = http
            .post(format!("{}/register", base(Service::User, mode)))
            .json(&json!({ "email": email }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /register ({mode}) through the edge: {e}"));
        assert_eq!(response.status().as_u16(), status, "{mode} S1");
        sent.push(email);
    }
    sent
}

mod on_the_running_stack {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn s1_runs_on_a_swarm_a_killed_task_is_replaced_and_email_scales_to_three() {
        let began = Instant::now();
        let _restore = ComposeAgain;
        ms_tui::stack::down(
            &DownOptions {
                stack: options(),
                ..DownOptions::default()
            },
            |p| println!("{p}"),
        )
        .await
        .unwrap_or_else(|e| panic!("ms-tui down (the compose stack first): {e:#}"));

        let up = UpOptions {
            stack: options(),
            swarm: true,
            only: REDUCED.map(str::to_owned).to_vec(),
            timeout: 300,
            ..UpOptions::default()
        };
        let report = ms_tui::stack::up(&up, |p| println!("{p}"))
            .await
            .unwrap_or_else(|e| panic!("ms-tui up --swarm: {e:#}"));
        println!(
            "swarm up: every task healthy {:.1} s after deploy",
            report.start_to_healthy.as_secs_f64()
        );
        let docker = ms_tui::docker::connect().await.expect("Docker");
        let services =
            ms_tui::docker::swarm::services(&docker, &ms_tui::docker::Project::default())
                .await
                .expect("the swarm's services");
        let mut names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        let mut wanted = REDUCED.to_vec();
        wanted.sort_unstable();
        assert_eq!(names, wanted, "the reduced stack, as swarm services");
        // Nothing of the deployment listens beyond loopback: the edge alone publishes.
        for c in &report.containers {
            assert!(
                c.ports.iter().all(|p| p.starts_with("127.0.0.1:")),
                "{} publishes beyond 127.0.0.1: {:?}",
                c.display_name(),
                c.ports
            );
        }

        // S1 through the edge, both modes: every registration's welcome e-mail, once.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        let sync_sent = register(&http, Mode::Sync, 201).await;
        let async_sent = register(&http, Mode::Async, 202).await;
        for (mode, sent) in [(Mode::Sync, &sync_sent), (Mode::Async, &async_sent)] {
            let mails = eventually(
                Duration::from_secs(60),
                &format!("{mode}: a welcome e-mail for each of {REGISTRATIONS} registrations"),
                || async {
                    let mails = welcomed(&http, mode).await;
                    sent.iter().all(|s| mails.contains(s)).then_some(mails)
                },
            )
            .await;
            for address in sent {
                let n = mails.iter().filter(|m| *m == address).count();
                assert_eq!(n, 1, "{mode}: {address} welcomed {n} times");
            }
        }

        // The control room on the swarm: `k` on async e-mail's task, confirmed.
        let tui = Tmux::start(&format!("exec {BIN} --no-up --fps 5"));
        let total = REDUCED.len();
        tui.wait_for(
            "the swarm's tasks in the containers title",
            Duration::from_secs(60),
            |s| s.contains(&format!("swarm {total}/{total} tasks")),
        );
        let before = containers::list_swarm(&docker)
            .await
            .expect("tasks")
            .into_iter()
            .find(|c| c.compose_service == "email-async")
            .expect("async e-mail's task");
        select_container(&tui, "async/email");
        let killed_at = Instant::now();
        tui.keys(&["k"]);
        tui.wait_for("the question", Duration::from_secs(10), |s| {
            s.contains("Kill async/email?")
        });
        tui.keys(&["y"]);
        let short = tui.wait_for("the swarm one task short", Duration::from_secs(30), |s| {
            s.contains("(email-async 0/1)")
        });
        assert!(short.contains("tasks (email-async 0/1)"), "{short}");
        let healed = tui.wait_for("the self-healing lesson", Duration::from_secs(90), |s| {
            s.contains("email-async is whole again after") && s.contains("self-healing")
        });
        let replaced_in = killed_at.elapsed();
        assert!(
            healed.contains(&format!("swarm {total}/{total} tasks")),
            "{healed}"
        );
        let after = eventually(
            Duration::from_secs(60),
            "a new, healthy async e-mail task",
            || async {
                containers::list_swarm(&docker)
                    .await
                    .ok()?
                    .into_iter()
                    .find(|c| c.compose_service == "email-async" && c.id != before.id)
                    .filter(|c| c.is_ready())
            },
        )
        .await;
        let healthy_in = killed_at.elapsed();
        println!(
            "killed task {} replaced by {}: the swarm whole again after {:.1} s (seen by the \
             control room), the new task healthy after {:.1} s",
            before.name,
            after.name,
            replaced_in.as_secs_f64(),
            healthy_in.as_secs_f64()
        );
        tui.keys(&["q"]);
        drop(tui);

        // S1 async still works on the new task.
        let later = register(&http, Mode::Async, 202).await;
        eventually(
            Duration::from_secs(60),
            "welcome e-mails from the replacement task",
            || async {
                let mails = welcomed(&http, Mode::Async).await;
                later.iter().all(|s| mails.contains(s)).then_some(())
            },
        )
        .await;

        // Three consumers of async e-mail.
        ms_tui::stack::scale::scale(&options(), Service::Email, 3)
            .await
            .unwrap_or_else(|e| panic!("ms-tui scale email 3 on the swarm: {e:#}"));
        let tasks: Vec<_> = containers::list_swarm(&docker)
            .await
            .expect("tasks")
            .into_iter()
            .filter(|c| c.compose_service == "email-async")
            .collect();
        assert_eq!(tasks.len(), 3, "{tasks:#?}");
        assert!(tasks.iter().all(|t| t.is_ready()), "{tasks:#?}");
        let mut slots: Vec<u32> = tasks.iter().map(|t| t.replica).collect();
        slots.sort_unstable();
        assert_eq!(slots, [1, 2, 3]);

        let down = swarm_down()
            .await
            .unwrap_or_else(|e| panic!("ms-tui down --swarm: {e:#}"));
        assert!(
            !ms_tui::docker::swarm::active(&docker).await.expect("info"),
            "down --swarm left the swarm it made"
        );
        assert!(
            containers::list_swarm(&docker)
                .await
                .expect("list")
                .is_empty(),
            "containers of the deployment left"
        );
        println!(
            "swarm test: down in {:.1} s, {:.1} s in all (the compose stack comes back next)",
            down.as_secs_f64(),
            began.elapsed().as_secs_f64()
        );
    }
}
