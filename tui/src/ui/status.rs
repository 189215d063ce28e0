//! The status line: Docker, the broker, how many containers run, the experiment running (or
//! the last one's verdict and folder), the last action's outcome; while a filter is typed, the
//! filter prompt instead.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::theme;
use crate::app::measure::BrokerStatus;
use crate::app::state::{DockerStatus, Prompt, State};
use crate::docker::{Group, Health, RunState};

const HINTS: &str = " ? help · q quit ";

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    if area.is_empty() {
        return;
    }
    if let Prompt::Filter { input } = &state.prompt {
        let line = Line::from(vec![
            Span::styled(" / ", Style::new().fg(Color::Black).bg(Color::Cyan)),
            Span::raw(" "),
            Span::raw(input.as_str()),
            Span::styled("█", Style::new().fg(Color::Cyan)),
            Span::styled("   Enter keeps the filter · Esc clears it", theme::dim()),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let [left, right] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(HINTS.chars().count() as u16),
    ])
    .areas(area);
    let mut spans = docker_spans(&state.docker);
    spans.push(Span::styled(" │ ", theme::dim()));
    spans.push(broker_span(state));
    let rows = state.containers.rows();
    if !rows.is_empty() {
        let running = rows.iter().filter(|c| c.state == RunState::Running).count();
        spans.push(Span::styled(" │ ", theme::dim()));
        spans.push(Span::raw(format!("{running}/{} running", rows.len())));
    }
    if let Some(span) = experiment_span(state) {
        spans.push(Span::styled(" │ ", theme::dim()));
        spans.push(span);
    }
    if let Some(scaling) = &state.scaling {
        spans.push(Span::styled(" │ ", theme::dim()));
        spans.push(Span::styled(
            format!(
                "scaling async/{} to {}…",
                scaling.service,
                scaling.describe()
            ),
            Style::new().fg(Color::Yellow),
        ));
    }
    if let Some(id) = state.measure.loading {
        spans.push(Span::styled(" │ ", theme::dim()));
        spans.push(Span::styled(
            format!("load {id} {}/s per mode", state.measure.rate),
            Style::new().fg(Color::Green),
        ));
    }
    if state.knobs != crate::admin::Knobs::default() {
        spans.push(Span::styled(" │ ", theme::dim()));
        spans.push(Span::styled(
            state.knobs.describe(),
            Style::new().fg(Color::Magenta),
        ));
    }
    if state.demo {
        spans.push(Span::styled(" │ ", theme::dim()));
        spans.push(Span::styled(
            "DEMO: no confirmations",
            Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(notice) = &state.notice {
        spans.push(Span::styled(" │ ", theme::dim()));
        let style = if notice.error {
            Style::new().fg(Color::Red)
        } else {
            Style::new().fg(Color::Cyan)
        };
        spans.push(Span::styled(notice.text.as_str(), style));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), left);
    frame.render_widget(Paragraph::new(HINTS).style(theme::dim()), right);
}

/// `experiment showdown: load 12s/30s` while it runs; afterwards its verdict and folder, so
/// the report can be found after the notice has moved on.
fn experiment_span(state: &State) -> Option<Span<'static>> {
    if let Some(running) = &state.experiments.running {
        return Some(Span::styled(
            format!("experiment {}: {}", running.plan.name, running.progress()),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    let last = state.experiments.last.as_ref()?;
    let color = match last.word() {
        "PASS" => Color::Green,
        "FAIL" => Color::Red,
        _ => Color::Yellow,
    };
    let text = match &last.report_error {
        None => format!(
            "experiment {} {} → {}",
            last.result.experiment,
            last.word(),
            last.folder
        ),
        Some(_) => format!(
            "experiment {} {} (report NOT written)",
            last.result.experiment,
            last.word()
        ),
    };
    Some(Span::styled(text, Style::new().fg(color)))
}

fn docker_spans(status: &DockerStatus) -> Vec<Span<'_>> {
    match status {
        DockerStatus::Connecting => vec![Span::styled(
            " Docker: connecting…",
            Style::new().fg(Color::Yellow),
        )],
        DockerStatus::Connected { version } => vec![
            Span::raw(" Docker "),
            Span::styled(version.as_str(), Style::new().fg(Color::Green)),
        ],
        DockerStatus::Unreachable { error, retry_in } => vec![Span::styled(
            format!(
                " Docker unreachable ({error}); retrying in {}s",
                retry_in.as_secs().max(1)
            ),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )],
    }
}

/// The AMQP probe's word wins when it cannot connect; otherwise the container's health.
fn broker_span(state: &State) -> Span<'static> {
    if let BrokerStatus::Down(_) = state.measure.broker {
        return Span::styled("broker: unreachable", Style::new().fg(Color::Red));
    }
    let broker = state
        .containers
        .rows()
        .iter()
        .find(|c| c.group == Group::Infra && c.service == "rabbitmq");
    let Some(c) = broker else {
        return match state.measure.broker {
            BrokerStatus::Up => Span::styled("broker: up", Style::new().fg(Color::Green)),
            _ => Span::styled("broker: no container", theme::dim()),
        };
    };
    match (c.state, c.health) {
        (RunState::Running, Health::Healthy | Health::None) => {
            Span::styled("broker: up", Style::new().fg(Color::Green))
        }
        (RunState::Running, Health::Starting) => {
            Span::styled("broker: starting", Style::new().fg(Color::Yellow))
        }
        (RunState::Running, Health::Unhealthy) => {
            Span::styled("broker: unhealthy", Style::new().fg(Color::Red))
        }
        (RunState::Paused, _) => Span::styled("broker: paused", Style::new().fg(Color::Yellow)),
        _ => Span::styled("broker: down", Style::new().fg(Color::Red)),
    }
}
