//! The Docker worker's side of the conversation with the app: what it reports
//! ([`DockerMsg`]) and what it is asked to do ([`ActionRequest`]).

use std::time::Duration;

use super::actions::Action;
use super::container::ContainerInfo;
use super::logline::LogLine;
use super::swarm::SwarmService;

/// What the Docker worker reports.
#[derive(Debug, Clone)]
pub enum DockerMsg {
    /// Connected to the engine (`version` as the engine reports it, e.g. `20.10.24`).
    Connected { version: String },
    /// The engine cannot be reached; the worker tries again by itself after `retry_in`.
    Unreachable { error: String, retry_in: Duration },
    /// The full list of the project's containers, sent after every (re)connect: replaces the table.
    Snapshot(Vec<ContainerInfo>),
    /// One container changed (from the events stream, confirmed by an inspect).
    Upsert(ContainerInfo),
    /// A container was removed.
    Removed { id: String },
    /// One sample of a container's stats stream.
    Stats {
        id: String,
        cpu_percent: f64,
        mem_bytes: u64,
    },
    /// Lines from the log-follow streams, in arrival order.
    Logs(Vec<LogLine>),
    /// Log lines a stream had to drop because the app was not keeping up (the count since the
    /// last report).
    LogsDropped(u64),
    /// The stack's swarm services with their desired and running tasks, when they change
    /// (empty: no swarm stack, the compose stack is what runs).
    Swarm(Vec<SwarmService>),
    /// The outcome of a lifecycle action the app asked for.
    ActionDone {
        target: Target,
        action: Action,
        result: Result<(), String>,
    },
}

/// The container an action is aimed at: its id (what the engine acts on) and how the user
/// knows it (what messages show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    /// `async/email`, `infra/rabbitmq`, …
    pub label: String,
}

/// An action the app asks for.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    pub target: Target,
    pub action: Action,
}
