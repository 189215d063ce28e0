//! `update`: the only code that changes the [`State`]. Pure — no I/O, no clock — so every rule
//! here is unit-tested without a terminal or an engine.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use common::scenario::ScenarioId;

use super::keys::{Intent, intent};
use super::logbuf::Scope;
use super::measure::BrokerStatus;
use super::msg::{Command, Msg};
use super::state::{DockerStatus, Notice, Pane, Prompt, State};
use crate::broker::BrokerMsg;
use crate::docker::{Action, DockerMsg, Group, RunState, Target, Usage};
use crate::load::worker::{LoadCommand, LoadMsg};

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
        Msg::Docker(docker) => {
            on_docker(state, docker);
            Vec::new()
        }
        Msg::Load(load) => {
            on_load(state, load);
            Vec::new()
        }
        Msg::Broker(BrokerMsg::Queues(samples)) => {
            state.measure.on_queues(samples);
            Vec::new()
        }
        // The faults panel and the timeline take these (the faults issue's control-room part).
        Msg::Fault(_) => Vec::new(),
        Msg::Knob(outcome) => {
            state.notice = Some(match outcome.error {
                None => Notice::info(format!(
                    "{}: applied on {}/{} services",
                    outcome.label, outcome.applied, outcome.of
                )),
                Some(e) => Notice::error(format!(
                    "{}: applied on {}/{} services ({e})",
                    outcome.label, outcome.applied, outcome.of
                )),
            });
            Vec::new()
        }
        Msg::Broker(BrokerMsg::Completions(figures)) => {
            for f in figures {
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
        } => state
            .measure
            .on_tick(scenario, mode, target, total, &window),
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

/// `1`–`8`, `Enter`, `l`, `+`, `-`.
fn on_measure_key(state: &mut State, intent: Intent) -> Vec<Command> {
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
            if let Some(running) = m.loading.take() {
                state.notice = Some(Notice::info(format!("{running} load stopped")));
                vec![Command::Load(LoadCommand::Stop)]
            } else {
                let (scenario, rate) = (m.selected, m.rate);
                m.on_load_started(scenario);
                state.notice = Some(Notice::info(format!(
                    "{scenario} load started (+/- rate, l stops)"
                )));
                vec![Command::Load(LoadCommand::Start { scenario, rate })]
            }
        }
        Intent::RateUp | Intent::RateDown => {
            let rate = m.step_rate(intent == Intent::RateUp);
            if m.loading.is_some() {
                vec![Command::Load(LoadCommand::SetRate(rate))]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

fn on_docker(state: &mut State, msg: DockerMsg) {
    match msg {
        DockerMsg::Connected { version } => state.docker = DockerStatus::Connected { version },
        DockerMsg::Unreachable { error, retry_in } => {
            state.docker = DockerStatus::Unreachable { error, retry_in };
            // Samples would be stale; actions in flight will not be answered.
            state.containers.clear_usage();
            state.in_flight.clear();
        }
        DockerMsg::Snapshot(rows) => state.containers.replace(rows),
        DockerMsg::Upsert(info) => state.containers.upsert(info),
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
        DockerMsg::ActionDone {
            target,
            action,
            result,
        } => {
            state.in_flight.retain(|(id, _)| *id != target.id);
            state.notice = Some(match result {
                Ok(()) => Notice::info(format!("{}: {} done", target.label, action.verb())),
                Err(e) => Notice::error(format!("{}: {} failed: {e}", target.label, action.verb())),
            });
        }
    }
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Command> {
    let ctrl_c = key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
    if ctrl_c {
        state.quit = true;
        return Vec::new();
    }
    match std::mem::replace(&mut state.prompt, Prompt::None) {
        Prompt::None => {}
        Prompt::Help => {
            // Any of the usual "close" keys closes help; everything else keeps it open.
            if !matches!(
                key.code,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Enter
            ) {
                state.prompt = Prompt::Help;
            }
            return Vec::new();
        }
        Prompt::Confirm { target, action } => {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                    dispatch(state, target, action)
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
                    state.notice = Some(Notice::info(format!(
                        "{}: {} cancelled",
                        target.label,
                        action.verb()
                    )));
                    Vec::new()
                }
                // Anything else leaves the question on screen: a stray key must not answer it.
                _ => {
                    state.prompt = Prompt::Confirm { target, action };
                    Vec::new()
                }
            };
        }
        Prompt::Filter { mut input } => {
            match key.code {
                KeyCode::Enter => return Vec::new(),
                KeyCode::Esc => {
                    state.logs.set_filter("");
                    return Vec::new();
                }
                KeyCode::Backspace => {
                    input.pop();
                }
                KeyCode::Char(c) => input.push(c),
                _ => {}
            }
            state.logs.set_filter(&input);
            state.prompt = Prompt::Filter { input };
            return Vec::new();
        }
    }
    let Some(intent) = intent(key) else {
        state.dirty = false;
        return Vec::new();
    };
    on_intent(state, intent)
}

fn on_intent(state: &mut State, intent: Intent) -> Vec<Command> {
    let page = state.log_page;
    match intent {
        Intent::Quit => state.quit = true,
        Intent::ToggleHelp => state.prompt = Prompt::Help,
        Intent::FocusNext => state.focus = state.focus.next(),
        Intent::FocusPrevious => state.focus = state.focus.previous(),
        Intent::Up => move_in_focus(state, -1),
        Intent::Down => move_in_focus(state, 1),
        Intent::PageUp => move_in_focus(state, -(page as isize)),
        Intent::PageDown => move_in_focus(state, page as isize),
        Intent::Home => match state.focus {
            Pane::Containers => state.containers.select_index(0),
            Pane::Logs => {
                let scope = owned_scope(state);
                state.logs.scroll_to_top(page, scope.as_scope());
            }
        },
        Intent::End => match state.focus {
            Pane::Containers => {
                let last = state.containers.rows().len().saturating_sub(1);
                state.containers.select_index(last);
            }
            Pane::Logs => state.logs.resume_follow(),
        },
        Intent::Follow => state.logs.resume_follow(),
        Intent::Filter => {
            state.prompt = Prompt::Filter {
                input: state.logs.filter().to_string(),
            }
        }
        Intent::Escape => state.logs.set_filter(""),
        Intent::ToggleLogScope => {
            state.logs.selected_only = !state.logs.selected_only;
            state.logs.resume_follow();
        }
        Intent::Kill | Intent::StopStart | Intent::PauseUnpause | Intent::Restart => {
            return on_action_key(state, intent);
        }
        Intent::Knob(knob) => {
            let change = state.knobs.cycle(knob);
            state.notice = Some(Notice::info(format!("{}…", change.label)));
            return vec![Command::Knob(change)];
        }
        Intent::Scenario(_)
        | Intent::Fire
        | Intent::ToggleLoad
        | Intent::RateUp
        | Intent::RateDown => return on_measure_key(state, intent),
    }
    Vec::new()
}

/// Arrows and paging: the selection in the containers pane, the scroll position in the logs.
fn move_in_focus(state: &mut State, delta: isize) {
    match state.focus {
        Pane::Containers => {
            state.containers.move_selection(delta);
            if state.logs.selected_only {
                // A different container's logs: start at its newest line.
                state.logs.resume_follow();
            }
        }
        Pane::Logs => {
            let page = state.log_page;
            let scope = owned_scope(state);
            if delta < 0 {
                state
                    .logs
                    .scroll_up(delta.unsigned_abs(), page, scope.as_scope());
            } else {
                state.logs.scroll_down(delta as usize);
            }
        }
    }
}

/// `k`, `s`, `p`, `r` on the selected container: work out the action, refuse what cannot
/// apply, ask first when it is destructive (unless `--demo`).
fn on_action_key(state: &mut State, intent: Intent) -> Vec<Command> {
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

fn dispatch(state: &mut State, target: Target, action: Action) -> Vec<Command> {
    state.in_flight.push((target.id.clone(), action));
    state.notice = Some(Notice::info(format!(
        "{}: {}…",
        target.label,
        action.verb()
    )));
    vec![Command::Docker { target, action }]
}

/// The log scope with the selection's service copied out, so the logs can be changed while it
/// is in use.
struct OwnedScope(Option<(Group, String)>);

impl OwnedScope {
    fn as_scope(&self) -> Scope<'_> {
        match &self.0 {
            Some((g, s)) => Scope::Only(*g, s),
            None => Scope::All,
        }
    }
}

fn owned_scope(state: &State) -> OwnedScope {
    OwnedScope(match state.log_scope() {
        Scope::Only(g, s) => Some((g, s.to_string())),
        Scope::All => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::ContainerInfo;
    use crate::docker::container::info;
    use crate::docker::logline::sample as log;

    fn key(c: char) -> Msg {
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    fn code(code: KeyCode) -> Msg {
        Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn connected(demo: bool, rows: Vec<ContainerInfo>) -> State {
        let mut s = State::new(demo);
        update(
            &mut s,
            Msg::Docker(DockerMsg::Connected {
                version: "20.10.24".into(),
            }),
        );
        update(&mut s, Msg::Docker(DockerMsg::Snapshot(rows)));
        s
    }

    fn stack() -> Vec<ContainerInfo> {
        vec![
            info(Group::Sync, "email", RunState::Running),
            info(Group::Async, "email", RunState::Running),
            info(Group::Async, "user", RunState::Exited(137)),
            info(Group::Infra, "rabbitmq", RunState::Paused),
        ]
    }

    fn select(s: &mut State, group: Group, service: &str) {
        assert!(s.containers.select(group, service));
    }

    #[test]
    fn kill_asks_first_and_yes_sends_it() {
        let mut s = connected(false, stack());
        select(&mut s, Group::Async, "email");
        assert!(update(&mut s, key('k')).is_empty());
        let target = Target {
            id: "async-email".into(),
            label: "async/email".into(),
        };
        assert_eq!(
            s.prompt,
            Prompt::Confirm {
                target: target.clone(),
                action: Action::Kill
            }
        );
        assert!(
            update(&mut s, key('x')).is_empty(),
            "a stray key answers nothing"
        );
        let cmds = update(&mut s, key('y'));
        assert_eq!(
            cmds,
            [Command::Docker {
                target,
                action: Action::Kill
            }]
        );
        assert_eq!(s.prompt, Prompt::None);
        assert_eq!(s.in_flight("async-email"), Some(Action::Kill));
    }

    #[test]
    fn no_cancels_and_demo_does_not_ask() {
        let mut s = connected(false, stack());
        select(&mut s, Group::Sync, "email");
        update(&mut s, key('r'));
        assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
        assert_eq!(s.prompt, Prompt::None);
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|n| n.text.contains("cancelled"))
        );

        let mut demo = connected(true, stack());
        select(&mut demo, Group::Sync, "email");
        let cmds = update(&mut demo, key('r'));
        assert!(matches!(
            cmds.as_slice(),
            [Command::Docker {
                action: Action::Restart,
                ..
            }]
        ));
    }

    #[test]
    fn s_and_p_pick_the_action_from_the_state() {
        let mut s = connected(true, stack());
        select(&mut s, Group::Async, "user");
        let start = update(&mut s, key('s'));
        assert!(matches!(
            start.as_slice(),
            [Command::Docker {
                action: Action::Start,
                ..
            }]
        ));
        select(&mut s, Group::Infra, "rabbitmq");
        assert!(matches!(
            update(&mut s, key('p')).as_slice(),
            [Command::Docker {
                action: Action::Unpause,
                ..
            }]
        ));
        select(&mut s, Group::Async, "email");
        assert!(matches!(
            update(&mut s, key('p')).as_slice(),
            [Command::Docker {
                action: Action::Pause,
                ..
            }]
        ));
    }

    #[test]
    fn start_never_asks_even_without_demo() {
        let mut s = connected(false, stack());
        select(&mut s, Group::Async, "user");
        assert_eq!(update(&mut s, key('s')).len(), 1);
    }

    #[test]
    fn refusals_say_why_and_send_nothing() {
        let mut s = connected(true, stack());
        select(&mut s, Group::Async, "user");
        assert!(update(&mut s, key('k')).is_empty());
        assert!(update(&mut s, key('p')).is_empty());
        assert!(s.notice.as_ref().is_some_and(|n| n.error));

        select(&mut s, Group::Sync, "email");
        assert_eq!(update(&mut s, key('k')).len(), 1);
        assert!(
            update(&mut s, key('k')).is_empty(),
            "one action per container at a time"
        );
        update(
            &mut s,
            Msg::Docker(DockerMsg::ActionDone {
                target: Target {
                    id: "sync-email".into(),
                    label: "sync/email".into(),
                },
                action: Action::Kill,
                result: Err("boom".into()),
            }),
        );
        assert!(s.in_flight.is_empty());
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|n| n.error && n.text.contains("boom"))
        );
    }

    #[test]
    fn nothing_is_sent_while_docker_is_unreachable() {
        let mut s = connected(true, stack());
        update(
            &mut s,
            Msg::Docker(DockerMsg::Unreachable {
                error: "connection refused".into(),
                retry_in: std::time::Duration::from_secs(2),
            }),
        );
        select(&mut s, Group::Sync, "email");
        assert!(update(&mut s, key('k')).is_empty());
        assert!(matches!(s.docker, DockerStatus::Unreachable { .. }));
    }

    #[test]
    fn q_quits_but_first_closes_help() {
        let mut s = connected(false, stack());
        update(&mut s, key('?'));
        assert_eq!(s.prompt, Prompt::Help);
        update(&mut s, key('k'));
        assert_eq!(s.prompt, Prompt::Help, "keys do nothing under the help");
        update(&mut s, key('q'));
        assert_eq!(s.prompt, Prompt::None);
        assert!(!s.quit);
        update(&mut s, key('q'));
        assert!(s.quit);
    }

    #[test]
    fn ctrl_c_quits_from_any_prompt() {
        let mut s = connected(false, stack());
        update(&mut s, key('/'));
        update(
            &mut s,
            Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        );
        assert!(s.quit);
    }

    #[test]
    fn filter_applies_while_typing_and_esc_clears_it() {
        let mut s = connected(false, stack());
        update(&mut s, key('/'));
        for c in "AbC".chars() {
            update(&mut s, key(c));
        }
        assert_eq!(s.logs.filter(), "abc");
        update(&mut s, code(KeyCode::Backspace));
        update(&mut s, code(KeyCode::Enter));
        assert_eq!(s.prompt, Prompt::None);
        assert_eq!(s.logs.filter(), "ab");
        update(&mut s, key('/'));
        update(&mut s, code(KeyCode::Esc));
        assert_eq!(s.logs.filter(), "");
    }

    #[test]
    fn typing_a_filter_never_triggers_actions() {
        let mut s = connected(true, stack());
        update(&mut s, key('/'));
        for c in "kspqr".chars() {
            assert!(update(&mut s, key(c)).is_empty());
        }
        assert!(!s.quit);
        assert_eq!(s.logs.filter(), "kspqr");
    }

    #[test]
    fn scrolling_the_logs_pauses_follow_and_g_resumes() {
        let mut s = connected(false, stack());
        update(
            &mut s,
            Msg::Resize {
                width: 120,
                height: 40,
            },
        );
        update(
            &mut s,
            Msg::Docker(DockerMsg::Logs(
                (0..200).map(|i| log("email", &i.to_string())).collect(),
            )),
        );
        update(&mut s, code(KeyCode::Tab));
        assert_eq!(s.focus, Pane::Logs);
        update(&mut s, code(KeyCode::Up));
        assert!(!s.logs.follow);
        assert_eq!(s.logs.scroll_back(), 1);
        update(
            &mut s,
            Msg::Docker(DockerMsg::Logs(vec![log("email", "new")])),
        );
        assert_eq!(s.logs.scroll_back(), 2, "the view holds still");
        update(&mut s, key('G'));
        assert!(s.logs.follow);
        assert_eq!(s.logs.scroll_back(), 0);
    }

    #[test]
    fn paging_moves_by_the_page_the_app_task_measured() {
        let mut s = connected(false, stack());
        update(&mut s, Msg::LogPage { rows: 5 });
        update(
            &mut s,
            Msg::Docker(DockerMsg::Logs(
                (0..20).map(|i| log("email", &i.to_string())).collect(),
            )),
        );
        update(&mut s, code(KeyCode::Tab));
        update(&mut s, code(KeyCode::PageUp));
        assert_eq!(s.logs.scroll_back(), 5);
        update(&mut s, code(KeyCode::Home));
        assert_eq!(
            s.logs.scroll_back(),
            15,
            "the oldest page: 20 lines, 5 shown"
        );
    }

    #[test]
    fn arrows_in_the_containers_pane_move_the_selection() {
        let mut s = connected(false, stack());
        assert_eq!(s.containers.selected_index(), Some(0));
        update(&mut s, code(KeyCode::Down));
        assert_eq!(
            s.containers.selected().map(|c| c.label()),
            Some("async/user".to_string()),
            "sync, async, infra; catalogue order within"
        );
        update(&mut s, code(KeyCode::Down));
        assert_eq!(
            s.containers.selected().map(|c| c.label()),
            Some("async/email".to_string())
        );
        update(&mut s, code(KeyCode::End));
        assert_eq!(
            s.containers.selected().map(|c| c.label()),
            Some("infra/rabbitmq".to_string())
        );
    }

    #[test]
    fn unknown_keys_do_not_redraw() {
        let mut s = connected(false, stack());
        s.dirty = false;
        update(&mut s, key('z'));
        assert!(!s.dirty);
    }

    #[test]
    fn scenario_keys_select_fire_and_drive_load() {
        use crate::load::worker::LoadCommand;
        let mut s = connected(false, stack());
        let cmds = update(&mut s, key('6'));
        assert_eq!(s.measure.selected, ScenarioId::S6);
        assert_eq!(
            cmds,
            vec![Command::WatchQueues(vec!["click_tracked_queue".into()])]
        );
        assert_eq!(
            update(&mut s, code(KeyCode::Enter)),
            vec![Command::Load(LoadCommand::Fire(ScenarioId::S6))]
        );
        let rate = s.measure.rate;
        assert_eq!(
            update(&mut s, key('l')),
            vec![Command::Load(LoadCommand::Start {
                scenario: ScenarioId::S6,
                rate
            })]
        );
        let cmds = update(&mut s, key('+'));
        assert!(s.measure.rate > rate);
        assert_eq!(
            cmds,
            vec![Command::Load(LoadCommand::SetRate(s.measure.rate))]
        );
        // Selecting another scenario keeps the load where it runs.
        update(&mut s, key('1'));
        assert_eq!(s.measure.loading, Some(ScenarioId::S6));
        assert_eq!(
            update(&mut s, key('l')),
            vec![Command::Load(LoadCommand::Stop)]
        );
        assert_eq!(s.measure.loading, None);
    }

    #[test]
    fn knob_keys_send_the_change_and_show_the_outcome() {
        let mut s = connected(false, stack());
        let cmds = update(&mut s, key('f'));
        let [Command::Knob(change)] = cmds.as_slice() else {
            panic!("{cmds:?}")
        };
        assert_eq!(
            change.patch,
            serde_json::json!({"payment_failure_rate": 0.3})
        );
        update(
            &mut s,
            Msg::Knob(crate::admin::KnobOutcome {
                label: change.label.clone(),
                applied: 1,
                of: 2,
                error: Some("async/payment: not reachable".into()),
            }),
        );
        let notice = s.notice.clone().unwrap();
        assert!(notice.error && notice.text.contains("1/2"), "{notice:?}");
    }
}
