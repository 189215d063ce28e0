//! `ms-tui`: see the crate documentation of `ms_tui` and `ms-tui --help`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match ms_tui::cli::main().await {
        Ok(code) => code,
        // The whole chain on one line, never a backtrace: these are the user's errors to read
        // (Docker not reachable, a container that failed), not ours to debug.
        Err(e) => {
            eprintln!("ms-tui: {e:#}");
            ExitCode::FAILURE
        }
    }
}
