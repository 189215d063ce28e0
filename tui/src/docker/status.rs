//! The project's containers as `ms-tui up|status` and the stack's tests see them: state,
//! health, restart count, exit code, last probe and ports of each ([`ContainerStatus`]); the
//! project's volumes; a container's last log lines.
//!
//! Only containers carrying BOTH `com.docker.compose.project=ms-tui` (compose's own label)
//! and `ms-tui.project=ms-tui` (ours) are ever listed — or, for the swarm deployment, ours and
//! the stack's namespace label (`com.docker.stack.namespace=ms-tui`); acting on one goes through
//! [`super::actions`], which checks the label again.

use std::collections::HashMap;
use std::fmt;

use anyhow::Context;
use bollard::Docker;
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum};
use bollard::query_parameters::{ListVolumesOptionsBuilder, LogsOptionsBuilder};
use futures_util::StreamExt;

use super::container::Health;
use super::engine;
use super::labels::{COMPOSE_SERVICE_KEY, MODE_KEY, PROJECT, Project, SERVICE_KEY};
use super::swarm::{NAMESPACE_KEY, SWARM_SERVICE_KEY};

/// One container of the project, as inspected just now.
#[derive(Clone, Debug)]
pub struct ContainerStatus {
    pub id: String,
    /// Docker's name, e.g. `ms-tui_payment-sync_1` (v1) or `ms-tui-payment-sync-1` (v2).
    pub name: String,
    /// The compose service, e.g. `payment-sync`.
    pub compose_service: String,
    /// `ms-tui.service`: `payment`, `rabbitmq`, `gateway`, ...
    pub service: String,
    /// `ms-tui.mode`: `sync`, `async` or `infra` (broker, database, gateway).
    pub mode: String,
    /// 1 for a service's main container, 2.. for the replicas `ms-tui scale` added
    /// ([`super::labels::replica`]).
    pub replica: u32,
    /// Docker's state: `running`, `exited`, `restarting`, `paused`, `created`, ...
    pub state: String,
    pub health: Health,
    /// Times Docker restarted it by its restart policy (a deliberate start does not count).
    pub restart_count: i64,
    /// When the current (or last) run began, RFC 3339.
    pub started_at: String,
    /// Exit code of the last run, when it is not running.
    pub exit_code: Option<i64>,
    /// Output of the last healthcheck probe (why it is unhealthy).
    pub last_probe: Option<String>,
    /// Published ports, `127.0.0.1:8002->8000`.
    pub ports: Vec<String>,
}

impl ContainerStatus {
    /// Running, and healthy if it has a healthcheck.
    pub fn is_ready(&self) -> bool {
        self.state == "running" && matches!(self.health, Health::Healthy | Health::None)
    }

    /// A scaled-out consumer rather than the service's main container.
    pub fn is_replica(&self) -> bool {
        self.replica > 1
    }

    /// How `ms-tui status` names it: the compose service (`email-async`), and for a replica
    /// the service's with its number (`email-async#2`), as the control room labels it.
    pub fn display_name(&self) -> String {
        if self.is_replica() {
            format!("{}-{}#{}", self.service, self.mode, self.replica)
        } else {
            self.compose_service.clone()
        }
    }

    /// Sort key: infrastructure (database, broker, gateway), the sync stack, the async
    /// stack; within each in port order, a replica (which has no port) right after its
    /// service's main container.
    fn order(&self) -> (u8, u16, u32, String) {
        let mode = match self.mode.as_str() {
            "infra" => 0,
            "sync" => 1,
            "async" => 2,
            _ => 3,
        };
        let port = self
            .ports
            .first()
            .and_then(|p| p.split("->").next()?.rsplit(':').next()?.parse().ok())
            .or_else(|| self.service_port())
            .unwrap_or(u16::MAX);
        (mode, port, self.replica, self.name.clone())
    }

    /// The port of its service's main container, by the stack's port map.
    fn service_port(&self) -> Option<u16> {
        let mode = match self.mode.as_str() {
            "sync" => common::Mode::Sync,
            "async" => common::Mode::Async,
            _ => return None,
        };
        common::scenario::Service::ALL
            .into_iter()
            .find(|s| s.name() == self.service)
            .map(|s| s.port(mode))
    }
}

/// One line per container, for `ms-tui status`.
impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (self.state.as_str(), self.exit_code) {
            ("exited", Some(code)) => format!("exited({code})"),
            (state, _) => state.to_owned(),
        };
        write!(
            f,
            "{:<18} {:<7} {:<12} {:<10} restarts={:<2} {}",
            self.display_name(),
            self.mode,
            state,
            self.health,
            self.restart_count,
            self.ports.join(" ")
        )
    }
}

