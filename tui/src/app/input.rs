//! Keys: a prompt takes them first (help, a confirmation, the fault menu, the experiment
//! overlays, the filter), then the keymap's [`Intent`] acts on the focused pane or hands over
//! to [`actions`] (containers, load), [`faultkeys`] (faults), [`experimentkeys`]
//! (experiments) and [`scalekeys`] (replicas).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::actions;
use super::experimentkeys;
use super::faultkeys;
use super::keys::{Intent, intent};
use super::logbuf::Scope;
use super::msg::Command;
use super::scalekeys;
use super::state::{Notice, Pane, Prompt, State};
use crate::docker::Group;

pub fn on_key(state: &mut State, key: KeyEvent) -> Vec<Command> {
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
                    actions::dispatch(state, target, action)
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
        Prompt::FaultMenu(menu) => return faultkeys::on_menu_key(state, menu, key),
        Prompt::ConfirmFault(command) => return faultkeys::on_confirm_key(state, command, key),
        Prompt::ExperimentPicker(picker) => {
            return experimentkeys::on_picker_key(state, picker, key);
        }
        Prompt::ExperimentProgress => return experimentkeys::on_progress_key(state, key),
        Prompt::ConfirmStopExperiment => return experimentkeys::on_confirm_stop_key(state, key),
        Prompt::ConfirmScale(request) => return scalekeys::on_confirm_key(state, request, key),
        Prompt::Verdict => {
            experimentkeys::on_verdict_key(state, key);
            return Vec::new();
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
            return actions::on_action_key(state, intent);
        }
        Intent::ScaleUp => return scalekeys::on_scale_key(state, true),
        Intent::ScaleDown => return scalekeys::on_scale_key(state, false),
        Intent::FaultMenu => faultkeys::open_menu(state),
        Intent::Experiment => experimentkeys::open(state),
        Intent::RevertFaults => return faultkeys::revert_all(state),
        Intent::ToggleChart => {
            state.chart = !state.chart;
            let shown = if state.chart { "shown" } else { "hidden" };
            state.notice = Some(Notice::info(format!(
                "timeline {shown} (v: full-screen views)"
            )));
        }
        Intent::NextView => {
            state.view = state.view.next(state.size.1);
            state.notice = Some(Notice::info(format!(
                "view: {} (v: next)",
                state.view.name()
            )));
        }
        Intent::Knob(knob) => {
            let mut change = state.knobs.cycle(knob, state.measure.selected);
            change.replicas = state.containers.replicas_of(&change.services);
            state.knob_record.note(&change);
            state.notice = Some(Notice::info(format!("{}…", change.label)));
            return vec![Command::Knob(change)];
        }
        Intent::Scenario(_)
        | Intent::Fire
        | Intent::ToggleLoad
        | Intent::RateUp
        | Intent::RateDown => return actions::on_measure_key(state, intent),
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

/// The log scope with the selection's service copied out, so the logs can be changed while it
/// is in use.
pub struct OwnedScope(Option<(Group, String)>);

impl OwnedScope {
    pub fn as_scope(&self) -> Scope<'_> {
        match &self.0 {
            Some((g, s)) => Scope::Only(*g, s),
            None => Scope::All,
        }
    }
}

pub fn owned_scope(state: &State) -> OwnedScope {
    OwnedScope(match state.log_scope() {
        Scope::Only(g, s) => Some((g, s.to_string())),
        Scope::All => None,
    })
}
