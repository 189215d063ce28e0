//! `update`'s rules, through `update` as the app task calls it.

use super::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use common::scenario::ScenarioId;

use super::super::state::{Pane, Prompt};
use crate::docker::ContainerInfo;
use crate::docker::container::info;
use crate::docker::logline::sample as log;
use crate::docker::{Action, Group, RunState, Target};

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn connected(demo: bool, rows: Vec<ContainerInfo>) -> State {
    let mut s = State::new(demo);
    update(
        &mut s,
        Msg::Docker(DockerMsg::Connected {
            version: "20.10.24".into(),
        }),
    );
    update(&mut s, Msg::Docker(DockerMsg::Snapshot(rows)));
    s
}

fn stack() -> Vec<ContainerInfo> {
    vec![
        info(Group::Sync, "email", RunState::Running),
        info(Group::Async, "email", RunState::Running),
        info(Group::Async, "user", RunState::Exited(137)),
        info(Group::Infra, "rabbitmq", RunState::Paused),
    ]
}

fn select(s: &mut State, group: Group, service: &str) {
    assert!(s.containers.select(group, service));
}

#[test]
fn kill_asks_first_and_yes_sends_it() {
    let mut s = connected(false, stack());
    select(&mut s, Group::Async, "email");
    assert!(update(&mut s, key('k')).is_empty());
    let target = Target {
        id: "async-email".into(),
        label: "async/email".into(),
    };
    assert_eq!(
        s.prompt,
        Prompt::Confirm {
            target: target.clone(),
            action: Action::Kill
        }
    );
    assert!(
        update(&mut s, key('x')).is_empty(),
        "a stray key answers nothing"
    );
    let cmds = update(&mut s, key('y'));
    assert_eq!(
        cmds,
        [Command::Docker {
            target,
            action: Action::Kill
        }]
    );
    assert_eq!(s.prompt, Prompt::None);
    assert_eq!(s.in_flight("async-email"), Some(Action::Kill));
}

#[test]
fn no_cancels_and_demo_does_not_ask() {
    let mut s = connected(false, stack());
    select(&mut s, Group::Sync, "email");
    update(&mut s, key('r'));
    assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
    assert_eq!(s.prompt, Prompt::None);
    assert!(
        s.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("cancelled"))
    );

    let mut demo = connected(true, stack());
    select(&mut demo, Group::Sync, "email");
    let cmds = update(&mut demo, key('r'));
    assert!(matches!(
        cmds.as_slice(),
        [Command::Docker {
            action: Action::Restart,
            ..
        }]
    ));
}

#[test]
fn s_and_p_pick_the_action_from_the_state() {
    let mut s = connected(true, stack());
    select(&mut s, Group::Async, "user");
    let start = update(&mut s, key('s'));
    assert!(matches!(
        start.as_slice(),
        [Command::Docker {
            action: Action::Start,
            ..
        }]
    ));
    select(&mut s, Group::Infra, "rabbitmq");
    assert!(matches!(
        update(&mut s, key('p')).as_slice(),
        [Command::Docker {
            action: Action::Unpause,
            ..
        }]
    ));
    select(&mut s, Group::Async, "email");
    assert!(matches!(
        update(&mut s, key('p')).as_slice(),
        [Command::Docker {
            action: Action::Pause,
            ..
        }]
    ));
}

#[test]
fn start_never_asks_even_without_demo() {
    let mut s = connected(false, stack());
    select(&mut s, Group::Async, "user");
    assert_eq!(update(&mut s, key('s')).len(), 1);
}

#[test]
fn refusals_say_why_and_send_nothing() {
    let mut s = connected(true, stack());
    select(&mut s, Group::Async, "user");
    assert!(update(&mut s, key('k')).is_empty());
    assert!(update(&mut s, key('p')).is_empty());
    assert!(s.notice.as_ref().is_some_and(|n| n.error));

    select(&mut s, Group::Sync, "email");
    assert_eq!(update(&mut s, key('k')).len(), 1);
    assert!(
        update(&mut s, key('k')).is_empty(),
        "one action per container at a time"
    );
    update(
        &mut s,
        Msg::Docker(DockerMsg::ActionDone {
            target: Target {
                id: "sync-email".into(),
                label: "sync/email".into(),
            },
            action: Action::Kill,
            result: Err("boom".into()),
        }),
    );
    assert!(s.in_flight.is_empty());
    assert!(
        s.notice
            .as_ref()
            .is_some_and(|n| n.error && n.text.contains("boom"))
    );
}

#[test]
fn nothing_is_sent_while_docker_is_unreachable() {
    let mut s = connected(true, stack());
    update(
        &mut s,
        Msg::Docker(DockerMsg::Unreachable {
            error: "connection refused".into(),
            retry_in: std::time::Duration::from_secs(2),
        }),
    );
    select(&mut s, Group::Sync, "email");
    assert!(update(&mut s, key('k')).is_empty());
    assert!(matches!(s.docker, DockerStatus::Unreachable { .. }));
}

