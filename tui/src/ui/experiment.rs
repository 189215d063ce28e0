//! The experiment overlays: the `e` picker (each built-in with its lesson), the progress of
//! the run in progress, the question before stopping it, and the verdict when it ends.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::{centered, theme};
use crate::app::experiment::{Finished, Running};
use crate::app::experimentkeys::Picker;
use crate::experiment::result::{ModeResult, SecondRow};
use crate::experiment::spec::{Experiment, LoadShape};
use crate::load::stats::format_latency;

/// The overlays' width at most: a lesson wraps within it.
const WIDTH: u16 = 84;

fn boxed(frame: &mut Frame, screen: Rect, lines: Vec<Line<'_>>, title: String, color: Color) {
    let width = (lines.iter().map(Line::width).max().unwrap_or(30) as u16 + 4).min(WIDTH + 4);
    let area = centered(screen, width, lines.len() as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(Style::new().fg(color))
                .title(title),
        ),
        area,
    );
}

/// Words of `text` in lines of at most `width` characters (a longer word has a line of its
/// own).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `s7 · sync + async · 5/s for 30 s, grace 40 s · 1 step`.
fn plan_line(plan: &Experiment) -> String {
    let rounds: Vec<String> = plan
        .rounds
        .iter()
        .map(|r| {
            r.lanes
                .iter()
                .map(|l| l.key.as_str())
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect();
    let load = match plan.load {
        LoadShape::Rate { rate, duration } => format!("{rate}/s for {} s", duration.as_secs()),
        LoadShape::Burst { requests } => format!("a burst of {requests}"),
    };
    let steps = match plan.steps.len() {
        0 => "no step".to_owned(),
        1 => "1 step".to_owned(),
        n => format!("{n} steps"),
    };
    format!(
        "{} · {} · {load}, grace {} s · {steps}",
        plan.scenario.as_str(),
        rounds.join(" then "),
        plan.grace.as_secs()
    )
}

pub fn draw_picker(frame: &mut Frame, screen: Rect, picker: &Picker) {
    let text_width = usize::from(WIDTH.min(screen.width.saturating_sub(4))).saturating_sub(4);
    let name_width = picker
        .plans
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(8);
    let selected = Style::new().fg(Color::Black).bg(Color::Yellow);
    let entry = |i: usize, plan: &Experiment, full: bool| -> Vec<Line<'static>> {
        let here = i == picker.cursor;
        let name = if here {
            Line::styled(format!("› {}", plan.name), selected)
        } else {
            Line::styled(
                format!("  {}", plan.name),
                Style::new().add_modifier(Modifier::BOLD),
            )
        };
        if !full && !here {
            // One line each: the name, then as much of the lesson as fits.
            let room = text_width.saturating_sub(name_width + 4);
            let mut lesson: String = plan.lesson.chars().take(room).collect();
            if plan.lesson.chars().count() > room {
                lesson.pop();
                lesson.push('…');
            }
            return vec![Line::from(vec![
                Span::styled(
                    format!("  {:<name_width$}  ", plan.name),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::styled(lesson, theme::dim()),
            ])];
        }
        let mut lines = vec![name];
        let style = if here { Style::new() } else { theme::dim() };
        for l in wrap(&plan.lesson, text_width.saturating_sub(4)) {
            lines.push(Line::styled(format!("    {l}"), style));
        }
        if here {
            lines.push(Line::styled(
                format!("    {}", plan_line(plan)),
                Style::new().fg(Color::Cyan),
            ));
        }
        lines
    };
    let footer = [
        Line::raw(""),
        Line::styled(
            "↑ ↓ choose · Enter run it (on the timeline; a report in results/) · Esc close",
            theme::dim(),
        ),
    ];
    let build = |full: bool| -> Vec<Line<'static>> {
        let mut lines: Vec<Line> = picker
            .plans
            .iter()
            .enumerate()
            .flat_map(|(i, p)| entry(i, p, full))
            .collect();
        lines.extend(footer.iter().cloned());
        lines
    };
    let mut lines = build(true);
    // Every lesson in full where the screen has the rows; else the chosen one only.
    if lines.len() + 2 > usize::from(screen.height) {
        lines = build(false);
    }
    boxed(
        frame,
        screen,
        lines,
        " Experiments · Enter runs ".to_owned(),
        Color::Yellow,
    )
}

fn lane_line(key: &str, row: &SecondRow) -> Line<'static> {
    let p99 = row
        .ack_p99_ms
        .map_or("—".into(), |ms| format_latency(millis(ms)));
    let queue = row
        .queue_depth
        .map_or(String::new(), |d| format!(" · queue {d}"));
    let errors = if row.errors > 0 {
        Style::new().fg(Color::Red)
    } else {
        theme::dim()
    };
    Line::from(vec![
        Span::styled(
            format!("  {key:<10} "),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "{}/s answered · {} accepted · ack p99 {p99}{queue} · ",
            row.answered, row.accepted
        )),
        Span::styled(format!("{} errors", row.errors), errors),
    ])
}

