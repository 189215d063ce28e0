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
//! The top band holds the scenario, latency and queue panes. On a tall terminal (50 rows) the
//! timeline takes the upper part of the logs' column (`t` hides it) and the active faults sit
//! under the containers while there are any. On a terminal too short for all of it (80×24)
//! the [views](crate::app::views) share the screen instead: measure (scenarios, latency,
//! queues, faults), timeline (the two charts), operate (containers, faults, logs).

use ratatui::layout::{Constraint, Layout, Rect};

use crate::app::views::{SMALL_HEIGHT, View};

/// Terminal rows below which the top band folds away (and the views take over).
pub const TOP_BAND_MIN_HEIGHT: u16 = SMALL_HEIGHT;
/// The top band's height when shown: 8 scenarios plus borders, then two rows for the
/// selected scenario's lesson.
pub const TOP_BAND_HEIGHT: u16 = 12;
const LESSON_HEIGHT: u16 = 2;
/// Width of the containers pane on a wide terminal: the table's columns, no more.
pub const CONTAINERS_WIDTH: u16 = 55;
/// Rows of the logs' column from which the timeline fits above the logs (on the whole
/// screen); below it, the timeline view shows it.
pub const TIMELINE_MIN_COLUMN: u16 = 30;
/// The faults panel grows with its faults up to this many rows (borders included).
const FAULTS_MAX_HEIGHT: u16 = 8;

/// The rectangle of every pane; an empty `Rect` means the pane is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
    /// The sync and async charts.
    pub timeline: Rect,
    pub faults: Rect,
}

/// The whole screen's layout with the timeline on and no fault: what the app task measures
/// the logs' page on.
pub fn areas(screen: Rect) -> Areas {
    areas_for(screen, View::All, true, 0)
}

/// The layout of `view` on `screen`, the timeline shown where there is room if `chart`, with
/// `fault_rows` faults to list (the whole screen shows the panel only when there are some).
pub fn areas_for(screen: Rect, view: View, chart: bool, fault_rows: usize) -> Areas {
    let [main, status] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(screen);
    let mut a = match view.shown(screen.height) {
        View::All => whole(main, chart, fault_rows),
        View::Measure => measure(main),
        View::Timeline => Areas {
            timeline: main,
            ..Areas::default()
        },
        View::Operate => operate(main, fault_rows.max(1)),
    };
    a.status = status;
    a
}

fn faults_height(rows: usize) -> u16 {
    (u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2)).min(FAULTS_MAX_HEIGHT)
}

/// Today's screen: the measurement band on top, operations below.
fn whole(main: Rect, chart: bool, fault_rows: usize) -> Areas {
    let [top, bottom] =
        Layout::vertical([Constraint::Length(TOP_BAND_HEIGHT), Constraint::Fill(1)]).areas(main);
    let [top, lesson] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(LESSON_HEIGHT)]).areas(top);
    let [scenarios, latency, queues] = Layout::horizontal([
        Constraint::Percentage(28),
        Constraint::Percentage(44),
        Constraint::Percentage(28),
    ])
    .areas(top);
    let mut a = operations(
        bottom,
        fault_rows,
        chart && bottom.height >= TIMELINE_MIN_COLUMN,
    );
    a.scenarios = scenarios;
    a.latency = latency;
    a.queues = queues;
    a.lesson = lesson;
    a
}

/// Containers (and faults) on the left; timeline, logs and the app log on the right.
fn operations(area: Rect, fault_rows: usize, timeline: bool) -> Areas {
    let left = if area.width >= 2 * CONTAINERS_WIDTH {
        Constraint::Length(CONTAINERS_WIDTH)
    } else {
        Constraint::Percentage(50)
    };
    let [left, right] = Layout::horizontal([left, Constraint::Fill(1)]).areas(area);
    let faults = if fault_rows > 0 {
        faults_height(fault_rows)
    } else {
        0
    };
    let [containers, faults] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(faults)]).areas(left);
    let chart_height = if timeline { right.height * 11 / 20 } else { 0 };
    let [timeline, right] =
        Layout::vertical([Constraint::Length(chart_height), Constraint::Fill(1)]).areas(right);
    let app_log_height = if right.height >= 20 || timeline.height > 0 {
        6
    } else {
        4
    };
    let [logs, app_log] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(app_log_height)]).areas(right);
    Areas {
        containers,
        faults,
        timeline,
        logs,
        app_log,
        ..Areas::default()
    }
}

/// The measure view: scenarios and latency on top, the lesson, then queues beside faults.
fn measure(main: Rect) -> Areas {
    let top_height = ((main.height.saturating_sub(LESSON_HEIGHT)) * 11 / 20).max(10);
    let [top, lesson, bottom] = Layout::vertical([
        Constraint::Length(top_height),
        Constraint::Length(LESSON_HEIGHT),
        Constraint::Fill(1),
    ])
    .areas(main);
    let [scenarios, latency] =
        Layout::horizontal([Constraint::Percentage(28), Constraint::Fill(1)]).areas(top);
    let [queues, faults] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Fill(1)]).areas(bottom);
    Areas {
        scenarios,
        latency,
        lesson,
        queues,
        faults,
        ..Areas::default()
    }
}

/// The operate view: today's small-terminal screen, with the faults under the containers.
fn operate(main: Rect, fault_rows: usize) -> Areas {
    operations(main, fault_rows, false)
}

/// Rows of log text the logs pane shows on `screen` (its height inside the borders): a page
/// for PgUp / PgDn.
/// A small terminal's logs are in the operate view.
pub fn log_page(screen: Rect) -> usize {
    let view = if screen.height < SMALL_HEIGHT {
        View::Operate
    } else {
        View::All
    };
    let logs = areas_for(screen, view, true, 0).logs;
    usize::from(logs.height.saturating_sub(2)).max(1)
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
        let a = areas_for(Rect::new(0, 0, 80, 24), View::Operate, true, 0);
        assert_eq!(a.scenarios.height, 0);
        assert_eq!(a.containers.height + a.faults.height, 23);
        assert_eq!(a.faults.height, 3, "one row: no active fault");
        assert_eq!(a.containers.width, 40);
    }

    #[test]
    fn a_short_terminal_starts_with_the_measure_view() {
        let a = areas(Rect::new(0, 0, 80, 24));
        assert_eq!(a.containers, Rect::default());
        assert_eq!(a.scenarios.height, 11);
        assert!(a.latency.width >= 50, "{:?}", a.latency);
        assert_eq!(a.queues.height, 10);
        assert_eq!(a.faults.height, 10);
        let t = areas_for(Rect::new(0, 0, 80, 24), View::Timeline, true, 0);
        assert_eq!(t.timeline, Rect::new(0, 0, 80, 23));
    }

    #[test]
    fn a_tall_terminal_keeps_the_measurement_band_with_the_timeline() {
        let a = areas_for(Rect::new(0, 0, 200, 50), View::All, true, 2);
        assert_eq!(a.scenarios.height, 10);
        assert!(a.latency.width > 80 && a.queues.width > 50, "{a:?}");
        assert_eq!(a.timeline.height, 20);
        assert_eq!(a.faults.height, 4);
        assert!(a.logs.height >= 10, "{:?}", a.logs);
        let hidden = areas_for(Rect::new(0, 0, 200, 50), View::All, false, 0);
        assert_eq!(hidden.timeline.height, 0);
        assert_eq!(hidden.faults.height, 0);
    }
}
