//! The Docker worker against the real engine: it lists, follows (events, stats, logs) and acts
//! on (pause, unpause, kill, start, restart) containers of its project — and refuses every
//! action on a container outside it, whatever the key or the id sent.
//!
//! The tests run the worker on a project of their own (`ms-tui-enginetest-…`) with small
//! containers they create, so they never disturb the stack, and so the stack's own containers
//! serve as "outside the project" too. They need a running engine and a local image with
//! `/bin/sh` (`MS_TUI_TEST_IMAGE`, else the first present of a few usual ones): no registry
//! is used. Without either the tests FAIL with the reason; they never skip.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use ms_tui::app::msg::Msg;
use ms_tui::docker::actions::{self, ActionError};
use ms_tui::docker::labels::{MODE_KEY, PROJECT_KEY, SERVICE_KEY};
use ms_tui::docker::{
    self as worker, Action, ActionRequest, ContainerInfo, DockerMsg, Group, LogLine, Project,
    RunState, Target,
};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// Images tried in turn when `MS_TUI_TEST_IMAGE` is not set (the offline infrastructure image
/// of `compose/` first: it exists wherever the stack was built offline).
const IMAGES: [&str; 4] = [
    "ms-tui-offline/debian-infra:bookworm",
    "debian:bookworm-slim",
    "busybox:latest",
    "alpine:latest",
];

/// Each start prints a fresh run id, then numbered ticks five times a second; SIGTERM ends it
/// at once (a shell as PID 1 would otherwise ignore it and `stop` would wait 10 s).
const TICKER: &str = "trap 'exit 0' TERM; run=$(cat /proc/sys/kernel/random/uuid); i=0; \
                      while :; do i=$((i+1)); echo \"run $run tick $i\"; sleep 0.2; done";

/// Generous: this VM stalls up to a second at random, and image start-up on 2 shared cores
/// takes a few.
const WAIT: Duration = Duration::from_secs(60);

async fn engine() -> Docker {
    timeout(Duration::from_secs(10), ms_tui::docker::connect())
        .await
        .expect("Docker did not answer within 10 s")
        .unwrap_or_else(|e| {
            panic!(
                "these tests need a running Docker engine: {:#}",
                anyhow::Error::new(e)
            )
        })
}

async fn image(docker: &Docker) -> String {
    let candidates: Vec<String> = match std::env::var("MS_TUI_TEST_IMAGE") {
        Ok(image) => vec![image],
        Err(_) => IMAGES.iter().map(|s| s.to_string()).collect(),
    };
    for candidate in &candidates {
        if docker.inspect_image(candidate).await.is_ok() {
            return candidate.clone();
        }
    }
    panic!(
        "no local image with /bin/sh among {candidates:?}: build the stack's offline images \
         (`ms-tui up --offline`) or set MS_TUI_TEST_IMAGE"
    );
}

/// Removes the test's containers however the test ends.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("docker").args(["rm", "-f", name]).output();
        }
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros() % 1_000_000_000
    )
}

/// Creates and starts a ticker container with `labels`; returns its id.
async fn ticker(docker: &Docker, image: &str, name: &str, labels: &[(&str, &str)]) -> String {
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["sh".into(), "-c".into(), TICKER.into()]),
        labels: Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    let id = docker
        .create_container(Some(options), body)
        .await
        .unwrap_or_else(|e| panic!("creating {name}: {e}"))
        .id;
    docker
        .start_container(&id, None)
        .await
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    id
}

/// What the worker told the app, gathered for the assertions.
struct Seen {
    rx: mpsc::Receiver<Msg>,
    rows: HashMap<String, ContainerInfo>,
    snapshot_ids: HashSet<String>,
    lines: Vec<LogLine>,
    stats: HashSet<String>,
    done: Vec<(Target, Action, Result<(), String>)>,
}

impl Seen {
    fn new(rx: mpsc::Receiver<Msg>) -> Seen {
        Seen {
            rx,
            rows: HashMap::new(),
            snapshot_ids: HashSet::new(),
            lines: Vec::new(),
            stats: HashSet::new(),
            done: Vec::new(),
        }
    }

    /// Takes messages until `done` holds, or fails after `WAIT` saying what was awaited.
    async fn until(&mut self, what: &str, done: impl Fn(&Seen) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(self) {
            let msg = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for: {what}"))
                .expect("the worker stopped");
            let Msg::Docker(msg) = msg else { continue };
            match msg {
                DockerMsg::Snapshot(rows) => {
                    for r in rows {
                        self.snapshot_ids.insert(r.id.clone());
                        self.rows.insert(r.id.clone(), r);
                    }
                }
                DockerMsg::Upsert(r) => {
                    self.rows.insert(r.id.clone(), r);
                }
                DockerMsg::Logs(lines) => self.lines.extend(lines),
                DockerMsg::Stats { id, .. } => {
                    self.stats.insert(id);
                }
                DockerMsg::ActionDone {
                    target,
                    action,
                    result,
                } => self.done.push((target, action, result)),
                DockerMsg::Unreachable { error, .. } => panic!("Docker unreachable: {error}"),
                _ => {}
            }
        }
    }

