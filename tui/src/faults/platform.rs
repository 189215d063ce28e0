//! Platform faults through the Docker engine, on the project's containers only: a network
//! partition (off the stack's network, back on with the compose aliases), pause / stop /
//! kill and their undo, the platform's state as the fault list reads it, and a service's
//! health read from inside its container (its published port is gone while partitioned).
//!
//! Every action finds the container by its labels and goes through the project's label check
//! ([`actions::perform`], or [`Project::owns`] for the network calls); nothing else on the
//! host is touched.

use anyhow::{Context, bail};
use bollard::Docker;
use bollard::models::{
    ContainerInspectResponse, EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::ListNetworksOptionsBuilder;

use super::FaultTarget;
use crate::docker::actions::{self, Action};
use crate::docker::labels::{self, COMPOSE_SERVICE_KEY, MODE_KEY, Project};
use crate::docker::{engine, exec};

/// A project container as the fault list reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub target: FaultTarget,
    pub id: String,
    /// The engine's state: `running`, `paused`, `exited`, `restarting`, `created`…
    pub state: String,
    /// Attached to the stack's network.
    pub on_network: bool,
}

/// The engine, for one project.
#[derive(Clone)]
pub struct Platform {
    docker: Docker,
    project: Project,
}

impl Platform {
    pub fn new(docker: Docker, project: Project) -> Platform {
        Platform { docker, project }
    }

    /// The stack's network: the one compose made for the project (`ms-tui_default`).
    pub async fn network(&self) -> anyhow::Result<String> {
        let filters =
            std::collections::HashMap::from([("label", vec![self.project.compose_filter()])]);
        let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
        let networks = self
            .docker
            .list_networks(Some(options))
            .await
            .context("listing the project's networks")?;
        let mut names: Vec<String> = networks.into_iter().filter_map(|n| n.name).collect();
        // The default network first, should the project ever declare more.
        names.sort_by_key(|n| !n.ends_with("_default"));
        if let Some(name) = names.into_iter().next() {
            return Ok(name);
        }
        if !crate::docker::swarm::services(&self.docker, &self.project)
            .await
            .unwrap_or_default()
            .is_empty()
        {
            anyhow::bail!(
                "the stack runs on a swarm: the platform faults (partition, pause, stop) act on                  the compose stack only; here use k (the swarm replaces the task) or the                  services' faults (latency, errors, slow consumer)"
            );
        }
        anyhow::bail!("the {} project has no network", self.project.name())
    }

    /// Every container of the project, with its state and whether it is on `network`.
    pub async fn snapshot(&self, network: &str) -> anyhow::Result<Vec<Seen>> {
        let listed = engine::list_inspected(
            &self.docker,
            vec![self.project.filter(), self.project.compose_filter()],
        )
        .await
        .context("listing the project's containers")?;
        Ok(listed
            .into_iter()
            .filter_map(|(_, inspect)| inspect.ok())
            .filter_map(|inspect| seen(&inspect, network))
            .collect())
    }

    /// The container of `target`, inspected (it must carry the project label).
    async fn find(&self, target: &FaultTarget) -> anyhow::Result<ContainerInspectResponse> {
        let listed = engine::list_inspected(
            &self.docker,
            vec![
                self.project.filter(),
                self.project.compose_filter(),
                format!("{MODE_KEY}={}", target.group),
            ],
        )
        .await
        .context("listing the project's containers")?;
        listed
            .into_iter()
            .filter_map(|(_, inspect)| inspect.ok())
            .find(|inspect| identity(inspect).is_some_and(|t| t == *target))
            .with_context(|| format!("{} has no container in the stack", target.label()))
    }

    async fn id(&self, target: &FaultTarget) -> anyhow::Result<String> {
        let inspect = self.find(target).await?;
        inspect.id.context("the engine gave no container id")
    }

    /// A lifecycle action on `target`'s container (label-checked again by the action itself).
    pub async fn act(&self, target: &FaultTarget, action: Action) -> anyhow::Result<()> {
        let id = self.id(target).await?;
        match actions::perform(&self.docker, &self.project, &id, action).await {
            // Already where the action would take it (a start of a running container).
            Err(e) if e.is_not_modified() => Ok(()),
            other => other.with_context(|| format!("{} {}", action.verb(), target.label())),
        }
    }

    /// Unpauses `target`; a container that is not paused (any more) is success.
    pub async fn unpause(&self, target: &FaultTarget) -> anyhow::Result<()> {
        let inspect = self.find(target).await?;
        let paused = inspect
            .state
            .as_ref()
            .and_then(|s| s.paused)
            .unwrap_or(false);
        if !paused {
            return Ok(());
        }
        self.act(target, Action::Unpause).await
    }

    /// Takes `target` off the stack's network; returns the aliases it had there, for
    /// [`Platform::reconnect`].
    pub async fn partition(&self, target: &FaultTarget) -> anyhow::Result<Vec<String>> {
        let network = self.network().await?;
        let inspect = self.find(target).await?;
        let id = checked_id(&self.project, &inspect)?;
        let Some(endpoint) = endpoints(&inspect).and_then(|n| n.get(&network)) else {
            bail!(
                "{} is not on {network} (already partitioned?)",
                target.label()
            );
        };
        let aliases = reconnect_aliases(&inspect, endpoint.aliases.as_deref());
        let request = NetworkDisconnectRequest {
            container: id,
            force: Some(false),
        };
        self.docker
            .disconnect_network(&network, request)
            .await
            .with_context(|| format!("disconnecting {} from {network}", target.label()))?;
        Ok(aliases)
    }

