//! `]` / `[`: one consumer more or fewer for the selected async service (competing consumers
//! on its queues). Refuses what cannot scale with a clear word, asks before scaling down
//! (unless `--demo`: a replica's deliveries in hand are requeued, not lost, but it is still a
//! container going away), and shows the scale in flight in the status line until the scale
//! worker answers.

use common::scenario::Service;
use crossterm::event::{KeyCode, KeyEvent};

use super::msg::Command;
use super::scale_worker::{ScaleMsg, ScaleRequest};
use super::state::{DockerStatus, Notice, Prompt, State};
use crate::docker::Group;

/// `]` (`up`) or `[` on the selected container.
pub fn on_scale_key(state: &mut State, up: bool) -> Vec<Command> {
    let Some(c) = state.containers.selected() else {
        state.notice = Some(Notice::error("no container selected"));
        return Vec::new();
    };
    let label = c.label();
    let service = Service::ALL
        .into_iter()
        .find(|s| s.name() == c.service)
        .filter(|s| c.group == Group::Async && crate::stack::scale::scalable(*s));
    let Some(service) = service else {
        state.notice = Some(Notice::error(format!(
            "{label} does not scale: ] and [ add or remove consumers of an async service \
             (select one under async)"
        )));
        return Vec::new();
    };
    if let Some(busy) = state.scaling {
        state.notice = Some(Notice::error(format!(
            "still scaling async/{} to {}; one scale at a time",
            busy.service, busy.replicas
        )));
        return Vec::new();
    }
    if !matches!(state.docker, DockerStatus::Connected { .. }) {
        state.notice = Some(Notice::error("Docker is unreachable; nothing was sent"));
        return Vec::new();
    }
    let now = consumers(state, service);
    let replicas = if up {
        now + 1
    } else if now <= 1 {
        state.notice = Some(Notice::error(format!(
            "async/{service} runs one consumer: [ removes replicas only (] adds one)"
        )));
        return Vec::new();
    } else {
        now - 1
    };
    // The same bounds `ms-tui scale` holds to, said before anything runs.
    if let Err(e) = crate::stack::scale::check(service, replicas) {
        state.notice = Some(Notice::error(format!("async/{service}: {e}")));
        return Vec::new();
    }
    let request = ScaleRequest { service, replicas };
    if !up && !state.demo {
        state.prompt = Prompt::ConfirmScale(request);
        return Vec::new();
    }
    dispatch(state, request)
}

/// The containers of the service's async side in the table: the main one and its replicas.
pub fn consumers(state: &State, service: Service) -> u32 {
    let n = state
        .containers
        .rows()
        .iter()
        .filter(|c| c.group == Group::Async && c.service == service.name())
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The y/n under "Scale async/email down to 1 consumer?".
pub fn on_confirm_key(state: &mut State, request: ScaleRequest, key: KeyEvent) -> Vec<Command> {
    match key.code {
        KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => dispatch(state, request),
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
            state.notice = Some(Notice::info(format!(
                "async/{}: scale down cancelled",
                request.service
            )));
            Vec::new()
        }
        // A stray key must not answer the question.
        _ => {
            state.prompt = Prompt::ConfirmScale(request);
            Vec::new()
        }
    }
}

fn dispatch(state: &mut State, request: ScaleRequest) -> Vec<Command> {
    state.scaling = Some(request);
    state.notice = Some(Notice::info(format!(
        "scaling async/{} to {}…",
        request.service,
        request.describe()
    )));
    vec![Command::Scale(request)]
}

/// The scale worker's answer: the scale is over either way; a failure says what went wrong.
pub fn on_msg(state: &mut State, msg: ScaleMsg) {
    let ScaleMsg { request, result } = msg;
    if state.scaling == Some(request) {
        state.scaling = None;
    }
    state.notice = Some(match result {
        Ok(()) => {
            state.record(
                super::events::EventKind::Container,
                format!("scale async/{} → {}", request.service, request.replicas),
            );
            Notice::info(format!(
                "async/{} scaled to {}",
                request.service,
                request.describe()
            ))
        }
        Err(e) => Notice::error(format!(
            "async/{}: scaling to {} FAILED: {e}",
            request.service, request.replicas
        )),
    });
}
