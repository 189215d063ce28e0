//! The Docker worker's supervisor: connect, report, follow the project's events, keep one stats
//! and one log stream per container, run the app's actions; on any loss of the engine, drop
//! everything and reconnect with back-off. The app never waits on any of it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use bollard::Docker;
use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use futures_util::future::join_all;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::container::{ContainerInfo, RunState};
use super::labels::Project;
use super::logline::LogLine;
use super::msg::{ActionRequest, DockerMsg};
use super::streams::{self, Source};
use super::{actions, convert, engine, swarm};
use crate::outbox::Outbox;

/// How long a connection attempt may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the swarm services' task counts are asked for (one list call).
const SWARM_POLL: Duration = Duration::from_secs(1);

/// The container events that change what the table shows. `exec_*` events are left out on
/// purpose: every health check is an exec, and they would wake the worker all the time.
const EVENTS: [&str; 12] = [
    "create",
    "start",
    "restart",
    "die",
    "kill",
    "oom",
    "stop",
    "pause",
    "unpause",
    "destroy",
    "rename",
    "health_status",
];

/// Runs until the app is gone (its channel closed), for `project`'s containers only.
pub async fn run(
    project: Project,
    out: Outbox<DockerMsg>,
    mut requests: mpsc::Receiver<ActionRequest>,
) {
    let mut backoff = Backoff::default();
    loop {
        let error = match connect().await {
            Ok((docker, version)) => {
                backoff.reset();
                info!("connected to Docker {version}");
                if !out.send(DockerMsg::Connected { version }).await {
                    return;
                }
                match Session::new(docker, project.clone(), out.clone())
                    .run(&mut requests)
                    .await
                {
                    Ended::AppGone => return,
                    Ended::Lost(e) => {
                        warn!("lost the Docker connection: {e}");
                        e
                    }
                }
            }
            Err(e) => e,
        };
        let wait = backoff.next_wait();
        debug!("Docker unreachable ({error}); next attempt in {wait:?}");
        let unreachable = DockerMsg::Unreachable {
            error,
            retry_in: wait,
        };
        if !out.send(unreachable).await || !refuse_while_waiting(wait, &mut requests, &out).await {
            return;
        }
    }
}

/// Connects (the negotiation proves the engine answers); the version for the status line.
async fn connect() -> Result<(Docker, String), String> {
    let attempt = async {
        let docker = engine::connect()
            .await
            .map_err(|e| plain(e.engine_error()))?;
        let version = docker.version().await.map_err(|e| plain(&e))?;
        Ok((docker, version.version.unwrap_or_default()))
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(connected) => connected,
        Err(_) => Err("no answer".to_string()),
    }
}

/// The engine's error in words that fit a status line.
fn plain(error: &bollard::errors::Error) -> String {
    let text = error.to_string();
    let lower = text.to_lowercase();
    if lower.contains("no such file") {
        "no engine socket".into()
    } else if lower.contains("connection refused") {
        "connection refused".into()
    } else if lower.contains("permission denied") {
        "permission denied on the socket (docker group?)".into()
    } else {
        text
    }
}

/// While waiting to reconnect, actions cannot run: answer them at once instead of letting
/// them hang. False when the app is gone.
async fn refuse_while_waiting(
    wait: Duration,
    requests: &mut mpsc::Receiver<ActionRequest>,
    out: &Outbox<DockerMsg>,
) -> bool {
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => return !out.is_closed(),
            request = requests.recv() => {
                let Some(request) = request else { return false };
                let done = DockerMsg::ActionDone {
                    target: request.target,
                    action: request.action,
                    result: Err("Docker is unreachable".into()),
                };
                if !out.send(done).await {
                    return false;
                }
            }
        }
    }
}

/// Exponential back-off between connection attempts: 0.5 s doubling to 10 s.
#[derive(Debug, Default)]
pub struct Backoff {
    attempts: u32,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(10);

