//! Snapshot of the app's own log pane, fed through tracing as in the app. One test in its own
//! binary: tui-logger's buffer is global.
// Test code: a setup step that fails should panic with its reason (clippy.toml allows this
// inside #[test] functions; the harness helpers here are test code too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ui_fixtures;

use tracing_subscriber::prelude::*;
use ui_fixtures::render;

#[test]
fn the_app_log_pane_shows_what_the_app_logged() {
    tracing_subscriber::registry()
        .with(tui_logger::TuiTracingSubscriberLayer)
        .init();
    tui_logger::init_logger(tui_logger::LevelFilter::Trace).unwrap();
    tracing::info!("connected to Docker 20.10.24");
    tracing::warn!("kill async/email: done");
    tracing::error!("pause sync/user: Docker responded with status code 409");
    tui_logger::move_events();
    let screen = render(70, 6, ms_tui::ui::applog::draw);
    insta::assert_snapshot!(screen.backend().to_string());
}
