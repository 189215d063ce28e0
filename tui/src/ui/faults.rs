//! The active-faults panel: each fault in force, its target, its dose and the time left
//! (ticking down with the clock); faults that could not be reverted, loudly.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::theme;
use crate::app::events::fault_label;
use crate::app::faultboard::{Left, left};
use crate::app::state::State;

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    if area.is_empty() {
        return;
    }
    let board = &state.faults;
    let loud = !board.unrevertable.is_empty();
    let border = if loud {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else if board.active.is_empty() {
        theme::dim()
    } else {
        Style::new().fg(Color::Yellow)
    };
    let title = format!(" Faults · {} active · x reverts all ", board.active.len());
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(border)
        .title(title);
    let mut lines = Vec::new();
    for u in &board.unrevertable {
        lines.push(Line::styled(
            format!("✗ NOT REVERTED {}: {}", u.key, u.error),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    for f in &board.active {
        let (when, style) = match left(f, state.now) {
            Left::In(d) => (
                format!("{} s left", d.as_secs_f64().ceil() as u64),
                Style::new().fg(Color::Yellow),
            ),
            Left::Ending => ("ending…".to_owned(), theme::dim()),
            Left::Overdue => (
                "OVERDUE: still in force".to_owned(),
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
            Left::NoEnd => (
                "no end known (x reverts)".to_owned(),
                Style::new().fg(Color::Red),
            ),
        };
        let mut spans = vec![
            Span::styled("▲ ", Style::new().fg(Color::Red)),
            Span::styled(when, style),
            Span::raw("  "),
            Span::styled(
                fault_label(&f.kind, &f.target),
                Style::new().add_modifier(Modifier::BOLD),
            ),
        ];
        if let Some(prefix) = &f.route_prefix {
            spans.push(Span::styled(format!(" on {prefix}"), theme::dim()));
        }
        if !f.ours {
            spans.push(Span::styled(" · found, not ours", theme::dim()));
        }
        lines.push(Line::from(spans));
    }
    if lines.is_empty() {
        lines.push(Line::styled(
            "no active fault · i on a container injects one",
            theme::dim(),
        ));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
