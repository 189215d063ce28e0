//! Snapshots of the whole screen: the layout with part 2's room, on a common and a small
//! terminal, before Docker answers and when it is unreachable.

use std::time::Duration;

use crate::ui_fixtures::*;
use ms_tui::app::msg::Msg;
use ms_tui::app::state::State;
use ms_tui::app::update::update;
use ms_tui::docker::DockerMsg;
use ms_tui::ui::view;

fn screen(state: &mut State, width: u16, height: u16) -> String {
    update(state, Msg::Resize { width, height });
    render(width, height, |frame, _| view(state, frame))
        .backend()
        .to_string()
}

#[test]
fn the_whole_screen_on_a_common_terminal() {
    insta::assert_snapshot!(screen(&mut running_stack(), 120, 40));
}

/// The operate view of a short terminal: the measurement band folded away, as the whole
/// short screen was before the views.
#[test]
fn a_short_terminal_folds_the_top_band() {
    let mut s = running_stack();
    update(
        &mut s,
        Msg::Resize {
            width: 80,
            height: 24,
        },
    );
    operate_view(&mut s);
    insta::assert_snapshot!(screen(&mut s, 80, 24));
}

#[test]
fn before_docker_answers() {
    let mut s = State::new(false);
    update(
        &mut s,
        Msg::Resize {
            width: 100,
            height: 30,
        },
    );
    operate_view(&mut s);
    insta::assert_snapshot!(screen(&mut s, 100, 30));
}

#[test]
fn docker_unreachable_keeps_the_last_known_table() {
    let mut s = running_stack();
    send(
        &mut s,
        DockerMsg::Unreachable {
            error: "connection refused".into(),
            retry_in: Duration::from_secs(4),
        },
    );
    insta::assert_snapshot!(screen(&mut s, 120, 40));
}
