//! The control room's whole state, owned by the app task. Only
//! [`update`](super::update::update) writes it; [`view`](crate::ui::view) reads it.

use std::time::{Duration, SystemTime};

use super::containers::ContainerTable;
use super::events::Events;
use super::experiment::Experiments;
use super::experimentkeys::Picker;
use super::faultboard::FaultBoard;
use super::faultkeys::FaultMenu;
use super::logbuf::{LogView, Scope};
use super::measure::Measure;
use super::series::Series;
use super::views::View;
use crate::docker::{Action, Target};
use crate::faults::FaultCommand;

/// The logs pane's rows on the 80×24 terminal the state assumes until the first resize.
pub const DEFAULT_LOG_PAGE: usize = 15;

/// Everything the screen shows and the keys act on.
#[derive(Debug, Clone)]
pub struct State {
    /// `--demo`: destructive keys act without asking (for a presenter at a projector).
    pub demo: bool,
    /// Where the Docker connection stands (the status line says it in words).
    pub docker: DockerStatus,
    pub containers: ContainerTable,
    /// The swarm services' task counts when the stack runs on a swarm (`up --swarm`).
    pub swarm: super::swarmview::SwarmView,
    pub logs: LogView,
    /// Part 2: scenario, load, latency and queue figures.
    pub measure: Measure,
    /// The run-time knobs as last asked for.
    pub knobs: crate::admin::Knobs,
    /// What the keys set on each service, re-applied when one restarts.
    pub knob_record: super::reapply::KnobRecord,
    /// The wall clock as the last [`Msg::Clock`](super::msg::Msg) told it: what events are
    /// stamped with, where the charts end and what time left counts down from.
    pub now: SystemTime,
    /// Every action, timestamped: the timeline's markers.
    pub events: Events,
    /// Per-second figures of each mode: the timeline's lines.
    pub series: Series,
    /// The faults in force, as the fault worker lists them.
    pub faults: FaultBoard,
    /// The experiment running (`e`) and the last one's verdict.
    pub experiments: Experiments,
    /// Which panes fill the screen (`v`).
    pub view: View,
    /// The timeline beside the other panes where there is room (`t`).
    pub chart: bool,
    /// The pane that arrows, paging and `Home`/`End` act on.
    pub focus: Pane,
    /// A prompt or overlay that takes the keys first (help, confirmation, filter input).
    pub prompt: Prompt,
    /// The outcome of the last action or refusal, shown in the status line until the next one.
    pub notice: Option<Notice>,
    /// Actions sent to the worker and not answered yet, by container id (the table shows
    /// "killing…" meanwhile, and a second key on the same container waits).
    pub in_flight: Vec<(String, Action)>,
    /// The scale sent to the scale worker and not answered yet (one at a time).
    pub scaling: Option<super::scale_worker::ScaleRequest>,
    /// The terminal's size in cells.
    pub size: (u16, u16),
    /// Rows of text in the logs pane at that size (from [`Msg::LogPage`](super::msg::Msg)):
    /// a page for PgUp / PgDn, and how far back scrolling may go.
    pub log_page: usize,
    /// Set by `q` / Ctrl-C; the app task leaves its loop.
    pub quit: bool,
    /// Something visible changed since the last frame; the app task draws only then.
    pub dirty: bool,
}

impl State {
    pub fn new(demo: bool) -> State {
        State {
            demo,
            docker: DockerStatus::Connecting,
            containers: ContainerTable::default(),
            swarm: super::swarmview::SwarmView::default(),
            logs: LogView::default(),
            measure: Measure::default(),
            knobs: crate::admin::Knobs::default(),
            knob_record: super::reapply::KnobRecord::default(),
            now: SystemTime::UNIX_EPOCH,
            events: Events::default(),
            series: Series::default(),
            faults: FaultBoard::default(),
            experiments: Experiments::default(),
            view: View::default(),
            chart: true,
            focus: Pane::Containers,
            prompt: Prompt::None,
            notice: None,
            in_flight: Vec::new(),
            scaling: None,
            size: (80, 24),
            log_page: DEFAULT_LOG_PAGE,
            quit: false,
            dirty: true,
        }
    }

    /// What the logs pane shows: every container, or the selected one (`a` toggles). With no
    /// selection yet, everything.
    pub fn log_scope(&self) -> Scope<'_> {
        match (self.logs.selected_only, self.containers.selected()) {
            (true, Some(c)) => Scope::Only(c.group, &c.service),
            _ => Scope::All,
        }
    }

    /// The action in flight on a container, if any.
    /// Records an event at the state's clock.
    pub fn record(&mut self, kind: super::events::EventKind, label: impl Into<String>) {
        self.events.push(self.now, kind, label);
    }

    pub fn in_flight(&self, id: &str) -> Option<Action> {
        self.in_flight
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, a)| *a)
    }
}

/// The Docker connection as the status line tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerStatus {
    /// Before the first answer.
    Connecting,
    Connected {
        version: String,
    },
    /// The worker keeps trying; `retry_in` is its current back-off.
    Unreachable {
        error: String,
        retry_in: Duration,
    },
}

/// The panes that take focus, in `Tab` order. Part 2 adds its scenario, latency and queue
/// panes here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Containers,
    Logs,
}

impl Pane {
    pub const ORDER: [Pane; 2] = [Pane::Containers, Pane::Logs];

    pub fn next(self) -> Pane {
        let i = Self::ORDER.iter().position(|p| *p == self).unwrap_or(0);
        Self::ORDER[(i + 1) % Self::ORDER.len()]
    }

    pub fn previous(self) -> Pane {
        let i = Self::ORDER.iter().position(|p| *p == self).unwrap_or(0);
        Self::ORDER[(i + Self::ORDER.len() - 1) % Self::ORDER.len()]
    }
}

/// What takes the keys before the panes do.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    None,
    /// The `?` overlay.
    Help,
    /// "Kill async/email? y/n".
    Confirm {
        target: Target,
        action: Action,
    },
    /// The `i` menu: a fault for the selected container.
    FaultMenu(FaultMenu),
    /// "Inject latency +1000 ms sync/search for 30 s? y/n", "Revert every fault? y/n".
    ConfirmFault(FaultCommand),
    /// The `e` picker of the built-in experiments.
    ExperimentPicker(Picker),
    /// `e` while an experiment runs: what it is doing; `Esc` there asks to stop it.
    ExperimentProgress,
    /// "Stop experiment showdown? y/n".
    ConfirmStopExperiment,
    /// "Scale down async/email to 1 consumer? y/n".
    ConfirmScale(super::scale_worker::ScaleRequest),
    /// The last experiment's verdict, as it ended.
    Verdict,
    /// Typing a `/` filter; it applies as you type.
    Filter {
        input: String,
    },
}

/// A one-line message for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

impl Notice {
    pub fn info(text: impl Into<String>) -> Notice {
        Notice {
            text: text.into(),
            error: false,
        }
    }

    pub fn error(text: impl Into<String>) -> Notice {
        Notice {
            text: text.into(),
            error: true,
        }
    }
}
