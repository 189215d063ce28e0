//! Colours and the small text formats every pane shares (sizes, percentages, states).
//!
//! Only the 16 basic ANSI colours, so the palette follows the user's terminal theme.

use ratatui::style::{Color, Modifier, Style};

use crate::docker::{Action, Health, Level, RunState};

/// One colour per service, the same in sync and async (the label tells the mode apart), so a
/// request's hops are easy to follow through interleaved logs.
pub fn service_color(service: &str) -> Color {
    const PALETTE: [Color; 13] = [
        Color::Cyan,
        Color::Green,
        Color::Yellow,
        Color::Magenta,
        Color::Blue,
        Color::LightRed,
        Color::LightGreen,
        Color::LightCyan,
        Color::LightYellow,
        Color::LightMagenta,
        Color::LightBlue,
        Color::Red,
        Color::Gray,
    ];
    let rank = common::scenario::Service::ALL
        .iter()
        .position(|s| s.name() == service)
        .or_else(|| {
            ["rabbitmq", "postgres"]
                .iter()
                .position(|s| *s == service)
                .map(|i| i + 11)
        });
    match rank {
        Some(i) => PALETTE[i % PALETTE.len()],
        // Not ours: a stable colour from the name.
        None => PALETTE[service.bytes().map(usize::from).sum::<usize>() % PALETTE.len()],
    }
}

pub fn focused_border(focused: bool) -> Style {
    if focused {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::DarkGray)
    }
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// The state column: the action in flight wins ("killing…"), then the engine's state.
pub fn state_text(state: RunState, in_flight: Option<Action>) -> (String, Style) {
    if let Some(action) = in_flight {
        let doing = match action {
            Action::Kill => "killing…",
            Action::Stop => "stopping…",
            Action::Start => "starting…",
            Action::Pause => "pausing…",
            Action::Unpause => "unpausing…",
            Action::Restart => "restarting…",
        };
        return (doing.into(), Style::new().fg(Color::Yellow));
    }
    match state {
        RunState::Running => ("running".into(), Style::new().fg(Color::Green)),
        RunState::Paused => ("paused".into(), Style::new().fg(Color::Yellow)),
        RunState::Restarting => ("restarting".into(), Style::new().fg(Color::Yellow)),
        RunState::Created => ("created".into(), dim()),
        RunState::Removing => ("removing".into(), dim()),
        RunState::Exited(code) => (format!("exited {code}"), Style::new().fg(Color::Red)),
        RunState::Dead => ("dead".into(), Style::new().fg(Color::Red)),
        RunState::Unknown => ("?".into(), dim()),
    }
}

pub fn health_text(health: Health, state: RunState) -> (&'static str, Style) {
    if !state.is_up() {
        return ("", dim());
    }
    match health {
        Health::Healthy => ("healthy", Style::new().fg(Color::Green)),
        Health::Starting => ("starting", Style::new().fg(Color::Yellow)),
        Health::Unhealthy => ("unhealthy", Style::new().fg(Color::Red)),
        Health::None => ("-", dim()),
    }
}

pub fn level_text(level: Option<Level>, stderr: bool) -> (&'static str, Style) {
    match level {
        Some(Level::Error) => ("ERROR", Style::new().fg(Color::Red)),
        Some(Level::Warn) => ("WARN ", Style::new().fg(Color::Yellow)),
        Some(Level::Info) => ("INFO ", Style::new().fg(Color::Green)),
        Some(Level::Debug) => ("DEBUG", Style::new().fg(Color::Blue)),
        Some(Level::Trace) => ("TRACE", dim()),
        None if stderr => ("", Style::new().fg(Color::Red)),
        None => ("", Style::new()),
    }
}

/// `9.1M`, `120M`, `1.2G`: what fits a 6-wide column.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 && unit > 0 {
        format!("{value:.1}{}", UNITS[unit])
    } else {
        format!("{value:.0}{}", UNITS[unit])
    }
}

/// `0.3%`, `12%`, `180%`.
pub fn percent(p: f64) -> String {
    if p < 10.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_fit_their_column() {
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(9_542_041), "9.1M");
        assert_eq!(bytes(125_829_120), "120M");
        assert_eq!(bytes(1_288_490_188), "1.2G");
        assert_eq!(percent(0.26), "0.3%");
        assert_eq!(percent(180.4), "180%");
    }

    #[test]
    fn sync_and_async_share_a_colour_and_services_differ() {
        assert_ne!(service_color("user"), service_color("email"));
        assert_ne!(service_color("rabbitmq"), service_color("postgres"));
    }
}