/// Every container of the project (running or not), inspected, in display order.
pub async fn list(docker: &Docker) -> anyhow::Result<Vec<ContainerStatus>> {
    let project = Project::default();
    list_labelled(docker, vec![project.compose_filter(), project.filter()]).await
}

/// The containers of the project's swarm deployment (`ms-tui up --swarm`): the current task
/// of each slot (ended tasks are the swarm's history) and the edge container.
pub async fn list_swarm(docker: &Docker) -> anyhow::Result<Vec<ContainerStatus>> {
    let project = Project::default();
    let namespace = format!("{NAMESPACE_KEY}={}", project.name());
    let mut all = list_labelled(docker, vec![namespace, project.filter()]).await?;
    all.retain(|c| !(c.state == "exited" || c.state == "dead") || c.service == "edge");
    Ok(all)
}

async fn list_labelled(
    docker: &Docker,
    labels: Vec<String>,
) -> anyhow::Result<Vec<ContainerStatus>> {
    let inspections = engine::list_inspected(docker, labels)
        .await
        .context("listing the project's containers")?;
    let mut containers = Vec::with_capacity(inspections.len());
    for (id, result) in inspections {
        match result {
            Ok(info) => containers.push(status(info, &id)),
            // Removed between the list and the inspect (a `down` in progress): not there.
            Err(err) if is_not_found(&err) => {}
            Err(err) => return Err(err).with_context(|| format!("inspecting container {id}")),
        }
    }
    containers.sort_by_key(ContainerStatus::order);
    Ok(containers)
}

/// Names of the project's volumes (the broker's and the database's data).
pub async fn volumes(docker: &Docker) -> anyhow::Result<Vec<String>> {
    let filters = HashMap::from([("label", vec![Project::default().compose_filter()])]);
    let options = ListVolumesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let response = docker
        .list_volumes(Some(options))
        .await
        .context("listing the project's volumes")?;
    Ok(response
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect())
}

/// The project's main container of `service` (`payment`, `rabbitmq`, ...) in `mode`
/// (`sync`, `async`, `infra`): never one of its replicas.
pub async fn find(docker: &Docker, service: &str, mode: &str) -> anyhow::Result<ContainerStatus> {
    list(docker)
        .await?
        .into_iter()
        .find(|c| c.service == service && c.mode == mode && !c.is_replica())
        .with_context(|| format!("no container for {service} ({mode}) in project {PROJECT}"))
}

/// The replicas of `service` in `mode` (none unless `ms-tui scale` made some), in order.
pub async fn replicas(
    docker: &Docker,
    service: &str,
    mode: &str,
) -> anyhow::Result<Vec<ContainerStatus>> {
    Ok(list(docker)
        .await?
        .into_iter()
        .filter(|c| c.service == service && c.mode == mode && c.is_replica())
        .collect())
}

/// The container as it is now (for a container found through [`list`] or [`find`]).
pub async fn refresh(
    docker: &Docker,
    container: &ContainerStatus,
) -> anyhow::Result<ContainerStatus> {
    inspect(docker, &container.id).await
}

async fn inspect(docker: &Docker, id: &str) -> anyhow::Result<ContainerStatus> {
    let info = docker
        .inspect_container(id, None)
        .await
        .with_context(|| format!("inspecting container {id}"))?;
    Ok(status(info, id))
}

/// An inspect of the container `id`, as a [`ContainerStatus`].
fn status(info: ContainerInspectResponse, id: &str) -> ContainerStatus {
    let labels = info
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    let label = |key: &str| labels.get(key).cloned().unwrap_or_default();
    let replica = super::labels::replica(Some(&labels));
    let state = info.state.unwrap_or_default();
    let health_info = state.health.unwrap_or_default();
    let health = Health::from_engine(health_info.status);
    let last_probe = health_info
        .log
        .and_then(|log| log.last().and_then(|probe| probe.output.clone()))
        .map(|output| output.trim().to_owned())
        .filter(|output| !output.is_empty());
    let status = state.status.unwrap_or(ContainerStateStatusEnum::EMPTY);
    let running = status == ContainerStateStatusEnum::RUNNING;
    let mut ports: Vec<String> = info
        .host_config
        .and_then(|h| h.port_bindings)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(inner, bindings)| {
            let inner = inner.trim_end_matches("/tcp").to_owned();
            bindings.unwrap_or_default().into_iter().map(move |b| {
                format!(
                    "{}:{}->{inner}",
                    b.host_ip.unwrap_or_default(),
                    b.host_port.unwrap_or_default()
                )
            })
        })
        .collect();
    ports.sort();
    ContainerStatus {
        id: info.id.unwrap_or_else(|| id.to_owned()),
        name: info
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        compose_service: compose_service(&labels),
        service: label(SERVICE_KEY),
        mode: label(MODE_KEY),
        replica,
        state: status.to_string(),
        health,
        restart_count: info.restart_count.unwrap_or_default(),
        started_at: state.started_at.unwrap_or_default(),
        exit_code: if running { None } else { state.exit_code },
        last_probe,
        ports,
    }
}

