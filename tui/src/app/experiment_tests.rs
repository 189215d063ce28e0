//! The experiment rules through `update`, as the app task calls it: the picker, the start
//! (and the control room's load stopped for it), the progress on the timeline, the stop and
//! its question, the verdict, a run that could not start.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use common::Mode;
use common::scenario::ScenarioId;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::super::events::EventKind;
use super::super::experiment_worker::{ExperimentCommand, ExperimentMsg};
use super::super::msg::{Command, Msg};
use super::super::state::{Prompt, State};
use super::super::update::update;
use super::*;
use crate::experiment::result::{Environment, ModeResult, ThresholdResult};
use crate::experiment::runner::Tick;
use crate::load::worker::LoadCommand;

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
}

fn progress(s: u64, progress: Progress) -> Msg {
    Msg::Experiment(ExperimentMsg::Progress {
        at: at(s),
        progress,
    })
}

fn event(t_s: f64, kind: &str, target: &str, detail: &str) -> Event {
    Event {
        t_s,
        kind: kind.into(),
        target: target.into(),
        detail: detail.into(),
    }
}

fn picker(s: &State) -> &super::super::experimentkeys::Picker {
    match &s.prompt {
        Prompt::ExperimentPicker(p) => p,
        other => panic!("not the picker: {other:?}"),
    }
}

/// `e`, then Enter on the first built-in (showdown).
fn started(demo: bool) -> (State, Vec<Command>) {
    let mut s = State::new(demo);
    update(&mut s, Msg::Clock(at(0)));
    update(&mut s, key('e'));
    let commands = update(&mut s, code(KeyCode::Enter));
    (s, commands)
}

pub fn result(verdict: Verdict, interrupted: bool) -> RunResult {
    let mode = |name: &str, accepted, lost| ModeResult {
        mode: name.into(),
        sent: 150,
        accepted,
        completed: accepted - lost,
        lost,
        ..ModeResult::default()
    };
    RunResult {
        experiment: "showdown".into(),
        lesson: "With payment down, sync refuses; async accepts.".into(),
        scenario: "s7".into(),
        started_at: "2026-12-02T03:15:00Z".into(),
        ended_at: "2026-12-02T03:16:10Z".into(),
        interrupted,
        environment: Environment::default(),
        verdict,
        modes: BTreeMap::from([
            ("sync".into(), mode("sync", 100, 0)),
            ("async".into(), mode("async", 150, 2)),
        ]),
        order: vec!["sync".into(), "async".into()],
        thresholds: vec![ThresholdResult {
            mode: "async".into(),
            expr: "lost == 0".into(),
            value: Some(2.0),
            unit: String::new(),
            pass: verdict == Verdict::Pass,
        }],
        invariants: Vec::new(),
        events: Vec::new(),
        series: BTreeMap::new(),
    }
}

fn finished(verdict: Verdict, interrupted: bool) -> Msg {
    Msg::Experiment(ExperimentMsg::Finished {
        result: Box::new(result(verdict, interrupted)),
        folder: "results/showdown-20261202T031500Z/".into(),
        report_error: None,
    })
}

#[test]
fn e_opens_the_picker_with_showdown_first_and_the_keys_move_and_close_it() {
    let mut s = State::new(false);
    assert!(update(&mut s, key('e')).is_empty());
    let names: Vec<String> = picker(&s).plans.iter().map(|p| p.name.clone()).collect();
    assert_eq!(names[0], "showdown");
    assert_eq!(names.len(), crate::experiment::builtin::BUILTINS.len());
    update(&mut s, code(KeyCode::Down));
    update(&mut s, key('j'));
    assert_eq!(picker(&s).cursor, 2);
    update(&mut s, key('k'));
    assert_eq!(picker(&s).cursor, 1, "k is up here, not kill");
    update(&mut s, code(KeyCode::End));
    update(&mut s, code(KeyCode::Down));
    assert_eq!(picker(&s).cursor, names.len() - 1, "stays on the last");
    update(&mut s, code(KeyCode::Home));
    update(&mut s, code(KeyCode::Up));
    assert_eq!(picker(&s).cursor, 0);
    update(&mut s, code(KeyCode::Char('x')));
    assert!(
        matches!(s.prompt, Prompt::ExperimentPicker(_)),
        "a stray key"
    );
    assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
    assert_eq!(s.prompt, Prompt::None);
    assert!(s.experiments.running.is_none());
}

