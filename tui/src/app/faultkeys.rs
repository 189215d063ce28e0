//! The fault keys: `i` opens the fault menu on the selected container (a dose, a duration),
//! `x` reverts every fault; both ask first unless `--demo`, as the container keys do.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::msg::Command;
use super::state::{Notice, Prompt, State};
use crate::docker::Group;
use crate::faults::{FaultCommand, FaultKind, FaultRequest, FaultTarget};

/// Durations `+` and `-` step through in the menu, in seconds.
pub const DURATION_STEPS: [u64; 10] = [5, 10, 15, 20, 30, 45, 60, 120, 300, 600];
/// Every fault lasts this long unless changed in the menu.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(30);

/// One line of the menu.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub label: &'static str,
    pub kind: FaultKind,
}

/// The `i` menu: what to inject into `target`, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultMenu {
    pub target: FaultTarget,
    pub choices: Vec<Choice>,
    pub cursor: usize,
    pub duration: Duration,
}

/// The menu's choices for a container of `group`: the services' own faults where there is a
/// service with an admin API (sync and async; the consumer delay only where messages are
/// consumed), the platform's everywhere.
pub fn choices(group: Group) -> Vec<Choice> {
    let latency = |label, ms| Choice {
        label,
        kind: FaultKind::Latency { ms, jitter_ms: 0 },
    };
    let errors = |label, rate| Choice {
        label,
        kind: FaultKind::Errors { rate, status: 503 },
    };
    let mut out = Vec::new();
    if group != Group::Infra {
        out.extend([
            latency("latency +200 ms", 200),
            latency("latency +1 s", 1000),
            latency("latency +5 s", 5000),
            errors("errors 10 % (503)", 0.1),
            errors("errors 50 % (503)", 0.5),
            errors("errors 100 % (503)", 1.0),
        ]);
    }
    if group == Group::Async {
        out.push(Choice {
            label: "slow consumer +1 s a message",
            kind: FaultKind::SlowConsumer { ms: 1000 },
        });
    }
    // The broker and the database are not partitioned (the fault worker refuses it): their
    // outage is a stop or a pause, which every client sees the same way.
    if group == Group::Infra {
        out.push(Choice {
            label: "stop (outage; started at the end)",
            kind: FaultKind::Stop,
        });
    } else {
        out.push(Choice {
            label: "partition (off the network)",
            kind: FaultKind::Partition,
        });
    }
    out.push(Choice {
        label: "pause (frozen)",
        kind: FaultKind::Pause,
    });
    out
}

impl FaultMenu {
    pub fn request(&self) -> Option<FaultRequest> {
        let choice = self.choices.get(self.cursor)?;
        Some(FaultRequest {
            target: self.target.clone(),
            kind: choice.kind.clone(),
            route_prefix: None,
            duration: self.duration,
        })
    }

    fn step_duration(&mut self, up: bool) {
        let now = self.duration.as_secs();
        let next = if up {
            DURATION_STEPS.iter().copied().find(|s| *s > now)
        } else {
            DURATION_STEPS.iter().rev().copied().find(|s| *s < now)
        };
        self.duration = Duration::from_secs(next.unwrap_or(now));
    }
}

/// `i`: the menu on the selected container.
pub fn open_menu(state: &mut State) {
    let Some(c) = state.containers.selected() else {
        state.notice = Some(Notice::error("no container selected"));
        return;
    };
    // A replica row is its own target (`async/email#2`): the fault reaches that container.
    let target = if c.is_replica() {
        FaultTarget::replica_of(&c.service, c.replica)
    } else {
        FaultTarget {
            group: c.group.as_str().to_owned(),
            service: c.service.clone(),
        }
    };
    state.prompt = Prompt::FaultMenu(FaultMenu {
        target,
        choices: choices(c.group),
        cursor: 0,
        duration: DEFAULT_DURATION,
    });
}

/// A key while the menu is open.
pub fn on_menu_key(state: &mut State, mut menu: FaultMenu, key: KeyEvent) -> Vec<Command> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let last = menu.choices.len().saturating_sub(1);
    match key.code {
        KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('i') => {
            state.notice = Some(Notice::info("fault menu closed"));
            return Vec::new();
        }
        KeyCode::Up => menu.cursor = menu.cursor.saturating_sub(1),
        KeyCode::Char('p') if ctrl => menu.cursor = menu.cursor.saturating_sub(1),
        KeyCode::Down => menu.cursor = (menu.cursor + 1).min(last),
        KeyCode::Char('n') if ctrl => menu.cursor = (menu.cursor + 1).min(last),
        KeyCode::Home => menu.cursor = 0,
        KeyCode::End => menu.cursor = last,
        KeyCode::Char('+') | KeyCode::Char('=') | KeyCode::Right => menu.step_duration(true),
        KeyCode::Char('-') | KeyCode::Left => menu.step_duration(false),
        KeyCode::Enter => {
            let Some(request) = menu.request() else {
                return Vec::new();
            };
            return ask_or_send(state, FaultCommand::Apply(request));
        }
        _ => {}
    }
    state.prompt = Prompt::FaultMenu(menu);
    Vec::new()
}

/// `x`: every fault reverted, after a yes.
pub fn revert_all(state: &mut State) -> Vec<Command> {
    if state.faults.is_empty() {
        state.notice = Some(Notice::info("no active fault to revert"));
        return Vec::new();
    }
    ask_or_send(state, FaultCommand::RevertAll)
}

fn ask_or_send(state: &mut State, command: FaultCommand) -> Vec<Command> {
    if state.demo {
        send(state, command)
    } else {
        state.prompt = Prompt::ConfirmFault(command);
        Vec::new()
    }
}

/// A key while "Inject …? y/n" is asked.
pub fn on_confirm_key(state: &mut State, command: FaultCommand, key: KeyEvent) -> Vec<Command> {
    match key.code {
        KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => send(state, command),
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
            state.notice = Some(Notice::info(format!("{}: cancelled", describe(&command))));
            Vec::new()
        }
        // A stray key must not answer the question.
        _ => {
            state.prompt = Prompt::ConfirmFault(command);
            Vec::new()
        }
    }
}

fn send(state: &mut State, command: FaultCommand) -> Vec<Command> {
    state.notice = Some(Notice::info(format!("{}…", describe(&command))));
    vec![Command::Fault(command)]
}

/// `latency +1000 ms sync/search for 30 s`, `revert every fault`.
pub fn describe(command: &FaultCommand) -> String {
    match command {
        FaultCommand::Apply(r) => format!(
            "{} for {} s",
            super::events::fault_label(&r.kind, &r.target),
            r.duration.as_secs()
        ),
        FaultCommand::Revert(key) => format!("revert {key}"),
        FaultCommand::RevertAll => "revert every fault".to_owned(),
        FaultCommand::RevertOurs => "revert the faults this ms-tui made".to_owned(),
    }
}

#[cfg(test)]
#[path = "faultkeys_tests.rs"]
mod tests;