#[test]
fn q_quits_but_first_closes_help() {
    let mut s = connected(false, stack());
    update(&mut s, key('?'));
    assert_eq!(s.prompt, Prompt::Help);
    update(&mut s, key('k'));
    assert_eq!(s.prompt, Prompt::Help, "keys do nothing under the help");
    update(&mut s, key('q'));
    assert_eq!(s.prompt, Prompt::None);
    assert!(!s.quit);
    update(&mut s, key('q'));
    assert!(s.quit);
}

#[test]
fn ctrl_c_quits_from_any_prompt() {
    let mut s = connected(false, stack());
    update(&mut s, key('/'));
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert!(s.quit);
}

#[test]
fn filter_applies_while_typing_and_esc_clears_it() {
    let mut s = connected(false, stack());
    update(&mut s, key('/'));
    for c in "AbC".chars() {
        update(&mut s, key(c));
    }
    assert_eq!(s.logs.filter(), "abc");
    update(&mut s, code(KeyCode::Backspace));
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(s.prompt, Prompt::None);
    assert_eq!(s.logs.filter(), "ab");
    update(&mut s, key('/'));
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.logs.filter(), "");
}

#[test]
fn typing_a_filter_never_triggers_actions() {
    let mut s = connected(true, stack());
    update(&mut s, key('/'));
    for c in "kspqr".chars() {
        assert!(update(&mut s, key(c)).is_empty());
    }
    assert!(!s.quit);
    assert_eq!(s.logs.filter(), "kspqr");
}

#[test]
fn scrolling_the_logs_pauses_follow_and_g_resumes() {
    let mut s = connected(false, stack());
    update(
        &mut s,
        Msg::Resize {
            width: 120,
            height: 40,
        },
    );
    update(
        &mut s,
        Msg::Docker(DockerMsg::Logs(
            (0..200).map(|i| log("email", &i.to_string())).collect(),
        )),
    );
    update(&mut s, code(KeyCode::Tab));
    assert_eq!(s.focus, Pane::Logs);
    update(&mut s, code(KeyCode::Up));
    assert!(!s.logs.follow);
    assert_eq!(s.logs.scroll_back(), 1);
    update(
        &mut s,
        Msg::Docker(DockerMsg::Logs(vec![log("email", "new")])),
    );
    assert_eq!(s.logs.scroll_back(), 2, "the view holds still");
    update(&mut s, key('G'));
    assert!(s.logs.follow);
    assert_eq!(s.logs.scroll_back(), 0);
}

#[test]
fn paging_moves_by_the_page_the_app_task_measured() {
    let mut s = connected(false, stack());
    update(&mut s, Msg::LogPage { rows: 5 });
    update(
        &mut s,
        Msg::Docker(DockerMsg::Logs(
            (0..20).map(|i| log("email", &i.to_string())).collect(),
        )),
    );
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::PageUp));
    assert_eq!(s.logs.scroll_back(), 5);
    update(&mut s, code(KeyCode::Home));
    assert_eq!(
        s.logs.scroll_back(),
        15,
        "the oldest page: 20 lines, 5 shown"
    );
}

#[test]
fn arrows_in_the_containers_pane_move_the_selection() {
    let mut s = connected(false, stack());
    assert_eq!(s.containers.selected_index(), Some(0));
    update(&mut s, code(KeyCode::Down));
    assert_eq!(
        s.containers.selected().map(|c| c.label()),
        Some("async/user".to_string()),
        "sync, async, infra; catalogue order within"
    );
    update(&mut s, code(KeyCode::Down));
    assert_eq!(
        s.containers.selected().map(|c| c.label()),
        Some("async/email".to_string())
    );
    update(&mut s, code(KeyCode::End));
    assert_eq!(
        s.containers.selected().map(|c| c.label()),
        Some("infra/rabbitmq".to_string())
    );
}

#[test]
fn unknown_keys_do_not_redraw() {
    let mut s = connected(false, stack());
    s.dirty = false;
    update(&mut s, key('z'));
    assert!(!s.dirty);
}