#[test]
fn enter_starts_the_chosen_one_on_its_scenario_and_marks_it() {
    let mut s = State::new(false);
    update(&mut s, key('e'));
    update(&mut s, code(KeyCode::Down));
    let chosen = picker(&s).plans[1].clone();
    let commands = update(&mut s, code(KeyCode::Enter));
    assert_eq!(s.prompt, Prompt::None);
    assert_eq!(
        commands.last(),
        Some(&Command::Experiment(ExperimentCommand::Start(Box::new(
            chosen.clone()
        ))))
    );
    assert_eq!(s.measure.selected, chosen.scenario);
    let running = s.experiments.running.as_ref().unwrap();
    assert_eq!(running.plan.name, chosen.name);
    assert_eq!(
        s.events.last().map(|e| (e.kind, e.label.clone())),
        Some((EventKind::Load, format!("experiment {}", chosen.name)))
    );
}

#[test]
fn starting_while_the_control_room_load_runs_stops_that_load_first() {
    let mut s = State::new(false);
    update(&mut s, key('7'));
    update(&mut s, key('l'));
    assert_eq!(s.measure.loading, Some(ScenarioId::S7));
    update(&mut s, key('e'));
    let commands = update(&mut s, code(KeyCode::Enter));
    assert_eq!(commands[0], Command::Load(LoadCommand::Stop));
    assert!(matches!(
        commands.last(),
        Some(Command::Experiment(ExperimentCommand::Start(_)))
    ));
    assert_eq!(s.measure.loading, None);
    let notice = s.notice.as_ref().unwrap();
    assert!(
        notice.text.contains("S7 load stopped") && notice.text.contains("showdown started"),
        "{notice:?}"
    );
}

#[test]
fn no_second_load_or_experiment_beside_a_running_one() {
    let (mut s, _) = started(false);
    assert!(update(&mut s, key('l')).is_empty());
    assert_eq!(s.measure.loading, None);
    assert!(s.notice.as_ref().unwrap().error);
    update(&mut s, key('e'));
    assert_eq!(s.prompt, Prompt::ExperimentProgress, "e shows what runs");
    let plan = s.experiments.running.as_ref().unwrap().plan.clone();
    assert!(super::super::experimentkeys::start(&mut s, plan).is_empty());
}

#[test]
fn esc_in_the_progress_asks_first_and_yes_stops_the_run() {
    let (mut s, _) = started(false);
    update(&mut s, key('e'));
    assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
    assert_eq!(s.prompt, Prompt::ConfirmStopExperiment);
    update(&mut s, key('z'));
    assert_eq!(s.prompt, Prompt::ConfirmStopExperiment, "a stray key");
    assert!(update(&mut s, key('n')).is_empty());
    assert_eq!(s.prompt, Prompt::ExperimentProgress);
    assert!(!s.experiments.running.as_ref().unwrap().stopping);
    update(&mut s, key('s'));
    assert_eq!(
        update(&mut s, key('y')),
        vec![Command::Experiment(ExperimentCommand::Stop)]
    );
    let running = s.experiments.running.as_ref().unwrap();
    assert!(running.stopping);
    assert!(running.progress().starts_with("stopping"));
    // Asked once is enough.
    assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
    assert_eq!(s.prompt, Prompt::None);
}

#[test]
fn enter_or_e_close_the_progress_and_the_run_goes_on() {
    let (mut s, _) = started(false);
    for close in [code(KeyCode::Enter), key('e'), key('q')] {
        update(&mut s, key('e'));
        assert!(update(&mut s, close).is_empty());
        assert_eq!(s.prompt, Prompt::None);
    }
    assert!(s.experiments.running.is_some());
}

#[test]
fn demo_stops_without_asking() {
    let (mut s, _) = started(true);
    update(&mut s, key('e'));
    assert_eq!(
        update(&mut s, code(KeyCode::Esc)),
        vec![Command::Experiment(ExperimentCommand::Stop)]
    );
}

