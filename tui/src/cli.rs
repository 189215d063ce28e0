//! The command line: `ms-tui` opens the control room (bringing the stack up first when it is
//! not running), `ms-tui up | down | status` manage the stack without it, `ms-tui load` drives
//! load headless, `ms-tui fault` makes, lists and clears faults headless, `ms-tui run` runs
//! an experiment and `ms-tui compare` sets two results side by side, `ms-tui bench` runs the
//! sync-vs-async study, `ms-tui scale` scales an async service's consumers out and back.
//!
//! `--help` answers the questions a first-time user has: the keys (from the keymap's own
//! table), the environment variables, where the log file is.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::app::keys::HELP;
use std::process::ExitCode;

use crate::{admin, app, bench, broker, experiment, faults, load, logging, stack};

/// ms-tui — a terminal control room that shows, live, how synchronous (HTTP) and asynchronous
/// (RabbitMQ) microservices behave under the same flows, load and failures.
///
/// With no command it opens the control room on the Docker stack, bringing the stack up
/// first (with progress) when it is not running.
#[derive(Debug, Parser)]
#[command(name = "ms-tui", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,

    /// Destructive keys (kill, stop, pause, restart) act at once, without asking: for a
    /// presenter.
    #[arg(long)]
    pub demo: bool,

    /// Open the control room without bringing the stack up (it shows whatever runs and
    /// follows containers as they appear).
    #[arg(long)]
    pub no_up: bool,

    /// Frames per second at most (1–60); frames are drawn only when something changed.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u16).range(1..=60))]
    pub fps: u16,

    /// Host of the stack's published ports, where fires and load are sent.
    #[arg(long, env = "MS_TUI_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// How the stack is brought up when it is not running (as `ms-tui up`).
    #[command(flatten)]
    pub up: stack::UpOptions,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Bring the stack up (write compose/.env, build missing images, start, wait until every
    /// container is healthy), then return.
    Up(stack::UpOptions),
    /// Stop and remove the stack's containers and network (volumes stay unless --volumes).
    Down(stack::DownOptions),
    /// List the stack's containers with state and health; exit 1 unless every container the
    /// layout expects (the compose file's services and the replicas scaled out) is healthy.
    Status(stack::StackOptions),
    /// Scale an async service's consumers to N containers in all (1–16; 1 removes every
    /// replica): replicas run the same image without a published port, compete for the same
    /// queues and get the service's current knobs; waits until they are healthy.
    Scale(stack::scale::ScaleArgs),
    /// Open-model load on one scenario without the control room (coordinated-omission
    /// corrected, like `oha --latency-correction`); exit 1 when any answer was unexpected.
    Load(load::headless::LoadArgs),
    /// Make one fault with a dose and a time limit (latency, errors, slow-consumer in a
    /// service; partition, pause, stop, kill on the platform), list the faults in force
    /// (--list) or revert them all (--clear); exit 2 on bad input, with nothing changed.
    Fault(faults::headless::FaultArgs),
    /// Run an experiment (a built-in's name or a TOML file): load, timed faults, a grace for
    /// completions, then the figures — accepted, completed, lost, duplicated — judged against
    /// its thresholds, written to results/<name>-<time>/ (result.json, report.md,
    /// timeline.svg). Exit 0 every threshold held, 1 one failed or interrupted, 2 bad input
    /// or the stack is not up.
    Run(experiment::headless::RunArgs),
    /// Print two experiment results side by side with their differences.
    Compare(experiment::compare::CompareArgs),
    /// The sync-vs-async study: per scenario, open-model rate ladders for sync, async and
    /// sync held to 40 in flight, one after the other; each step judged (ack p99, errors,
    /// achieved rate, completion keeping up), the sustainable rate, CPU and memory per 1,000
    /// requests; report.md, report.json and charts in results/bench-<time>/.
    Bench(bench::headless::BenchArgs),
}

