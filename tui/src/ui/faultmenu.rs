//! The `i` menu (a fault for the selected container, and its duration) and the question
//! before a fault is made or every fault reverted.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::{centered, theme};
use crate::app::faultkeys::{FaultMenu, describe};
use crate::faults::FaultCommand;

pub fn draw_menu(frame: &mut Frame, screen: Rect, menu: &FaultMenu) {
    let mut lines: Vec<Line> = menu
        .choices
        .iter()
        .enumerate()
        .map(|(i, choice)| {
            if i == menu.cursor {
                Line::styled(
                    format!("› {}", choice.label),
                    Style::new().fg(Color::Black).bg(Color::Yellow),
                )
            } else {
                Line::raw(format!("  {}", choice.label))
            }
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::raw("for "),
        Span::styled(
            format!("{} s", menu.duration.as_secs()),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ),
        Span::styled("  (+ - change it; it ends by itself)", theme::dim()),
    ]));
    lines.push(Line::styled(
        "↑ ↓ choose · Enter inject · Esc close",
        theme::dim(),
    ));
    let width = lines.iter().map(Line::width).max().unwrap_or(30) as u16 + 4;
    let area = centered(screen, width, lines.len() as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(Style::new().fg(Color::Yellow))
                .title(format!(" Fault · {} ", menu.target.label())),
        ),
        area,
    );
}

pub fn draw_confirm(frame: &mut Frame, screen: Rect, command: &FaultCommand) {
    let (verb, consequence) = match command {
        FaultCommand::Apply(r) if r.kind.is_service_fault() => (
            "Inject",
            "The service applies it and clears it by itself at the end.",
        ),
        FaultCommand::Apply(_) => ("Inject", "ms-tui reverts it at the end, and on quit."),
        FaultCommand::Revert(_) | FaultCommand::RevertAll => {
            ("Now:", "Every fault found is reverted, ours or not.")
        }
        FaultCommand::RevertOurs => ("Now:", "The faults this ms-tui made are reverted."),
    };
    super::confirm::draw_question(frame, screen, verb, &describe(command), consequence);
}
