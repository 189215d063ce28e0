//! Shared fixtures of the snapshot tests: a state like the running stack's, and a way to draw
//! one pane (or the whole screen) on ratatui's `TestBackend`.
#![allow(dead_code)] // each test file uses a different part

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

use common::scenario::Service;
use ms_tui::app::msg::Msg;
use ms_tui::app::state::State;
use ms_tui::app::update::update;
use ms_tui::docker::{ContainerInfo, DockerMsg, Group, Health, Level, LogLine, RunState};

pub fn row(group: Group, service: &str, state: RunState, health: Health) -> ContainerInfo {
    ContainerInfo {
        id: format!("{}-{service}", group.as_str()),
        name: format!("ms-tui-{service}-{}-1", group.as_str()),
        service: service.to_string(),
        group,
        replica: 1,
        state,
        health,
        restarts: 0,
        usage: None,
    }
}

/// The 23 containers of the stack, with a few in the states a demo produces.
pub fn stack_rows() -> Vec<ContainerInfo> {
    let mut rows = Vec::new();
    for group in [Group::Sync, Group::Async] {
        for service in Service::ALL.iter().filter(|s| **s != Service::Gateway) {
            rows.push(row(
                group,
                service.name(),
                RunState::Running,
                Health::Healthy,
            ));
        }
    }
    for service in ["gateway", "rabbitmq", "postgres"] {
        rows.push(row(
            Group::Infra,
            service,
            RunState::Running,
            Health::Healthy,
        ));
    }
    for r in &mut rows {
        match (r.group, r.service.as_str()) {
            (Group::Async, "email") => r.state = RunState::Exited(137),
            (Group::Sync, "report") => r.state = RunState::Paused,
            (Group::Async, "search") => r.health = Health::Unhealthy,
            (Group::Sync, "payment") => r.health = Health::Starting,
            (Group::Async, "order") => r.restarts = 2,
            _ => {}
        }
    }
    rows
}

pub fn connected(rows: Vec<ContainerInfo>) -> State {
    let mut s = State::new(false);
    send(
        &mut s,
        DockerMsg::Connected {
            version: "20.10.24".into(),
        },
    );
    send(&mut s, DockerMsg::Snapshot(rows));
    s
}

pub fn send(state: &mut State, msg: DockerMsg) {
    update(state, Msg::Docker(msg));
}

pub fn press(state: &mut State, code: KeyCode) {
    update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// The stack with stats for every running container and some log lines.
pub fn running_stack() -> State {
    let mut s = connected(stack_rows());
    let ids: Vec<String> = s.containers.rows().iter().map(|c| c.id.clone()).collect();
    for (i, id) in ids.into_iter().enumerate() {
        send(
            &mut s,
            DockerMsg::Stats {
                id,
                cpu_percent: i as f64 * 0.7,
                mem_bytes: (6 + i as u64 * 3) << 20,
            },
        );
    }
    send(&mut s, DockerMsg::Logs(sample_logs()));
    s
}

pub fn log(group: Group, service: &str, second: u32, level: Option<Level>, text: &str) -> LogLine {
    LogLine::new(
        group,
        service,
        format!("10:00:{second:02}.{:03}", second * 7 % 1000),
        level,
        false,
        text.to_string(),
    )
}

pub fn sample_logs() -> Vec<LogLine> {
    use Level::*;
    vec![
        log(
            Group::Infra,
            "rabbitmq",
            1,
            None,
            "Server startup complete; 4 plugins started.",
        ),
        log(
            Group::Infra,
            "postgres",
            2,
            None,
            "database system is ready to accept connections",
        ),
        log(
            Group::Sync,
            "user",
            3,
            Some(Info),
            "registered user_id=1 cid=7f3a-0001",
        ),
        log(
            Group::Sync,
            "email",
            4,
            Some(Info),
            "welcome e-mail sent recipient=ada@example.com cid=7f3a-0001",
        ),
        log(
            Group::Async,
            "user",
            5,
            Some(Info),
            "registered, event published user_id=1 cid=9b2c-0002",
        ),
        log(
            Group::Async,
            "email",
            6,
            Some(Warn),
            "broker connection lost, reconnecting cid=9b2c-0002",
        ),
        log(
            Group::Async,
            "payment",
            7,
            Some(Error),
            "payment failed reason=card_declined cid=c4d5-0003",
        ),
        log(
            Group::Infra,
            "gateway",
            8,
            Some(Info),
            "POST /api/checkout → 202 cid=c4d5-0003",
        ),
    ]
}

/// Draws with `draw` on a `width` × `height` test terminal.
pub fn render(
    width: u16,
    height: u16,
    draw: impl FnOnce(&mut ratatui::Frame, Rect),
) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| {
            let area = frame.area();
            draw(frame, area)
        })
        .unwrap();
    terminal
}

/// `v` until the operate view (containers and logs) fills a short terminal.
pub fn operate_view(state: &mut State) {
    for _ in 0..4 {
        if state.view == ms_tui::app::views::View::Operate {
            return;
        }
        press(state, KeyCode::Char('v'));
    }
    panic!("no operate view in the cycle");
}
