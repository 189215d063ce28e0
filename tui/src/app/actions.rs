//! The keys that act on the world: `k` `s` `p` `r` on the selected container, and the
//! scenario and load keys (`1`–`8`, `Enter`, `l`, `+`, `-`). Each one that changes what the
//! figures do next is recorded as an event for the timeline.

use common::scenario::ScenarioId;

use super::events::EventKind;
use super::keys::Intent;
use super::msg::Command;
use super::state::{DockerStatus, Notice, Prompt, State};
use crate::docker::{Action, RunState, Target};
use crate::load::worker::LoadCommand;

/// `1`–`8`, `Enter`, `l`, `+`, `-`.
pub fn on_measure_key(state: &mut State, intent: Intent) -> Vec<Command> {
    let m = &mut state.measure;
    match intent {
        Intent::Scenario(n) => {
            let Some(id) = ScenarioId::parse(&n.to_string()) else {
                return Vec::new();
            };
            m.select(id);
            vec![Command::WatchQueues(m.watched_queues())]
        }
        Intent::Fire => {
            state.notice = Some(Notice::info(format!(
                "{} fired once in both modes",
                m.selected
            )));
            vec![Command::Load(LoadCommand::Fire(m.selected))]
        }
        Intent::ToggleLoad => {
            if let (None, Some(experiment)) = (m.loading, &state.experiments.running) {
                state.notice = Some(Notice::error(format!(
                    "experiment {} runs its own load: no second load beside it",
                    experiment.plan.name
                )));
                return Vec::new();
            }
            if let Some(running) = m.loading.take() {
                state.notice = Some(Notice::info(format!("{running} load stopped")));
                state.record(EventKind::Load, format!("load {running} stop"));
                vec![Command::Load(LoadCommand::Stop)]
            } else {
                let (scenario, rate) = (m.selected, m.rate);
                m.on_load_started(scenario);
                state.notice = Some(Notice::info(format!(
                    "{scenario} load started (+/- rate, l stops)"
                )));
                state.record(EventKind::Load, format!("load {scenario} {rate}/s"));
                vec![Command::Load(LoadCommand::Start { scenario, rate })]
            }
        }
        Intent::RateUp | Intent::RateDown => {
            let before = m.rate;
            let rate = m.step_rate(intent == Intent::RateUp);
            if m.loading.is_some() {
                if rate != before {
                    state.record(EventKind::Load, format!("rate {rate}/s"));
                }
                vec![Command::Load(LoadCommand::SetRate(rate))]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

/// `k`, `s`, `p`, `r` on the selected container: work out the action, refuse what cannot
/// apply, ask first when it is destructive (unless `--demo`).
pub fn on_action_key(state: &mut State, intent: Intent) -> Vec<Command> {
    let Some(c) = state.containers.selected() else {
        state.notice = Some(Notice::error("no container selected"));
        return Vec::new();
    };
    let label = c.label();
    let action = match (intent, c.state) {
        (Intent::Kill, s) if s.is_up() => Action::Kill,
        (Intent::Kill, _) => {
            state.notice = Some(Notice::error(format!("{label} is not running")));
            return Vec::new();
        }
        (Intent::StopStart, s) if s.is_up() => Action::Stop,
        (Intent::StopStart, _) => Action::Start,
        (Intent::PauseUnpause, RunState::Running) => Action::Pause,
        (Intent::PauseUnpause, RunState::Paused) => Action::Unpause,
        (Intent::PauseUnpause, _) => {
            state.notice = Some(Notice::error(format!("{label} is not running")));
            return Vec::new();
        }
        _ => Action::Restart,
    };
    if !matches!(state.docker, DockerStatus::Connected { .. }) {
        state.notice = Some(Notice::error("Docker is unreachable; nothing was sent"));
        return Vec::new();
    }
    if let Some(busy) = state.in_flight(&c.id) {
        state.notice = Some(Notice::error(format!(
            "{label}: still waiting for {}",
            busy.verb()
        )));
        return Vec::new();
    }
    let target = Target {
        id: c.id.clone(),
        label,
    };
    if action.is_destructive() && !state.demo {
        state.prompt = Prompt::Confirm { target, action };
        return Vec::new();
    }
    dispatch(state, target, action)
}

pub fn dispatch(state: &mut State, target: Target, action: Action) -> Vec<Command> {
    state.in_flight.push((target.id.clone(), action));
    state.notice = Some(Notice::info(format!(
        "{}: {}…",
        target.label,
        action.verb()
    )));
    vec![Command::Docker { target, action }]
}
