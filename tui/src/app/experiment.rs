//! The control room's side of experiments: what runs and how far it is, the last verdict, and
//! how the worker's reports change the state — its steps become the timeline's markers, its
//! per-second figures the timeline's lines, its end the verdict overlay. The keys are in
//! [`experimentkeys`](super::experimentkeys), the worker in
//! [`experiment_worker`](super::experiment_worker).

use std::time::{Duration, SystemTime};

use common::Mode;

use super::events::EventKind;
use super::experiment_worker::ExperimentMsg;
use super::state::{Notice, Prompt, State};
use crate::experiment::result::{Event, RunResult, SecondRow, Verdict};
use crate::experiment::runner::Progress;
use crate::experiment::spec::Experiment;

/// Steps the progress overlay lists, newest last.
pub const RECENT_EVENTS: usize = 6;

#[derive(Debug, Clone, Default)]
pub struct Experiments {
    /// The run in progress (one at a time).
    pub running: Option<Running>,
    /// The last run's end: the verdict overlay shows it, the status line names its folder.
    pub last: Option<Finished>,
}

/// A run in progress, as its progress tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    pub plan: Experiment,
    /// The round's lanes (`sync + async`, a variant's name).
    pub round: String,
    /// `setup`, `load`, `grace`, `restore`, `accounting`.
    pub phase: String,
    /// Seconds since the load started, and the load's length (from the last tick).
    pub t_s: f64,
    pub of_s: f64,
    /// The last second's figures per lane.
    pub lanes: Vec<(String, SecondRow)>,
    /// The latest steps, for the progress overlay.
    pub recent: Vec<Event>,
    /// A stop was asked: the runner is reverting.
    pub stopping: bool,
}

/// A run that ended, and where its report went.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub result: RunResult,
    pub folder: String,
    pub report_error: Option<String>,
}

impl Running {
    pub fn new(plan: Experiment) -> Running {
        Running {
            plan,
            round: String::new(),
            phase: "starting".into(),
            t_s: 0.0,
            of_s: 0.0,
            lanes: Vec::new(),
            recent: Vec::new(),
            stopping: false,
        }
    }

    /// The mode of a lane's key: `sync`, `async`, or a variant's mode.
    pub fn mode_of(&self, key: &str) -> Option<Mode> {
        self.plan
            .rounds
            .iter()
            .flat_map(|r| &r.lanes)
            .find(|l| l.key == key)
            .map(|l| l.mode)
    }

    /// `load 12s/30s`, `grace 35s (load 30s)`, `restore`; `stopping…` once a stop was asked.
    pub fn progress(&self) -> String {
        let round = if self.plan.rounds.len() > 1 && !self.round.is_empty() {
            format!("[{}] ", self.round)
        } else {
            String::new()
        };
        let phase = match self.phase.as_str() {
            _ if self.stopping => "stopping (reverting)…".to_owned(),
            "load" => format!("load {:.0}s/{:.0}s", self.t_s, self.of_s),
            "grace" => format!("grace {:.0}s (load {:.0}s)", self.t_s, self.of_s),
            other => other.to_owned(),
        };
        format!("{round}{phase}")
    }
}

impl Finished {
    /// `PASS`, `FAIL`, `INTERRUPTED`.
    pub fn word(&self) -> &'static str {
        verdict_word(&self.result)
    }
}

pub fn verdict_word(result: &RunResult) -> &'static str {
    match (result.verdict, result.interrupted) {
        (_, true) => "INTERRUPTED",
        (Verdict::Pass, _) => "PASS",
        (Verdict::Fail, _) => "FAIL",
    }
}

/// A report of the experiment worker.
pub fn on_msg(state: &mut State, msg: ExperimentMsg) {
    match msg {
        ExperimentMsg::Progress { at, progress } => on_progress(state, at, progress),
        ExperimentMsg::Finished {
            result,
            folder,
            report_error,
        } => {
            state.experiments.running = None;
            let finished = Finished {
                result: *result,
                folder,
                report_error,
            };
            let word = finished.word();
            let name = finished.result.experiment.clone();
            state.record(EventKind::Load, format!("experiment {name} {word}"));
            state.notice = Some(match &finished.report_error {
                None => Notice::info(format!(
                    "experiment {name}: {word}; report in {}",
                    finished.folder
                )),
                Some(e) => Notice::error(format!(
                    "experiment {name}: {word}; report NOT written to {} ({e})",
                    finished.folder
                )),
            });
            state.experiments.last = Some(finished);
            // The verdict takes the screen unless another question is open: answering that
            // one comes first, and the status line already says the verdict.
            if matches!(
                state.prompt,
                Prompt::None
                    | Prompt::Help
                    | Prompt::ExperimentProgress
                    | Prompt::ConfirmStopExperiment
            ) {
                state.prompt = Prompt::Verdict;
            }
        }
        ExperimentMsg::Failed { name, error } => {
            state.experiments.running = None;
            state.notice = Some(Notice::error(format!("experiment {name}: {error}")));
            if matches!(
                state.prompt,
                Prompt::ExperimentProgress | Prompt::ConfirmStopExperiment
            ) {
                state.prompt = Prompt::None;
            }
        }
    }
}

