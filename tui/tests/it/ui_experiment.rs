//! Snapshots of the experiments in the control room: the `e` picker, a run's progress and the
//! status line while it runs, its steps on the timeline, the verdict (pass and fail).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::ui_fixtures::*;
use crossterm::event::KeyCode;
use ms_tui::app::experiment_worker::ExperimentMsg;
use ms_tui::app::msg::Msg;
use ms_tui::app::state::{Prompt, State};
use ms_tui::app::update::update;
use ms_tui::experiment::result::{
    Environment, Event, Latency, ModeResult, RunResult, SecondRow, ThresholdResult, Verdict,
};
use ms_tui::experiment::runner::{Progress, Tick};
use ms_tui::ui::view;

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
}

fn sized(width: u16, height: u16) -> State {
    let mut s = running_stack();
    update(&mut s, Msg::Resize { width, height });
    update(&mut s, Msg::Clock(at(0)));
    s
}

fn screen(s: &State, width: u16, height: u16) -> String {
    render(width, height, |frame, _| view(s, frame))
        .backend()
        .to_string()
}

fn progress(s: &mut State, second: u64, progress: Progress) {
    update(
        s,
        Msg::Experiment(ExperimentMsg::Progress {
            at: at(second),
            progress,
        }),
    );
}

fn step(s: &mut State, second: u64, kind: &str, target: &str, detail: &str) {
    progress(
        s,
        second,
        Progress::Event(Event {
            t_s: second as f64 - 1.0,
            kind: kind.into(),
            target: target.into(),
            detail: detail.into(),
        }),
    );
}

fn row(t_s: f64, answered: u64, errors: u64, p99_ms: f64, queue: Option<u64>) -> SecondRow {
    SecondRow {
        t_s,
        answered,
        accepted: answered - errors,
        errors,
        ack_p50_ms: Some(p99_ms * 0.6),
        ack_p99_ms: Some(p99_ms),
        queue_depth: queue,
        ..SecondRow::default()
    }
}

/// Showdown started from the keyboard, 12 s into its load with payment stopped since 8 s:
/// sync refuses, async queues.
fn showdown_running(width: u16, height: u16) -> State {
    let mut s = sized(width, height);
    press(&mut s, KeyCode::Char('e'));
    press(&mut s, KeyCode::Enter);
    progress(
        &mut s,
        1,
        Progress::Phase {
            round: "sync + async".into(),
            phase: "load".into(),
        },
    );
    for t in 1..=12u64 {
        let down = t > 8;
        let (sync, asynchronous) = if down {
            (
                row(t as f64, 5, 5, 4.0, None),
                row(t as f64, 5, 0, 3.0, Some(5 * (t - 8))),
            )
        } else {
            (
                row(t as f64, 5, 0, 35.0, None),
                row(t as f64, 5, 0, 3.0, Some(0)),
            )
        };
        progress(
            &mut s,
            1 + t,
            Progress::Second(Tick {
                phase: "load".into(),
                t_s: t as f64,
                of_s: 30.0,
                lanes: vec![("sync".into(), sync), ("async".into(), asynchronous)],
            }),
        );
        if t == 8 {
            step(&mut s, 9, "fault", "sync/payment", "stop");
            step(&mut s, 9, "fault", "async/payment", "stop");
        }
    }
    update(&mut s, Msg::Clock(at(13)));
    s
}

