//! A container as the Docker worker reports it ([`ContainerInfo`]) and the words it is
//! described in: its group, lifecycle state, health and resource use.
//!
//! [`Health`] is also what `ms-tui up|status` report ([`super::status`]): one reading of the
//! engine's healthcheck for the whole crate.

use std::fmt;

use bollard::models::HealthStatusEnum;

/// The three groups of the table, in display order; from the `ms-tui.mode` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    Sync,
    Async,
    Infra,
}

impl Group {
    pub const ALL: [Group; 3] = [Group::Sync, Group::Async, Group::Infra];

    pub fn as_str(self) -> &'static str {
        match self {
            Group::Sync => "sync",
            Group::Async => "async",
            Group::Infra => "infra",
        }
    }

    /// The label value (`sync`, `async`, `infra`); anything else counts as infra, so an
    /// unexpected label still shows the container rather than hiding it.
    pub fn from_label(value: Option<&str>) -> Group {
        match value {
            Some("sync") => Group::Sync,
            Some("async") => Group::Async,
            _ => Group::Infra,
        }
    }
}

/// A container's lifecycle state, as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    /// Stopped; the exit code tells a kill (137) from a clean stop (0).
    Exited(i64),
    Dead,
    Unknown,
}

impl RunState {
    /// Whether `s` means stop (true) or start (false).
    pub fn is_up(self) -> bool {
        matches!(
            self,
            RunState::Running | RunState::Paused | RunState::Restarting
        )
    }
}

/// The health check's verdict; `None` when the image defines no health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    None,
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    /// The engine's `State.Health.Status` (absent: no healthcheck).
    pub fn from_engine(status: Option<HealthStatusEnum>) -> Health {
        match status {
            Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
            Some(HealthStatusEnum::STARTING) => Health::Starting,
            Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
            _ => Health::None,
        }
    }
}

/// As `ms-tui status` prints it.
impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::None => "-",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        })
    }
}

/// Resource use from the stats stream (the latest sample).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Percent of one CPU (200 % = two cores busy), as `docker stats` shows it.
    pub cpu_percent: f64,
    /// Memory in use, without the page cache (as `docker stats` counts it).
    pub mem_bytes: u64,
}

/// One container of the project.
///
/// A service's main container (the one with the published port, compose service
/// `email-async`) is replica 1 and keeps the label `async/email`. The consumers
/// `ms-tui scale` adds (compose service `email-async-replica`, no published port) are replicas
/// 2, 3, … of the same service and group, labelled `async/email#2`, `async/email#3`: one
/// label per container, and every key that named a main container before still names it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerInfo {
    /// The engine's id: what actions are aimed at.
    pub id: String,
    /// The container name (`ms-tui-email-async-1`), for messages and the log file.
    pub name: String,
    /// From the `ms-tui.service` label (`email`, `rabbitmq`, …).
    pub service: String,
    pub group: Group,
    /// 1 for the service's main container, 2.. for its replicas
    /// ([`super::labels::replica`]).
    pub replica: u32,
    pub state: RunState,
    pub health: Health,
    /// Restarts the engine made on its own (restart policy); a user's start is not one.
    pub restarts: i64,
    /// `None` until the first stats sample, and while the container is not running.
    pub usage: Option<Usage>,
}

impl ContainerInfo {
    /// `async/email` (`async/email#2` for a replica): how the user names a container (and
    /// how the logs pane labels its lines).
    pub fn label(&self) -> String {
        label(self.group.as_str(), &self.service, self.replica)
    }

    /// A scaled-out consumer rather than the service's main container.
    pub fn is_replica(&self) -> bool {
        self.replica > 1
    }
}

/// `group/service`, and `#n` for replica `n > 1`: the one spelling of a container's name for
/// the containers pane, the logs and the faults' targets.
pub fn label(group: &str, service: &str, replica: u32) -> String {
    if replica > 1 {
        format!("{group}/{service}#{replica}")
    } else {
        format!("{group}/{service}")
    }
}

/// A row for the tests of the table and of `update`.
#[cfg(test)]
pub(crate) fn info(group: Group, service: &str, state: RunState) -> ContainerInfo {
    ContainerInfo {
        id: format!("{}-{service}", group.as_str()),
        name: format!("ms-tui-{service}-{}-1", group.as_str()),
        service: service.to_string(),
        group,
        replica: 1,
        state,
        health: Health::Healthy,
        restarts: 0,
        usage: None,
    }
}
