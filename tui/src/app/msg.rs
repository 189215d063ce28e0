//! Everything that can happen to the control room ([`Msg`]) and everything it can ask the
//! outside world to do ([`Command`]).
//!
//! Workers never touch the state: they send a `Msg` on a bounded channel and the app task feeds
//! it to [`update`](super::update::update), which may answer with `Command`s that the app task
//! hands to the right worker: the Docker worker, the load worker or the broker worker.

use std::time::Duration;

use crossterm::event::KeyEvent;

use super::containers::ContainerInfo;
use super::logbuf::LogLine;
use crate::broker::BrokerMsg;
use crate::load::worker::{LoadCommand, LoadMsg};

/// One input to [`update`](super::update::update).
#[derive(Debug, Clone)]
pub enum Msg {
    /// A key press (releases and repeats are filtered out before this point).
    Key(KeyEvent),
    /// The terminal's new size in cells; the layout (and so the page size of scrolling) follows it.
    Resize { width: u16, height: u16 },
    /// Something the Docker worker saw or did.
    Docker(DockerMsg),
    /// Figures of a running load or a one-shot fire.
    Load(LoadMsg),
    /// Queue depths of the selected scenario, or the broker being unreachable.
    Broker(BrokerMsg),
    /// How a knob change went.
    Knob(crate::admin::KnobOutcome),
}

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
    /// The outcome of a lifecycle action the app asked for.
    ActionDone {
        target: Target,
        action: Action,
        result: Result<(), String>,
    },
}

/// A side effect [`update`](super::update::update) asks for; the app task routes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run a lifecycle action on one container. The Docker worker checks the project label
    /// again before acting: the id alone is never trusted.
    Docker { target: Target, action: Action },
    /// Fire, start, re-rate or stop load (the load worker).
    Load(LoadCommand),
    /// Watch these queues from now on (the broker worker).
    WatchQueues(Vec<String>),
    /// Send a knob change to the services (the admin worker).
    Knob(crate::admin::KnobChange),
}

/// The container an action is aimed at: its id (what the engine acts on) and how the user
/// knows it (what messages show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    /// `async/email`, `infra/rabbitmq`, …
    pub label: String,
}

/// Lifecycle actions on one container (keys `k`, `s`, `p`, `r`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// SIGKILL, as a crash would; the restart policy does not bring it back (Docker treats a
    /// user's kill like a stop).
    Kill,
    Stop,
    Start,
    Pause,
    Unpause,
    Restart,
}

impl Action {
    /// The verb, for prompts and messages ("kill", "unpause").
    pub fn verb(self) -> &'static str {
        match self {
            Action::Kill => "kill",
            Action::Stop => "stop",
            Action::Start => "start",
            Action::Pause => "pause",
            Action::Unpause => "unpause",
            Action::Restart => "restart",
        }
    }

    /// Whether the action takes a running service away, so the key asks first (unless `--demo`).
    /// Starting and unpausing only bring things back.
    pub fn is_destructive(self) -> bool {
        matches!(
            self,
            Action::Kill | Action::Stop | Action::Pause | Action::Restart
        )
    }
}
