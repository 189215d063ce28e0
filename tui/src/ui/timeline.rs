//! The timeline: a chart per mode, sync above async on the same time axis (the last
//! [`WINDOW_SECONDS`], now at the right edge) — ack p50 and p99 of each second, and async's
//! completion p99 — with a strip of answers per second under each (red where there were
//! errors), and a marker line with a short label for every event: cause above effect.
//!
//! Each chart has its own latency scale (its labels say it): on one scale async's few
//! milliseconds would be a flat line under sync's seconds. The latency pane's sparklines
//! share theirs, for the comparison at a glance.

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType};

use super::latency::mode_color;
use super::theme;
use crate::app::events::EventKind;
use crate::app::series::Second;
use crate::app::state::State;
use crate::load::stats::format_latency;
use common::Mode;

/// The time the charts span.
pub const WINDOW_SECONDS: u64 = 180;
/// The y labels' width: the chart's plot starts this far right (plus its axis line), which is
/// where markers and the rate strip line up with it.
const Y_LABEL_WIDTH: u16 = 8;
/// The strip's bars, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    if area.is_empty() {
        return;
    }
    let [sync, asynchronous] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Fill(1)]).areas(area);
    draw_mode(frame, sync, state, Mode::Sync);
    draw_mode(frame, asynchronous, state, Mode::Async);
}

/// The colour of an event's marker, here, in the logs and on the queue pane.
pub fn event_color(kind: EventKind) -> Color {
    match kind {
        EventKind::FaultStart | EventKind::FaultFailed => Color::Red,
        EventKind::FaultEnd => Color::Green,
        EventKind::Container => Color::LightRed,
        EventKind::Knob => Color::Magenta,
        EventKind::Load => Color::Blue,
    }
}

/// Seconds from `now` to `t` (negative: before).
fn relative(t: SystemTime, now: SystemTime) -> f64 {
    match t.duration_since(now) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn draw_mode(frame: &mut Frame, area: Rect, state: &State, mode: Mode) {
    if area.height < 3 {
        return;
    }
    let window = WINDOW_SECONDS as f64;
    let seconds: Vec<(f64, &Second)> = state
        .series
        .mode(mode)
        .iter()
        .map(|s| {
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(s.at);
            (relative(at, state.now), s)
        })
        .filter(|(x, _)| *x >= -window && *x <= 1.0)
        .collect();
    let line = |f: fn(&Second) -> Option<Duration>| -> Vec<(f64, f64)> {
        seconds
            .iter()
            .filter_map(|(x, s)| f(s).map(|d| (x.min(0.0), millis(d))))
            .collect()
    };
    let (p50, p99, done) = (line(|s| s.p50), line(|s| s.p99), line(|s| s.done_p99));
    let top = p50
        .iter()
        .chain(&p99)
        .chain(&done)
        .map(|(_, y)| *y)
        .fold(0.0, f64::max);
    let y_max = (top * 1.15).max(1.0);

    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme::dim())
        .title(title(
            state,
            mode,
            seconds
                .iter()
                .rev()
                .find(|(_, s)| s.answers > 0)
                .map(|(_, s)| *s),
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let strip_rows = u16::from(inner.height >= 6);
    let [plot, strip] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(strip_rows)]).areas(inner);

    let color = mode_color(mode);
    let mut datasets = vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(Color::Magenta))
            .data(&p99),
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(color))
            .data(&p50),
    ];
    if mode == Mode::Async {
        datasets.push(
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(Color::Green))
                .data(&done),
        );
    }
    let y_label = |ms: f64| {
        let text = format_latency(Duration::from_secs_f64(ms / 1000.0));
        Line::raw(format!("{text:>w$}", w = usize::from(Y_LABEL_WIDTH)))
    };
    let minutes = WINDOW_SECONDS / 60;
    let chart = Chart::new(datasets)
        .x_axis(
            Axis::default()
                .bounds([-window, 0.0])
                .style(theme::dim())
                .labels([
                    format!("-{minutes}m"),
                    format!("-{}s", WINDOW_SECONDS / 2),
                    "now".to_owned(),
                ]),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, y_max])
                .style(theme::dim())
                .labels([y_label(0.0), y_label(y_max / 2.0), y_label(y_max)]),
        );
    frame.render_widget(chart, plot);
    let graph = graph_area(plot);
    draw_markers(frame.buffer_mut(), graph, state);
    if !strip.is_empty() {
        draw_strip(frame.buffer_mut(), strip, graph, &seconds);
    }
}

/// Where `Chart` draws its plot inside `area`: right of the y labels and the axis line, above
/// the x axis line and its labels (ratatui's own layout, for these labels).
fn graph_area(area: Rect) -> Rect {
    let left = Y_LABEL_WIDTH.min(area.width / 3) + 1;
    Rect::new(
        area.x + left,
        area.y,
        area.width.saturating_sub(left),
        area.height.saturating_sub(2),
    )
}

/// The column of the plot that `x` seconds from now falls in, if it is on it.
fn column(x: f64, graph: Rect) -> Option<u16> {
    let window = WINDOW_SECONDS as f64;
    if graph.width == 0 || !(-window..=1.0).contains(&x) {
        return None;
    }
    let share = (x.min(0.0) + window) / window;
    Some(graph.x + (share * f64::from(graph.width - 1)).round() as u16)
}

