//! Snapshots of the logs pane: interleaved, one service, a filter, paused, empty, dropped.

use crate::ui_fixtures::*;
use crossterm::event::KeyCode;
use ms_tui::app::state::State;
use ms_tui::docker::{DockerMsg, Group, Level};
use ms_tui::ui::logs::draw;

fn pane(state: &State, width: u16, height: u16) -> String {
    render(width, height, |frame, area| draw(frame, area, state))
        .backend()
        .to_string()
}

#[test]
fn all_services_interleaved() {
    insta::assert_snapshot!(pane(&running_stack(), 100, 11));
}

#[test]
fn narrow_pane_drops_the_milliseconds() {
    insta::assert_snapshot!(pane(&running_stack(), 70, 11));
}

#[test]
fn only_the_selected_service() {
    let mut s = running_stack();
    assert!(s.containers.select(Group::Async, "email"));
    press(&mut s, KeyCode::Char('a'));
    insta::assert_snapshot!(pane(&s, 100, 6));
}

#[test]
fn filtered_to_a_correlation_id() {
    let mut s = running_stack();
    press(&mut s, KeyCode::Char('/'));
    for c in "9B2C-0002".chars() {
        press(&mut s, KeyCode::Char(c));
    }
    press(&mut s, KeyCode::Enter);
    insta::assert_snapshot!(pane(&s, 100, 6));
}

#[test]
fn scrolled_back_and_paused() {
    let mut s = running_stack();
    press(&mut s, KeyCode::Tab);
    press(&mut s, KeyCode::Up);
    press(&mut s, KeyCode::Up);
    send(
        &mut s,
        DockerMsg::Logs(vec![log(
            Group::Sync,
            "user",
            9,
            Some(Level::Info),
            "newer line",
        )]),
    );
    send(&mut s, DockerMsg::LogsDropped(12));
    insta::assert_snapshot!(pane(&s, 100, 6));
}

#[test]
fn nothing_yet_and_nothing_matching() {
    let s = connected(stack_rows());
    insta::assert_snapshot!("no_lines_yet", pane(&s, 60, 4));
    let mut s = running_stack();
    press(&mut s, KeyCode::Char('/'));
    press(&mut s, KeyCode::Char('#'));
    insta::assert_snapshot!("no_line_matches", pane(&s, 60, 4));
}
