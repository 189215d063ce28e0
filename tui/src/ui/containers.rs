//! The containers pane: the project's containers grouped sync / async / infra, with state,
//! health, CPU, memory and restarts; a service's replicas indented under it (`└ #2`), each
//! with its own figures. The selected row is what `k` `s` `p` `r` `i` act on.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState};

use super::theme;
use crate::app::state::{DockerStatus, Pane, State};
use crate::docker::{Group, RunState};

const WIDTHS: [Constraint; 6] = [
    Constraint::Length(10), // service
    Constraint::Length(11), // state
    Constraint::Length(9),  // health
    Constraint::Length(6),  // cpu
    Constraint::Length(6),  // mem
    Constraint::Length(3),  // restarts
];

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    if area.is_empty() {
        return;
    }
    let focused = state.focus == Pane::Containers;
    let mut title = vec![Span::raw(" Containers ")];
    if matches!(state.docker, DockerStatus::Unreachable { .. }) {
        title.push(Span::styled("(last known) ", theme::dim()));
    }
    if state.swarm.active() {
        // Desired against running, from the swarm itself: a killed task shows here at once,
        // and its replacement's row when its container starts.
        let (running, desired) = state.swarm.tasks();
        let short = state.swarm.short();
        let style = if short.is_empty() {
            theme::dim()
        } else {
            Style::new().fg(Color::Yellow)
        };
        let mut text = format!("· swarm {running}/{desired} tasks ");
        if !short.is_empty() {
            text.push_str(&format!("({}) ", short.join(", ")));
        }
        title.push(Span::styled(text, style));
    }
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme::focused_border(focused))
        .title(Line::from(title));

    let containers = state.containers.rows();
    if containers.is_empty() {
        let text = match state.docker {
            DockerStatus::Connected { .. } => {
                "No container of the ms-tui project.\n`ms-tui up` starts the stack."
            }
            _ => "Waiting for Docker…",
        };
        frame.render_widget(Paragraph::new(text).style(theme::dim()).block(block), area);
        return;
    }

    let mut rows = Vec::with_capacity(containers.len() + Group::ALL.len() + 1);
    let mut selected_row = None;
    let selected = state.containers.selected_index();
    for group in Group::ALL {
        let members: Vec<_> = containers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.group == group)
            .collect();
        if members.is_empty() {
            continue;
        }
        let up = members
            .iter()
            .filter(|(_, c)| c.state == RunState::Running)
            .count();
        rows.push(
            Row::new(vec![
                Line::from(group.as_str()),
                Line::from(format!("{up}/{} up", members.len())),
            ])
            .style(Style::new().add_modifier(Modifier::BOLD)),
        );
        for (i, c) in members {
            if Some(i) == selected {
                selected_row = Some(rows.len());
            }
            let (state_text, state_style) = theme::state_text(c.state, state.in_flight(&c.id));
            let (health, health_style) = theme::health_text(c.health, c.state);
            let (cpu, mem) = match c.usage {
                Some(u) => (theme::percent(u.cpu_percent), theme::bytes(u.mem_bytes)),
                None => ("—".into(), "—".into()),
            };
            // A replica is named by its number under its service: the name is the row above.
            let name = if c.is_replica() {
                format!(" └ #{}", c.replica)
            } else {
                c.service.clone()
            };
            rows.push(Row::new(vec![
                Line::styled(name, Style::new().fg(theme::service_color(&c.service))),
                Line::styled(state_text, state_style),
                Line::styled(health, health_style),
                Line::from(cpu).right_aligned(),
                Line::from(mem).right_aligned(),
                Line::from(c.restarts.to_string()).right_aligned(),
            ]));
        }
    }

    let header = Row::new(
        ["SERVICE", "STATE", "HEALTH", "CPU", "MEM", "RST"].map(|h| {
            if matches!(h, "CPU" | "MEM" | "RST") {
                Line::from(h).right_aligned()
            } else {
                Line::from(h)
            }
        }),
    )
    .style(theme::dim());
    let highlight = if focused {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new().add_modifier(Modifier::UNDERLINED)
    };
    let table = Table::new(rows, WIDTHS)
        .header(header)
        .block(block)
        .row_highlight_style(highlight)
        .highlight_symbol("› ")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let mut table_state = TableState::default().with_selected(selected_row);
    frame.render_stateful_widget(table, area, &mut table_state);
}
