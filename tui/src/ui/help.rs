//! The `?` overlay: every key, from the keymap's own table ([`HELP`]), so it cannot drift from
//! what the keys do.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::{centered, theme};
use crate::app::keys::HELP;

/// Width of the keys column.
const KEYS_WIDTH: usize = 20;

pub fn draw(frame: &mut Frame, screen: Rect) {
    let mut lines = Vec::new();
    for (section, keys) in HELP {
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::styled(
            *section,
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ));
        for (key, meaning) in *keys {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("  {key:<KEYS_WIDTH$}"),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*meaning),
            ]));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "  ms-tui --help: command line, environment, log file",
        theme::dim(),
    ));
    // On a terminal a few rows short, every key matters more than the air between sections.
    if lines.len() + 2 > usize::from(screen.height) {
        lines.retain(|l| l.width() > 0);
    }
    let width = lines.iter().map(Line::width).max().unwrap_or(40) as u16 + 4;
    let height = lines.len() as u16 + 2;
    let area = centered(screen, width, height);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(Style::new().fg(Color::Cyan))
                .title(" Keys · Esc closes "),
        ),
        area,
    );
}
