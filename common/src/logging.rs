//! Tracing setup, once per process: `RUST_LOG`-driven, JSON when stdout is not a terminal
//! (containers, CI), human-readable with colours otherwise.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

const DEFAULT_FILTER: &str = "info,sqlx=warn,lapin=warn,amq_protocol=warn";

pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    // `try_init` so that tests starting several services in one process do not panic.
    let _ = if std::io::stdout().is_terminal() {
        builder.with_ansi(true).try_init()
    } else {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    };
}