fn on_progress(state: &mut State, at: SystemTime, progress: Progress) {
    // The worker stamps with the same wall clock: never let the chart's right edge lag behind.
    state.now = state.now.max(at);
    let Some(running) = state.experiments.running.as_mut() else {
        // A report of a run that already ended: nothing to show it on.
        return;
    };
    match progress {
        Progress::Phase { round, phase } => {
            running.round = round;
            running.phase = phase;
        }
        Progress::Second(tick) => {
            running.phase = tick.phase;
            running.t_s = tick.t_s;
            running.of_s = tick.of_s;
            let lanes: Vec<(Mode, SecondRow)> = tick
                .lanes
                .iter()
                .filter_map(|(key, row)| Some((running.mode_of(key)?, row.clone())))
                .collect();
            running.lanes = tick.lanes;
            for (mode, row) in lanes {
                state.series.on_second(
                    mode,
                    at,
                    row.answered,
                    row.errors,
                    row.ack_p50_ms.map(millis),
                    row.ack_p99_ms.map(millis),
                    row.queue_depth,
                );
            }
        }
        Progress::Event(event) => {
            if running.recent.len() == RECENT_EVENTS {
                running.recent.remove(0);
            }
            running.recent.push(event.clone());
            if event.kind == "error" {
                state.notice = Some(Notice::error(format!(
                    "experiment: {} {}",
                    event.target, event.detail
                )));
            }
            if let Some((kind, label)) = marker(&event) {
                state.events.push(at, kind, label);
            }
        }
    }
}

fn millis(ms: f64) -> Duration {
    Duration::from_secs_f64(ms.max(0.0) / 1000.0)
}

/// The timeline marker of an experiment's event, labelled as the control room labels its
/// own: `latency +1000 ms sync/search`, `end stop sync/payment`, `kill async/email`,
/// `rate 200 req/s`. Phases (the data reset) are no marker: they are not a cause.
pub fn marker(event: &Event) -> Option<(EventKind, String)> {
    let target = event.target.as_str();
    let detail = event.detail.as_str();
    let join = |a: &str, b: &str| match (a.is_empty(), b.is_empty()) {
        (_, true) => a.to_owned(),
        (true, false) => b.to_owned(),
        (false, false) => format!("{a} {b}"),
    };
    Some(match event.kind.as_str() {
        "fault" => {
            // The runner gives the dose alone; the word in front is the one `fault_label`
            // writes for it (a platform fault's dose is its word already).
            let word = if detail.starts_with('+') {
                "latency "
            } else if detail.contains(" % → ") {
                "errors "
            } else {
                ""
            };
            (
                EventKind::FaultStart,
                join(&format!("{word}{detail}"), target),
            )
        }
        "revert" => {
            let (word, _why) = split_why(detail);
            (EventKind::FaultEnd, format!("end {}", join(word, target)))
        }
        "action" => {
            let (verb, why) = split_why(detail);
            (EventKind::Container, join(&join(verb, target), why))
        }
        "knob" if detail.contains("knob") => (EventKind::Knob, join(target, detail)),
        "knob" => (EventKind::Knob, format!("knobs {}", join(target, detail))),
        "rate" => (EventKind::Load, join("rate", detail)),
        "purge" => (
            EventKind::Container,
            join(
                &format!("purge {target}"),
                detail.strip_prefix("purged ").unwrap_or(detail),
            ),
        ),
        "error" => (EventKind::FaultFailed, join("failed", target)),
        _ => return None,
    })
}

/// `stop (until)` → (`stop`, `(until)`).
fn split_why(detail: &str) -> (&str, &str) {
    match detail.find(" (") {
        Some(i) => (&detail[..i], &detail[i + 1..]),
        None => (detail, ""),
    }
}

#[cfg(test)]
#[path = "experiment_tests.rs"]
mod tests;
