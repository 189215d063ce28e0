//! Snapshots of the overlays: `?` help and the confirmation of a destructive key.

use crate::ui_fixtures::*;
use crossterm::event::KeyCode;
use ms_tui::app::msg::Msg;
use ms_tui::app::state::Prompt;
use ms_tui::app::update::update;
use ms_tui::docker::Group;
use ms_tui::ui::view;

#[test]
fn help_lists_every_key() {
    let mut s = running_stack();
    update(
        &mut s,
        Msg::Resize {
            width: 100,
            height: 44,
        },
    );
    press(&mut s, KeyCode::Char('?'));
    assert_eq!(s.prompt, Prompt::Help);
    let screen = render(100, 44, |frame, _| view(&s, frame))
        .backend()
        .to_string();
    insta::assert_snapshot!(screen);
}

#[test]
fn kill_asks_for_confirmation() {
    let mut s = running_stack();
    update(
        &mut s,
        Msg::Resize {
            width: 100,
            height: 30,
        },
    );
    operate_view(&mut s);
    assert!(s.containers.select(Group::Async, "payment"));
    press(&mut s, KeyCode::Char('k'));
    assert!(matches!(s.prompt, Prompt::Confirm { .. }));
    let screen = render(100, 30, |frame, _| view(&s, frame))
        .backend()
        .to_string();
    insta::assert_snapshot!(screen);
}

#[test]
fn stop_and_pause_explain_their_effect() {
    for (key, name) in [('s', "stop"), ('p', "pause"), ('r', "restart")] {
        let mut s = running_stack();
        assert!(s.containers.select(Group::Sync, "order"));
        press(&mut s, KeyCode::Char(key));
        let Prompt::Confirm { target, action } = &s.prompt else {
            panic!("{key} did not ask");
        };
        let screen = render(80, 8, |frame, area| {
            ms_tui::ui::confirm::draw(frame, area, target, *action)
        })
        .backend()
        .to_string();
        insta::assert_snapshot!(name, screen);
    }
}
