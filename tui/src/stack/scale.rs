//! Competing consumers: an async service's consumers scaled out to N containers and back
//! (`ms-tui scale <service> <n>`, and the control room's `]` / `[`).
//!
//! Consumer 1 is the service's main container (compose service `email-async`, the one with
//! the published port). Consumers 2..N are its replicas: compose service
//! `email-async-replica`, the same image, command and environment, no published port,
//! labelled like the main container plus `ms-tui.replica=true`, and `scale: 0` so nothing
//! starts them but this. They share the service's queues (competing consumers); the
//! services' event-id claims keep every message's effect exactly once across them.
//!
//! Scaling runs `compose up -d --no-deps --no-recreate --scale <svc>-replica=<N-1>
//! <svc>-replica`: the main containers, the broker and the database are never recreated or
//! even touched, compose adds or removes replicas from the highest number down. Then it
//! waits for the replicas' health and gives every replica the service's current run-time
//! knobs (the main container's `GET /admin/config`, written with `ms-service admin` by exec:
//! a replica has no port), so a replica never runs with other settings than its service.

use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use common::Mode;
use common::scenario::Service;
use serde_json::Value;

use super::compose::Compose;
use super::{Layout, POLL, Progress, StackOptions, run_reporting};
use crate::docker::labels::Project;
use crate::docker::status::{self as containers, ContainerStatus};
use crate::docker::{exec, swarm};

/// Consumers of one service at most (the main container included): 16 processes of 5
/// database connections each still leave PostgreSQL's 200 room for the rest of the stack.
pub const MAX_CONSUMERS: u32 = 16;
/// What the compose file appends to a service's async compose service for its replicas.
pub const REPLICA_SUFFIX: &str = "-replica";
/// How long [`scale`] waits for the new replicas to be healthy (their probe runs every
/// `MS_HEALTHCHECK_INTERVAL`; a boot takes a few seconds, more on a loaded 2-core host).
pub const HEALTHY_WITHIN: Duration = Duration::from_secs(120);

/// The async services that consume a queue: those whose `consumers` in
/// `services/src/registry.rs` start any. User and product only publish.
const CONSUMING: [Service; 8] = [
    Service::Payment,
    Service::Report,
    Service::Order,
    Service::Analytics,
    Service::Email,
    Service::Search,
    Service::Cache,
    Service::Inventory,
];

/// Whether `service`'s async consumers can be scaled out (it consumes a queue).
pub fn scalable(service: Service) -> bool {
    CONSUMING.contains(&service)
}

/// The compose service of `service`'s main async container: `email-async`.
pub fn main_service(service: Service) -> String {
    format!("{}-{}", service.name(), Mode::Async.as_str())
}

/// The compose service of `service`'s replicas: `email-async-replica`.
pub fn replica_service(service: Service) -> String {
    format!("{}{REPLICA_SUFFIX}", main_service(service))
}

/// Whether a compose service of the file holds replicas (not started by `ms-tui up`).
pub fn is_replica_service(compose_service: &str) -> bool {
    compose_service.ends_with(REPLICA_SUFFIX)
}

/// The scalable services, for messages.
fn scalable_names() -> String {
    CONSUMING.map(Service::name).join(", ")
}

/// Checks a request before anything is touched: a consuming async service, 1–16 consumers.
pub fn check(service: Service, consumers: u32) -> anyhow::Result<()> {
    if !scalable(service) {
        let why = if service == Service::Gateway {
            "the gateway consumes no messages".to_owned()
        } else {
            format!("{service}-async consumes no messages (it only publishes)")
        };
        bail!("{why}: nothing to scale; scalable are {}", scalable_names());
    }
    if !(1..=MAX_CONSUMERS).contains(&consumers) {
        bail!(
            "{consumers} consumers: give 1–{MAX_CONSUMERS} in all, the main container included \
             (1 removes every replica)"
        );
    }
    Ok(())
}