    fn state(&self, id: &str) -> Option<RunState> {
        self.rows.get(id).map(|r| r.state)
    }

    fn result_of(&self, id: &str, action: Action) -> Option<&Result<(), String>> {
        self.done
            .iter()
            .rev()
            .find(|(t, a, _)| t.id == id && *a == action)
            .map(|(_, _, r)| r)
    }

    /// `(run id, tick)` of the ticker's lines of `service`.
    fn ticks(&self, service: &str) -> Vec<(String, u64)> {
        self.lines
            .iter()
            .filter(|l| l.service == service)
            .filter_map(|l| {
                let mut words = l.text.split_whitespace();
                match (words.next(), words.next(), words.next(), words.next()) {
                    (Some("run"), Some(run), Some("tick"), Some(n)) => {
                        Some((run.to_string(), n.parse().ok()?))
                    }
                    _ => None,
                }
            })
            .collect()
    }
}

async fn act(requests: &mpsc::Sender<ActionRequest>, id: &str, label: &str, action: Action) {
    requests
        .send(ActionRequest {
            target: Target {
                id: id.to_string(),
                label: label.to_string(),
            },
            action,
        })
        .await
        .expect("the worker takes requests");
}

/// Driven by scripts/test.sh's Docker phase (the name keeps the other phase off them).
mod on_the_running_stack {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn follows_and_acts_on_the_projects_containers() {
        let docker = engine().await;
        let image = image(&docker).await;
        let project = unique("ms-tui-enginetest");
        let name = unique("ms-tui-enginetest-ticker");
        let _cleanup = Cleanup(vec![name.clone()]);
        let id = ticker(
            &docker,
            &image,
            &name,
            &[
                (PROJECT_KEY, project.as_str()),
                (SERVICE_KEY, "ticker"),
                (MODE_KEY, "async"),
            ],
        )
        .await;

        let (tx, rx) = mpsc::channel(1024);
        let (requests, task) = worker::spawn(Project::new(&project), tx);
        let mut seen = Seen::new(rx);

        seen.until("the ticker in the snapshot, running", |s| {
            s.state(&id) == Some(RunState::Running)
        })
        .await;
        let row = &seen.rows[&id];
        assert_eq!((row.group, row.service.as_str()), (Group::Async, "ticker"));
        assert_eq!(
            seen.snapshot_ids.len(),
            1,
            "only the project's own container"
        );

        seen.until("log lines followed", |s| s.ticks("ticker").len() >= 5)
            .await;
        seen.until("a stats sample", |s| s.stats.contains(&id))
            .await;

        act(&requests, &id, "async/ticker", Action::Pause).await;
        seen.until("paused", |s| s.state(&id) == Some(RunState::Paused))
            .await;
        seen.until("pause answered", |s| {
            s.result_of(&id, Action::Pause).is_some()
        })
        .await;
        assert_eq!(seen.result_of(&id, Action::Pause), Some(&Ok(())));
        let during_pause = seen.ticks("ticker").len();
        tokio::time::sleep(Duration::from_secs(1)).await;

        act(&requests, &id, "async/ticker", Action::Unpause).await;
        seen.until("running again", |s| s.state(&id) == Some(RunState::Running))
            .await;
        seen.until("ticking again", |s| {
            s.ticks("ticker").len() > during_pause + 3
        })
        .await;

        act(&requests, &id, "async/ticker", Action::Kill).await;
        seen.until("killed: exited 137", |s| {
            s.state(&id) == Some(RunState::Exited(137))
        })
        .await;
        seen.until("kill answered", |s| {
            s.result_of(&id, Action::Kill).is_some()
        })
        .await;
        assert_eq!(seen.result_of(&id, Action::Kill), Some(&Ok(())));
        let before_start = seen.ticks("ticker");
        let first_run = before_start[0].0.clone();

        act(&requests, &id, "async/ticker", Action::Start).await;
        seen.until("started", |s| s.state(&id) == Some(RunState::Running))
            .await;
        seen.until("the new run's lines followed", |s| {
            s.ticks("ticker")
                .iter()
                .filter(|(run, _)| *run != first_run)
                .count()
                >= 3
        })
        .await;

        act(&requests, &id, "async/ticker", Action::Restart).await;
        seen.until("restart answered", |s| {
            s.result_of(&id, Action::Restart).is_some()
        })
        .await;
        assert_eq!(seen.result_of(&id, Action::Restart), Some(&Ok(())));
        seen.until("a third run's lines after the restart", |s| {
            let runs: HashSet<String> = s.ticks("ticker").into_iter().map(|(r, _)| r).collect();
            runs.len() >= 3
        })
        .await;