#[test]
fn scenario_keys_select_fire_and_drive_load() {
    use crate::load::worker::LoadCommand;
    let mut s = connected(false, stack());
    let cmds = update(&mut s, key('6'));
    assert_eq!(s.measure.selected, ScenarioId::S6);
    assert_eq!(
        cmds,
        vec![Command::WatchQueues(vec!["click_tracked_queue".into()])]
    );
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Command::Load(LoadCommand::Fire(ScenarioId::S6))]
    );
    let rate = s.measure.rate;
    assert_eq!(
        update(&mut s, key('l')),
        vec![Command::Load(LoadCommand::Start {
            scenario: ScenarioId::S6,
            rate
        })]
    );
    let cmds = update(&mut s, key('+'));
    assert!(s.measure.rate > rate);
    assert_eq!(
        cmds,
        vec![Command::Load(LoadCommand::SetRate(s.measure.rate))]
    );
    // Selecting another scenario keeps the load where it runs.
    update(&mut s, key('1'));
    assert_eq!(s.measure.loading, Some(ScenarioId::S6));
    assert_eq!(
        update(&mut s, key('l')),
        vec![Command::Load(LoadCommand::Stop)]
    );
    assert_eq!(s.measure.loading, None);
}

#[test]
fn knob_keys_send_the_change_and_show_the_outcome() {
    let mut s = connected(false, stack());
    let cmds = update(&mut s, key('f'));
    let [Command::Knob(change)] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    assert_eq!(
        change.patch,
        serde_json::json!({"payment_failure_rate": 0.3})
    );
    update(
        &mut s,
        Msg::Knob(crate::admin::KnobOutcome {
            label: change.label.clone(),
            applied: 1,
            of: 2,
            error: Some("async/payment: not reachable".into()),
            effective: Vec::new(),
        }),
    );
    let notice = s.notice.clone().unwrap();
    assert!(notice.error && notice.text.contains("1/2"), "{notice:?}");
}

#[test]
fn c_turns_the_concurrency_of_the_selected_scenarios_consumers() {
    let mut s = connected(false, stack());
    update(&mut s, key('3'));
    let cmds = update(&mut s, key('c'));
    let [Command::Knob(change)] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    use common::Mode;
    use common::scenario::Service;
    assert_eq!(
        change.services,
        [
            (Service::Analytics, Mode::Async),
            (Service::Search, Mode::Async),
            (Service::Cache, Mode::Async)
        ]
    );
    assert_eq!(
        change.patch,
        serde_json::json!({"consumer_concurrency": 128})
    );
    assert!(
        s.knob_record
            .of(Service::Search, Mode::Async)
            .is_some_and(|k| k.len() == 1),
        "recorded for the re-apply"
    );
    update(&mut s, key('1'));
    let cmds = update(&mut s, key('c'));
    assert!(
        matches!(cmds.as_slice(), [Command::Knob(c)] if c.services == [(Service::Email, Mode::Async)]),
        "{cmds:?}"
    );
    assert!(s.knobs.describe().contains("email 128"));
}

#[test]
fn s4s_worker_staying_at_one_is_what_the_status_says() {
    use common::scenario::Service;
    let mut s = connected(false, stack());
    update(&mut s, key('4'));
    let cmds = update(&mut s, key('c'));
    let [Command::Knob(change)] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    update(
        &mut s,
        Msg::Knob(crate::admin::KnobOutcome {
            label: change.label.clone(),
            applied: 1,
            of: 1,
            error: None,
            effective: vec![(Service::Report, 1)],
        }),
    );
    assert!(s.knobs.describe().contains("report 1 (asked 128)"));
    let notice = s.notice.clone().unwrap();
    assert!(
        notice.text.contains("async/report runs 1 at once"),
        "{notice:?}"
    );
}

#[test]
fn a_restarted_service_gets_exactly_the_knobs_set_on_it_back() {
    use crate::docker::Health;
    let mut s = connected(false, stack());
    update(&mut s, key('1'));
    update(&mut s, key('c'));
    update(&mut s, key('d'));
    let mut dead = info(Group::Async, "email", RunState::Exited(137));
    dead.health = Health::Unhealthy;
    assert!(update(&mut s, Msg::Docker(DockerMsg::Upsert(dead))).is_empty());
    let mut starting = info(Group::Async, "email", RunState::Running);
    starting.health = Health::Starting;
    assert!(update(&mut s, Msg::Docker(DockerMsg::Upsert(starting))).is_empty());
    let cmds = update(
        &mut s,
        Msg::Docker(DockerMsg::Upsert(info(
            Group::Async,
            "email",
            RunState::Running,
        ))),
    );
    let [Command::Knob(change)] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    assert!(change.reapply);
    assert_eq!(
        change.patch,
        serde_json::json!({"consumer_concurrency": 128, "email_delay_ms": 100})
    );
    assert_eq!(
        change.label,
        "email-async restarted: re-applied consumer_concurrency=128, email_delay_ms=100"
    );
    // The sync e-mail service restarting gets the delay only (the concurrency was async's).
    update(
        &mut s,
        Msg::Docker(DockerMsg::Upsert(info(
            Group::Sync,
            "email",
            RunState::Exited(0),
        ))),
    );
    let cmds = update(
        &mut s,
        Msg::Docker(DockerMsg::Upsert(info(
            Group::Sync,
            "email",
            RunState::Running,
        ))),
    );
    assert!(
        matches!(cmds.as_slice(), [Command::Knob(c)] if c.patch == serde_json::json!({"email_delay_ms": 100})),
        "{cmds:?}"
    );
}