/// `email`, `email-async`, `async/email` → the service; a sync or unknown name is refused
/// with what would work.
pub fn parse_service(text: &str) -> anyhow::Result<Service> {
    let (mode, name) = match text.split_once('/') {
        Some((mode, name)) => (Some(mode), name),
        None => match text.strip_suffix("-async") {
            Some(name) => (Some("async"), name),
            None => match text.strip_suffix("-sync") {
                Some(name) => (Some("sync"), name),
                None => (None, text),
            },
        },
    };
    let Some(service) = Service::ALL.into_iter().find(|s| s.name() == name) else {
        bail!("{text}: no such service; scalable are {}", scalable_names());
    };
    match mode {
        None | Some("async") => Ok(service),
        Some("sync") => bail!(
            "{text}: the sync stack has no consumers (it answers over HTTP); scaling is for the \
             async consumers of {}",
            scalable_names()
        ),
        Some(other) => bail!("{text}: {other} is not a stack (async/{name} is)"),
    }
}

/// How many containers the current layout expects: one per compose service of the file that
/// is not a replica service, and every replica that exists (scaled out, running or not).
pub fn expected_count(compose_services: &[String], containers: &[ContainerStatus]) -> usize {
    let main = compose_services
        .iter()
        .filter(|s| !is_replica_service(s))
        .count();
    main + containers.iter().filter(|c| c.is_replica()).count()
}

/// What [`scale`] achieved.
#[derive(Clone, Debug)]
pub struct ScaleReport {
    pub service: Service,
    /// The service's async containers now: the main one first, then the replicas in order.
    pub consumers: Vec<ContainerStatus>,
    /// The knobs the replicas were given (the main container's), when there are replicas.
    pub knobs: Option<Value>,
    pub elapsed: Duration,
}

impl fmt::Display for ScaleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} consumer(s) of async {} in {:.1} s:",
            self.consumers.len(),
            self.service,
            self.elapsed.as_secs_f64()
        )?;
        for c in &self.consumers {
            writeln!(f, "  {c}")?;
        }
        Ok(())
    }
}

/// Scales `service`'s async consumers to `consumers` in all (1–16; 1 removes every replica)
/// and waits, [`HEALTHY_WITHIN`] at most, until each is healthy and runs the service's knobs.
/// The control room's call: the progress goes to the app's log, the outcome is all it shows.
pub async fn scale(stack: &StackOptions, service: Service, consumers: u32) -> anyhow::Result<()> {
    let log = |p: Progress| match p {
        Progress::Output(line) => tracing::debug!("scale async/{service}: {line}"),
        other => tracing::info!(
            "scale async/{service}: {}",
            other.to_string().trim_start_matches("==> ")
        ),
    };
    scale_within(stack, service, consumers, HEALTHY_WITHIN, log)
        .await
        .map(drop)
}

/// [`scale`], waiting `within` for health, with its progress and what it achieved (the
/// command line's call).
pub async fn scale_within(
    stack: &StackOptions,
    service: Service,
    consumers: u32,
    within: Duration,
    mut progress: impl FnMut(Progress) + Send,
) -> anyhow::Result<ScaleReport> {
    let progress: &mut (dyn FnMut(Progress) + Send) = &mut progress;
    check(service, consumers)?;
    let began = Instant::now();
    let layout = Layout::discover(stack.root.as_deref())?;
    let docker = crate::docker::connect().await?;
    let project = Project::default();
    if !swarm::services(&docker, &project).await?.is_empty() {
        // On a swarm the consumers are the service's tasks: its replica count is the one
        // setting, and the swarm starts or stops tasks to match (no `-replica` service).
        let name = main_service(service);
        progress(Progress::Step(format!(
            "{consumers} task(s) of swarm service {}",
            swarm::service_name(&project, &name)
        )));
        swarm::scale(&docker, &project, &name, u64::from(consumers), within).await?;
        let tasks = containers::list_swarm(&docker)
            .await?
            .into_iter()
            .filter(|c| c.compose_service == name)
            .collect();
        return Ok(ScaleReport {
            service,
            consumers: tasks,
            knobs: None,
            elapsed: began.elapsed(),
        });
    }
    let main = running_main(&docker, service).await?;
    let compose = Compose::detect().await?;
    let replicas = consumers - 1;
    let scale_arg = format!("{}={replicas}", replica_service(service));
    let replica_service = replica_service(service);
    let args = [
        "up",
        "-d",
        "--no-deps",
        "--no-recreate",
        "--scale",
        scale_arg.as_str(),
        replica_service.as_str(),
    ];
    progress(Progress::Step(format!(
        "{} consumer(s) of async {service}: {} {}",
        consumers,
        compose.describe(),
        args.join(" ")
    )));
    run_reporting(&compose, &layout, &args, &[], progress)
        .await
        .with_context(|| format!("scaling async {service} to {consumers} consumer(s)"))?;
    let list = wait_healthy(&docker, service, replicas, within, progress).await?;
    let scaled: Vec<ContainerStatus> = list.iter().filter(|c| c.is_replica()).cloned().collect();
    let knobs = if scaled.is_empty() {
        None
    } else {
        Some(copy_knobs(&docker, &main, &scaled, progress).await?)
    };
    Ok(ScaleReport {
        service,
        consumers: list,
        knobs,
        elapsed: began.elapsed(),
    })
}