        // Following again after a stop or a restart repeats nothing and loses nothing.
        let ticks = seen.ticks("ticker");
        let unique_ticks: HashSet<&(String, u64)> = ticks.iter().collect();
        assert_eq!(unique_ticks.len(), ticks.len(), "a line was shown twice");
        let mut runs: Vec<&String> = Vec::new();
        for (run, _) in &ticks {
            if runs.last() != Some(&run) {
                runs.push(run);
            }
        }
        for run in runs {
            let numbers: Vec<u64> = ticks
                .iter()
                .filter(|(r, _)| r == run)
                .map(|(_, n)| *n)
                .collect();
            let expected: Vec<u64> = (numbers[0]..numbers[0] + numbers.len() as u64).collect();
            assert_eq!(numbers, expected, "run {run}: lines lost or out of order");
        }

        task.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nothing_outside_the_project_is_ever_touched() {
        let docker = engine().await;
        let image = image(&docker).await;
        let project = unique("ms-tui-enginetest");
        let ours_name = unique("ms-tui-enginetest-ours");
        let bare_name = unique("ms-tui-enginetest-outsider");
        let other_name = unique("ms-tui-enginetest-other");
        let _cleanup = Cleanup(vec![
            ours_name.clone(),
            bare_name.clone(),
            other_name.clone(),
        ]);
        let ours = ticker(
            &docker,
            &image,
            &ours_name,
            &[(PROJECT_KEY, project.as_str()), (SERVICE_KEY, "ours")],
        )
        .await;
        // No label at all, and the label with another project's value.
        let bare = ticker(&docker, &image, &bare_name, &[]).await;
        let other = ticker(
            &docker,
            &image,
            &other_name,
            &[(PROJECT_KEY, "someone-else"), (SERVICE_KEY, "ours")],
        )
        .await;

        let started_at = |id: String| {
            let docker = docker.clone();
            async move {
                docker
                    .inspect_container(&id, None)
                    .await
                    .expect("the outsider exists")
                    .state
                    .and_then(|s| s.started_at)
            }
        };
        let outsiders_started = [
            started_at(bare.clone()).await,
            started_at(other.clone()).await,
        ];

        let (tx, rx) = mpsc::channel(1024);
        let (requests, task) = worker::spawn(Project::new(&project), tx);
        let mut seen = Seen::new(rx);
        seen.until("our container in the snapshot", |s| {
            s.rows.contains_key(&ours)
        })
        .await;
        assert_eq!(
            seen.snapshot_ids,
            HashSet::from([ours.clone()]),
            "only the project's container is listed"
        );

        // Every destructive action, sent straight to the worker with the outsiders' ids (as a
        // stale or forged table would), and to the action function itself.
        let refused = [Action::Kill, Action::Stop, Action::Pause, Action::Restart];
        for outsider in [&bare, &other] {
            for action in refused {
                act(&requests, outsider, "outsider", action).await;
                let result =
                    actions::perform(&docker, &Project::new(&project), outsider, action).await;
                assert!(
                    matches!(result, Err(ActionError::NotOurs { .. })),
                    "{action:?} on an outsider: {result:?}"
                );
            }
        }
        // The real stack's containers, when running, are outsiders to this project as well.
        if let Ok(stack) = docker
            .list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::default()
                    .filters(&HashMap::from([(
                        "label",
                        vec![Project::default().filter()],
                    )]))
                    .build(),
            ))
            .await
            && let Some(id) = stack.first().and_then(|c| c.id.clone())
        {
            let result =
                actions::perform(&docker, &Project::new(&project), &id, Action::Kill).await;
            assert!(
                matches!(result, Err(ActionError::NotOurs { .. })),
                "{result:?}"
            );
        }

        seen.until("every refusal answered", |s| {
            s.done
                .iter()
                .filter(|(t, _, _)| t.label == "outsider")
                .count()
                == 2 * refused.len()
        })
        .await;
        for (target, action, result) in seen.done.iter().filter(|(t, _, _)| t.label == "outsider") {
            let error = result.as_ref().expect_err("refused");
            assert!(
                error.contains("is not a container of the"),
                "{action:?} on {}: {error}",
                target.id
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        for outsider in [&bare, &other] {
            let state = docker
                .inspect_container(outsider, None)
                .await
                .expect("the outsider still exists")
                .state
                .expect("a state");
            assert_eq!(state.running, Some(true), "the outsider kept running");
            assert_eq!(state.paused, Some(false), "the outsider was not paused");
        }
        assert_eq!(
            [
                started_at(bare.clone()).await,
                started_at(other.clone()).await
            ],
            outsiders_started,
            "an outsider was restarted"
        );
        // The worker never reported an outsider, even through events.
        assert!(!seen.rows.contains_key(&bare) && !seen.rows.contains_key(&other));
        task.abort();
    }
}