#[test]
fn progress_moves_the_phase_and_feeds_each_mode_of_the_timeline() {
    let (mut s, _) = started(false);
    update(
        &mut s,
        progress(
            1,
            Progress::Phase {
                round: "sync + async".into(),
                phase: "load".into(),
            },
        ),
    );
    let row = |answered, p99| SecondRow {
        t_s: 12.0,
        answered,
        accepted: answered,
        errors: 1,
        ack_p50_ms: Some(p99 / 2.0),
        ack_p99_ms: Some(p99),
        queue_depth: None,
        ..SecondRow::default()
    };
    let mut async_row = row(5, 4.0);
    async_row.queue_depth = Some(17);
    update(
        &mut s,
        progress(
            13,
            Progress::Second(Tick {
                phase: "load".into(),
                t_s: 12.0,
                of_s: 30.0,
                lanes: vec![("sync".into(), row(4, 900.0)), ("async".into(), async_row)],
            }),
        ),
    );
    assert_eq!(
        s.now,
        at(13),
        "the chart's right edge follows the worker's clock"
    );
    let running = s.experiments.running.as_ref().unwrap();
    assert_eq!(running.progress(), "load 12s/30s");
    let sync = s.series.latest(Mode::Sync).unwrap();
    assert_eq!(
        (sync.answers, sync.errors, sync.p99),
        (4, 1, Some(Duration::from_millis(900)))
    );
    let asynchronous = s.series.latest(Mode::Async).unwrap();
    assert_eq!(asynchronous.queue_depth, Some(17));
    update(
        &mut s,
        progress(
            40,
            Progress::Second(Tick {
                phase: "grace".into(),
                t_s: 39.0,
                of_s: 30.0,
                lanes: Vec::new(),
            }),
        ),
    );
    assert_eq!(
        s.experiments.running.as_ref().unwrap().progress(),
        "grace 39s (load 30s)"
    );
}

#[test]
fn a_variant_lane_feeds_its_mode() {
    let plan = crate::experiment::builtin::all().into_iter().find(|p| {
        p.rounds
            .iter()
            .any(|r| r.lanes.iter().any(|l| l.key != l.mode.as_str()))
    });
    let Some(plan) = plan else {
        return; // no built-in has variants today
    };
    let running = Running::new(plan.clone());
    for lane in plan.rounds.iter().flat_map(|r| &r.lanes) {
        assert_eq!(running.mode_of(&lane.key), Some(lane.mode));
    }
    assert_eq!(running.mode_of("no-such-lane"), None);
}

#[test]
fn the_steps_become_markers_labelled_like_the_control_room_s_own() {
    let (mut s, _) = started(false);
    update(
        &mut s,
        progress(
            9,
            Progress::Event(event(8.0, "fault", "sync/payment", "stop")),
        ),
    );
    update(
        &mut s,
        progress(
            19,
            Progress::Event(event(18.0, "revert", "sync/payment", "stop (until)")),
        ),
    );
    let markers: Vec<(SystemTime, EventKind, &str)> = s
        .events
        .iter()
        .skip(1)
        .map(|e| (e.at, e.kind, e.label.as_str()))
        .collect();
    assert_eq!(
        markers,
        [
            (at(9), EventKind::FaultStart, "stop sync/payment"),
            (at(19), EventKind::FaultEnd, "end stop sync/payment"),
        ]
    );
    assert_eq!(s.experiments.running.as_ref().unwrap().recent.len(), 2);
}

