//! The logs pane: every container's lines interleaved (or the selected one's), a colour per
//! service, the `/` filter with its matches highlighted, follow or a scrolled-back position;
//! and the timeline's events as separator lines at the moment they happened.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::theme;
use super::timeline::event_color;
use crate::app::events::Event;
use crate::app::logbuf::Scope;
use crate::app::state::{Pane, State};
use crate::docker::{Group, LogLine};

/// Inner width from which lines show milliseconds (a hop's delay is visible in them).
const WIDE: u16 = 90;

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    if area.is_empty() {
        return;
    }
    let scope = state.log_scope();
    let height = usize::from(area.height.saturating_sub(2));
    let window = state.logs.window(scope, height);

    let mut title = vec![Span::raw(" Logs · ")];
    title.push(match scope {
        Scope::All => Span::raw("all"),
        Scope::Only(group, service) => Span::styled(
            format!("{}/{service}", group.as_str()),
            Style::new().fg(theme::service_color(service)),
        ),
    });
    let filter = state.logs.filter();
    if !filter.is_empty() {
        title.push(Span::raw(format!(
            " · filter \"{filter}\" {} lines",
            window.matching
        )));
    }
    if state.logs.follow {
        title.push(Span::styled(" · follow", theme::dim()));
    } else {
        title.push(Span::styled(
            format!(" · paused ↑{} (G follows)", state.logs.scroll_back()),
            Style::new().fg(Color::Yellow),
        ));
    }
    if state.logs.dropped > 0 {
        title.push(Span::styled(
            format!(" · {} dropped", state.logs.dropped),
            Style::new().fg(Color::Red),
        ));
    }
    title.push(Span::raw(" "));
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme::focused_border(state.focus == Pane::Logs))
        .title(Line::from(title));

    if window.lines.is_empty() {
        let text = if state.logs.is_empty() {
            "No log lines yet.".to_string()
        } else {
            format!("No line matches \"{filter}\" (Esc clears the filter).")
        };
        frame.render_widget(Paragraph::new(text).style(theme::dim()).block(block), area);
        return;
    }
    let wide = area.width.saturating_sub(2) >= WIDE;
    let inner_width = usize::from(area.width.saturating_sub(2));
    // Events between the first line shown and the newest (after the newest only while
    // following: scrolled back, the lines after the view are not on screen either).
    let first = window.lines.first().map_or("", |l| l.time.as_str());
    let stamped: Vec<(String, &Event)> = state
        .events
        .iter()
        .map(|e| (clock_time(e), e))
        .filter(|(t, _)| t.as_str() >= first)
        .collect();
    let mut events = stamped.iter().peekable();
    let mut lines: Vec<Line> = Vec::with_capacity(window.lines.len() + stamped.len());
    for l in &window.lines {
        while let Some((t, e)) = events.next_if(|(t, _)| t.as_str() < l.time.as_str()) {
            lines.push(separator(t, e, inner_width));
        }
        lines.push(render_line(l, filter, wide));
    }
    if state.logs.follow {
        lines.extend(events.map(|(t, e)| separator(t, e, inner_width)));
    }
    // Separators take rows too: the oldest lines give way, the newest stay at the bottom.
    let extra = lines.len().saturating_sub(height);
    lines.drain(..extra);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// An event's time as the log lines print theirs (`HH:MM:SS.mmm`, UTC), so the two sort
/// together (within a day).
fn clock_time(event: &Event) -> String {
    chrono::DateTime::<chrono::Utc>::from(event.at)
        .format("%H:%M:%S%.3f")
        .to_string()
}

/// `── 10:00:05 ▲ latency +1000 ms sync/search ─────`.
fn separator(time: &str, event: &Event, width: usize) -> Line<'static> {
    let text = format!(
        "── {} {}{} ",
        time.get(..8).unwrap_or(time),
        event.kind.symbol(),
        event.label
    );
    let fill = width.saturating_sub(text.chars().count());
    Line::styled(
        format!("{text}{}", "─".repeat(fill)),
        Style::new()
            .fg(event_color(event.kind))
            .add_modifier(Modifier::BOLD),
    )
}

/// `12:00:01.234 email/a     INFO  text`: time, who, level, then the text.
fn render_line<'a>(line: &'a LogLine, filter: &str, wide: bool) -> Line<'a> {
    let time = if wide {
        line.time.as_str()
    } else {
        line.time.get(..8).unwrap_or(&line.time)
    };
    let who = match line.group {
        Group::Sync => format!("{}/s", line.service),
        Group::Async => format!("{}/a", line.service),
        Group::Infra => line.service.clone(),
    };
    let (level, level_style) = theme::level_text(line.level, line.stderr);
    let mut spans = vec![
        Span::styled(time, theme::dim()),
        Span::raw(" "),
        Span::styled(
            format!("{who:<11} "),
            Style::new().fg(theme::service_color(&line.service)),
        ),
    ];
    if !level.is_empty() {
        spans.push(Span::styled(format!("{level} "), level_style));
    }
    let text_style = if line.level.is_none() {
        level_style
    } else {
        Style::new()
    };
    spans.extend(highlight(&line.text, filter, text_style));
    Line::from(spans)
}

/// Splits `text` so the filter's matches stand out. Only for ASCII text: lower-casing other
/// scripts can change byte offsets, and a wrong highlight is worse than none.
fn highlight<'a>(text: &'a str, filter: &str, style: Style) -> Vec<Span<'a>> {
    if filter.is_empty() || !text.is_ascii() || !filter.is_ascii() {
        return vec![Span::styled(text, style)];
    }
    let lower = text.to_ascii_lowercase();
    let mark = style.add_modifier(Modifier::REVERSED);
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(found) = lower[at..].find(filter) {
        let start = at + found;
        let end = start + filter.len();
        if start > at {
            spans.push(Span::styled(&text[at..start], style));
        }
        spans.push(Span::styled(&text[start..end], mark));
        at = end;
    }
    if at < text.len() {
        spans.push(Span::styled(&text[at..], style));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlight_marks_every_match() {
        let spans = highlight("a cid=X1 and cid=x1", "x1", Style::new());
        let marked: Vec<&str> = spans
            .iter()
            .filter(|s| s.style.add_modifier.contains(Modifier::REVERSED))
            .map(|s| s.content.as_ref())
            .collect();
        assert_eq!(marked, ["X1", "x1"]);
        let all: String = spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(all, "a cid=X1 and cid=x1");
    }
}
