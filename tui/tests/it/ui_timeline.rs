//! Snapshots of the timeline and the fault panes — the charts with markers of several kinds,
//! the active-faults panel, the fault menu and its question, the queue pane's drain estimate
//! — and of each view at 80×24 and the whole screen at 200×50, fed through `update` with
//! the messages the workers send. Marker labels are also checked as text.

use std::time::{Duration, SystemTime};

use crate::ui_fixtures::*;
use common::Mode;
use common::scenario::{self, ScenarioId};
use crossterm::event::KeyCode;
use ms_tui::admin::KnobOutcome;
use ms_tui::app::msg::Msg;
use ms_tui::app::state::{Prompt, State};
use ms_tui::app::update::update;
use ms_tui::broker::{BrokerMsg, CompletionFigures, QueueSample};
use ms_tui::docker::{Action, DockerMsg, Group, LogLine, Target};
use ms_tui::faults::{ActiveFault, FaultKind, FaultMsg, FaultTarget};
use ms_tui::load::Summary;
use ms_tui::load::worker::{LoadMsg, SecondWindow};
use ms_tui::ui::{faultmenu, faults, queues, timeline, view};

/// 10:00:00 UTC on 2023-11-14 plus `s` seconds: the log fixtures' clock.
fn t(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_699_956_000 + s)
}

fn summary(p50_ms: u64, p99_ms: u64, count: u64, failed: u64) -> Summary {
    Summary {
        count,
        ok: count - failed,
        failed,
        p50: Duration::from_millis(p50_ms),
        p95: Duration::from_millis(p99_ms),
        p99: Duration::from_millis(p99_ms),
        max: Duration::from_millis(p99_ms),
        achieved_rate: 20.0,
        by_label: Default::default(),
    }
}

fn latency_on_search(ends: SystemTime) -> ActiveFault {
    ActiveFault {
        target: FaultTarget::service("search", Mode::Sync),
        kind: FaultKind::Latency {
            ms: 1000,
            jitter_ms: 0,
        },
        route_prefix: None,
        expires_at: Some(ends),
        ours: true,
    }
}

fn action(state: &mut State, label: &str, action: Action) {
    let id = label.replace('/', "-");
    send(
        state,
        DockerMsg::ActionDone {
            target: Target {
                id,
                label: label.into(),
            },
            action,
            result: Ok(()),
        },
    );
}