fn replica_of(service: &str, n: u32) -> ContainerInfo {
    let mut c = info(Group::Async, service, RunState::Running);
    c.replica = n;
    c.id = format!("async-{service}-{n}");
    c
}

#[test]
fn bracket_keys_scale_the_selected_async_service_and_scaling_down_asks() {
    use super::super::scale_worker::{ScaleMsg, ScaleRequest};
    use common::scenario::Service;
    let mut s = connected(false, stack());
    select(&mut s, Group::Async, "email");
    let up = ScaleRequest {
        service: Service::Email,
        replicas: 2,
    };
    assert_eq!(update(&mut s, key(']')), [Command::Scale(up)]);
    assert_eq!(s.scaling, Some(up));
    assert!(update(&mut s, key(']')).is_empty(), "one scale at a time");
    assert!(s.notice.as_ref().is_some_and(|n| n.error));
    update(
        &mut s,
        Msg::Scale(ScaleMsg {
            request: up,
            result: Ok(()),
        }),
    );
    assert_eq!(s.scaling, None);
    update(
        &mut s,
        Msg::Docker(DockerMsg::Upsert(replica_of("email", 2))),
    );

    let down = ScaleRequest {
        service: Service::Email,
        replicas: 1,
    };
    assert!(update(&mut s, key('[')).is_empty());
    assert_eq!(s.prompt, Prompt::ConfirmScale(down));
    assert!(
        update(&mut s, key('x')).is_empty(),
        "a stray key answers nothing"
    );
    assert_eq!(update(&mut s, key('y')), [Command::Scale(down)]);
    update(
        &mut s,
        Msg::Scale(ScaleMsg {
            request: down,
            result: Err("compose: no such service".into()),
        }),
    );
    let notice = s.notice.clone().unwrap();
    assert!(
        notice.error && notice.text.contains("FAILED") && notice.text.contains("no such service"),
        "{notice:?}"
    );

    let mut demo = connected(true, stack());
    demo.containers.upsert(replica_of("email", 2));
    select(&mut demo, Group::Async, "email");
    assert_eq!(
        update(&mut demo, key('[')),
        [Command::Scale(down)],
        "--demo"
    );
}

#[test]
fn what_does_not_scale_says_so() {
    let mut s = connected(false, stack());
    select(&mut s, Group::Async, "email");
    assert!(
        update(&mut s, key('[')).is_empty(),
        "one consumer: nothing to remove"
    );
    assert!(
        s.notice
            .as_ref()
            .is_some_and(|n| n.error && n.text.contains("runs one consumer"))
    );
    for (group, service) in [(Group::Sync, "email"), (Group::Infra, "rabbitmq")] {
        select(&mut s, group, service);
        assert!(update(&mut s, key(']')).is_empty());
        let notice = s.notice.clone().unwrap();
        assert!(
            notice.error && notice.text.contains("does not scale"),
            "{notice:?}"
        );
    }
}

#[test]
fn a_replica_row_is_its_own_target_and_knobs_reach_it() {
    use common::scenario::Service;
    let mut rows = stack();
    rows.push(replica_of("email", 2));
    let mut s = connected(false, rows);
    assert!(s.containers.select_replica(Group::Async, "email", 2));
    update(&mut s, key('k'));
    assert!(matches!(
        &s.prompt,
        Prompt::Confirm { target, action: Action::Kill }
            if target.id == "async-email-2" && target.label == "async/email#2"
    ));
    update(&mut s, code(KeyCode::Esc));
    update(&mut s, key('1'));
    let cmds = update(&mut s, key('c'));
    let [Command::Knob(change)] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    assert_eq!(change.services, [(Service::Email, common::Mode::Async)]);
    assert_eq!(
        change.replicas,
        [Target {
            id: "async-email-2".into(),
            label: "async/email#2".into()
        }]
    );
}

#[test]
fn a_restart_while_docker_was_unreachable_shows_in_the_next_snapshot() {
    let mut s = connected(false, stack());
    update(&mut s, key('1'));
    update(&mut s, key('c'));
    let mut rows = stack();
    for r in &mut rows {
        if r.label() == "async/email" {
            r.id = "recreated".into();
        }
    }
    let cmds = update(&mut s, Msg::Docker(DockerMsg::Snapshot(rows.clone())));
    assert!(
        matches!(cmds.as_slice(), [Command::Knob(c)] if c.reapply
            && c.patch == serde_json::json!({"consumer_concurrency": 128})),
        "{cmds:?}"
    );
    assert!(
        update(&mut s, Msg::Docker(DockerMsg::Snapshot(rows))).is_empty(),
        "the same snapshot again is no restart"
    );
}
