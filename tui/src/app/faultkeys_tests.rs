//! The fault keys and the fault reports, through `update` as the app task calls it.

use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::app::events::EventKind;
use crate::app::faultboard::{Left, left};
use crate::app::msg::Msg;
use crate::app::update::update;
use crate::docker::container::info;
use crate::docker::{Action, DockerMsg, RunState, Target};
use crate::faults::{ActiveFault, FaultMsg};
use common::Mode;

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
}

/// Connected, sync search selected, the clock at `at(0)`.
fn on_search(demo: bool) -> State {
    let mut s = State::new(demo);
    update(&mut s, Msg::Clock(at(0)));
    update(
        &mut s,
        Msg::Docker(DockerMsg::Connected {
            version: "20.10.24".into(),
        }),
    );
    update(
        &mut s,
        Msg::Docker(DockerMsg::Snapshot(vec![
            info(Group::Sync, "search", RunState::Running),
            info(Group::Async, "email", RunState::Running),
            info(Group::Infra, "rabbitmq", RunState::Running),
        ])),
    );
    assert!(s.containers.select(Group::Sync, "search"));
    s
}

fn search_latency(ms: u64, secs: u64) -> FaultRequest {
    FaultRequest {
        target: FaultTarget::service("search", Mode::Sync),
        kind: FaultKind::Latency { ms, jitter_ms: 0 },
        route_prefix: None,
        duration: Duration::from_secs(secs),
    }
}

fn active(request: &FaultRequest, ends: SystemTime) -> ActiveFault {
    ActiveFault {
        target: request.target.clone(),
        kind: request.kind.clone(),
        route_prefix: None,
        expires_at: Some(ends),
        ours: true,
    }
}

fn menu(s: &State) -> &FaultMenu {
    match &s.prompt {
        Prompt::FaultMenu(menu) => menu,
        other => panic!("no menu: {other:?}"),
    }
}

#[test]
fn i_opens_the_menu_arrows_choose_and_plus_minus_set_the_duration() {
    let mut s = on_search(false);
    assert!(update(&mut s, key('i')).is_empty());
    let m = menu(&s);
    assert_eq!(m.target.label(), "sync/search");
    assert_eq!(m.duration, DEFAULT_DURATION);
    assert_eq!(m.choices.len(), 8, "no slow consumer on a sync service");
    update(&mut s, code(KeyCode::Down));
    assert_eq!(menu(&s).cursor, 1);
    update(&mut s, code(KeyCode::Up));
    update(&mut s, code(KeyCode::Up));
    assert_eq!(menu(&s).cursor, 0, "stops at the top");
    update(&mut s, code(KeyCode::End));
    assert_eq!(menu(&s).choices[menu(&s).cursor].kind, FaultKind::Pause);
    update(&mut s, code(KeyCode::Down));
    assert_eq!(menu(&s).cursor, 7, "stops at the bottom");
    for _ in 0..3 {
        update(&mut s, key('-'));
    }
    assert_eq!(
        menu(&s).duration,
        Duration::from_secs(10),
        "30 → 20 → 15 → 10"
    );
    update(&mut s, key('+'));
    assert_eq!(menu(&s).duration, Duration::from_secs(15));
    for _ in 0..20 {
        update(&mut s, key('+'));
    }
    assert_eq!(menu(&s).duration, Duration::from_secs(600), "the last step");
    assert!(
        update(&mut s, key('k')).is_empty(),
        "k in the menu kills nothing"
    );
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.prompt, Prompt::None);
}

#[test]
fn enter_asks_first_and_yes_sends_the_fault() {
    let mut s = on_search(false);
    update(&mut s, key('i'));
    update(&mut s, code(KeyCode::Down)); // latency +1 s
    update(&mut s, key('-'));
    update(&mut s, key('-')); // 30 → 20 → 15 s
    update(&mut s, key('-')); // 10 s
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    let want = FaultCommand::Apply(search_latency(1000, 10));
    assert_eq!(s.prompt, Prompt::ConfirmFault(want.clone()));
    assert!(
        update(&mut s, key('z')).is_empty(),
        "a stray key answers nothing"
    );
    assert_eq!(update(&mut s, key('y')), [Command::Fault(want)]);
    assert_eq!(s.prompt, Prompt::None);
    let notice = s.notice.clone().unwrap();
    assert_eq!(notice.text, "latency +1000 ms sync/search for 10 s…");
}

