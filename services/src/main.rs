//! `ms-service`: every microservice of the ms-tui stack, sync and async, in one binary.
//!
//! # Layout
//! - `main.rs`: the command line (`ms-service <service>`, `ms-service healthcheck`).
//! - `run.rs`: starts one service: database, broker, consumers, HTTP server, shutdown.
//! - `app.rs`: what every service serves (`/health`, `/ready`, `/metrics`, `/admin/*`) and the
//!   middleware stack.
//! - `context.rs`: the handles shared by handlers and consumers.
//! - `limit.rs`: `SYNC_MAX_INFLIGHT`, the optional thread-pool-like cap of sync mode.
//! - `metrics.rs`: the Prometheus recorder and per-route request metrics.
//! - `registry.rs`: which services exist and their hooks.
//! - One module per service, its sync and async handlers side by side over the same domain
//!   code: `user.rs` (S1), `email.rs` (S1 mail, S7 confirmation mail, S8 notifications),
//!   `payment.rs` (S2, seed 000's `/pay`, the S5 and S7 payments), `product.rs` (S3),
//!   `fanout.rs` (S3's search, cache and analytics steps, one code for three services),
//!   `report.rs` (S4), `analytics.rs` (S6 clicks), `order.rs` (S5 saga, S7 checkout, S8 stock
//!   orders), `inventory.rs` (stock for S5/S8, alerts).
//! - `gateway.rs`: peer 004's gateway on 9000, forwarding to either stack (no data, no broker).
#![forbid(unsafe_code)]

mod analytics;
mod app;
mod context;
mod email;
mod fanout;
mod gateway;
mod inventory;
mod limit;
mod metrics;
mod order;
mod payment;
mod product;
mod registry;
mod report;
mod run;
mod user;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use common::config::Settings;
use common::scenario::Service;

/// One microservice of the ms-tui stack. Every setting is also an environment variable;
/// MODE picks the communication style (sync: HTTP request/response; async: RabbitMQ events).
#[derive(Parser)]
#[command(name = "ms-service", version, args_conflicts_with_subcommands = true)]
#[command(
    after_help = "Examples:\n  MODE=async PORT=8101 ms-service user\n  ms-service healthcheck --port 8101"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The service to run.
    #[arg(value_enum)]
    service: Option<Service>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Exit 0 when the service on this machine answers `/ready` with 200 (for container
    /// healthchecks: scratch images have no curl).
    Healthcheck {
        #[arg(long, env = "PORT", default_value_t = 8000)]
        port: u16,
        #[arg(long, default_value = "/ready")]
        path: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("ms-service: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match (cli.command, cli.service) {
        (Some(Command::Healthcheck { port, path }), _) => {
            runtime.block_on(healthcheck(port, &path))
        }
        (None, Some(service)) => match runtime.block_on(run::run(service, cli.settings)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("ms-service {service}: {err:#}");
                ExitCode::FAILURE
            }
        },
        (None, None) => {
            eprintln!(
                "ms-service: name a service to run ({}), or see --help",
                registry::available().join(", ")
            );
            ExitCode::from(2)
        }
    }
}

async fn healthcheck(port: u16, path: &str) -> ExitCode {
    let client = common::http::client(Duration::from_secs(2));
    match client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
    {
        Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("unhealthy: {path} answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("unhealthy: {err}");
            ExitCode::FAILURE
        }
    }
}
