//! Everything that can happen to the control room ([`Msg`]) and everything it can ask the
//! outside world to do ([`Command`]).
//!
//! Workers never touch the state: each reports in its own type (`DockerMsg`, `LoadMsg`,
//! `BrokerMsg`, `KnobOutcome`, `FaultMsg`, `ExperimentMsg`, defined beside the worker), which its outbox wraps
//! into a `Msg` on the bounded channel to the app task (the `From` impls below). The app task
//! feeds it to [`update`](super::update::update), which may answer with `Command`s that the
//! app task hands to the right worker: the Docker, load, broker, admin, fault or experiment worker.

use crossterm::event::KeyEvent;

use super::experiment_worker::{ExperimentCommand, ExperimentMsg};
use super::scale_worker::{ScaleMsg, ScaleRequest};
use crate::admin::{KnobChange, KnobOutcome};
use crate::broker::BrokerMsg;
use crate::docker::{Action, DockerMsg, Target};
use crate::faults::{FaultCommand, FaultMsg};
use crate::load::worker::{LoadCommand, LoadMsg};

/// One input to [`update`](super::update::update).
#[derive(Debug, Clone)]
pub enum Msg {
    /// A key press (releases and repeats are filtered out before this point).
    Key(KeyEvent),
    /// The terminal's new size in cells.
    Resize { width: u16, height: u16 },
    /// The rows of text the logs pane shows at the terminal's current size: what PgUp / PgDn
    /// move by. The app task works it out from the layout after every resize, so `update`
    /// needs no geometry of its own.
    LogPage { rows: usize },
    /// Something the Docker worker saw or did.
    Docker(DockerMsg),
    /// Figures of a running load or a one-shot fire.
    Load(LoadMsg),
    /// Queue depths of the selected scenario, or the broker being unreachable.
    Broker(BrokerMsg),
    /// How a knob change went.
    Knob(KnobOutcome),
    /// What the fault worker made, reverted or found.
    Fault(FaultMsg),
    /// An experiment's progress, verdict, or why it did not run.
    Experiment(ExperimentMsg),
    /// How a scale went.
    Scale(ScaleMsg),
    /// The wall clock, once a second from the app task: events are stamped with it, time
    /// left counts down and the charts move on. `update` reads no clock of its own.
    Clock(std::time::SystemTime),
}

// Each worker reports in its own type; these wrap them on the way into the app's inbox.

impl From<DockerMsg> for Msg {
    fn from(msg: DockerMsg) -> Msg {
        Msg::Docker(msg)
    }
}

impl From<LoadMsg> for Msg {
    fn from(msg: LoadMsg) -> Msg {
        Msg::Load(msg)
    }
}

impl From<BrokerMsg> for Msg {
    fn from(msg: BrokerMsg) -> Msg {
        Msg::Broker(msg)
    }
}

impl From<FaultMsg> for Msg {
    fn from(msg: FaultMsg) -> Msg {
        Msg::Fault(msg)
    }
}

impl From<ExperimentMsg> for Msg {
    fn from(msg: ExperimentMsg) -> Msg {
        Msg::Experiment(msg)
    }
}

impl From<ScaleMsg> for Msg {
    fn from(msg: ScaleMsg) -> Msg {
        Msg::Scale(msg)
    }
}

impl From<KnobOutcome> for Msg {
    fn from(outcome: KnobOutcome) -> Msg {
        Msg::Knob(outcome)
    }
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
    Knob(KnobChange),
    /// Make or revert a fault (the fault worker).
    Fault(FaultCommand),
    /// Start or stop an experiment (the experiment worker).
    Experiment(ExperimentCommand),
    /// Scale an async service's consumers (the scale worker).
    Scale(ScaleRequest),
}
