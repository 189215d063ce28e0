//! Placeholders for part 2's panes — scenarios, sync | async latency, queues — so the layout
//! already has their room and part 2 only fills it in.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::theme;
use common::scenario::CATALOGUE;

pub fn draw_scenarios(frame: &mut Frame, area: Rect) {
    if area.is_empty() {
        return;
    }
    let lines: Vec<Line> = CATALOGUE
        .iter()
        .map(|s| Line::styled(format!("{} {}", s.id, s.title), theme::dim()))
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block(" Scenarios ")), area);
}

pub fn draw_latency(frame: &mut Frame, area: Rect) {
    placeholder(
        frame,
        area,
        " Latency · sync | async ",
        "Load, p50/p95/p99 and completion latency per scenario arrive with part 2.",
    );
}

pub fn draw_queues(frame: &mut Frame, area: Rect) {
    placeholder(
        frame,
        area,
        " Queues ",
        "Ready / unacked / consumers per queue arrive with part 2.",
    );
}

fn placeholder(frame: &mut Frame, area: Rect, title: &str, text: &str) {
    if area.is_empty() {
        return;
    }
    frame.render_widget(
        Paragraph::new(text)
            .style(theme::dim())
            .wrap(Wrap { trim: true })
            .block(block(title)),
        area,
    );
}

fn block(title: &str) -> Block<'_> {
    Block::new()
        .borders(Borders::ALL)
        .border_style(theme::dim())
        .title(title)
}