#[test]
fn marker_labels_per_kind() {
    let label = |kind, target, detail| marker(&event(0.0, kind, target, detail));
    assert_eq!(
        label("fault", "sync/search", "+1000 ms"),
        Some((EventKind::FaultStart, "latency +1000 ms sync/search".into()))
    );
    assert_eq!(
        label("fault", "async/order", "50 % → 503"),
        Some((
            EventKind::FaultStart,
            "errors 50 % → 503 async/order".into()
        ))
    );
    assert_eq!(
        label("action", "async/email", "kill"),
        Some((EventKind::Container, "kill async/email".into()))
    );
    assert_eq!(
        label("action", "sync/payment", "start (restore)"),
        Some((EventKind::Container, "start sync/payment (restore)".into()))
    );
    assert_eq!(
        label("knob", "email", r#"{"delay_ms":500}"#),
        Some((EventKind::Knob, r#"knobs email {"delay_ms":500}"#.into()))
    );
    assert_eq!(
        label("knob", "", "setup knobs restored"),
        Some((EventKind::Knob, "setup knobs restored".into()))
    );
    assert_eq!(
        label("rate", "", "200 req/s"),
        Some((EventKind::Load, "rate 200 req/s".into()))
    );
    assert_eq!(
        label("purge", "order_queue", "purged 12 messages"),
        Some((EventKind::Container, "purge order_queue 12 messages".into()))
    );
    assert_eq!(
        label("error", "sync/payment", "could not revert"),
        Some((EventKind::FaultFailed, "failed sync/payment".into()))
    );
    assert_eq!(label("phase", "", "data reset (POST /admin/reset)"), None);
}

#[test]
fn the_verdict_shows_when_it_ends_and_the_folder_stays_named() {
    let (mut s, _) = started(false);
    update(&mut s, key('e'));
    update(&mut s, finished(Verdict::Fail, false));
    assert!(s.experiments.running.is_none());
    assert_eq!(s.prompt, Prompt::Verdict, "over the progress overlay");
    let last = s.experiments.last.as_ref().unwrap();
    assert_eq!(last.word(), "FAIL");
    assert_eq!(last.folder, "results/showdown-20261202T031500Z/");
    assert!(s.notice.as_ref().unwrap().text.contains(&last.folder));
    assert_eq!(
        s.events.last().map(|e| e.label.as_str()),
        Some("experiment showdown FAIL")
    );
    update(&mut s, key('z'));
    assert_eq!(s.prompt, Prompt::Verdict, "a stray key");
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.prompt, Prompt::None);
    // A late second of the ended run changes nothing.
    update(
        &mut s,
        progress(
            80,
            Progress::Phase {
                round: String::new(),
                phase: "accounting".into(),
            },
        ),
    );
    assert!(s.experiments.running.is_none());
}

#[test]
fn an_interrupted_run_says_so_and_another_question_is_not_replaced() {
    let (mut s, _) = started(false);
    s.prompt = Prompt::Filter {
        input: "abc".into(),
    };
    update(&mut s, finished(Verdict::Fail, true));
    assert!(matches!(s.prompt, Prompt::Filter { .. }));
    assert_eq!(s.experiments.last.as_ref().unwrap().word(), "INTERRUPTED");
    assert!(s.notice.as_ref().unwrap().text.contains("INTERRUPTED"));
}

#[test]
fn a_run_that_could_not_start_says_why_in_the_status_line() {
    let (mut s, _) = started(false);
    update(&mut s, key('e'));
    update(
        &mut s,
        Msg::Experiment(ExperimentMsg::Failed {
            name: "showdown".into(),
            error: "no admin token: set MS_ADMIN_TOKEN".into(),
        }),
    );
    assert!(s.experiments.running.is_none());
    assert_eq!(s.prompt, Prompt::None);
    let notice = s.notice.as_ref().unwrap();
    assert!(notice.error);
    assert_eq!(
        notice.text,
        "experiment showdown: no admin token: set MS_ADMIN_TOKEN"
    );
    update(&mut s, key('e'));
    assert!(
        matches!(s.prompt, Prompt::ExperimentPicker(_)),
        "free to pick again"
    );
}

#[test]
fn completions_of_the_experiment_s_scenario_feed_the_chart() {
    let (mut s, _) = started(false);
    let figures = crate::broker::CompletionFigures {
        scenario: ScenarioId::S7,
        mode: Mode::Async,
        total: crate::load::Stats::new().summary(Duration::from_secs(1)),
        last: Duration::from_millis(30),
        window_p99: Duration::from_millis(40),
    };
    update(
        &mut s,
        Msg::Broker(crate::broker::BrokerMsg::Completions(vec![figures])),
    );
    assert_eq!(
        s.series.mode(Mode::Async).back().and_then(|x| x.done_p99),
        Some(Duration::from_millis(40))
    );
}
