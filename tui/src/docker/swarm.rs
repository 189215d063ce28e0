//! The stack as Docker Swarm runs it (`ms-tui up --swarm`): its services with desired and
//! running task counts, and the one way to change a service's replicas. Shared by the
//! control room's worker (the containers pane's swarm line, the self-healing lesson, `]` /
//! `[`) and the stack commands (`up --swarm`, `status`, `scale`).
//!
//! A swarm service is named `<namespace>_<compose service>` (`ms-tui_email-async`) and
//! carries the namespace label `docker stack deploy` puts on it; its task containers carry
//! the compose file's own labels (`ms-tui.project`, `ms-tui.service`, `ms-tui.mode`), which is
//! why every container-level part of the control room works on them unchanged.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bollard::Docker;
use bollard::models::LocalNodeState;
use bollard::query_parameters::ListServicesOptionsBuilder;

use super::labels::Project;

/// The label `docker stack deploy` puts on a stack's services, networks and task containers.
pub const NAMESPACE_KEY: &str = "com.docker.stack.namespace";
/// A task container's swarm service (`ms-tui_email-async`).
pub const SWARM_SERVICE_KEY: &str = "com.docker.swarm.service.name";
/// A task container's task name: `ms-tui_email-async.2.<task id>` (2: the task's slot).
pub const TASK_NAME_KEY: &str = "com.docker.swarm.task.name";

/// One swarm service of the stack, as its status counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmService {
    /// The compose service name (`email-async`), without the stack's namespace.
    pub name: String,
    pub desired: u64,
    pub running: u64,
}

impl SwarmService {
    pub fn converged(&self) -> bool {
        self.running >= self.desired
    }
}

/// The swarm slot of a task container (`…email-async.2.xyz` → 2), `None` for a container that
/// is not a swarm task.
pub fn slot(labels: Option<&HashMap<String, String>>) -> Option<u32> {
    let task = labels?.get(TASK_NAME_KEY)?;
    task.rsplit('.').nth(1)?.parse().ok()
}

/// The swarm service of `compose_service` (`email-async`) in `project`'s stack.
pub fn service_name(project: &Project, compose_service: &str) -> String {
    format!("{}_{compose_service}", project.name())
}

/// Whether this engine is part of a swarm at all.
pub async fn active(docker: &Docker) -> Result<bool, bollard::errors::Error> {
    let info = docker.info().await?;
    Ok(info
        .swarm
        .and_then(|s| s.local_node_state)
        .is_some_and(|state| state == LocalNodeState::ACTIVE))
}

/// The stack's services with their task counts, by name; empty when no stack of `project`
/// is deployed (or the engine is in no swarm: the engine then refuses the list, which is
/// the same answer).
pub async fn services(
    docker: &Docker,
    project: &Project,
) -> Result<Vec<SwarmService>, bollard::errors::Error> {
    let filters = HashMap::from([("label", vec![format!("{NAMESPACE_KEY}={}", project.name())])]);
    let options = ListServicesOptionsBuilder::default()
        .filters(&filters)
        .status(true)
        .build();
    let listed = match docker.list_services(Some(options)).await {
        Ok(listed) => listed,
        // 503: "This node is not a swarm manager".
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 503, ..
        }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let prefix = format!("{}_", project.name());
    let mut out: Vec<SwarmService> = listed
        .into_iter()
        .filter_map(|service| {
            let name = service.spec.as_ref()?.name.as_deref()?;
            let status = service.service_status.as_ref();
            Some(SwarmService {
                name: name.strip_prefix(&prefix).unwrap_or(name).to_owned(),
                desired: status.and_then(|s| s.desired_tasks).unwrap_or(0),
                running: status.and_then(|s| s.running_tasks).unwrap_or(0),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Sets the replicas of the stack's `compose_service` and waits (up to `limit`) until that
/// many tasks run.
///
/// Through `docker service scale`, not the engine's update call with the inspected spec:
/// bollard's model drops the container spec's `Healthcheck` on that round trip, and the
/// update would then replace every task with one that has no probe (measured here).
pub async fn scale(
    docker: &Docker,
    project: &Project,
    compose_service: &str,
    replicas: u64,
    limit: Duration,
) -> anyhow::Result<()> {
    let name = service_name(project, compose_service);
    let output = tokio::process::Command::new("docker")
        .args([
            "service",
            "scale",
            "--detach",
            &format!("{name}={replicas}"),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context("running docker service scale")?;
    if !output.status.success() {
        bail!(
            "docker service scale {name}={replicas}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let deadline = Instant::now() + limit;
    loop {
        let now = services(docker, project).await?;
        let current = now.iter().find(|s| s.name == compose_service);
        if current.is_some_and(|s| s.desired == replicas && s.running == replicas) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{name}: {} of {replicas} tasks running after {limit:?}",
                current.map_or(0, |s| s.running)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_comes_from_the_task_name() {
        let labels = |task: &str| HashMap::from([(TASK_NAME_KEY.to_owned(), task.to_owned())]);
        assert_eq!(
            slot(Some(&labels("ms-tui_email-async.2.k3j4h5g6f7d8s9a0"))),
            Some(2)
        );
        assert_eq!(slot(Some(&labels("ms-tui_user-sync.1.x"))), Some(1));
        assert_eq!(slot(Some(&labels("garbled"))), None);
        assert_eq!(slot(Some(&HashMap::new())), None);
        assert_eq!(slot(None), None);
    }
}
