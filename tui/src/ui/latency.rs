//! The latency pane: the selected scenario in sync and async side by side — a sparkline of
//! recent p50, the run's p50/p95/p99, target vs achieved rate, answers by status, the
//! completion latency (until the flow's last completion event), and the last one-shot fire.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};

use super::theme;
use crate::app::measure::Lane;
use crate::app::state::State;
use crate::load::stats::format_latency;
use common::Mode;
use common::scenario;

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    if area.is_empty() {
        return;
    }
    let m = &state.measure;
    // One scale for both sparklines, so the heights compare: async's few milliseconds
    // next to sync's half second should look as small as they are.
    let scale = Mode::ALL
        .iter()
        .filter_map(|mode| m.lane(m.selected, *mode))
        .flat_map(|lane| lane.recent.iter().copied())
        .max()
        .unwrap_or(0);
    let mut title = format!(" Latency · {} · sync | async ", m.selected);
    if scale > 0 {
        title.push_str(&format!(
            "· bars: p50 up to {} ",
            format_latency(std::time::Duration::from_micros(scale))
        ));
    }
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme::dim())
        .title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [sync, async_] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .spacing(1)
            .areas(inner);
    for (mode, column) in [(Mode::Sync, sync), (Mode::Async, async_)] {
        draw_lane(frame, column, state, mode, scale);
    }
}

fn draw_lane(frame: &mut Frame, area: Rect, state: &State, mode: Mode, scale: u64) {
    if area.is_empty() {
        return;
    }
    let m = &state.measure;
    let request = scenario::get(m.selected).request(mode);
    let lane = m.lane(m.selected, mode);
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{mode} "), Style::new().fg(mode_color(mode))),
        Span::styled(
            format!(":{}{}", request.port(mode), request.path),
            theme::dim(),
        ),
    ])];
    let experiment = state
        .experiments
        .running
        .as_ref()
        .map(|r| r.plan.name.as_str());
    lines.extend(figures(lane, experiment));
    let text_rows = lines.len() as u16;
    let [text, spark] =
        Layout::vertical([Constraint::Length(text_rows), Constraint::Fill(1)]).areas(area);
    frame.render_widget(Paragraph::new(lines), text);
    if let Some(lane) = lane.filter(|l| !l.recent.is_empty()) {
        let points: Vec<u64> = lane.recent.iter().copied().collect();
        // The newest points at the right edge, as many as fit.
        let shown = &points[points.len().saturating_sub(usize::from(spark.width))..];
        frame.render_widget(
            Sparkline::default()
                .data(shown)
                .max(scale)
                .style(Style::new().fg(mode_color(mode))),
            spark,
        );
    }
}

/// The lane's figures; with none of its own while an experiment runs, where the experiment's
/// figures are instead (its load is not the `l` load these are).
fn figures(lane: Option<&Lane>, experiment: Option<&str>) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    match lane.and_then(|l| l.total.as_ref()) {
        Some(total) => {
            let target = lane.map_or(0.0, |l| l.target);
            lines.push(Line::raw(format!(
                "rate {target:.0}/s → {:.1}/s",
                total.achieved_rate
            )));
            lines.push(Line::raw(format!(
                "p50 {}  p95 {}",
                format_latency(total.p50),
                format_latency(total.p95)
            )));
            lines.push(Line::raw(format!(
                "p99 {}  max {}",
                format_latency(total.p99),
                format_latency(total.max)
            )));
            let style = if total.failed > 0 {
                Style::new().fg(Color::Red)
            } else {
                theme::dim()
            };
            lines.push(Line::styled(total.labels(), style));
        }
        None => match experiment {
            Some(name) => lines.push(Line::styled(
                format!("experiment {name}: see the timeline"),
                Style::new().fg(Color::Yellow),
            )),
            None => lines.push(Line::styled("no load yet: l starts it", theme::dim())),
        },
    }
    if let Some(done) = lane.and_then(|l| l.completion.as_ref()) {
        lines.push(Line::styled(
            format!(
                "done p50 {} p99 {} ({})",
                format_latency(done.p50),
                format_latency(done.p99),
                done.count
            ),
            Style::new().fg(Color::Green),
        ));
    }
    if let Some(fired) = lane.and_then(|l| l.fired.as_ref()) {
        let style = if fired.failed > 0 {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        };
        let done = lane
            .and_then(|l| l.last_completion)
            .map(|d| format!(", done {}", format_latency(d)))
            .unwrap_or_default();
        lines.push(Line::styled(
            format!(
                "fired: {} in {}{done}",
                fired.labels(),
                format_latency(fired.max)
            ),
            style,
        ));
    }
    lines
}

/// Sync yellow, async cyan, wherever a mode is drawn.
pub fn mode_color(mode: Mode) -> Color {
    match mode {
        Mode::Sync => Color::Yellow,
        Mode::Async => Color::Cyan,
    }
}
