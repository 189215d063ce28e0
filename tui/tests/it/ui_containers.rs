//! Snapshots of the containers pane: groups, states, health, usage, an action in flight, focus.

use crate::ui_fixtures::*;
use crossterm::event::KeyCode;
use ms_tui::app::msg::Command;
use ms_tui::app::state::{DockerStatus, State};
use ms_tui::docker::{Action, Group};
use ms_tui::ui::containers::draw;

fn pane(state: &State, width: u16, height: u16) -> String {
    render(width, height, |frame, area| draw(frame, area, state))
        .backend()
        .to_string()
}

#[test]
fn grouped_with_states_and_usage() {
    let mut s = running_stack();
    assert!(s.containers.select(Group::Async, "email"));
    insta::assert_snapshot!(pane(&s, 55, 30));
}

#[test]
fn an_action_in_flight_shows_in_the_state_column() {
    let mut s = running_stack();
    s.demo = true;
    assert!(s.containers.select(Group::Sync, "user"));
    let commands = ms_tui::app::update::update(
        &mut s,
        ms_tui::app::msg::Msg::Key(crossterm::event::KeyEvent::new(
            KeyCode::Char('k'),
            crossterm::event::KeyModifiers::NONE,
        )),
    );
    assert!(matches!(
        commands.as_slice(),
        [Command::Docker {
            action: Action::Kill,
            ..
        }]
    ));
    insta::assert_snapshot!(pane(&s, 55, 12));
}

#[test]
fn unfocused_and_scrolled_to_the_selection() {
    let mut s = running_stack();
    press(&mut s, KeyCode::Tab);
    assert!(s.containers.select(Group::Infra, "postgres"));
    insta::assert_snapshot!(pane(&s, 55, 14));
}

#[test]
fn empty_project_and_waiting() {
    let s = connected(Vec::new());
    insta::assert_snapshot!("empty_project", pane(&s, 55, 6));
    let mut waiting = connected(Vec::new());
    waiting.docker = DockerStatus::Connecting;
    insta::assert_snapshot!("waiting_for_docker", pane(&waiting, 55, 6));
}

/// Async email scaled to three consumers: its two replicas indented under it, each with its
/// own state and health (one still starting), the second replica selected.
#[test]
fn replicas_grouped_under_their_service() {
    use ms_tui::docker::{Health, RunState};
    let mut rows = stack_rows();
    for n in [2u32, 3] {
        let mut r = row(Group::Async, "email", RunState::Running, Health::Healthy);
        r.replica = n;
        r.id = format!("async-email-{n}");
        r.name = format!("ms-tui-email-async-replica-{}", n - 1);
        if n == 3 {
            r.health = Health::Starting;
        }
        rows.push(r);
    }
    let mut s = connected(rows);
    assert!(s.containers.select_replica(Group::Async, "email", 2));
    insta::assert_snapshot!(pane(&s, 55, 32));
}

/// On a swarm the title says desired against running tasks, and which service is short while
/// the swarm replaces a task.
#[test]
fn a_swarm_deployment_shows_its_tasks_in_the_title() {
    use ms_tui::docker::DockerMsg;
    use ms_tui::docker::swarm::SwarmService;
    let mut s = running_stack();
    let service = |name: &str, running, desired| SwarmService {
        name: name.into(),
        desired,
        running,
    };
    let msg = |services| ms_tui::app::msg::Msg::Docker(DockerMsg::Swarm(services));
    ms_tui::app::update::update(
        &mut s,
        msg(vec![
            service("email-async", 1, 1),
            service("user-async", 1, 1),
        ]),
    );
    insta::assert_snapshot!("swarm_whole", pane(&s, 55, 4));
    ms_tui::app::update::update(
        &mut s,
        msg(vec![
            service("email-async", 0, 1),
            service("user-async", 1, 1),
        ]),
    );
    insta::assert_snapshot!("swarm_one_short", pane(&s, 55, 4));
}