    pub fn next_wait(&mut self) -> Duration {
        let wait = Self::FIRST.saturating_mul(1 << self.attempts.min(5));
        self.attempts = self.attempts.saturating_add(1);
        wait.min(Self::MAX)
    }

    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

enum Ended {
    AppGone,
    Lost(String),
}

/// The streams of one container.
struct Streams {
    source: Source,
    /// Newest log line shown (ns since the epoch), shared with the log task so a new follow
    /// resumes after it.
    last_log: Arc<AtomicI64>,
    logs: Option<JoinHandle<()>>,
    stats: Option<JoinHandle<()>>,
}

impl Drop for Streams {
    fn drop(&mut self) {
        for task in [self.logs.take(), self.stats.take()].into_iter().flatten() {
            task.abort();
        }
    }
}

/// One connection's life: from the snapshot to the loss of the events stream.
struct Session {
    docker: Docker,
    project: Project,
    out: Outbox<DockerMsg>,
    streams: HashMap<String, Streams>,
}

impl Session {
    fn new(docker: Docker, project: Project, out: Outbox<DockerMsg>) -> Session {
        Session {
            docker,
            project,
            out,
            streams: HashMap::new(),
        }
    }

    async fn run(mut self, requests: &mut mpsc::Receiver<ActionRequest>) -> Ended {
        // Events from one second before the snapshot on: nothing that happens while we list
        // and inspect is missed (a change seen twice only costs an inspect).
        let since = chrono::Utc::now().timestamp() - 1;
        let rows = match self.snapshot().await {
            Ok(rows) => rows,
            Err(e) => return Ended::Lost(plain(&e)),
        };
        let history = self.history(&rows).await;
        if !self.out.send(DockerMsg::Snapshot(rows.clone())).await
            || !self.out.send(DockerMsg::Logs(history)).await
        {
            return Ended::AppGone;
        }
        for row in &rows {
            self.ensure_streams(row);
        }

        let filters = HashMap::from([
            ("type", vec!["container".to_string()]),
            ("label", vec![self.project.filter()]),
            ("event", EVENTS.iter().map(|e| e.to_string()).collect()),
        ]);
        let options = EventsOptionsBuilder::default()
            .since(&since.to_string())
            .filters(&filters)
            .build();
        let mut events = self.docker.events(Some(options));
        // Swarm services have no container events of their own for desired counts: asked.
        let mut swarm_poll = tokio::time::interval(SWARM_POLL);
        swarm_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut swarm_seen = None;
        loop {
            tokio::select! {
                _ = swarm_poll.tick() => {
                    // A failed ask is the events stream's to report; the next tick asks again.
                    if let Ok(now) = swarm::services(&self.docker, &self.project).await
                        && swarm_seen.as_ref() != Some(&now)
                    {
                        swarm_seen = Some(now.clone());
                        if !self.out.send(DockerMsg::Swarm(now)).await {
                            return Ended::AppGone;
                        }
                    }
                }
                event = events.next() => match event {
                    Some(Ok(event)) => {
                        if !self.on_event(event).await {
                            return Ended::AppGone;
                        }
                    }
                    Some(Err(e)) => return Ended::Lost(plain(&e)),
                    None => return Ended::Lost("the events stream ended".into()),
                },
                request = requests.recv() => match request {
                    Some(request) => self.act(request),
                    None => return Ended::AppGone,
                },
            }
        }
    }

    /// Every container of the project, inspected.
    async fn snapshot(&self) -> Result<Vec<ContainerInfo>, bollard::errors::Error> {
        let inspected = engine::list_inspected(&self.docker, vec![self.project.filter()]).await?;
        // A container removed between list and inspect simply drops out.
        Ok(inspected
            .iter()
            .filter_map(|(_, i)| i.as_ref().ok())
            .filter_map(|i| convert::container_info(i, &self.project))
            .collect())
    }