/// The service's main async container, which must be running: the replicas join its stack.
async fn running_main(
    docker: &bollard::Docker,
    service: Service,
) -> anyhow::Result<ContainerStatus> {
    let list = containers::list(docker).await?;
    if list.is_empty() {
        bail!(
            "the stack is not up (no containers of project {}): start it with `ms-tui up`",
            super::PROJECT
        );
    }
    let name = main_service(service);
    match list
        .into_iter()
        .find(|c| c.service == service.name() && c.mode == Mode::Async.as_str() && !c.is_replica())
    {
        Some(main) if main.state == "running" => Ok(main),
        Some(main) => bail!(
            "{name} is {}, not running: start it first (`ms-tui up`, or the control room's `s`)",
            main.state
        ),
        None => bail!("the stack has no {name}: bring it up with `ms-tui up`"),
    }
}

/// Waits up to `within` until the service has exactly `replicas` replicas, all running and
/// healthy; returns its async containers (main first). A replica that exits fails at once,
/// with its last lines.
async fn wait_healthy(
    docker: &bollard::Docker,
    service: Service,
    replicas: u32,
    within: Duration,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> anyhow::Result<Vec<ContainerStatus>> {
    let deadline = Instant::now() + within;
    let mut last = None;
    loop {
        let list: Vec<ContainerStatus> = containers::list(docker)
            .await?
            .into_iter()
            .filter(|c| c.service == service.name() && c.mode == Mode::Async.as_str())
            .collect();
        let scaled: Vec<&ContainerStatus> = list.iter().filter(|c| c.is_replica()).collect();
        let health = super::boot::health_report(&list, replicas as usize + 1);
        if last.as_ref() != Some(&health) {
            progress(health.clone());
            last = Some(health);
        }
        if let Some(failed) = scaled
            .iter()
            .find(|c| c.state == "exited" || c.state == "dead")
        {
            let tail = containers::log_tail(docker, failed, 20)
                .await
                .unwrap_or_default();
            bail!(
                "{} stopped (exit code {}) while it came up; its last lines:\n{}",
                failed.display_name(),
                failed.exit_code.unwrap_or_default(),
                tail.join("\n")
            );
        }
        if scaled.len() == replicas as usize && scaled.iter().all(|c| c.is_ready()) {
            return Ok(list);
        }
        if Instant::now() > deadline {
            bail!(
                "{}",
                super::boot::not_healthy_message(&list, within.as_secs())
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Gives every replica the main container's run-time knobs; returns them.
async fn copy_knobs(
    docker: &bollard::Docker,
    main: &ContainerStatus,
    replicas: &[ContainerStatus],
    progress: &mut (dyn FnMut(Progress) + Send),
) -> anyhow::Result<Value> {
    let project = Project::default();
    let config = exec::admin(
        docker,
        &project,
        &main.id,
        &reqwest::Method::GET,
        "/admin/config",
        None,
    )
    .await
    .context("reading the service's knobs")?;
    let knobs = config.get("knobs").cloned().with_context(|| {
        format!(
            "{}: GET /admin/config has no knobs: {config}",
            main.display_name()
        )
    })?;
    for replica in replicas {
        exec::admin(
            docker,
            &project,
            &replica.id,
            &reqwest::Method::PUT,
            "/admin/config",
            Some(&knobs),
        )
        .await
        .with_context(|| {
            format!(
                "{} runs, but giving it the knobs of {} failed",
                replica.display_name(),
                main.display_name()
            )
        })?;
    }
    progress(Progress::Step(format!(
        "{} replica(s) run the knobs of {}",
        replicas.len(),
        main.display_name()
    )));
    Ok(knobs)
}

/// Exit status of a refused command line (as clap's own).
const BAD_INPUT: u8 = 2;

const EXAMPLES: &str = "\
Examples:
  ms-tui scale email 2        two e-mail consumers: email-async and one replica
  ms-tui scale async/payment 4
  ms-tui scale email 1        back to the main container alone (every replica removed)

A replica is another container of the same service (compose service <service>-async-replica):
the same image, command and environment, consuming the same queues (competing consumers), but
with no published port, so the control room reaches its admin API with `docker exec
<container> /ms-service admin ...`. It starts with the service's current knobs (read from the
main container's GET /admin/config). The main containers, the broker and the database are
never recreated. Replicas show as async/email#2, #3... in the control room and `ms-tui status`
(email-async#2); `ms-tui fault email#2 kill` targets one. `ms-tui down` removes them;
`ms-tui up` leaves them as they are.

Exit status: 0 scaled and healthy; 1 compose or a replica failed, or the stack is not up;
2 bad input (not a consumer, n out of range), with nothing changed.";

/// `ms-tui scale`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = EXAMPLES)]
pub struct ScaleArgs {
    /// The async service whose consumers to scale: payment, report, order, analytics, email,
    /// search, cache or inventory (`email`, `email-async` and `async/email` alike).
    pub service: String,
    /// Consumers in all, the main container included (1–16): 1 removes every replica.
    pub consumers: u32,
    /// Seconds to wait for the replicas to be healthy.
    #[arg(long, default_value_t = HEALTHY_WITHIN.as_secs())]
    pub timeout: u64,
    #[command(flatten)]
    pub stack: StackOptions,
}

/// Runs `ms-tui scale`.
pub async fn run(args: ScaleArgs) -> anyhow::Result<ExitCode> {
    let service =
        match parse_service(&args.service).and_then(|s| check(s, args.consumers).map(|()| s)) {
            Ok(service) => service,
            Err(e) => {
                eprintln!("ms-tui scale: {e:#}\n(nothing was changed; see ms-tui scale --help)");
                return Ok(ExitCode::from(BAD_INPUT));
            }
        };
    let within = Duration::from_secs(args.timeout);
    let report = scale_within(&args.stack, service, args.consumers, within, |p| {
        println!("{p}")
    })
    .await?;
    print!("{report}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::Health;

    #[test]
    fn the_consumers_are_scalable_and_the_publishers_are_not() {
        for service in CONSUMING {
            assert!(scalable(service), "{service}");
        }
        for service in [Service::User, Service::Product, Service::Gateway] {
            assert!(!scalable(service), "{service}");
            let error = check(service, 2).unwrap_err().to_string();
            assert!(error.contains("consumes no messages"), "{error}");
            assert!(error.contains("email"), "names what is scalable: {error}");
        }
        assert_eq!(replica_service(Service::Email), "email-async-replica");
        assert!(is_replica_service("email-async-replica"));
        assert!(!is_replica_service("email-async"));
    }

    #[test]
    fn consumers_are_one_to_sixteen() {
        assert!(check(Service::Email, 1).is_ok());
        assert!(check(Service::Email, MAX_CONSUMERS).is_ok());
        for n in [0, MAX_CONSUMERS + 1, 1000] {
            let error = check(Service::Email, n).unwrap_err().to_string();
            assert!(error.contains("1–16"), "{error}");
        }
    }

    #[test]
    fn services_are_named_as_elsewhere_and_sync_is_refused() {
        for text in ["email", "email-async", "async/email"] {
            assert_eq!(parse_service(text).unwrap(), Service::Email, "{text}");
        }
        for (text, says) in [
            ("email-sync", "sync stack has no consumers"),
            ("sync/email", "sync stack has no consumers"),
            ("nosuch", "no such service"),
            ("infra/email", "not a stack"),
        ] {
            let error = parse_service(text).unwrap_err().to_string();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    fn container(compose_service: &str, replica: u32) -> ContainerStatus {
        ContainerStatus {
            id: format!("{compose_service}-{replica}"),
            name: format!("ms-tui_{compose_service}_{replica}"),
            compose_service: compose_service.into(),
            service: "email".into(),
            mode: "async".into(),
            replica,
            state: "running".into(),
            health: Health::Healthy,
            restart_count: 0,
            started_at: String::new(),
            exit_code: None,
            last_probe: None,
            ports: Vec::new(),
        }
    }

    #[test]
    fn the_expected_count_is_the_main_services_and_the_replicas_that_exist() {
        let services: Vec<String> = [
            "rabbitmq",
            "email-async",
            "email-async-replica",
            "payment-async-replica",
        ]
        .map(str::to_owned)
        .to_vec();
        let main = container("email-async", 1);
        assert_eq!(expected_count(&services, &[]), 2);
        assert_eq!(expected_count(&services, std::slice::from_ref(&main)), 2);
        let scaled = [
            main,
            container("email-async-replica", 2),
            container("email-async-replica", 3),
        ];
        assert_eq!(expected_count(&services, &scaled), 4);
    }

    /// The lines of the compose file's top-level entry `key` (e.g. `  email-async-replica:`),
    /// up to the next line at its indentation or less.
    fn entry<'a>(text: &'a str, key: &str) -> Option<Vec<&'a str>> {
        let indent = key.len() - key.trim_start().len();
        let mut lines = text.lines().skip_while(|l| *l != key);
        lines.next()?;
        Some(
            lines
                .take_while(|l| {
                    let own = l.len() - l.trim_start().len();
                    !l.trim().is_empty() && own > indent
                })
                .collect(),
        )
    }

    /// The compose file holds a replica service for exactly the scalable services, with the
    /// replica labels, no published port and nothing started by default.
    #[test]
    fn the_compose_file_has_a_replica_service_for_each_consumer_and_no_other() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../compose/docker-compose.yml");
        let text = std::fs::read_to_string(path).unwrap();
        for service in Service::ALL {
            let key = format!("  {}:", replica_service(service));
            let Some(lines) = entry(&text, &key) else {
                assert!(
                    !scalable(service),
                    "{service} has no {}",
                    replica_service(service)
                );
                continue;
            };
            assert!(
                scalable(service),
                "{service} consumes nothing but has replicas"
            );
            let body = lines.join("\n");
            assert!(body.contains("<<: *async-replica"), "{service}: {body}");
            assert!(
                body.contains(&format!("command: [\"{}\"]", service.name())),
                "{body}"
            );
            assert!(
                body.contains(&format!(
                    "<<: *replica-labels, ms-tui.service: {}}}",
                    service.name()
                )),
                "{body}"
            );
            assert!(
                !body.contains("ports"),
                "{service}: a replica publishes no port"
            );
        }
        let anchor = entry(&text, "x-async-replica: &async-replica")
            .unwrap()
            .join("\n");
        assert!(
            anchor.contains("<<: *async") && anchor.contains("scale: 0"),
            "{anchor}"
        );
        let labels = entry(&text, "  replica-labels: &replica-labels")
            .unwrap()
            .join("\n");
        assert!(labels.contains("ms-tui.replica: \"true\""), "{labels}");
        assert!(labels.contains("ms-tui.mode: async"), "{labels}");
    }
}
