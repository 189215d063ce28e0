//! The queue pane: the selected scenario's queues — ready and consumers (AMQP, every 500 ms),
//! unacked and rates (management API), dead letters — each with a sparkline of its ready
//! count, the timeline's markers on it — and above them the drain estimate of the whole
//! backlog.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};

use super::theme;
use super::timeline::event_color;
use crate::app::drain::{self, Drain};
use crate::app::measure::BrokerStatus;
use crate::app::state::State;
use crate::broker::PROBE_EVERY;

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    if area.is_empty() {
        return;
    }
    let m = &state.measure;
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme::dim())
        .title(" Queues · ready unacked consumers ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if let BrokerStatus::Down(error) = &m.broker {
        frame.render_widget(
            Paragraph::new(format!("broker unreachable: {error}"))
                .style(Style::new().fg(Color::Red))
                .wrap(ratatui::widgets::Wrap { trim: true }),
            inner,
        );
        return;
    }
    let watched = m.watched_queues();
    if m.queues.is_empty() {
        let text = if m.broker == BrokerStatus::Unknown {
            "connecting to the broker…".to_owned()
        } else {
            format!("probing {}…", watched.join(", "))
        };
        frame.render_widget(Paragraph::new(text).style(theme::dim()), inner);
        return;
    }
    let backlog = m.backlog_history();
    let estimate = drain::estimate(
        backlog.last().copied().unwrap_or(0),
        drain::net_rate(&backlog, PROBE_EVERY),
    );
    let drain_style = match estimate {
        Drain::Growing { .. } => Style::new().fg(Color::Red),
        Drain::Draining { .. } => Style::new().fg(Color::Green),
        Drain::Empty | Drain::Steady { .. } => theme::dim(),
    };
    frame.render_widget(
        Paragraph::new(Line::styled(estimate.describe(), drain_style)),
        Rect::new(inner.x, inner.y, inner.width, 1.min(inner.height)),
    );
    // Two rows per queue: the figures, then the sparkline; as many queues as fit.
    let mut y = inner.y + 1;
    for q in &m.queues {
        if y + 1 >= inner.bottom() {
            break;
        }
        let row = Rect::new(inner.x, y, inner.width, 1);
        let spark = Rect::new(inner.x, y + 1, inner.width, 1);
        let figures = if q.missing {
            Span::styled(" not declared yet", theme::dim())
        } else {
            let unacked = q.unacked.map_or("—".to_owned(), |n| n.to_string());
            let rates = match (q.publish_rate, q.deliver_rate) {
                (Some(p), Some(d)) => format!("  in {p:.0}/s out {d:.0}/s"),
                (Some(p), None) => format!("  in {p:.0}/s"),
                _ => String::new(),
            };
            Span::raw(format!(" {} {unacked} {}{rates}", q.ready, q.consumers))
        };
        let mut spans = vec![
            Span::styled(short(&q.name), Style::new().fg(Color::Cyan)),
            figures,
        ];
        if q.dead > 0 {
            spans.push(Span::styled(
                format!("  dlq {}", q.dead),
                Style::new().fg(Color::Red),
            ));
        }
        if q.consumers == 0 && !q.missing {
            spans.push(Span::styled(
                "  no consumer",
                Style::new().fg(Color::Yellow),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), row);
        if let Some(history) = m.ready_history(&q.name) {
            let points: Vec<u64> = history.iter().copied().collect();
            let shown = &points[points.len().saturating_sub(usize::from(spark.width))..];
            frame.render_widget(
                Sparkline::default()
                    .data(shown)
                    .style(Style::new().fg(Color::Blue)),
                spark,
            );
            draw_markers(frame, spark, state, shown.len());
        }
        y += 2;
    }
}

/// Each event on the depth history, in the column of the first probe after it.
fn draw_markers(frame: &mut Frame, spark: Rect, state: &State, shown: usize) {
    let probed = state.measure.probed_at();
    let first = probed.len().saturating_sub(shown);
    let times: Vec<_> = probed.iter().skip(first).collect();
    let Some(oldest) = times.first() else {
        return;
    };
    for event in state.events.since(**oldest) {
        let Some(i) = times.iter().position(|t| **t >= event.at) else {
            continue;
        };
        let x = spark.x + i as u16;
        if x < spark.right() {
            frame.buffer_mut()[(x, spark.y)]
                .set_char('┃')
                .set_style(Style::new().fg(event_color(event.kind)));
        }
    }
}

/// The queue's name without the peers' `_queue` suffix: the pane is narrow.
fn short(name: &str) -> &str {
    name.strip_suffix("_queue").unwrap_or(name)
}
