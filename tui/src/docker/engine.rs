//! The engine itself, as every part of the crate reaches it: one way to connect (with API
//! version negotiation) and one way to list a project's containers, inspected.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::ListContainersOptionsBuilder;
use futures_util::future::join_all;

/// Why [`connect`] failed; the engine's own error is the source, `host` the engine asked.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No client could be made (a malformed or unsupported `DOCKER_HOST`, no socket).
    #[error(
        "connecting to Docker at {host} (DOCKER_HOST takes unix://, tcp:// or ssh://; is dockerd running?)"
    )]
    Client {
        host: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine did not answer, or not as an engine.
    #[error("talking to Docker at {host} (is dockerd running there, and may this user use it?)")]
    Engine {
        host: String,
        #[source]
        source: bollard::errors::Error,
    },
}

impl ConnectError {
    /// The engine's error underneath.
    pub fn engine_error(&self) -> &bollard::errors::Error {
        match self {
            ConnectError::Client { source, .. } | ConnectError::Engine { source, .. } => source,
        }
    }
}

/// The engine [`connect`] asks: `DOCKER_HOST` as the Docker CLI reads it (so `ms-tui up`,
/// which runs docker-compose, and the control room reach the same engine), else the local
/// socket.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

/// Connects to the Docker engine of [`docker_host`] -- the local socket, `tcp://host:port`
/// (bollard's `http` feature; plain HTTP, so only through a tunnel or on a trusted network)
/// or `ssh://user@host` (bollard's `ssh` feature: the system's `ssh` client with its keys
/// and known_hosts) -- and agrees on an API version: bollard speaks 1.53, Debian 12's engine
/// 1.41. (bollard 0.21's requests carry no version prefix, so any engine answers at its own
/// API level; negotiating keeps that true if a later bollard adds the prefix back.) The
/// negotiation is a request: a client returned here has had an answer from the engine.
pub async fn connect() -> Result<Docker, ConnectError> {
    let host = docker_host();
    let docker = Docker::connect_with_host(&host).map_err(|source| ConnectError::Client {
        host: host.clone(),
        source,
    })?;
    docker
        .negotiate_version()
        .await
        .map_err(|source| ConnectError::Engine { host, source })
}

/// One container of a list, inspected; an inspect that failed stays in as its error, for the
/// caller to judge (a container removed between the list and the inspect answers 404).
pub type Inspected = (
    String,
    Result<ContainerInspectResponse, bollard::errors::Error>,
);

/// Every container (running or not) that carries all of `labels` (`key=value` each), each
/// inspected: the list alone lacks health and restarts on older engines. The inspects run
/// together.
pub async fn list_inspected(
    docker: &Docker,
    labels: Vec<String>,
) -> Result<Vec<Inspected>, bollard::errors::Error> {
    let filters = HashMap::from([("label", labels)]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let listed = docker.list_containers(Some(options)).await?;
    let ids: Vec<String> = listed.into_iter().filter_map(|c| c.id).collect();
    let inspects = join_all(ids.iter().map(|id| docker.inspect_container(id, None))).await;
    Ok(ids.into_iter().zip(inspects).collect())
}