/// S3 under load for 150 s, the clock at `t(150)`: sync search 1 s slower from 60 to 90 s
/// (the fault's start and end), async e-mail killed at 100 and started at 110, a knob at
/// 120, the rate up at 130; a fault on sync/search still in force (started at 140) and the
/// queues backing up while e-mail was down.
fn s3_story() -> State {
    let mut s = running_stack();
    update(&mut s, Msg::Clock(t(0)));
    press(&mut s, KeyCode::Char('3'));
    press(&mut s, KeyCode::Char('l'));
    let queues = scenario::get(ScenarioId::S3).queues;
    let mut backlog = 0u32;
    for sec in 0..=150u64 {
        update(&mut s, Msg::Clock(t(sec)));
        match sec {
            60 => update(
                &mut s,
                Msg::Fault(FaultMsg::Applied(latency_on_search(t(90)))),
            ),
            90 => update(
                &mut s,
                Msg::Fault(FaultMsg::Reverted {
                    key: "latency sync/search".into(),
                    why: "expired".into(),
                }),
            ),
            100 => {
                action(&mut s, "async/email", Action::Kill);
                Vec::new()
            }
            110 => {
                action(&mut s, "async/email", Action::Start);
                Vec::new()
            }
            120 => update(
                &mut s,
                Msg::Knob(KnobOutcome {
                    label: "payment failure rate 0.3".into(),
                    applied: 2,
                    of: 2,
                    error: None,
                    effective: Vec::new(),
                }),
            ),
            130 => {
                press(&mut s, KeyCode::Char('+'));
                Vec::new()
            }
            140 => update(
                &mut s,
                Msg::Fault(FaultMsg::Applied(latency_on_search(t(170)))),
            ),
            _ => Vec::new(),
        };
        let faulted = (60..90).contains(&sec) || sec >= 140;
        let wobble = sec % 7;
        let (sync_p50, sync_p99) = if faulted {
            (1040 + wobble * 3, 1090 + wobble * 5)
        } else {
            (40 + wobble, 62 + wobble * 2)
        };
        let sync_failed = u64::from((100..110).contains(&sec)) * 2;
        for (mode, p50, p99, failed) in [
            (Mode::Sync, sync_p50, sync_p99, sync_failed),
            (Mode::Async, 3 + wobble % 3, 8 + wobble, 0),
        ] {
            let window = summary(p50, p99, 20, failed);
            update(
                &mut s,
                Msg::Load(LoadMsg::Tick {
                    scenario: ScenarioId::S3,
                    mode,
                    target: 20.0,
                    total: summary(p50, p99, 20 * (sec + 1), failed),
                    window: window.clone(),
                    second: Some(Box::new(SecondWindow {
                        ended: t(sec) + Duration::from_millis(500),
                        summary: window,
                    })),
                }),
            );
        }
        let done = if (100..110).contains(&sec) {
            None
        } else if (110..125).contains(&sec) {
            Some(900 - (sec - 110) * 50)
        } else {
            Some(25 + wobble)
        };
        if let Some(done_ms) = done {
            update(
                &mut s,
                Msg::Broker(BrokerMsg::Completions(vec![CompletionFigures {
                    scenario: ScenarioId::S3,
                    mode: Mode::Async,
                    total: summary(30, 400, 20 * sec, 0),
                    last: Duration::from_millis(done_ms),
                    window_p99: Duration::from_millis(done_ms),
                }])),
            );
        }
        backlog = match sec {
            100..110 => backlog + 20,
            110..122 => backlog.saturating_sub(17),
            _ => 0,
        };
        update(
            &mut s,
            Msg::Broker(BrokerMsg::Queues(
                queues
                    .iter()
                    .enumerate()
                    .map(|(i, name)| QueueSample {
                        name: (*name).into(),
                        ready: if i == 0 { backlog } else { 0 },
                        consumers: 1,
                        unacked: Some(0),
                        publish_rate: Some(20.0),
                        deliver_rate: Some(20.0),
                        ..Default::default()
                    })
                    .collect(),
            )),
        );
    }
    // A few lines around the fault, so the separators land between lines.
    send(
        &mut s,
        DockerMsg::Logs(
            [
                (59, "search", "GET /search q=lamp 200"),
                (95, "search", "GET /search q=desk 200"),
            ]
            .iter()
            .map(|(sec, service, text)| {
                LogLine::new(
                    Group::Sync,
                    service,
                    format!("10:{:02}:{:02}.000", sec / 60, sec % 60),
                    Some(ms_tui::docker::Level::Info),
                    false,
                    (*text).into(),
                )
            })
            .collect(),
        ),
    );
    s
}

fn whole(state: &mut State, width: u16, height: u16) -> String {
    update(state, Msg::Resize { width, height });
    render(width, height, |frame, _| view(state, frame))
        .backend()
        .to_string()
}

fn assert_labels(screen: &str, labels: &[&str]) {
    for label in labels {
        assert!(
            screen.contains(label),
            "no marker label {label:?} in\n{screen}"
        );
    }
}

