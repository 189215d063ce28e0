//! `ms-service`: the command line of the `services` library (`ms-service <service>`,
//! `ms-service healthcheck`, `ms-service admin`); what it runs is documented in `lib.rs`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use common::config::Settings;
use common::scenario::Service;
use services::{admin_cli, edge, healthcheck, registry, run};

/// One microservice of the ms-tui stack. Every setting is also an environment variable;
/// MODE picks the communication style (sync: HTTP request/response; async: RabbitMQ events).
#[derive(Parser)]
#[command(name = "ms-service", version, args_conflicts_with_subcommands = true)]
#[command(
    after_help = "Examples:\n  MODE=async PORT=8101 ms-service user\n  ms-service healthcheck --port 8101\n  \
                  ms-service admin get /admin/config --port 8101"
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
    /// Call the admin API of the service on this machine (127.0.0.1) with the bearer token
    /// in $MS_ADMIN_TOKEN; print the answer's body. Exit 0 on 2xx, 1 on any other status
    /// (status and body on stderr), 2 on a usage error or when nothing answers.
    #[command(after_help = "In a container of the stack the binary is /ms-service \
                            (compose/images/service/Dockerfile), so a replica without a \
                            published port is reached with:\n  \
                            docker exec <container> /ms-service admin put /admin/config \
                            '{\"email_delay_ms\":100}'\n  \
                            docker exec <container> /ms-service admin get /admin/config")]
    Admin(admin_cli::AdminArgs),
    /// Forward TCP ports to services by name (the edge container of `ms-tui up --swarm`):
    /// each LISTEN=HOST:PORT listens on LISTEN and connects every accepted connection to
    /// HOST:PORT, resolved anew each time.
    #[command(after_help = "Example:\n  ms-service edge 8001=user-sync:8000 5672=rabbitmq:5672")]
    Edge {
        #[arg(required = true, value_name = "LISTEN=HOST:PORT")]
        routes: Vec<edge::Route>,
    },
}

/// jemalloc, tuned in .cargo/config.toml: glibc's malloc kept what a load had used (58 MiB of
/// a 1 MiB idle service, 5 s after S6 at 5,000 req/s); jemalloc hands it back within seconds.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
            runtime.block_on(healthcheck::probe(port, &path))
        }
        (Some(Command::Admin(args)), _) => runtime.block_on(admin_cli::run(args)),
        (Some(Command::Edge { routes }), _) => runtime.block_on(edge::run(routes)),
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