#[test]
fn no_cancels_and_demo_does_not_ask() {
    let mut s = on_search(false);
    update(&mut s, key('i'));
    update(&mut s, code(KeyCode::Enter));
    assert!(update(&mut s, key('n')).is_empty());
    assert_eq!(s.prompt, Prompt::None);
    assert!(s.notice.as_ref().unwrap().text.contains("cancelled"));

    let mut demo = on_search(true);
    update(&mut demo, key('i'));
    assert_eq!(
        update(&mut demo, code(KeyCode::Enter)),
        [Command::Fault(FaultCommand::Apply(search_latency(200, 30)))]
    );
}

#[test]
fn the_menu_offers_what_the_container_can_take() {
    let mut s = on_search(true);
    assert!(s.containers.select(Group::Async, "email"));
    update(&mut s, key('i'));
    let kinds: Vec<&str> = menu(&s).choices.iter().map(|c| c.kind.word()).collect();
    assert!(kinds.contains(&"slow-consumer"), "{kinds:?}");
    update(&mut s, code(KeyCode::Esc));
    assert!(s.containers.select(Group::Infra, "rabbitmq"));
    update(&mut s, key('i'));
    let kinds: Vec<&str> = menu(&s).choices.iter().map(|c| c.kind.word()).collect();
    assert_eq!(
        kinds,
        ["stop", "pause"],
        "no admin API on the broker; its outage is a stop or a pause"
    );
    update(&mut s, code(KeyCode::Esc));
    assert!(!s.containers.select(Group::Sync, "nothing"));
}

#[test]
fn x_reverts_all_after_a_yes_and_only_when_there_is_something() {
    let mut s = on_search(false);
    assert!(update(&mut s, key('x')).is_empty());
    assert_eq!(s.prompt, Prompt::None, "nothing to revert: no question");
    let request = search_latency(1000, 30);
    update(
        &mut s,
        Msg::Fault(FaultMsg::Active(vec![active(&request, at(30))])),
    );
    assert!(update(&mut s, key('x')).is_empty());
    assert_eq!(s.prompt, Prompt::ConfirmFault(FaultCommand::RevertAll));
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        [Command::Fault(FaultCommand::RevertAll)]
    );

    let mut demo = on_search(true);
    update(
        &mut demo,
        Msg::Fault(FaultMsg::Applied(active(&request, at(30)))),
    );
    assert_eq!(
        update(&mut demo, key('x')),
        [Command::Fault(FaultCommand::RevertAll)]
    );
}

#[test]
fn time_left_ticks_down_with_the_clock_and_the_listing_replaces() {
    let mut s = on_search(true);
    let request = search_latency(1000, 30);
    update(
        &mut s,
        Msg::Fault(FaultMsg::Applied(active(&request, at(30)))),
    );
    let left_now = |s: &State| left(&s.faults.active[0], s.now);
    assert_eq!(left_now(&s), Left::In(Duration::from_secs(30)));
    update(&mut s, Msg::Clock(at(29)));
    assert_eq!(left_now(&s), Left::In(Duration::from_secs(1)));
    update(&mut s, Msg::Clock(at(30)));
    assert_eq!(left_now(&s), Left::Ending);
    update(&mut s, Msg::Clock(at(40)));
    assert_eq!(
        left_now(&s),
        Left::Overdue,
        "still listed long after its end"
    );
    // The service expired it; the worker's next listing says so.
    update(&mut s, Msg::Fault(FaultMsg::Active(Vec::new())));
    assert!(s.faults.is_empty());
}