/// Parses the command line with the generated help text and runs the chosen command.
pub async fn main() -> anyhow::Result<ExitCode> {
    let log_file = logging::init();
    let matches = Cli::command()
        .after_long_help(long_help(&log_file.display().to_string()))
        .after_help("Keys, environment and the log file: ms-tui --help")
        .get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    match cli.command {
        Some(Cmd::Up(options)) => {
            stack::up(&options, print_progress).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Down(options)) => {
            stack::down(&options, print_progress).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Status(options)) => status(&options).await,
        Some(Cmd::Scale(args)) => stack::scale::run(args).await,
        Some(Cmd::Load(args)) => load::headless::run(args).await,
        Some(Cmd::Fault(args)) => faults::headless::run(args).await,
        Some(Cmd::Run(args)) => experiment::headless::run(args).await,
        Some(Cmd::Compare(args)) => experiment::compare::run(args),
        Some(Cmd::Bench(args)) => bench::headless::run(args).await,
        None => {
            let notice = if cli.no_up {
                None
            } else {
                ensure_up(&cli.up).await
            };
            let options = app::run::Options {
                demo: cli.demo,
                fps: cli.fps,
                host: cli.host.clone(),
                broker: broker::BrokerSettings::discover(&cli.up.stack),
                admin: admin::AdminSettings::discover(&cli.host, &cli.up.stack),
                stack: cli.up.stack.clone(),
            };
            app::run(options, notice).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Brings the stack up unless every container of it already runs healthy. A failure does not
/// stop the control room from opening — it is the place to see why (logs, states) — but it is
/// printed, logged and shown in the status line.
async fn ensure_up(options: &stack::UpOptions) -> Option<String> {
    match stack::status(&options.stack).await {
        Ok(list) if !list.is_empty() && list.iter().all(|c| c.is_ready()) => return None,
        Ok(_) => {}
        Err(e) => {
            let text = format!(
                "Docker is not reachable ({e:#}); the control room will connect when it is"
            );
            eprintln!("ms-tui: {text}");
            tracing::warn!("{text}");
            return Some(text);
        }
    }
    println!("==> the stack is not running; bringing it up (ms-tui up)");
    match stack::up(options, print_progress).await {
        Ok(_) => None,
        Err(e) => {
            let text = format!("ms-tui up failed: {e:#}");
            eprintln!("ms-tui: {text}\n==> opening the control room to look at the stack");
            tracing::error!("{text}");
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            Some("`ms-tui up` failed; see the logs pane and the app log".into())
        }
    }
}

fn print_progress(progress: stack::Progress) {
    println!("{progress}");
}

async fn status(options: &stack::StackOptions) -> anyhow::Result<ExitCode> {
    let list = stack::status(options).await?;
    for container in &list {
        println!("{container}");
    }
    let ready = list.iter().filter(|c| c.is_ready()).count();
    let expected = stack::expected(options, &list).await?;
    let replicas = list.iter().filter(|c| c.is_replica()).count();
    let scaled = if replicas > 0 {
        format!(" ({replicas} of them replicas)")
    } else {
        String::new()
    };
    println!("{ready}/{expected} containers running and healthy{scaled}");
    if let Some(nodes) = stack::broker_nodes_line(options, &list) {
        println!("{nodes}");
    }
    if list.len() < expected {
        println!(
            "{} container(s) of the compose file do not exist: `ms-tui up` creates them",
            expected - list.len()
        );
    }
    Ok(
        if !list.is_empty() && ready == list.len() && list.len() == expected {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// The text after the options in `--help`: keys, environment, files.
pub fn long_help(log_file: &str) -> String {
    let mut text = String::from("Keys in the control room:\n");
    for (section, keys) in HELP {
        text.push_str(&format!("  {section}\n"));
        for (key, meaning) in *keys {
            text.push_str(&format!("    {key:<20} {meaning}\n"));
        }
    }
    text.push_str(&format!(
        "\nEnvironment:\n  \
         {:<16} the app's log filter (default: info), e.g. debug or info,ms_tui=debug\n  \
         {:<16} the app's log file (now: {log_file})\n  \
         {:<16} the Docker engine (unix://, tcp:// or ssh://; default unix:///var/run/docker.sock)\n  \
         {:<16} the broker the queue pane probes (default: the stack's, account from compose/.env)\n  \
         {:<16} its management API, for unacked counts and rates (default http://127.0.0.1:15672)\n  \
         {:<16} the services' admin token for the knobs (default: from compose/.env)\n\
         \nThe app logs to its pane and to the file, never to the terminal. Only containers\n\
         labelled ms-tui.project=ms-tui are shown or touched.\n",
        logging::FILTER_ENV,
        logging::FILE_ENV,
        "DOCKER_HOST",
        broker::AMQP_URL_ENV,
        broker::MGMT_URL_ENV,
        admin::TOKEN_ENV,
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_keys_env_and_log_file() {
        let text = long_help("/tmp/x.log");
        for needle in [
            "kill",
            "Ctrl-c",
            "MS_TUI_LOG",
            "/tmp/x.log",
            "DOCKER_HOST",
            "G, End",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
    }

    #[test]
    fn demo_and_subcommands_parse() {
        let cli = Cli::try_parse_from(["ms-tui", "--demo"]).unwrap();
        assert!(cli.demo && cli.command.is_none());
        let cli = Cli::try_parse_from(["ms-tui", "down", "--volumes"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Cmd::Down(stack::DownOptions { volumes: true, .. }))
        ));
        let cli =
            Cli::try_parse_from(["ms-tui", "fault", "search", "latency", "--ms", "5"]).unwrap();
        assert!(matches!(cli.command, Some(Cmd::Fault(_))));
        let cli = Cli::try_parse_from(["ms-tui", "scale", "email", "2"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Cmd::Scale(stack::scale::ScaleArgs { consumers: 2, .. }))
        ));
        assert!(Cli::try_parse_from(["ms-tui", "scale", "email"]).is_err());
        let cli = Cli::try_parse_from(["ms-tui", "--offline", "--demo"]).unwrap();
        assert!(cli.up.offline && cli.demo);
        assert!(Cli::try_parse_from(["ms-tui", "--fps", "0"]).is_err());
    }
}
