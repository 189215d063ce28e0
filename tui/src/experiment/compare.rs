//! (stub until compare lands: same API)
#![allow(dead_code, unused_variables)]
use std::path::PathBuf;
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    pub first: PathBuf,
    pub second: PathBuf,
}
pub fn run(args: CompareArgs) -> anyhow::Result<std::process::ExitCode> {
    Ok(std::process::ExitCode::SUCCESS)
}
