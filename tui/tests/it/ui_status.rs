//! Snapshots of the status line: connected with counts and the last outcome, unreachable,
//! demo mode, the filter prompt.

use std::time::Duration;

use crate::ui_fixtures::*;
use crossterm::event::KeyCode;
use ms_tui::app::state::State;
use ms_tui::docker::{Action, DockerMsg, Target};
use ms_tui::ui::status::draw;

fn line(state: &State) -> String {
    render(120, 1, |frame, area| draw(frame, area, state))
        .backend()
        .to_string()
}

#[test]
fn connected_with_the_last_outcome() {
    let mut s = running_stack();
    send(
        &mut s,
        DockerMsg::ActionDone {
            target: Target {
                id: "async-email".into(),
                label: "async/email".into(),
            },
            action: Action::Kill,
            result: Ok(()),
        },
    );
    insta::assert_snapshot!(line(&s));
}

#[test]
fn unreachable_says_so_plainly() {
    let mut s = running_stack();
    send(
        &mut s,
        DockerMsg::Unreachable {
            error: "no engine socket".into(),
            retry_in: Duration::from_millis(500),
        },
    );
    insta::assert_snapshot!(line(&s));
}

#[test]
fn demo_mode_and_a_failed_action() {
    let mut s = running_stack();
    s.demo = true;
    send(
        &mut s,
        DockerMsg::ActionDone {
            target: Target {
                id: "sync-user".into(),
                label: "sync/user".into(),
            },
            action: Action::Pause,
            result: Err("Docker responded with status code 409: is not running".into()),
        },
    );
    insta::assert_snapshot!(line(&s));
}

#[test]
fn the_filter_prompt_replaces_it_while_typing() {
    let mut s = running_stack();
    press(&mut s, KeyCode::Char('/'));
    for c in "cid=7f3a".chars() {
        press(&mut s, KeyCode::Char(c));
    }
    insta::assert_snapshot!(line(&s));
}

#[test]
fn broker_down() {
    let mut rows = stack_rows();
    for r in &mut rows {
        if r.service == "rabbitmq" {
            r.state = ms_tui::docker::RunState::Exited(0);
        }
    }
    insta::assert_snapshot!(line(&connected(rows)));
}

#[test]
fn the_consumer_concurrency_in_force_and_what_report_runs_with() {
    use common::scenario::Service;
    use ms_tui::admin::KnobOutcome;
    use ms_tui::app::msg::Msg;
    let mut s = running_stack();
    press(&mut s, KeyCode::Char('1'));
    press(&mut s, KeyCode::Char('c'));
    press(&mut s, KeyCode::Char('4'));
    press(&mut s, KeyCode::Char('c'));
    ms_tui::app::update::update(
        &mut s,
        Msg::Knob(KnobOutcome {
            label: "consumer concurrency 128 on S4 (report)".into(),
            applied: 1,
            of: 1,
            error: None,
            effective: vec![(Service::Report, 1)],
        }),
    );
    insta::assert_snapshot!(
        render(180, 1, |frame, area| draw(frame, area, &s))
            .backend()
            .to_string()
    );
}