pub fn draw_progress(frame: &mut Frame, screen: Rect, running: &Running) {
    let plan = &running.plan;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(
                running.progress(),
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!("   {}", plan_line(plan)), theme::dim()),
        ]),
        Line::raw(""),
    ];
    if running.lanes.is_empty() {
        lines.push(Line::styled("  no second of load yet", theme::dim()));
    }
    for (key, row) in &running.lanes {
        lines.push(lane_line(key, row));
    }
    lines.push(Line::raw(""));
    if running.recent.is_empty() {
        lines.push(Line::styled("  no step yet", theme::dim()));
    }
    for event in &running.recent {
        let color = match event.kind.as_str() {
            "fault" | "error" => Color::Red,
            "revert" => Color::Green,
            _ => Color::Magenta,
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {:>6.1}s ", event.t_s), theme::dim()),
            Span::styled(format!("{:<7}", event.kind), Style::new().fg(color)),
            Span::raw(format!("{} {}", event.target, event.detail)),
        ]));
    }
    lines.push(Line::raw(""));
    let keys = if running.stopping {
        "stopping: every fault and knob is reverted, then the partial report · e close"
    } else {
        "Esc or s stop it (y/n first) · e, Enter close (it keeps running)"
    };
    lines.push(Line::styled(keys, theme::dim()));
    boxed(
        frame,
        screen,
        lines,
        format!(" Experiment · {} ", plan.name),
        Color::Yellow,
    )
}

pub fn draw_confirm_stop(frame: &mut Frame, screen: Rect, running: &Running) {
    super::confirm::draw_question(
        frame,
        screen,
        "Stop experiment",
        &running.plan.name,
        "Its faults and knobs are reverted; the partial report is written, marked interrupted.",
    );
}

fn millis(ms: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0)
}

fn mode_line(key: &str, m: &ModeResult) -> String {
    let done = m
        .done
        .map_or("—".into(), |d| format_latency(millis(d.p99_ms)));
    let recovery = match (m.recovery_s, m.recovered) {
        (Some(s), _) => format!("{s:.0} s"),
        (None, Some(false)) => "never".into(),
        _ => "—".into(),
    };
    format!(
        "{key:<12} {:>8} {:>6} {:>5} {:>8} {:>9} {done:>9} {recovery:>8}",
        m.accepted,
        m.lost,
        m.duplicated,
        m.degraded,
        format_latency(millis(m.ack.p99_ms)),
    )
}

fn mark(pass: bool) -> Span<'static> {
    if pass {
        Span::styled("  pass ", Style::new().fg(Color::Green))
    } else {
        Span::styled(
            "  FAIL ",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )
    }
}

pub fn draw_verdict(frame: &mut Frame, screen: Rect, finished: &Finished) {
    let result = &finished.result;
    let word = finished.word();
    let color = match word {
        "PASS" => Color::Green,
        "FAIL" => Color::Red,
        _ => Color::Yellow,
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!(" {word} "),
            Style::new()
                .fg(Color::Black)
                .bg(color)
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("  {} ({})", result.experiment, result.scenario)),
        Span::styled(
            if result.interrupted {
                "  stopped early: the figures cover what ran"
            } else {
                ""
            },
            theme::dim(),
        ),
    ])];
    for l in wrap(&result.lesson, usize::from(WIDTH)) {
        lines.push(Line::styled(l, theme::dim()));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "{:<12} {:>8} {:>6} {:>5} {:>8} {:>9} {:>9} {:>8}",
            "mode", "accepted", "lost", "dup", "degraded", "ack p99", "done p99", "recovery"
        ),
        Style::new().add_modifier(Modifier::BOLD),
    ));
    for key in &result.order {
        if let Some(m) = result.modes.get(key) {
            lines.push(Line::raw(mode_line(key, m)));
        }
    }
    if !result.thresholds.is_empty() || !result.invariants.is_empty() {
        lines.push(Line::raw(""));
    }
    for t in &result.thresholds {
        let value = t
            .value
            .map_or("not measured".into(), |v| format!("{v:.3}{}", t.unit));
        lines.push(Line::from(vec![
            mark(t.pass),
            Span::raw(format!("{:<10} {:<24} ", t.mode, t.expr)),
            Span::styled(value, theme::dim()),
        ]));
    }
    for i in &result.invariants {
        lines.push(Line::from(vec![
            mark(i.pass),
            Span::raw(format!("{:<10} {:<24} ", i.mode, i.name)),
            Span::styled(i.detail.clone(), theme::dim()),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(match &finished.report_error {
        None => Line::from(vec![
            Span::raw("report: "),
            Span::styled(
                finished.folder.clone(),
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            ),
        ]),
        Some(e) => Line::styled(
            format!("report NOT written to {}: {e}", finished.folder),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
    });
    lines.push(Line::styled("Esc or Enter closes", theme::dim()));
    boxed(
        frame,
        screen,
        lines,
        format!(" Verdict · {} ", result.experiment),
        color,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_within_the_width_and_a_long_word_keeps_its_line() {
        assert_eq!(wrap("one two three four", 9), ["one two", "three", "four"]);
        assert_eq!(wrap("a verylongword b", 4), ["a", "verylongword", "b"]);
        assert!(wrap("   ", 10).is_empty());
    }
}