fn result(verdict: Verdict) -> RunResult {
    let pass = verdict == Verdict::Pass;
    let latency = |p99_ms| Latency {
        p50_ms: p99_ms / 2.0,
        p95_ms: p99_ms * 0.9,
        p99_ms,
        max_ms: p99_ms * 1.2,
    };
    let sync = ModeResult {
        mode: "sync".into(),
        sent: 150,
        accepted: 100,
        completed: 100,
        refused: BTreeMap::from([("503".into(), 50)]),
        ack: latency(41.0),
        done: Some(latency(41.0)),
        recovery_s: Some(2.0),
        recovered: Some(true),
        ..ModeResult::default()
    };
    let lost = if pass { 0 } else { 3 };
    let asynchronous = ModeResult {
        mode: "async".into(),
        sent: 150,
        accepted: 150,
        completed: 150 - lost,
        lost,
        duplicated: u64::from(!pass),
        ack: latency(4.2),
        done: Some(latency(10_400.0)),
        recovery_s: None,
        recovered: Some(pass),
        ..ModeResult::default()
    };
    let threshold = |mode: &str, expr: &str, value: f64, unit: &str, pass| ThresholdResult {
        mode: mode.into(),
        expr: expr.into(),
        value: Some(value),
        unit: unit.into(),
        pass,
    };
    RunResult {
        experiment: "showdown".into(),
        lesson: "With payment down, sync checkout refuses at once; async keeps accepting and \
                 completes every order after payment returns."
            .into(),
        scenario: "s7".into(),
        started_at: "2026-12-02T03:15:00Z".into(),
        ended_at: "2026-12-02T03:16:12Z".into(),
        interrupted: false,
        environment: Environment::default(),
        verdict,
        modes: BTreeMap::from([("sync".into(), sync), ("async".into(), asynchronous)]),
        order: vec!["sync".into(), "async".into()],
        thresholds: vec![
            threshold("sync", "refused > 0", 50.0, "", true),
            threshold("async", "error_rate < 1%", 0.0, "%", true),
            threshold("async", "lost == 0", lost as f64, "", pass),
            threshold(
                "async",
                "duplicated == 0",
                f64::from(u8::from(!pass)),
                "",
                pass,
            ),
        ],
        invariants: Vec::new(),
        events: Vec::new(),
        series: BTreeMap::new(),
    }
}

fn finished(s: &mut State, verdict: Verdict) {
    update(
        s,
        Msg::Experiment(ExperimentMsg::Finished {
            result: Box::new(result(verdict)),
            folder: "results/showdown-20261202T031500Z/".into(),
            report_error: None,
        }),
    );
}

#[test]
fn the_picker_lists_every_builtin_with_its_lesson() {
    let mut s = sized(100, 50);
    press(&mut s, KeyCode::Char('e'));
    press(&mut s, KeyCode::Down);
    assert!(matches!(s.prompt, Prompt::ExperimentPicker(_)));
    insta::assert_snapshot!(screen(&s, 100, 50));
}

#[test]
fn the_picker_on_a_small_terminal_wraps_the_chosen_lesson_only() {
    let mut s = sized(80, 24);
    press(&mut s, KeyCode::Char('e'));
    insta::assert_snapshot!(screen(&s, 80, 24));
}

#[test]
fn the_status_line_while_an_experiment_runs() {
    let s = showdown_running(120, 30);
    let line = render(120, 1, |frame, area| {
        ms_tui::ui::status::draw(frame, area, &s)
    })
    .backend()
    .to_string();
    assert!(line.contains("experiment showdown: load 12s/30s"), "{line}");
    insta::assert_snapshot!(line);
}

#[test]
fn the_progress_of_the_running_experiment() {
    let mut s = showdown_running(120, 30);
    press(&mut s, KeyCode::Char('e'));
    assert_eq!(s.prompt, Prompt::ExperimentProgress);
    insta::assert_snapshot!(screen(&s, 120, 30));
}

#[test]
fn stopping_asks_first() {
    let mut s = showdown_running(120, 30);
    press(&mut s, KeyCode::Char('e'));
    press(&mut s, KeyCode::Esc);
    assert_eq!(s.prompt, Prompt::ConfirmStopExperiment);
    insta::assert_snapshot!(screen(&s, 120, 30));
}

#[test]
fn the_timeline_shows_the_experiment_s_load_and_its_steps() {
    let mut s = showdown_running(120, 30);
    while s.view != ms_tui::app::views::View::Timeline {
        press(&mut s, KeyCode::Char('v'));
    }
    assert_eq!(s.view, ms_tui::app::views::View::Timeline);
    let screen = screen(&s, 120, 30);
    assert!(screen.contains("▲stop sync/payment"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn the_verdict_of_a_pass() {
    let mut s = showdown_running(110, 34);
    finished(&mut s, Verdict::Pass);
    assert_eq!(s.prompt, Prompt::Verdict);
    insta::assert_snapshot!(screen(&s, 110, 34));
}

#[test]
fn the_verdict_of_a_fail_and_the_folder_in_the_status_line_after_it() {
    let mut s = showdown_running(110, 34);
    finished(&mut s, Verdict::Fail);
    insta::assert_snapshot!("verdict_fail", screen(&s, 110, 34));
    press(&mut s, KeyCode::Esc);
    assert_eq!(s.prompt, Prompt::None);
    let line = render(140, 1, |frame, area| {
        ms_tui::ui::status::draw(frame, area, &s)
    })
    .backend()
    .to_string();
    assert!(
        line.contains("experiment showdown FAIL → results/showdown-20261202T031500Z/"),
        "{line}"
    );
}
