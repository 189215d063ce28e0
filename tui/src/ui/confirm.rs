//! The confirmation box of a destructive key: "Kill async/email?  y yes · n no".

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::{centered, theme};
use crate::docker::{Action, Target};

pub fn draw(frame: &mut Frame, screen: Rect, target: &Target, action: Action) {
    let consequence = match action {
        Action::Kill => "SIGKILL now, as a crash would; it stays down until started (s).",
        Action::Stop => "SIGTERM, then SIGKILL after 10 s; it stays down until started (s).",
        Action::Pause => "Frozen: its connections stay open but nothing answers.",
        Action::Restart => "Stopped, then started again.",
        Action::Start | Action::Unpause => "",
    };
    let mut verb = action.verb().to_string();
    if let Some(first) = verb.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    draw_question(frame, screen, &verb, &target.label, consequence);
}

/// `"<Verb> <subject>?"`, the consequence, and the y / n keys, in a red box: every question a
/// destructive key asks has this one shape.
pub fn draw_question(
    frame: &mut Frame,
    screen: Rect,
    verb: &str,
    subject: &str,
    consequence: &str,
) {
    let lines = vec![
        Line::from(vec![
            Span::styled(
                format!("{verb} "),
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
            Span::styled(subject, Style::new().add_modifier(Modifier::BOLD)),
            Span::raw("?"),
        ]),
        Line::styled(consequence, theme::dim()),
        Line::raw(""),
        Line::from(vec![
            Span::styled(" y ", Style::new().fg(Color::Black).bg(Color::Red)),
            Span::raw(" yes   "),
            Span::styled(" n ", Style::new().fg(Color::Black).bg(Color::Gray)),
            Span::raw(" no (Esc)"),
        ]),
    ];
    let width = lines.iter().map(Line::width).max().unwrap_or(30) as u16 + 4;
    let area = centered(screen, width, lines.len() as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(Style::new().fg(Color::Red))
                .title(" Confirm "),
        ),
        area,
    );
}
