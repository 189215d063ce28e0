//! `view`: draws the [`State`] and changes nothing. One file per pane; [`layout`] says where
//! each goes.
//!
//! - [`scenarios`]: S1–S8 and the selected one's lesson strip.
//! - [`latency`]: sync | async side by side — sparklines, p50/p95/p99, rates, completion.
//! - [`queues`]: the selected scenario's queues, the drain estimate, the events on the depth
//!   history.
//! - [`timeline`]: a `Chart` per mode on one time axis, a labelled marker per event.
//! - [`faults`]: the active-faults panel (target, dose, time left; unrevertable ones loudly).
//! - [`containers`]: the project's containers grouped sync / async / infra.
//! - [`logs`]: every container's lines, the filter, the events as separator lines.
//! - [`applog`]: the app's own log.
//! - [`status`]: the status line (or the filter prompt).
//! - Overlays: [`help`] (`?`), [`confirm`] (a destructive key's question), [`faultmenu`]
//!   (the `i` menu and the fault confirmations), [`experiment`] (the `e` picker, a run's
//!   progress and stop question, the verdict).
//! - [`layout`]: where each pane goes, per view (pure geometry); [`theme`]: colours and
//!   shared formats.

pub mod applog;
pub mod confirm;
pub mod containers;
pub mod experiment;
pub mod faultmenu;
pub mod faults;
pub mod help;
pub mod latency;
pub mod layout;
pub mod logs;
pub mod queues;
pub mod scenarios;
pub mod status;
pub mod theme;
pub mod timeline;

use ratatui::Frame;
use ratatui::layout::Rect;

use crate::app::state::{Prompt, State};

/// Draws one frame.
pub fn view(state: &State, frame: &mut Frame) {
    let screen = frame.area();
    let areas = layout::areas_for(screen, state.view, state.chart, fault_rows(state));
    scenarios::draw(frame, areas.scenarios, state);
    scenarios::draw_lesson(frame, areas.lesson, state);
    latency::draw(frame, areas.latency, state);
    queues::draw(frame, areas.queues, state);
    containers::draw(frame, areas.containers, state);
    logs::draw(frame, areas.logs, state);
    applog::draw(frame, areas.app_log);
    timeline::draw(frame, areas.timeline, state);
    faults::draw(frame, areas.faults, state);
    status::draw(frame, areas.status, state);
    match &state.prompt {
        Prompt::Help => help::draw(frame, screen),
        Prompt::Confirm { target, action } => confirm::draw(frame, screen, target, *action),
        Prompt::FaultMenu(menu) => faultmenu::draw_menu(frame, screen, menu),
        Prompt::ConfirmFault(command) => faultmenu::draw_confirm(frame, screen, command),
        Prompt::ExperimentPicker(picker) => experiment::draw_picker(frame, screen, picker),
        Prompt::ExperimentProgress => {
            if let Some(running) = &state.experiments.running {
                experiment::draw_progress(frame, screen, running);
            }
        }
        Prompt::ConfirmStopExperiment => {
            if let Some(running) = &state.experiments.running {
                experiment::draw_confirm_stop(frame, screen, running);
            }
        }
        Prompt::Verdict => {
            if let Some(finished) = &state.experiments.last {
                experiment::draw_verdict(frame, screen, finished);
            }
        }
        Prompt::ConfirmScale(request) => confirm::draw_question(
            frame,
            screen,
            "Scale down",
            &format!("async/{} to {}", request.service, request.describe()),
            &format!(
                "Replica #{} is removed; what it holds unacked goes back to the queue.",
                request.replicas + 1
            ),
        ),
        Prompt::None | Prompt::Filter { .. } => {}
    }
}

/// Rows the faults panel lists: none on the whole screen while nothing is in force (it then
/// takes no room there).
fn fault_rows(state: &State) -> usize {
    if state.faults.is_empty() {
        0
    } else {
        state.faults.rows()
    }
}

/// A `width` × `height` rectangle in the middle of `screen`, shrunk to fit.
pub fn centered(screen: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(screen.width);
    let height = height.min(screen.height);
    Rect::new(
        screen.x + (screen.width - width) / 2,
        screen.y + (screen.height - height) / 2,
        width,
        height,
    )
}