#[test]
fn the_timeline_with_markers_of_several_kinds() {
    let s = s3_story();
    let text = render(150, 36, |f, a| timeline::draw(f, a, &s))
        .backend()
        .to_string();
    assert_labels(
        &text,
        &[
            "▲latency +1000 ms sync/search",
            "▼end latency sync/search",
            "■kill async/email",
            "■start async/email",
            "◆payment failure rate 0.3",
            "●rate",
        ],
    );
    assert!(text.contains("sync · S3 · last s: p50 1.05 s"), "{text}");
    assert!(text.contains("done p99"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn the_faults_panel_lists_dose_target_and_time_left_and_failures_loudly() {
    let mut s = s3_story();
    let found = ActiveFault {
        target: FaultTarget {
            group: "async".into(),
            service: "payment".into(),
        },
        kind: FaultKind::Pause,
        route_prefix: None,
        expires_at: None,
        ours: false,
    };
    update(
        &mut s,
        Msg::Fault(FaultMsg::Active(vec![latency_on_search(t(170)), found])),
    );
    update(
        &mut s,
        Msg::Fault(FaultMsg::Failed {
            key: "pause async/payment".into(),
            error: "Docker unreachable".into(),
            unrevertable: true,
        }),
    );
    update(&mut s, Msg::Clock(t(153)));
    let text = render(76, 6, |f, a| faults::draw(f, a, &s))
        .backend()
        .to_string();
    assert!(text.contains("17 s left"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn the_fault_menu_and_its_question() {
    let mut s = s3_story();
    assert!(s.containers.select(Group::Async, "email"));
    press(&mut s, KeyCode::Char('i'));
    press(&mut s, KeyCode::Down);
    press(&mut s, KeyCode::Char('-'));
    press(&mut s, KeyCode::Char('-'));
    let Prompt::FaultMenu(menu) = &s.prompt else {
        panic!("no menu: {:?}", s.prompt)
    };
    let text = render(60, 16, |f, a| faultmenu::draw_menu(f, a, menu))
        .backend()
        .to_string();
    insta::assert_snapshot!("fault_menu", text);
    press(&mut s, KeyCode::Enter);
    let Prompt::ConfirmFault(command) = &s.prompt else {
        panic!("no question: {:?}", s.prompt)
    };
    let text = render(72, 8, |f, a| faultmenu::draw_confirm(f, a, command))
        .backend()
        .to_string();
    assert!(
        text.contains("latency +1000 ms async/email for 15 s"),
        "{text}"
    );
    insta::assert_snapshot!("fault_confirm", text);
}

/// The selected scenario's queue probed `history.len()` times at 500 ms.
fn queue_pane(history: &[u32]) -> String {
    let mut s = running_stack();
    for (i, ready) in history.iter().enumerate() {
        update(&mut s, Msg::Clock(t(i as u64 / 2)));
        update(
            &mut s,
            Msg::Broker(BrokerMsg::Queues(vec![QueueSample {
                name: "user_registered_queue".into(),
                ready: *ready,
                consumers: 1,
                unacked: Some(0),
                ..Default::default()
            }])),
        );
    }
    render(44, 5, |f, a| queues::draw(f, a, &s))
        .backend()
        .to_string()
}

#[test]
fn the_drain_estimate_draining_growing_and_empty() {
    let draining: Vec<u32> = (0..20).map(|i| 200 - i * 6).collect();
    let text = queue_pane(&draining);
    assert!(text.contains("net −12/s · empty in ~8 s"), "{text}");
    insta::assert_snapshot!("drain_draining", text);

    let growing: Vec<u32> = (0..20).map(|i| i * 3).collect();
    let text = queue_pane(&growing);
    assert!(text.contains("backlog 57 · net +6.0/s · growing"), "{text}");
    insta::assert_snapshot!("drain_growing", text);

    let text = queue_pane(&[4, 2, 0, 0]);
    assert!(text.contains("backlog 0 · empty"), "{text}");
    insta::assert_snapshot!("drain_empty", text);
}

#[test]
fn each_view_at_80_by_24() {
    let mut s = s3_story();
    update(
        &mut s,
        Msg::Resize {
            width: 80,
            height: 24,
        },
    );
    let measure = whole(&mut s, 80, 24);
    assert!(measure.contains("Scenarios") && measure.contains("Latency · S3"));
    assert!(measure.contains("Queues") && measure.contains("Faults · 1 active"));
    insta::assert_snapshot!("view_measure_80x24", measure);

    press(&mut s, KeyCode::Char('v'));
    let chart = whole(&mut s, 80, 24);
    assert!(
        chart.contains("sync · S3") && chart.contains("async · S3"),
        "{chart}"
    );
    assert_labels(&chart, &["▲latency +1000 ms sync/search"]);
    insta::assert_snapshot!("view_timeline_80x24", chart);

    press(&mut s, KeyCode::Char('v'));
    let operate = whole(&mut s, 80, 24);
    assert!(operate.contains("Containers") && operate.contains("Logs"));
    assert!(operate.contains("Faults"), "{operate}");
    insta::assert_snapshot!("view_operate_80x24", operate);

    press(&mut s, KeyCode::Char('v'));
    assert_eq!(whole(&mut s, 80, 24), measure, "back to measure");
}

#[test]
fn the_whole_screen_at_200_by_50_keeps_the_figures_beside_the_chart() {
    let mut s = s3_story();
    let text = whole(&mut s, 200, 50);
    for pane in [
        "Scenarios",
        "Latency · S3",
        "Queues",
        "Containers",
        "Logs",
        "Faults · 1 active",
        "sync · S3 · last s",
        "async · S3 · last s",
    ] {
        assert!(text.contains(pane), "no {pane:?} in\n{text}");
    }
    assert!(text.contains("p50") && text.contains("p99") && text.contains("done p50"));
    assert_labels(
        &text,
        &["▲latency +1000 ms sync/search", "■kill async/email"],
    );
    // The logs pane marks the events between its lines.
    assert!(
        text.contains("── 10:01:00 ▲latency +1000 ms sync/search"),
        "{text}"
    );
    insta::assert_snapshot!(text);

    press(&mut s, KeyCode::Char('t'));
    let without = whole(&mut s, 200, 50);
    assert!(!without.contains("sync · S3 · last s"), "t hides the chart");
}
