//! `ms-tui up --swarm` and `ms-tui down --swarm`: the stack on Docker Swarm, from the same
//! compose file ([`super::swarm`] writes the stack file), with `docker stack deploy` — the
//! swarm's own tool; the control room then follows the swarm's tasks through bollard.
//!
//! - A single-node swarm is made when the engine is in none (`127.0.0.1` as its address),
//!   and `down --swarm` leaves it again — only one this command made (a marker file says
//!   so): a swarm the user had is theirs.
//! - The edge container ([`EDGE`]), a plain container on the stack's attachable overlay
//!   network, publishes the compose file's 127.0.0.1 port map (`ms-service edge`), so fires,
//!   load, admin calls and the queue pane reach the same addresses as under compose.
//! - `up` waits until every service runs its desired tasks, each healthy, and every port
//!   answers through the edge.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
    SwarmInitRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LeaveSwarmOptionsBuilder, RemoveContainerOptionsBuilder,
    StartContainerOptions,
};
use tokio::process::Command;

use super::process::run_reporting_lines;
use super::swarm::{self as plan, EdgePort, SwarmOptions};
use super::{DownOptions, Layout, PROJECT, Progress, UpOptions, UpReport, boot};
use crate::docker::labels::{MODE_KEY, PROJECT_KEY, Project, SERVICE_KEY};
use crate::docker::status::{self as containers, ContainerStatus};
use crate::docker::swarm::{self, NAMESPACE_KEY};

/// The edge container's name.
pub const EDGE: &str = "ms-tui-edge";

/// How often `up` looks at the tasks while waiting.
const POLL: Duration = Duration::from_secs(2);

/// Where the generated stack file and the marker of a swarm made here live.
fn state_dir(layout: &Layout) -> PathBuf {
    layout.root().join("compose/.swarm")
}

fn created_marker(layout: &Layout) -> PathBuf {
    state_dir(layout).join("swarm-created-by-ms-tui")
}

/// Whether the project's stack is deployed on a swarm here.
pub async fn deployed(docker: &Docker) -> anyhow::Result<bool> {
    Ok(!swarm::services(docker, &Project::default())
        .await
        .context("listing the swarm's services")?
        .is_empty())
}

/// The containers a swarm deployment wants (every service's desired tasks and the edge), or
/// `None` when the stack is not on a swarm.
pub async fn expected(docker: &Docker) -> anyhow::Result<Option<usize>> {
    let services = swarm::services(docker, &Project::default()).await?;
    if services.is_empty() {
        return Ok(None);
    }
    let tasks: u64 = services.iter().map(|s| s.desired).sum();
    Ok(Some(usize::try_from(tasks).unwrap_or(usize::MAX) + 1))
}

