//! `update`: the only code that changes the [`State`]. Pure — no I/O, no clock (the time
//! comes in [`Msg::Clock`]) — so every rule here is unit-tested without a terminal or an
//! engine. Keys are handled in [`input`](super::input); the workers' reports here.

use super::events::{EventKind, fault_started};
use super::input::{on_key, owned_scope};
use super::measure::BrokerStatus;
use super::msg::{Command, Msg};
use super::state::{DockerStatus, Notice, State};
use crate::broker::BrokerMsg;
use crate::docker::{DockerMsg, Usage};
use crate::faults::FaultMsg;
use crate::load::worker::LoadMsg;

/// Applies one message; returns the side effects to run.
pub fn update(state: &mut State, msg: Msg) -> Vec<Command> {
    // Nearly every message changes something visible; the few that do not cost one extra frame.
    state.dirty = true;
    match msg {
        Msg::Key(key) => on_key(state, key),
        Msg::Resize { width, height } => {
            state.size = (width, height);
            Vec::new()
        }
        Msg::LogPage { rows } => {
            state.log_page = rows.max(1);
            Vec::new()
        }
        Msg::Docker(docker) => on_docker(state, docker),
        Msg::Load(load) => {
            on_load(state, load);
            Vec::new()
        }
        Msg::Broker(BrokerMsg::Queues(samples)) => {
            state.measure.on_queues(samples, state.now);
            Vec::new()
        }
        Msg::Fault(fault) => {
            on_fault(state, fault);
            Vec::new()
        }
        Msg::Experiment(msg) => {
            super::experiment::on_msg(state, msg);
            Vec::new()
        }
        Msg::Scale(msg) => {
            super::scalekeys::on_msg(state, msg);
            Vec::new()
        }
        Msg::Clock(now) => {
            state.now = now;
            Vec::new()
        }
        Msg::Knob(outcome) => {
            if outcome.applied > 0 {
                state.record(EventKind::Knob, outcome.label.clone());
            }
            state.knobs.on_effective(&outcome.effective);
            let text = outcome.describe();
            state.notice = Some(match outcome.error {
                None => Notice::info(text),
                Some(_) => Notice::error(text),
            });
            Vec::new()
        }
        Msg::Broker(BrokerMsg::Completions(figures)) => {
            for f in figures {
                let experiment = state.experiments.running.as_ref().map(|r| r.plan.scenario);
                if state.measure.loading == Some(f.scenario) || experiment == Some(f.scenario) {
                    state.series.on_completion(f.mode, state.now, f.window_p99);
                }
                state
                    .measure
                    .on_completion(f.scenario, f.mode, f.total, f.last);
            }
            Vec::new()
        }
        Msg::Broker(BrokerMsg::Down { error }) => {
            state.measure.broker = BrokerStatus::Down(error);
            Vec::new()
        }
    }
}

fn on_load(state: &mut State, msg: LoadMsg) {
    match msg {
        LoadMsg::Tick {
            scenario,
            mode,
            target,
            total,
            window,
            second,
        } => {
            if let Some(second) = second {
                // The worker's clock is the same wall clock: never let the charts' right edge
                // lag behind a second that already ended (before the first Clock, say).
                state.now = state.now.max(second.ended);
                state.series.on_window(mode, second.ended, &second.summary);
            }
            state
                .measure
                .on_tick(scenario, mode, target, total, &window)
        }
        LoadMsg::Fired {
            scenario,
            mode,
            summary,
        } => state.measure.on_fired(scenario, mode, summary),
        LoadMsg::Stopped { scenario } => {
            if state.measure.loading == Some(scenario) {
                state.measure.loading = None;
            }
        }
    }
}

/// A container's new state may also call for its knobs back ([`KnobRecord`](super::reapply::KnobRecord)).
fn on_docker(state: &mut State, msg: DockerMsg) -> Vec<Command> {
    let mut commands = Vec::new();
    match msg {
        DockerMsg::Connected { version } => state.docker = DockerStatus::Connected { version },
        DockerMsg::Unreachable { error, retry_in } => {
            state.docker = DockerStatus::Unreachable { error, retry_in };
            // Samples would be stale; actions in flight will not be answered.
            state.containers.clear_usage();
            state.in_flight.clear();
        }
        DockerMsg::Snapshot(rows) => {
            // A container that restarted while the engine was out of reach shows it here
            // (a new id, more restarts); one the table never had is nobody's restart.
            for row in &rows {
                if let Some(before) = state.containers.find(row)
                    && let Some(change) = state.knob_record.on_container(Some(before), row)
                {
                    commands.push(Command::Knob(change));
                }
            }
            state.containers.replace(rows);
        }
        DockerMsg::Upsert(info) => {
            let before = state.containers.find(&info);
            if let Some(change) = state.knob_record.on_container(before, &info) {
                commands.push(Command::Knob(change));
            }
            state.containers.upsert(info);
        }
        DockerMsg::Removed { id } => state.containers.remove(&id),
        DockerMsg::Stats {
            id,
            cpu_percent,
            mem_bytes,
        } => state.containers.set_usage(
            &id,
            Usage {
                cpu_percent,
                mem_bytes,
            },
        ),
        DockerMsg::Logs(lines) => {
            let scope = owned_scope(state);
            state.logs.push(lines, scope.as_scope());
        }
        DockerMsg::LogsDropped(n) => state.logs.dropped += n,
        DockerMsg::Swarm(services) => super::swarmview::on_msg(state, services),
        DockerMsg::ActionDone {
            target,
            action,
            result,
        } => {
            state.in_flight.retain(|(id, _)| *id != target.id);
            if result.is_ok() {
                state.record(
                    EventKind::Container,
                    format!("{} {}", action.verb(), target.label),
                );
            }
            state.notice = Some(match result {
                Ok(()) => Notice::info(format!("{}: {} done", target.label, action.verb())),
                Err(e) => Notice::error(format!("{}: {} failed: {e}", target.label, action.verb())),
            });
        }
    }
    commands
}

/// The panel takes every report; a fault made, ended or failed is also an event (and a
/// failure the status line says loudly).
fn on_fault(state: &mut State, msg: FaultMsg) {
    state.faults.on_msg(&msg);
    match msg {
        FaultMsg::Active(_) => {}
        FaultMsg::Applied(fault) => {
            let label = fault_started(&fault);
            state.notice = Some(Notice::info(format!("{label}: injected")));
            state.record(EventKind::FaultStart, label);
        }
        FaultMsg::Reverted { key, why } => {
            state.notice = Some(Notice::info(format!("{key}: ended ({why})")));
            state.record(EventKind::FaultEnd, format!("end {key}"));
        }
        FaultMsg::Failed {
            key,
            error,
            unrevertable,
        } => {
            let loud = if unrevertable {
                format!("{key}: COULD NOT REVERT ({error}); it is still in force")
            } else {
                format!("{key}: failed ({error})")
            };
            state.notice = Some(Notice::error(loud));
            state.record(EventKind::FaultFailed, format!("failed {key}"));
        }
    }
}

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
