//! Snapshot of the app's own log pane, fed through tracing as in the app.
//!
//! A test binary of its own: tui-logger's buffer is global, so in `tests/it` the whole-screen
//! snapshots running beside it would show these lines (and this subscriber would catch their
//! threads' records). Only this module's events reach the pane.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "it/ui_fixtures/mod.rs"]
mod ui_fixtures;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;
use ui_fixtures::render;

#[test]
fn the_app_log_pane_shows_what_the_app_logged() {
    tracing_subscriber::registry()
        .with(Targets::new().with_target(module_path!(), LevelFilter::TRACE))
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
