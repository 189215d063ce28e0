//! The experiment keys: `e` opens the picker of the built-in experiments (or, while one
//! runs, its progress); Enter starts the chosen one, `Esc` or `s` in the progress asks to stop
//! it (y/n unless `--demo`); the verdict closes with `Esc` or `Enter`.
//!
//! One experiment at a time, and never beside the control room's own load: two loads on one
//! stack would distort both, so starting an experiment stops that load first, and `l` waits
//! for the experiment to end.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::events::EventKind;
use super::experiment::Running;
use super::experiment_worker::ExperimentCommand;
use super::msg::Command;
use super::state::{Notice, Prompt, State};
use crate::experiment::builtin;
use crate::experiment::spec::Experiment;
use crate::load::worker::LoadCommand;

/// The `e` picker: the built-ins, in their own order, and the one under the cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct Picker {
    pub plans: Vec<Experiment>,
    pub cursor: usize,
}

/// `e`: the picker, or the progress of the run in progress.
pub fn open(state: &mut State) {
    if state.experiments.running.is_some() {
        state.prompt = Prompt::ExperimentProgress;
        return;
    }
    let plans = builtin::all();
    if plans.is_empty() {
        state.notice = Some(Notice::error("no built-in experiment could be read"));
        return;
    }
    state.prompt = Prompt::ExperimentPicker(Picker { plans, cursor: 0 });
}

/// A key while the picker is open.
pub fn on_picker_key(state: &mut State, mut picker: Picker, key: KeyEvent) -> Vec<Command> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let last = picker.plans.len().saturating_sub(1);
    match key.code {
        KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('e') => {
            state.notice = Some(Notice::info("experiment picker closed"));
            return Vec::new();
        }
        KeyCode::Up | KeyCode::Char('k') => picker.cursor = picker.cursor.saturating_sub(1),
        KeyCode::Char('p') if ctrl => picker.cursor = picker.cursor.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => picker.cursor = (picker.cursor + 1).min(last),
        KeyCode::Char('n') if ctrl => picker.cursor = (picker.cursor + 1).min(last),
        KeyCode::Home => picker.cursor = 0,
        KeyCode::End => picker.cursor = last,
        KeyCode::Enter => {
            let Some(plan) = picker.plans.get(picker.cursor).cloned() else {
                return Vec::new();
            };
            return start(state, plan);
        }
        _ => {}
    }
    state.prompt = Prompt::ExperimentPicker(picker);
    Vec::new()
}

/// Starts `plan`: the control room's own load stops first, the scenario is selected (its
/// queues show in the queue pane), and the run is marked on the timeline.
pub fn start(state: &mut State, plan: Experiment) -> Vec<Command> {
    if let Some(running) = &state.experiments.running {
        state.notice = Some(Notice::error(format!(
            "experiment {} is running: one at a time (e shows it)",
            running.plan.name
        )));
        return Vec::new();
    }
    let mut commands = Vec::new();
    let mut said = String::new();
    if let Some(load) = state.measure.loading.take() {
        state.record(EventKind::Load, format!("load {load} stop"));
        commands.push(Command::Load(LoadCommand::Stop));
        said = format!("{load} load stopped (two loads would distort both); ");
    }
    if state.measure.selected != plan.scenario {
        state.measure.select(plan.scenario);
        commands.push(Command::WatchQueues(state.measure.watched_queues()));
    }
    state.record(EventKind::Load, format!("experiment {}", plan.name));
    state.notice = Some(Notice::info(format!(
        "{said}experiment {} started (e: progress, Esc there stops it)",
        plan.name
    )));
    state.experiments.running = Some(Running::new(plan.clone()));
    commands.push(Command::Experiment(ExperimentCommand::Start(Box::new(
        plan,
    ))));
    commands
}

/// A key while the progress overlay is open: `Esc` or `s` asks to stop the run; `e`, `Enter`
/// and `q` close the overlay and leave it running.
pub fn on_progress_key(state: &mut State, key: KeyEvent) -> Vec<Command> {
    let Some(running) = &state.experiments.running else {
        return Vec::new();
    };
    match key.code {
        KeyCode::Esc | KeyCode::Char('s') if running.stopping => {
            state.notice = Some(Notice::info("already stopping: reverting, then the report"));
            Vec::new()
        }
        KeyCode::Esc | KeyCode::Char('s') if state.demo => stop(state),
        KeyCode::Esc | KeyCode::Char('s') => {
            state.prompt = Prompt::ConfirmStopExperiment;
            Vec::new()
        }
        KeyCode::Char('e') | KeyCode::Enter | KeyCode::Char('q') => Vec::new(),
        _ => {
            state.prompt = Prompt::ExperimentProgress;
            Vec::new()
        }
    }
}

/// A key while "Stop experiment …? y/n" is asked.
pub fn on_confirm_stop_key(state: &mut State, key: KeyEvent) -> Vec<Command> {
    match key.code {
        KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => stop(state),
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
            state.notice = Some(Notice::info("the experiment goes on"));
            state.prompt = Prompt::ExperimentProgress;
            Vec::new()
        }
        // A stray key must not answer the question.
        _ => {
            state.prompt = Prompt::ConfirmStopExperiment;
            Vec::new()
        }
    }
}

fn stop(state: &mut State) -> Vec<Command> {
    let Some(running) = state.experiments.running.as_mut() else {
        return Vec::new();
    };
    running.stopping = true;
    state.notice = Some(Notice::info(format!(
        "stopping {}: reverting its faults and knobs, then the partial report…",
        running.plan.name
    )));
    state.prompt = Prompt::ExperimentProgress;
    vec![Command::Experiment(ExperimentCommand::Stop)]
}

/// A key while the verdict is shown: `Esc`, `Enter` or `q` close it.
pub fn on_verdict_key(state: &mut State, key: KeyEvent) {
    if !matches!(key.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q')) {
        state.prompt = Prompt::Verdict;
    }
}