#[test]
fn fault_reports_become_events_and_failures_are_loud() {
    let mut s = on_search(true);
    let request = search_latency(1000, 30);
    update(
        &mut s,
        Msg::Fault(FaultMsg::Applied(active(&request, at(30)))),
    );
    update(&mut s, Msg::Clock(at(30)));
    update(
        &mut s,
        Msg::Fault(FaultMsg::Reverted {
            key: "latency sync/search".into(),
            why: "expired".into(),
        }),
    );
    update(
        &mut s,
        Msg::Fault(FaultMsg::Failed {
            key: "pause sync/payment".into(),
            error: "Docker unreachable".into(),
            unrevertable: true,
        }),
    );
    let events: Vec<(EventKind, &str, SystemTime)> = s
        .events
        .iter()
        .map(|e| (e.kind, e.label.as_str(), e.at))
        .collect();
    assert_eq!(
        events,
        [
            (EventKind::FaultStart, "latency +1000 ms sync/search", at(0)),
            (EventKind::FaultEnd, "end latency sync/search", at(30)),
            (EventKind::FaultFailed, "failed pause sync/payment", at(30)),
        ]
    );
    assert!(s.faults.active.is_empty());
    assert_eq!(s.faults.unrevertable.len(), 1);
    let notice = s.notice.clone().unwrap();
    assert!(
        notice.error && notice.text.contains("COULD NOT REVERT"),
        "{notice:?}"
    );
}

#[test]
fn actions_knobs_and_load_keys_are_events_too() {
    let mut s = on_search(true);
    update(
        &mut s,
        Msg::Docker(DockerMsg::ActionDone {
            target: Target {
                id: "async-email".into(),
                label: "async/email".into(),
            },
            action: Action::Kill,
            result: Ok(()),
        }),
    );
    update(
        &mut s,
        Msg::Docker(DockerMsg::ActionDone {
            target: Target {
                id: "async-email".into(),
                label: "async/email".into(),
            },
            action: Action::Start,
            result: Err("boom".into()),
        }),
    );
    update(&mut s, key('3'));
    update(&mut s, key('l'));
    update(&mut s, key('+'));
    update(
        &mut s,
        Msg::Knob(crate::admin::KnobOutcome {
            label: "payment failure rate 0.3".into(),
            applied: 2,
            of: 2,
            error: None,
            effective: Vec::new(),
        }),
    );
    update(&mut s, key('l'));
    let labels: Vec<&str> = s.events.iter().map(|e| e.label.as_str()).collect();
    let rate = s.measure.rate;
    assert_eq!(
        labels,
        [
            "kill async/email".to_string(),
            format!(
                "load S3 {}/s",
                common::scenario::get(common::scenario::ScenarioId::S3).default_rate
            ),
            format!("rate {rate}/s"),
            "payment failure rate 0.3".into(),
            "load S3 stop".into(),
        ],
        "a failed start is no event"
    );
}

#[test]
fn t_toggles_the_chart_and_v_cycles_the_views() {
    use crate::app::views::View;
    let mut s = on_search(false);
    assert!(s.chart);
    update(&mut s, key('t'));
    assert!(!s.chart);
    update(
        &mut s,
        Msg::Resize {
            width: 80,
            height: 24,
        },
    );
    assert_eq!(s.view.shown(24), View::Measure);
    update(&mut s, key('v'));
    assert_eq!(s.view, View::Timeline);
    update(&mut s, key('v'));
    assert_eq!(s.view, View::Operate);
    update(&mut s, key('v'));
    assert_eq!(s.view, View::Measure);
}

#[test]
fn i_on_a_replica_row_aims_at_that_replica() {
    let mut s = on_search(false);
    let mut second = info(Group::Async, "email", RunState::Running);
    second.replica = 2;
    second.id = "async-email-2".into();
    update(&mut s, Msg::Docker(DockerMsg::Upsert(second)));
    assert!(s.containers.select_replica(Group::Async, "email", 2));
    update(&mut s, key('i'));
    assert_eq!(menu(&s).target, FaultTarget::replica_of("email", 2));
    assert_eq!(menu(&s).target.label(), "async/email#2");
}
