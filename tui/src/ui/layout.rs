//! Where each pane goes, as pure geometry (so the app task can tell `update` the logs pane's
//! page size without drawing).
//!
//! ```text
//! ┌ Scenarios ──────┬ Latency  sync | async ─────┬ Queues ────────┐  top band: measurement
//! └─────────────────┴────────────────────────────┴────────────────┘
//!  S1 · the selected scenario's lesson, full width
//! ┌ Containers ────────────┬ Logs ────────────────────────────────┐
//! │ sync / async / infra   │ all services interleaved, or one     │
//! │                        ├ ms-tui log ──────────────────────────┤
//! │                        │ the app's own log (also in a file)   │
//! └────────────────────────┴──────────────────────────────────────┘
//!  status line: Docker, broker, counts, last action, key hints
//! ```
//!
//! The top band holds the scenario, latency and queue panes; on a terminal too short for
//! it and a usable containers table, it folds away and the operations panes take the height.

use ratatui::layout::{Constraint, Layout, Rect};

/// Terminal rows below which the top band folds away.
pub const TOP_BAND_MIN_HEIGHT: u16 = 32;
/// The top band's height when shown: 8 scenarios plus borders, then two rows for the
/// selected scenario's lesson.
pub const TOP_BAND_HEIGHT: u16 = 12;
const LESSON_HEIGHT: u16 = 2;
/// Width of the containers pane on a wide terminal: the table's columns, no more.
pub const CONTAINERS_WIDTH: u16 = 55;

/// The rectangle of every pane; an empty `Rect` means the pane is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub scenarios: Rect,
    pub latency: Rect,
    pub queues: Rect,
    /// The selected scenario's lesson, full width under the top band.
    pub lesson: Rect,
    pub containers: Rect,
    pub logs: Rect,
    pub app_log: Rect,
    pub status: Rect,
}

pub fn areas(screen: Rect) -> Areas {
    let [main, status] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(screen);
    let top_height = if screen.height >= TOP_BAND_MIN_HEIGHT {
        TOP_BAND_HEIGHT
    } else {
        0
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Length(top_height), Constraint::Fill(1)]).areas(main);
    let lesson_height = if top_height > 0 { LESSON_HEIGHT } else { 0 };
    let [top, lesson] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(lesson_height)]).areas(top);
    let [scenarios, latency, queues] = Layout::horizontal([
        Constraint::Percentage(28),
        Constraint::Percentage(44),
        Constraint::Percentage(28),
    ])
    .areas(top);
    let left = if screen.width >= 2 * CONTAINERS_WIDTH {
        Constraint::Length(CONTAINERS_WIDTH)
    } else {
        Constraint::Percentage(50)
    };
    let [containers, right] = Layout::horizontal([left, Constraint::Fill(1)]).areas(bottom);
    let app_log_height = if right.height >= 20 { 6 } else { 4 };
    let [logs, app_log] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(app_log_height)]).areas(right);
    Areas {
        scenarios,
        latency,
        queues,
        lesson,
        containers,
        logs,
        app_log,
        status,
    }
}

/// Rows of log text the logs pane shows on `screen` (its height inside the borders): a page
/// for PgUp / PgDn.
pub fn log_page(screen: Rect) -> usize {
    usize::from(areas(screen).logs.height.saturating_sub(2)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_starts_with_the_page_of_its_assumed_terminal() {
        let state = crate::app::state::State::new(false);
        let (width, height) = state.size;
        assert_eq!(log_page(Rect::new(0, 0, width, height)), state.log_page);
        assert_eq!(log_page(Rect::new(0, 0, 120, 40)), 19);
    }

    #[test]
    fn every_pane_has_room_on_a_common_terminal() {
        let a = areas(Rect::new(0, 0, 120, 40));
        assert_eq!(a.status, Rect::new(0, 39, 120, 1));
        assert_eq!(a.scenarios.height + a.lesson.height, TOP_BAND_HEIGHT);
        assert_eq!(a.scenarios.height, 10, "8 scenarios and the borders");
        assert_eq!(a.containers.width, CONTAINERS_WIDTH);
        assert!(a.logs.height >= 20, "{:?}", a.logs);
        assert!(a.app_log.height >= 4);
    }

    #[test]
    fn the_top_band_folds_on_a_short_terminal() {
        let a = areas(Rect::new(0, 0, 80, 24));
        assert_eq!(a.scenarios.height, 0);
        assert_eq!(a.containers.height, 23);
        assert_eq!(a.containers.width, 40);
    }
}