/// Compose's service name, or for a swarm task its swarm service's without the stack's
/// namespace (`ms-tui_email-async` → `email-async`): the same name either way; else (the
/// edge) the `ms-tui.service` label.
fn compose_service(labels: &HashMap<String, String>) -> String {
    if let Some(name) = labels.get(COMPOSE_SERVICE_KEY) {
        return name.clone();
    }
    let prefix = format!("{PROJECT}_");
    match labels.get(SWARM_SERVICE_KEY) {
        Some(name) => name.strip_prefix(&prefix).unwrap_or(name).to_owned(),
        // A plain container of the swarm deployment (the edge): our own label names it.
        None => labels.get(SERVICE_KEY).cloned().unwrap_or_default(),
    }
}

fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The last `lines` lines of its output (stdout and stderr).
pub async fn log_tail(
    docker: &Docker,
    container: &ContainerStatus,
    lines: usize,
) -> anyhow::Result<Vec<String>> {
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&lines.to_string())
        .build();
    let mut stream = docker.logs(&container.id, Some(options));
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_context(|| format!("reading the log of {}", container.name))?;
        out.extend(
            String::from_utf8_lossy(&chunk.into_bytes())
                .lines()
                .map(str::to_owned),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(mode: &str, port: &str, state: &str, health: Health) -> ContainerStatus {
        ContainerStatus {
            id: "id".into(),
            name: format!("n-{mode}-{port}"),
            compose_service: "x".into(),
            service: "x".into(),
            mode: mode.into(),
            replica: 1,
            state: state.into(),
            health,
            restart_count: 0,
            started_at: String::new(),
            exit_code: None,
            last_probe: None,
            ports: vec![format!("127.0.0.1:{port}->8000")],
        }
    }

    #[test]
    fn a_replica_sorts_after_its_service_and_is_named_with_its_number() {
        let mut main = container("async", "8107", "running", Health::Healthy);
        main.service = "email".into();
        main.compose_service = "email-async".into();
        let mut third = main.clone();
        third.replica = 3;
        third.ports.clear();
        third.compose_service = "email-async-replica".into();
        let mut second = third.clone();
        second.replica = 2;
        let mut search = container("async", "8108", "running", Health::Healthy);
        search.compose_service = "search-async".into();
        let mut list = [search, third.clone(), main.clone(), second.clone()];
        list.sort_by_key(ContainerStatus::order);
        let names: Vec<String> = list.iter().map(ContainerStatus::display_name).collect();
        assert_eq!(
            names,
            [
                "email-async",
                "email-async#2",
                "email-async#3",
                "search-async"
            ]
        );
        assert!(second.to_string().starts_with("email-async#2 "));
        assert!(!main.is_replica() && second.is_replica());
    }

    #[test]
    fn ready_means_running_and_healthy_when_checked() {
        assert!(container("sync", "8001", "running", Health::Healthy).is_ready());
        assert!(container("sync", "8001", "running", Health::None).is_ready());
        assert!(!container("sync", "8001", "running", Health::Starting).is_ready());
        assert!(!container("sync", "8001", "exited", Health::Healthy).is_ready());
    }

    #[test]
    fn sorts_infra_sync_async_gateway_then_port() {
        let mut list = [
            container("infra", "9000", "running", Health::Healthy),
            container("async", "8101", "running", Health::Healthy),
            container("sync", "8002", "running", Health::Healthy),
            container("sync", "8001", "running", Health::Healthy),
            container("infra", "5672", "running", Health::Healthy),
        ];
        list.sort_by_key(ContainerStatus::order);
        let order: Vec<_> = list.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            order,
            [
                "n-infra-5672",
                "n-infra-9000",
                "n-sync-8001",
                "n-sync-8002",
                "n-async-8101"
            ]
        );
    }
}