    /// Puts `target` back on the stack's network under `aliases` (plus its compose service
    /// name and container name, so a partition left by another process comes back resolvable
    /// too). Already connected is success.
    pub async fn reconnect(&self, target: &FaultTarget, aliases: &[String]) -> anyhow::Result<()> {
        let network = self.network().await?;
        let inspect = self.find(target).await?;
        let id = checked_id(&self.project, &inspect)?;
        if endpoints(&inspect).is_some_and(|n| n.contains_key(&network)) {
            return Ok(());
        }
        let aliases = merge(aliases, &reconnect_aliases(&inspect, None));
        let request = NetworkConnectRequest {
            container: id,
            endpoint_config: Some(EndpointSettings {
                aliases: Some(aliases),
                ..EndpointSettings::default()
            }),
        };
        self.docker
            .connect_network(&network, request)
            .await
            .with_context(|| format!("reconnecting {} to {network}", target.label()))
    }

    /// Runs `ms-service healthcheck` inside `target`'s container: `Ok(true)` when it exits 0.
    /// `Ok(false)` carries no reason; [`Platform::healthcheck_output`] has it.
    pub async fn healthcheck(&self, target: &FaultTarget) -> anyhow::Result<bool> {
        Ok(self.healthcheck_output(target).await?.0)
    }

    /// As [`Platform::healthcheck`], with what the probe printed.
    pub async fn healthcheck_output(&self, target: &FaultTarget) -> anyhow::Result<(bool, String)> {
        let id = self.id(target).await?;
        let cmd = [exec::SERVICE_BINARY, "healthcheck"];
        // A probe that does not finish in time counts as unhealthy, as Docker's own does.
        let out = exec::run(&self.docker, &self.project, &id, &cmd, exec::TIMEOUT)
            .await
            .with_context(|| format!("exec in {}", target.label()))?;
        Ok((out.success(), out.stdout + &out.stderr))
    }

    /// One admin call inside `target`'s container (`ms-service admin`): how a replica, which
    /// has no published port, is reached.
    pub async fn admin(
        &self,
        target: &FaultTarget,
        method: &reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let id = self.id(target).await?;
        exec::admin(&self.docker, &self.project, &id, method, path, body)
            .await
            .with_context(|| target.label())
    }
}

/// The container's id once the project label is confirmed on this very inspect.
fn checked_id(project: &Project, inspect: &ContainerInspectResponse) -> anyhow::Result<String> {
    let labels = inspect.config.as_ref().and_then(|c| c.labels.as_ref());
    if !project.owns(labels) {
        bail!("not a container of the {} project; refused", project.name());
    }
    inspect
        .id
        .clone()
        .context("the engine gave no container id")
}

fn endpoints(
    inspect: &ContainerInspectResponse,
) -> Option<&std::collections::HashMap<String, EndpointSettings>> {
    inspect.network_settings.as_ref()?.networks.as_ref()
}

/// `async/email` from the labels (the service without its mode suffix), `async/email#2` for
/// a replica.
fn identity(inspect: &ContainerInspectResponse) -> Option<FaultTarget> {
    let labels = inspect.config.as_ref()?.labels.as_ref();
    let name = inspect
        .name
        .as_deref()
        .unwrap_or("")
        .trim_start_matches('/');
    let (group, service) = labels::identify(labels, name);
    let replica = labels::replica(labels);
    Some(FaultTarget {
        group: group.as_str().to_owned(),
        service: if replica > 1 {
            format!("{service}#{replica}")
        } else {
            service
        },
    })
}

fn seen(inspect: &ContainerInspectResponse, network: &str) -> Option<Seen> {
    Some(Seen {
        target: identity(inspect)?,
        id: inspect.id.clone()?,
        state: inspect
            .state
            .as_ref()
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        on_network: endpoints(inspect).is_some_and(|n| n.contains_key(network)),
    })
}

/// What the container answers to on the stack's network: the aliases it had (when known),
/// its compose service name (`email-async`, what peers call it) and its container name.
fn reconnect_aliases(inspect: &ContainerInspectResponse, had: Option<&[String]>) -> Vec<String> {
    let compose = inspect
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(COMPOSE_SERVICE_KEY))
        .cloned();
    let name = inspect
        .name
        .as_deref()
        .map(|n| n.trim_start_matches('/').to_owned());
    let own: Vec<String> = compose.into_iter().chain(name).collect();
    merge(had.unwrap_or_default(), &own)
}

/// `a` then what of `b` is not in it yet.
fn merge(a: &[String], b: &[String]) -> Vec<String> {
    let mut all = a.to_vec();
    for alias in b {
        if !all.contains(alias) {
            all.push(alias.clone());
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_aliases_keep_what_it_had_and_add_the_compose_name() {
        let inspect = ContainerInspectResponse {
            name: Some("/ms-tui_email-async_1".into()),
            config: Some(bollard::models::ContainerConfig {
                labels: Some(
                    [(COMPOSE_SERVICE_KEY.to_owned(), "email-async".to_owned())]
                        .into_iter()
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let had = vec!["email-async".to_owned(), "3f2a1b".to_owned()];
        assert_eq!(
            reconnect_aliases(&inspect, Some(&had)),
            ["email-async", "3f2a1b", "ms-tui_email-async_1"]
        );
        assert_eq!(
            reconnect_aliases(&inspect, None),
            ["email-async", "ms-tui_email-async_1"]
        );
    }
}