/// `ms-tui up --swarm`.
pub async fn up(
    options: &UpOptions,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<UpReport> {
    let began = Instant::now();
    {
        // The compose stack publishes the same ports and owns the same volumes' data.
        let docker = crate::docker::connect().await?;
        let running: Vec<String> = containers::list(&docker)
            .await?
            .into_iter()
            .filter(|c| c.state == "running")
            .map(|c| c.compose_service)
            .collect();
        if !running.is_empty() {
            bail!(
                "the compose stack is running ({} containers: {}…): `ms-tui down` first — both \
                 publish the same 127.0.0.1 ports",
                running.len(),
                running
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let super::Prepared {
        layout,
        docker,
        compose,
    } = super::prepare(options, progress).await?;

    if swarm::active(&docker).await? {
        progress(Progress::Step(
            "this engine is in a swarm already: deploying there".into(),
        ));
    } else {
        progress(Progress::Step(
            "docker swarm init --advertise-addr 127.0.0.1 (a single-node swarm)".into(),
        ));
        docker
            .init_swarm(SwarmInitRequest {
                listen_addr: Some("127.0.0.1:2377".into()),
                advertise_addr: Some("127.0.0.1".into()),
                ..Default::default()
            })
            .await
            .context("docker swarm init")?;
        std::fs::create_dir_all(state_dir(&layout))?;
        std::fs::write(
            created_marker(&layout),
            "ms-tui up --swarm made this swarm; ms-tui down --swarm leaves it\n",
        )?;
    }

    let resolved = compose
        .output(&layout, &["config"], &[])
        .await
        .context("docker-compose config")?;
    let stack = plan::stack_file(
        &resolved,
        &SwarmOptions {
            only: options.only.clone(),
            consumer_replicas: 1,
        },
    )?;
    let file = state_dir(&layout).join("stack.yml");
    std::fs::create_dir_all(state_dir(&layout))?;
    std::fs::write(&file, &stack.stack_yaml)
        .with_context(|| format!("writing {}", file.display()))?;
    let file_arg = file.display().to_string();
    let args = [
        "stack",
        "deploy",
        "--resolve-image",
        "never",
        "--prune",
        "-c",
        file_arg.as_str(),
        PROJECT,
    ];
    progress(Progress::Step(format!("docker {}", args.join(" "))));
    docker_cli(&args, progress).await?;

    let stack_env = layout.env()?;
    start_edge(&docker, stack_env.service_image(), &stack.edge).await?;
    progress(Progress::Step(format!(
        "edge container {EDGE}: {} ports on 127.0.0.1 forwarded over {}",
        stack.edge.len(),
        plan::network_name()
    )));

    let started = Instant::now();
    let list = wait_ready(&docker, &stack.edge, options.timeout, progress).await?;
    let what = format!(
        "swarm: all {} tasks healthy and every port answering",
        list.len().saturating_sub(1)
    );
    Ok(UpReport::done(
        &what, "deploy", began, started, list, progress,
    ))
}

/// `ms-tui down --swarm`: the edge, the stack (its services, tasks and network), the volumes
/// when asked, and the swarm itself when `up --swarm` made it.
pub async fn down(
    options: &DownOptions,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let layout = Layout::discover(options.stack.root.as_deref())?;
    let docker = crate::docker::connect().await?;
    remove_edge(&docker).await?;
    if deployed(&docker).await? {
        progress(Progress::Step(format!("docker stack rm {PROJECT}")));
        docker_cli(&["stack", "rm", PROJECT], progress).await?;
    }
    // `stack rm` returns before the tasks are gone; the network (and a volume still mounted)
    // cannot go before them.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = containers::list_swarm(&docker).await?;
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{} swarm task container(s) still there after 120 s",
                left.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if options.volumes {
        remove_stack_volumes(&docker, progress).await?;
    }
    if created_marker(&layout).exists() {
        progress(Progress::Step(
            "docker swarm leave --force (up --swarm made this swarm)".into(),
        ));
        docker
            .leave_swarm(Some(
                LeaveSwarmOptionsBuilder::default().force(true).build(),
            ))
            .await
            .context("docker swarm leave")?;
        std::fs::remove_file(created_marker(&layout))?;
    }
    Ok(super::down_done(
        "swarm deployment",
        began,
        options.volumes,
        progress,
    ))
}

/// `docker <args>` (the stack verbs have no engine API: they are the CLI's), its output as
/// progress.
async fn docker_cli(args: &[&str], progress: &mut dyn FnMut(Progress)) -> anyhow::Result<()> {
    let mut cmd = Command::new("docker");
    cmd.args(args);
    let what = format!("docker {}", args[..2.min(args.len())].join(" "));
    run_reporting_lines(cmd, &what, progress).await
}

/// The edge: `ms-service edge` on the overlay network, each port published on its host
/// address (127.0.0.1) only.
async fn start_edge(docker: &Docker, image: &str, edge: &[EdgePort]) -> anyhow::Result<()> {
    remove_edge(docker).await?;
    let mut cmd = vec!["edge".to_owned()];
    cmd.extend(
        edge.iter()
            .map(|p| format!("{}={}:{}", p.published, p.service, p.target)),
    );
    let bindings: HashMap<String, Option<Vec<PortBinding>>> = edge
        .iter()
        .map(|p| {
            (
                format!("{}/tcp", p.published),
                Some(vec![PortBinding {
                    host_ip: Some(p.host_ip.clone()),
                    host_port: Some(p.published.to_string()),
                }]),
            )
        })
        .collect();
    let labels = HashMap::from([
        (PROJECT_KEY.to_owned(), PROJECT.to_owned()),
        (SERVICE_KEY.to_owned(), "edge".to_owned()),
        (MODE_KEY.to_owned(), "infra".to_owned()),
        (NAMESPACE_KEY.to_owned(), PROJECT.to_owned()),
    ]);
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(cmd),
        labels: Some(labels),
        exposed_ports: Some(
            edge.iter()
                .map(|p| format!("{}/tcp", p.published))
                .collect(),
        ),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            network_mode: Some(plan::network_name()),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(EDGE).build();
    docker
        .create_container(Some(options), body)
        .await
        .context("creating the edge container")?;
    docker
        .start_container(EDGE, None::<StartContainerOptions>)
        .await
        .context("starting the edge container")?;
    Ok(())
}

async fn remove_edge(docker: &Docker) -> anyhow::Result<()> {
    let options = RemoveContainerOptionsBuilder::default().force(true).build();
    match docker.remove_container(EDGE, Some(options)).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(e).context("removing the edge container"),
    }
}

/// The stack's named volumes (`docker stack deploy` labels them with its namespace).
async fn remove_stack_volumes(
    docker: &Docker,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<()> {
    use bollard::query_parameters::{ListVolumesOptionsBuilder, RemoveVolumeOptions};
    let filters = HashMap::from([("label", vec![format!("{NAMESPACE_KEY}={PROJECT}")])]);
    let volumes = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .context("listing the stack's volumes")?
        .volumes
        .unwrap_or_default();
    for volume in volumes {
        progress(Progress::Step(format!("removing volume {}", volume.name)));
        docker
            .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
            .await
            .with_context(|| format!("removing volume {}", volume.name))?;
    }
    Ok(())
}

/// Waits until every swarm service runs its desired tasks, each running and healthy, the
/// edge runs, and each of the edge's ports answers (`/ready` on a service port, a TCP
/// connect on the broker's and the database's).
async fn wait_ready(
    docker: &Docker,
    edge: &[EdgePort],
    timeout: u64,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<Vec<ContainerStatus>> {
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut last = None;
    loop {
        let services = swarm::services(docker, &Project::default()).await?;
        let list = containers::list_swarm(docker).await?;
        let desired: u64 = services.iter().map(|s| s.desired).sum();
        let total = usize::try_from(desired).unwrap_or(usize::MAX) + 1;
        let health = boot::health_report(&list, total);
        let all_ready = list.len() == total && list.iter().all(ContainerStatus::is_ready);
        let converged = services.iter().all(|s| s.converged());
        let unanswered = if all_ready && converged {
            unanswered_ports(edge).await
        } else {
            vec!["(tasks first)".to_owned()]
        };
        if last.as_ref() != Some(&health) {
            progress(health.clone());
            last = Some(health);
        }
        if all_ready && converged && unanswered.is_empty() {
            return Ok(list);
        }
        if Instant::now() > deadline {
            let short: Vec<String> = services
                .iter()
                .filter(|s| !s.converged())
                .map(|s| format!("{} {}/{}", s.name, s.running, s.desired))
                .collect();
            bail!(
                "the swarm deployment was not ready within {timeout} s: services short of tasks: \
                 [{}]; not ready: [{}]; ports not answering: [{}] (docker service ps {PROJECT}_<service> \
                 --no-trunc says why a task failed)",
                short.join(", "),
                list.iter()
                    .filter(|c| !c.is_ready())
                    .map(|c| format!("{} {}", c.display_name(), c.state))
                    .collect::<Vec<_>>()
                    .join(", "),
                unanswered.join(", ")
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The edge ports that do not answer yet, as `127.0.0.1:8001 (user-sync)`.
async fn unanswered_ports(edge: &[EdgePort]) -> Vec<String> {
    let client = common::http::client(Duration::from_secs(2));
    let mut out = Vec::new();
    for port in edge {
        let address = format!("{}:{}", port.host_ip, port.published);
        let ok = if port.target == 8000 {
            client
                .get(format!("http://{address}/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        } else {
            tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::TcpStream::connect(address.as_str()),
            )
            .await
            .is_ok_and(|c| c.is_ok())
        };
        if !ok {
            out.push(format!("{address} ({})", port.service));
        }
    }
    out
}
