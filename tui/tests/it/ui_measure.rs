//! Snapshots of the measurement panes — scenarios, sync | async latency, queues — fed through
//! `update` with the messages the load and broker workers send.

use std::time::Duration;

use crate::ui_fixtures::*;
use common::Mode;
use common::scenario::ScenarioId;
use crossterm::event::KeyCode;
use ms_tui::app::msg::Msg;
use ms_tui::app::state::State;
use ms_tui::app::update::update;
use ms_tui::broker::{BrokerMsg, QueueSample};
use ms_tui::load::Summary;
use ms_tui::load::worker::LoadMsg;
use ms_tui::ui::{latency, queues, scenarios};

fn summary(p50_ms: u64, count: u64, labels: &[(&str, u64)]) -> Summary {
    let failed = labels
        .iter()
        .filter(|(l, _)| l.starts_with('5') || *l == "conn")
        .map(|(_, n)| n)
        .sum();
    Summary {
        count,
        ok: count - failed,
        failed,
        p50: Duration::from_millis(p50_ms),
        p95: Duration::from_millis(p50_ms * 11 / 10),
        p99: Duration::from_millis(p50_ms * 13 / 10),
        max: Duration::from_millis(p50_ms * 2),
        achieved_rate: count as f64 / 30.0,
        by_label: labels.iter().map(|(l, n)| (l.to_string(), *n)).collect(),
    }
}

/// S1 under load for a while: sync pays the 500 ms e-mail, async answers in a few ms; the
/// e-mail queue backs up (its consumer was killed) and is draining.
fn s1_under_load() -> State {
    let mut s = running_stack();
    update(
        &mut s,
        Msg::Key(crossterm::event::KeyEvent::from(KeyCode::Char('l'))),
    );
    for i in 0..40u64 {
        let sync_p50 = 505 + i % 7;
        let async_p50 = 2 + i % 5;
        let tick = |mode, p50, labels: &[(&str, u64)]| {
            Msg::Load(LoadMsg::Tick {
                scenario: ScenarioId::S1,
                mode,
                target: 20.0,
                total: summary(p50, 600 + i, labels),
                window: summary(p50, 10, labels),
                second: None,
            })
        };
        update(&mut s, tick(Mode::Sync, sync_p50, &[("201", 600 + i)]));
        update(
            &mut s,
            tick(Mode::Async, async_p50, &[("202", 598 + i), ("503", 2)]),
        );
        let ready = if i < 25 { i * 4 } else { (40 - i) * 6 };
        update(
            &mut s,
            Msg::Broker(BrokerMsg::Queues(vec![QueueSample {
                name: "user_registered_queue".into(),
                ready: ready as u32,
                consumers: u32::from(i >= 25),
                dead: 0,
                missing: false,
                unacked: Some(if i >= 25 { 5 } else { 0 }),
                publish_rate: Some(20.0),
                deliver_rate: Some(if i >= 25 { 32.0 } else { 0.0 }),
            }])),
        );
    }
    s
}

#[test]
fn the_scenario_pane_marks_the_selection_and_the_load() {
    let s = s1_under_load();
    let text = render(40, 12, |f, a| scenarios::draw(f, a, &s))
        .backend()
        .to_string();
    insta::assert_snapshot!(text);
}

#[test]
fn latency_side_by_side_under_load() {
    let s = s1_under_load();
    let text = render(64, 12, |f, a| latency::draw(f, a, &s))
        .backend()
        .to_string();
    insta::assert_snapshot!(text);
}

#[test]
fn a_fire_shows_each_mode_s_answer() {
    let mut s = running_stack();
    press(&mut s, KeyCode::Char('5'));
    for (mode, status, ms) in [(Mode::Sync, "400", 2130), (Mode::Async, "202", 4)] {
        update(
            &mut s,
            Msg::Load(LoadMsg::Fired {
                scenario: ScenarioId::S5,
                mode,
                summary: summary(ms / 2, 1, &[(status, 1)]),
            }),
        );
    }
    let text = render(64, 12, |f, a| latency::draw(f, a, &s))
        .backend()
        .to_string();
    insta::assert_snapshot!(text);
}

#[test]
fn queues_with_a_backlog_and_dead_letters() {
    let mut s = s1_under_load();
    press(&mut s, KeyCode::Char('7'));
    let names = [
        "payment_service_queue",
        "email_service_queue",
        "order_updates_queue",
    ];
    update(
        &mut s,
        Msg::Broker(BrokerMsg::Queues(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| QueueSample {
                    name: (*n).into(),
                    ready: [0, 10, 3][i],
                    consumers: [1, 0, 1][i],
                    dead: [0, 0, 2][i],
                    missing: false,
                    unacked: [Some(1), None, Some(0)][i],
                    publish_rate: Some(4.0),
                    deliver_rate: [Some(4.0), None, Some(1.0)][i],
                })
                .collect(),
        )),
    );
    let text = render(44, 12, |f, a| queues::draw(f, a, &s))
        .backend()
        .to_string();
    insta::assert_snapshot!(text);
}

#[test]
fn the_broker_unreachable_says_so() {
    let mut s = running_stack();
    update(
        &mut s,
        Msg::Broker(BrokerMsg::Down {
            error: "connection refused (127.0.0.1:5672)".into(),
        }),
    );
    let text = render(44, 12, |f, a| queues::draw(f, a, &s))
        .backend()
        .to_string();
    insta::assert_snapshot!(text);
}

#[test]
fn the_whole_screen_with_load_running() {
    let mut s = s1_under_load();
    update(
        &mut s,
        Msg::Resize {
            width: 140,
            height: 44,
        },
    );
    let text = render(140, 44, |f, _| ms_tui::ui::view(&s, f))
        .backend()
        .to_string();
    insta::assert_snapshot!(text);
}