    /// The last lines of every container, merged in time order, so the interleaved view starts
    /// as it would have looked had we been following all along.
    async fn history(&mut self, rows: &[ContainerInfo]) -> Vec<LogLine> {
        let sources: Vec<Source> = rows.iter().map(source).collect();
        let tails = join_all(sources.iter().map(|s| streams::tail(&self.docker, s))).await;
        let mut merged = Vec::new();
        for (source, tail) in sources.into_iter().zip(tails) {
            let newest = tail.iter().map(|(n, _)| *n).max().unwrap_or(0);
            merged.extend(tail);
            self.streams.insert(
                source.id.clone(),
                Streams {
                    source,
                    last_log: Arc::new(AtomicI64::new(newest)),
                    logs: None,
                    stats: None,
                },
            );
        }
        merged.sort_by_key(|(nanos, _)| *nanos);
        merged.into_iter().map(|(_, line)| line).collect()
    }

    /// Starts whichever of the container's streams is not running: logs always (a stopped
    /// container's follow ends after its last lines), stats only while it runs.
    fn ensure_streams(&mut self, row: &ContainerInfo) {
        let entry = self
            .streams
            .entry(row.id.clone())
            .or_insert_with(|| Streams {
                source: source(row),
                last_log: Arc::new(AtomicI64::new(0)),
                logs: None,
                stats: None,
            });
        let idle = |task: &Option<JoinHandle<()>>| task.as_ref().is_none_or(|t| t.is_finished());
        if idle(&entry.logs) {
            entry.logs = Some(tokio::spawn(streams::follow_logs(
                self.docker.clone(),
                entry.source.clone(),
                entry.last_log.clone(),
                self.out.clone(),
            )));
        }
        if row.state == RunState::Running && idle(&entry.stats) {
            entry.stats = Some(tokio::spawn(streams::follow_stats(
                self.docker.clone(),
                row.id.clone(),
                self.out.clone(),
            )));
        }
    }

    /// One container event: re-inspect and report; (re)start streams after a start; stop the
    /// stats stream after a death (the engine keeps sending empty samples otherwise). False
    /// when the app is gone.
    async fn on_event(&mut self, event: EventMessage) -> bool {
        let Some(id) = event.actor.and_then(|a| a.id) else {
            return true;
        };
        let action = event.action.unwrap_or_default();
        debug!("container event {action} on {id}");
        if action == "destroy" {
            self.streams.remove(&id);
            return self.out.send(DockerMsg::Removed { id }).await;
        }
        if action == "die"
            && let Some(s) = self.streams.get_mut(&id)
            && let Some(stats) = s.stats.take()
        {
            stats.abort();
        }
        let row = match self.docker.inspect_container(&id, None).await {
            Ok(inspect) => convert::container_info(&inspect, &self.project),
            // Gone already: its destroy event follows.
            Err(_) => return true,
        };
        // Ours by the events filter, yet no row: an ended swarm task, replaced by another.
        let Some(row) = row else {
            self.streams.remove(&id);
            return self.out.send(DockerMsg::Removed { id }).await;
        };
        if matches!(row.state, RunState::Running | RunState::Restarting) {
            self.ensure_streams(&row);
        }
        self.out.send(DockerMsg::Upsert(row)).await
    }

    /// Runs an action in its own task (a stop can take ten seconds); the outcome goes to the
    /// app and to the log.
    fn act(&self, request: ActionRequest) {
        let docker = self.docker.clone();
        let project = self.project.clone();
        let out = self.out.clone();
        tokio::spawn(async move {
            let ActionRequest { target, action } = request;
            let result = actions::perform(&docker, &project, &target.id, action).await;
            match &result {
                Ok(()) => info!("{} {}: done", action.verb(), target.label),
                Err(e) => warn!("{} {}: {e}", action.verb(), target.label),
            }
            let done = DockerMsg::ActionDone {
                target,
                action,
                result: result.map_err(|e| e.to_string()),
            };
            out.send(done).await;
        });
    }
}

fn source(row: &ContainerInfo) -> Source {
    Source {
        id: row.id.clone(),
        group: row.group,
        service: row.service.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..8).map(|_| b.next_wait().as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
        b.reset();
        assert_eq!(b.next_wait(), Duration::from_millis(500));
    }
}