/// A dotted line for each event where nothing is drawn yet, and its label on the highest row
/// where it overlaps no other label (the newest on top when the rows run out); a label that
/// would run off the right edge ends there instead.
fn draw_markers(buf: &mut Buffer, graph: Rect, state: &State) {
    if graph.is_empty() {
        return;
    }
    let shown: Vec<_> = state
        .events
        .iter()
        .filter_map(|e| column(relative(e.at, state.now), graph).map(|col| (col, e)))
        .collect();
    for (col, event) in &shown {
        let style = Style::new().fg(event_color(event.kind));
        for y in graph.top()..graph.bottom() {
            let cell = &mut buf[(*col, y)];
            if cell.symbol() == " " {
                cell.set_char('┊').set_style(style);
            }
        }
    }
    // Spans taken on each row, as (start, end) columns.
    let mut taken: Vec<Vec<(u16, u16)>> = vec![Vec::new(); usize::from(graph.height)];
    for (k, (col, event)) in shown.iter().enumerate() {
        let text = format!("{}{}", event.kind.symbol(), event.label);
        let width = (text.chars().count() as u16).min(graph.width);
        let start = (*col).min(graph.right().saturating_sub(width)).max(graph.x);
        let end = start + width;
        let free = taken
            .iter()
            .position(|row| row.iter().all(|(a, b)| end <= *a || start >= *b));
        let row = free.unwrap_or(k % taken.len());
        taken[row].push((start, end));
        buf.set_stringn(
            start,
            graph.y + row as u16,
            &text,
            usize::from(width),
            Style::new()
                .fg(event_color(event.kind))
                .add_modifier(Modifier::BOLD),
        );
    }
}

/// Answers per second as bars under the plot's columns, red where a second had errors; the
/// peak on the left, where the y labels are above.
fn draw_strip(buf: &mut Buffer, strip: Rect, graph: Rect, seconds: &[(f64, &Second)]) {
    let mut columns: Vec<(u64, u64)> = vec![(0, 0); usize::from(graph.width)];
    for (x, s) in seconds {
        if let Some(col) = column(*x, graph) {
            let c = &mut columns[usize::from(col - graph.x)];
            c.0 = c.0.max(s.answers);
            c.1 += s.errors;
        }
    }
    let peak = columns.iter().map(|c| c.0).max().unwrap_or(0);
    let label = format!(
        "{:>w$}",
        format!("{peak}/s"),
        w = usize::from(Y_LABEL_WIDTH)
    );
    buf.set_stringn(
        strip.x,
        strip.y,
        &label,
        usize::from(graph.x.saturating_sub(strip.x)),
        theme::dim(),
    );
    if peak == 0 {
        return;
    }
    for (i, (answers, errors)) in columns.iter().enumerate() {
        if *answers == 0 && *errors == 0 {
            continue;
        }
        let level = ((*answers as f64 / peak as f64) * (BARS.len() - 1) as f64).round() as usize;
        let style = if *errors > 0 {
            Style::new().fg(Color::Red)
        } else {
            Style::new().fg(Color::Blue)
        };
        let x = graph.x + i as u16;
        if x < strip.right() {
            buf[(x, strip.y)].set_char(BARS[level]).set_style(style);
        }
    }
}

/// ` sync · S3 · last s: p50 1.02 s · p99 1.10 s · 20/s · 0 err/s `: the newest second's
/// figures, which also say which colour is which line.
fn title(state: &State, mode: Mode, newest: Option<&Second>) -> Line<'static> {
    let m = &state.measure;
    let scenario = m.loading.unwrap_or(m.selected);
    let mut spans = vec![Span::styled(
        format!(" {mode} · {scenario} · "),
        Style::new()
            .fg(mode_color(mode))
            .add_modifier(Modifier::BOLD),
    )];
    let Some(s) = newest else {
        spans.push(Span::styled(
            format!(
                "no answers in the last {} min (l starts load) ",
                WINDOW_SECONDS / 60
            ),
            theme::dim(),
        ));
        return Line::from(spans);
    };
    let latency = |d: Option<Duration>| d.map_or("—".to_owned(), format_latency);
    spans.push(Span::raw("last s: "));
    spans.push(Span::styled(
        format!("p50 {}", latency(s.p50)),
        Style::new().fg(mode_color(mode)),
    ));
    spans.push(Span::raw(" · "));
    spans.push(Span::styled(
        format!("p99 {}", latency(s.p99)),
        Style::new().fg(Color::Magenta),
    ));
    if mode == Mode::Async {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            format!("done p99 {}", latency(s.done_p99)),
            Style::new().fg(Color::Green),
        ));
    }
    if let Some(depth) = s.queue_depth {
        spans.push(Span::raw(format!(" · queue {depth}")));
    }
    spans.push(Span::raw(format!(" · {}/s · ", s.answers)));
    let errors = if s.errors > 0 {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        theme::dim()
    };
    spans.push(Span::styled(format!("{} err/s ", s.errors), errors));
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_span_the_window_and_now_is_the_right_edge() {
        let graph = Rect::new(10, 0, 181, 5);
        assert_eq!(column(0.0, graph), Some(190));
        assert_eq!(column(-(WINDOW_SECONDS as f64), graph), Some(10));
        assert_eq!(column(-90.0, graph), Some(100));
        assert_eq!(column(-181.0, graph), None);
        assert_eq!(column(0.5, graph), Some(190), "a clock a little behind");
    }
}
