//! The scenario pane: S1–S8 from the catalogue, the selected one marked, the one under load
//! with its rate; and the lesson strip under the top band, the selected one's lesson at full
//! width (the longest is 134 characters: two rows on an 80-column terminal).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::theme;
use crate::app::state::State;
use common::scenario::{self, CATALOGUE};

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    if area.is_empty() {
        return;
    }
    let m = &state.measure;
    let lines: Vec<Line> = CATALOGUE
        .iter()
        .map(|s| {
            let selected = s.id == m.selected;
            let marker = if selected { "›" } else { " " };
            let style = if selected {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
            let mut spans = vec![Span::styled(format!("{marker}{} {}", s.id, s.title), style)];
            if m.loading == Some(s.id) {
                spans.push(Span::styled(
                    format!("  ⏵ {}/s", m.rate),
                    Style::new().fg(Color::Green),
                ));
            }
            Line::from(spans)
        })
        .collect();
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme::dim())
        .title(" Scenarios · 1–8 Enter l ± ");
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

pub fn draw_lesson(frame: &mut Frame, area: Rect, state: &State) {
    if area.is_empty() {
        return;
    }
    let entry = scenario::get(state.measure.selected);
    let line = Line::from(vec![
        Span::styled(
            format!(" {} {} · ", entry.id, entry.title),
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ),
        Span::styled(entry.lesson, Style::new().fg(Color::Cyan)),
    ]);
    frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: true }), area);
}
