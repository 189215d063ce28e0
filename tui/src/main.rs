//! `ms-tui`: see the crate documentation of `ms_tui` and `ms-tui --help`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    ms_tui::cli::main().await
}
