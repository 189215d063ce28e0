//! `stack up|down|status`: the stack commands of `ms-tui` on their own, built with the tests
//! (`cargo test` compiles examples), so scripts/test.sh can bring the stack up through the
//! very code `ms-tui up` runs without depending on the control room's command line.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ms_tui::stack::{self, DownOptions, StackOptions, UpOptions};

#[derive(Parser)]
#[command(
    name = "stack",
    about = "Bring the ms-tui Docker stack up or down, or show it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build what is missing, start every container, wait until all are healthy.
    Up(UpOptions),
    /// Stop and remove the containers and the network (volumes kept unless --volumes).
    Down(DownOptions),
    /// One line per container of the project.
    Status(StackOptions),
}

fn print(progress: stack::Progress) {
    println!("{progress}");
    let _ = std::io::stdout().flush();
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Up(options) => stack::up(&options, print).await.map(|report| {
            println!(
                "stack up: {} containers healthy {:.1} s after compose up ({:.1} s in all)",
                report.containers.len(),
                report.start_to_healthy.as_secs_f64(),
                report.total.as_secs_f64()
            );
        }),
        Command::Down(options) => stack::down(&options, print).await.map(|_| ()),
        Command::Status(options) => stack::status(&options).await.map(|list| {
            if list.is_empty() {
                println!("no container of project {} exists", stack::PROJECT);
            }
            for container in list {
                println!("{container}");
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
