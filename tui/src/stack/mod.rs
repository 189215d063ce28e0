//! The Docker stack of `compose/`: bring it up from nothing, take it down, say how it is.
//!
//! `ms-tui up|down|status` call [`up`], [`down`] and [`status`]; the control room and the
//! end-to-end tests use the same functions. The containers themselves are reached through the
//! crate's one Docker layer, [`crate::docker`] ([`crate::docker::status`] lists them,
//! [`crate::docker::actions`] acts on one).
//!
//! # Layout
//! - `mod.rs` (this file): the options, the progress reports and the three operations.
//! - [`env`](mod@env): `compose/.env` — created from `compose/.env.example` with random secrets,
//!   parsed for the admin token and the broker / database credentials.
//! - [`images`]: which images exist; builds the missing ones with `compose/images/build.sh`.
//! - [`compose`]: runs `docker compose` (v2) or `docker-compose` (v1) as project `ms-tui`.
//! - [`scale`]: the replicas of an async service's consumers (`ms-tui scale`), and the
//!   container count the current layout expects.
//! - [`swarm`]: the `docker stack deploy` file generated from `docker-compose config`, and
//!   the edge container that publishes its 127.0.0.1 ports.
//! - `swarm_deploy`: `up --swarm` / `down --swarm`: the swarm, `docker stack deploy`, the
//!   edge container, the wait for every task; what `status` counts on a swarm.
//! - `boot`: the start order and the health watch of `up`.
//! - `process`: child processes whose output lines become progress.

mod boot;
pub mod compose;
pub mod env;
pub mod images;
mod process;
pub mod scale;
pub mod swarm;
mod swarm_deploy;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::mpsc;

use self::boot::{Watch, start_group, start_order};
use self::compose::{Compose, PLACEHOLDER_ENV};
use self::env::{EnvAction, OFFICIAL_IMAGES, OFFLINE_IMAGES, StackEnv};
use crate::docker::status::{self as containers, ContainerStatus};

/// The compose project name: every container, network and volume of the stack belongs to it
/// (and it is the value of the project label the Docker layer requires).
pub use crate::docker::labels::PROJECT;

/// How often `up` looks at the containers' health while waiting: each look inspects every
/// container, which a dockerd already busy starting containers answers slowly.
const POLL: Duration = Duration::from_secs(1);

/// Where the stack's files are.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// `explicit` when given; else the nearest directory, from the working directory up,
    /// that holds `compose/docker-compose.yml`.
    pub fn discover(explicit: Option<&Path>) -> anyhow::Result<Layout> {
        if let Some(root) = explicit {
            if !compose::is_root(root) {
                bail!("{} holds no compose/docker-compose.yml", root.display());
            }
            return Ok(Layout {
                root: root.to_owned(),
            });
        }
        let cwd = std::env::current_dir().context("reading the working directory")?;
        cwd.ancestors()
            .find(|dir| compose::is_root(dir))
            .map(|root| Layout {
                root: root.to_owned(),
            })
            .with_context(|| {
                format!(
                    "no compose/docker-compose.yml in {} or above: run from the ms-tui \
                     repository or pass --root",
                    cwd.display()
                )
            })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn compose_file(&self) -> PathBuf {
        self.root.join("compose/docker-compose.yml")
    }

    /// The broker cluster's layer over [`Layout::compose_file`].
    pub fn broker_cluster_file(&self) -> PathBuf {
        self.root.join("compose/broker-cluster.yml")
    }

    /// The files compose reads, in order: the base file, and the broker cluster's layer while
    /// `compose/.env` says `MS_BROKER_CLUSTER=true`.
    pub fn compose_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.compose_file()];
        if self.env().is_ok_and(|env| env.broker_cluster()) {
            files.push(self.broker_cluster_file());
        }
        files
    }

    pub fn env_file(&self) -> PathBuf {
        self.root.join("compose/.env")
    }

    pub fn env_example(&self) -> PathBuf {
        self.root.join("compose/.env.example")
    }

    pub fn build_script(&self) -> PathBuf {
        self.root.join("compose/images/build.sh")
    }

    /// The stack's `.env`, parsed (it exists once `up` ran).
    pub fn env(&self) -> anyhow::Result<StackEnv> {
        StackEnv::load(&self.env_file())
    }
}

/// Options every stack command takes.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct StackOptions {
    /// Repository root (the directory holding compose/); default: the nearest one from the
    /// working directory up.
    #[arg(long, env = "MS_TUI_ROOT")]
    pub root: Option<PathBuf>,
}

/// `ms-tui up`.
#[derive(clap::Args, Clone, Debug)]
pub struct UpOptions {
    #[command(flatten)]
    pub stack: StackOptions,
    /// Run RabbitMQ and PostgreSQL from images built here from Debian's packages (no
    /// registry needed). Remembered in compose/.env (MS_INFRA_IMAGES).
    #[arg(long, conflicts_with = "official")]
    pub offline: bool,
    /// Run the official RabbitMQ and PostgreSQL images (the default; needs a registry).
    /// Remembered in compose/.env.
    #[arg(long)]
    pub official: bool,
    /// Run RabbitMQ as a 3-node cluster with quorum queues (compose/broker-cluster.yml, own
    /// volumes); without it, `up` runs the single node. Remembered in compose/.env
    /// (MS_BROKER_CLUSTER) for the other commands.
    #[arg(long, conflicts_with = "swarm")]
    pub broker_cluster: bool,
    /// Deploy on Docker Swarm (`docker stack deploy`, a single-node swarm is made when this
    /// engine is in none) instead of compose: the same services from the same compose file,
    /// DNS round robin over their tasks, one edge container publishing the usual 127.0.0.1
    /// ports. The compose stack must be down first (`ms-tui down`).
    #[arg(long)]
    pub swarm: bool,
    /// With --swarm, deploy only these compose services (comma-separated, e.g.
    /// rabbitmq,postgres,user-sync,email-sync,user-async,email-async): a reduced stack.
    #[arg(
        long,
        value_delimiter = ',',
        requires = "swarm",
        value_name = "SERVICES"
    )]
    pub only: Vec<String>,
    /// Rebuild the service image even when it exists (after changing the services' code).
    #[arg(long)]
    pub build: bool,
    /// The ms-service binary to package, static or dynamic (its libraries are copied along).
    /// Default: a static release build (compose/images/build.sh).
    #[arg(long, env = "MS_SERVICE_BINARY")]
    pub service_binary: Option<PathBuf>,
    /// Seconds to wait for every container to be healthy.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Start the services this many at a time, each group healthy before the next (the
    /// broker and the database always first); 0 starts them all at once. Small groups boot
    /// a small machine reliably; with cores to spare, 0 is faster.
    #[arg(long, default_value_t = 5)]
    pub batch: usize,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            stack: StackOptions::default(),
            offline: false,
            official: false,
            broker_cluster: false,
            swarm: false,
            only: Vec::new(),
            build: false,
            service_binary: None,
            timeout: 300,
            batch: 5,
        }
    }
}

/// `ms-tui down`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DownOptions {
    #[command(flatten)]
    pub stack: StackOptions,
    /// Also delete the volumes: the broker's queues and the databases start empty next time.
    #[arg(long)]
    pub volumes: bool,
    /// Remove the swarm deployment (`docker stack rm`, the edge container) instead of the
    /// compose stack, and leave the swarm if `up --swarm` made it.
    #[arg(long)]
    pub swarm: bool,
}

/// What `up` and `down` report while they work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A step begins or a decision was taken.
    Step(String),
    /// A line of output of a tool a step runs (compose, the image build).
    Output(String),
    /// The containers' health changed while waiting: `ready` of `total` are running and
    /// healthy; `waiting` names the others with their state.
    Health {
        ready: usize,
        total: usize,
        waiting: Vec<String>,
    },
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::Step(step) => write!(f, "==> {step}"),
            Progress::Output(line) => write!(f, "    {line}"),
            Progress::Health {
                ready,
                total,
                waiting,
            } => {
                write!(f, "==> {ready}/{total} healthy")?;
                if !waiting.is_empty() {
                    // The full list is long at first; the first few say enough.
                    let shown: Vec<&str> = waiting.iter().take(6).map(String::as_str).collect();
                    let more = waiting.len().saturating_sub(shown.len());
                    write!(f, "; waiting for {}", shown.join(", "))?;
                    if more > 0 {
                        write!(f, " and {more} more")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// What `up` achieved.
#[derive(Clone, Debug)]
pub struct UpReport {
    /// From the start of `compose up` to every container healthy: the cold-start time once
    /// the images exist.
    pub start_to_healthy: Duration,
    /// The whole command, image builds included.
    pub total: Duration,
    /// The containers, all ready.
    pub containers: Vec<ContainerStatus>,
}

impl UpReport {
    /// The report of an `up` whose containers are all ready (`list`), said as the last step:
    /// `what` and the times since `started` (`after`, e.g. `compose up`) and `began`.
    fn done(
        what: &str,
        after: &str,
        began: Instant,
        started: Instant,
        list: Vec<ContainerStatus>,
        progress: &mut dyn FnMut(Progress),
    ) -> UpReport {
        let start_to_healthy = started.elapsed();
        progress(Progress::Step(format!(
            "{what} {:.1} s after {after} ({:.1} s in all)",
            start_to_healthy.as_secs_f64(),
            began.elapsed().as_secs_f64()
        )));
        UpReport {
            start_to_healthy,
            total: began.elapsed(),
            containers: list,
        }
    }
}

/// Brings the stack up from nothing: writes `compose/.env` if missing, builds the missing
/// images, runs `compose up -d`, and waits until every container is running and healthy.
pub async fn up(
    options: &UpOptions,
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<UpReport> {
    let progress: &mut dyn FnMut(Progress) = &mut progress;
    if options.swarm {
        return swarm_deploy::up(options, progress).await;
    }
    let began = Instant::now();
    // The swarm deployment holds the same 127.0.0.1 ports: compose would fail half-way.
    if swarm_deploy::deployed(&crate::docker::connect().await?).await? {
        bail!(
            "the stack runs on a swarm (ms-tui up --swarm): `ms-tui down --swarm` first, or              keep using it as it is"
        );
    }
    let Prepared {
        layout,
        docker,
        compose,
    } = prepare(options, progress).await?;

    let mut services = compose_services(&compose, &layout).await?;
    // Replicas are `ms-tui scale`'s: `up` neither starts nor removes them.
    services.retain(|s| !scale::is_replica_service(s));
    let groups = start_order(&services, options.batch);
    // The health watch counts every container the layout expects, replicas included.
    let replicas = containers::list(&docker)
        .await?
        .iter()
        .filter(|c| c.is_replica())
        .count();
    let total = services.len() + replicas;
    progress(Progress::Step(format!(
        "starting {} containers (project {PROJECT}) in {} group(s){}",
        services.len(),
        groups.len(),
        if replicas > 0 {
            format!("; {replicas} replica(s) of `ms-tui scale` stay as they are")
        } else {
            String::new()
        }
    )));
    let started = Instant::now();
    let mut watch = Watch {
        docker: &docker,
        total,
        deadline: started + Duration::from_secs(options.timeout),
        timeout: options.timeout,
        last: None,
    };
    let mut list = Vec::new();
    for group in &groups {
        progress(Progress::Step(format!("starting {}", group.join(", "))));
        list = start_group(&compose, &layout, group, &mut watch, progress).await?;
    }
    let what = format!("all {} containers healthy", list.len());
    Ok(UpReport::done(
        &what,
        "compose up",
        began,
        started,
        list,
        progress,
    ))
}

/// What every way of bringing the stack up needs first: the files found, `compose/.env`
/// written or brought in line with the options, the engine reached, the images built.
struct Prepared {
    layout: Layout,
    docker: bollard::Docker,
    compose: Compose,
}

async fn prepare(
    options: &UpOptions,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<Prepared> {
    let layout = Layout::discover(options.stack.root.as_deref())?;
    let infra = match (options.offline, options.official) {
        (true, _) => Some(OFFLINE_IMAGES),
        (false, true) => Some(OFFICIAL_IMAGES),
        (false, false) => None,
    };
    let docker = crate::docker::connect().await?;
    if !layout.env_file().exists() {
        // Data volumes of an earlier stack were initialised with that stack's passwords,
        // which went with its .env: the database and the broker would refuse new ones.
        let stale = containers::volumes(&docker).await?;
        if !stale.is_empty() {
            bail!(
                "the volumes {} belong to an earlier stack whose compose/.env is gone, so their \
                 passwords are unknown. Delete them with `ms-tui down --volumes` (their queues \
                 and databases go too), or put that .env back",
                stale.join(", ")
            );
        }
    }
    match env::ensure(&layout.env_file(), &layout.env_example(), infra)? {
        EnvAction::Created => progress(Progress::Step(format!(
            "wrote {} with fresh secrets",
            layout.env_file().display()
        ))),
        EnvAction::Updated => progress(Progress::Step(format!(
            "{}: MS_INFRA_IMAGES={}",
            layout.env_file().display(),
            infra.unwrap_or_default()
        ))),
        EnvAction::Kept => {}
    }
    let broker_changed = env::set_broker_cluster(&layout.env_file(), options.broker_cluster)?;
    if broker_changed {
        progress(Progress::Step(format!(
            "{}: MS_BROKER_CLUSTER={}",
            layout.env_file().display(),
            options.broker_cluster
        )));
    }
    let stack_env = layout.env()?;
    let compose = Compose::detect().await?;
    if broker_changed {
        // The other layout's containers go first: services still running would declare their
        // queue type on the new broker the moment it answers (classic queues where quorum
        // ones belong, or the reverse), and compose v1 would re-create `rabbitmq` on the
        // volume of the container it replaces, whatever the file now says.
        progress(Progress::Step(
            "the broker layout changed: removing the running containers first (volumes stay)"
                .into(),
        ));
        run_reporting(
            &compose,
            &layout,
            &["down", "--remove-orphans"],
            &[],
            progress,
        )
        .await?;
    }
    progress(Progress::Step(format!("compose: {}", compose.describe())));

    let plan = images::ImagePlan {
        rebuild_service: options.build,
        service_binary: options.service_binary.as_deref(),
    };
    images::ensure(&docker, &layout, &stack_env, &plan, progress).await?;

    Ok(Prepared {
        layout,
        docker,
        compose,
    })
}

/// Stops and removes the project's containers and network; the volumes only when asked.
pub async fn down(
    options: &DownOptions,
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<Duration> {
    if options.swarm {
        return swarm_deploy::down(options, &mut progress).await;
    }
    let began = Instant::now();
    let layout = Layout::discover(options.stack.root.as_deref())?;
    let compose = Compose::detect().await?;
    let mut args = vec!["down", "--remove-orphans"];
    if options.volumes {
        args.push("--volumes");
    }
    // Without a .env compose still insists on the required variables; `down` uses none.
    let env: &[(&str, &str)] = if layout.env_file().exists() {
        &[]
    } else {
        &PLACEHOLDER_ENV
    };
    progress(Progress::Step(format!(
        "{} -p {PROJECT} {}",
        compose.describe(),
        args.join(" ")
    )));
    run_reporting(&compose, &layout, &args, env, &mut progress).await?;
    if let Ok(docker) = crate::docker::connect().await
        && swarm_deploy::deployed(&docker).await.unwrap_or(false)
    {
        progress(Progress::Step(
            "the swarm deployment still runs: `ms-tui down --swarm` removes it".into(),
        ));
    }
    Ok(down_done("stack", began, options.volumes, &mut progress))
}

/// The last line of a `down`: how long it took and what became of the volumes.
fn down_done<P: FnMut(Progress) + ?Sized>(
    what: &str,
    began: Instant,
    volumes: bool,
    progress: &mut P,
) -> Duration {
    progress(Progress::Step(format!(
        "{what} down in {:.1} s{}",
        began.elapsed().as_secs_f64(),
        if volumes {
            " (volumes deleted)"
        } else {
            " (volumes kept)"
        }
    )));
    began.elapsed()
}

/// The project's containers, one [`ContainerStatus`] each (its `Display` is the status line).
///
/// On a swarm deployment, its current tasks and the edge container.
pub async fn status(_options: &StackOptions) -> anyhow::Result<Vec<ContainerStatus>> {
    let docker = crate::docker::connect().await?;
    if swarm_deploy::deployed(&docker).await? {
        return containers::list_swarm(&docker).await;
    }
    containers::list(&docker).await
}

/// `broker: 2/3 nodes running and healthy (…)` when the stack runs the broker cluster.
pub fn broker_nodes_line(options: &StackOptions, list: &[ContainerStatus]) -> Option<String> {
    let layout = Layout::discover(options.root.as_deref()).ok()?;
    if !layout.env().ok()?.broker_cluster() {
        return None;
    }
    let node = |c: &&ContainerStatus| {
        env::CLUSTER_NODES
            .iter()
            .any(|(name, _, _)| *name == c.compose_service)
    };
    let ready: Vec<&str> = list
        .iter()
        .filter(node)
        .filter(|c| c.is_ready())
        .map(|c| c.compose_service.as_str())
        .collect();
    Some(format!(
        "broker: {}/{} cluster nodes running and healthy ({})",
        ready.len(),
        env::CLUSTER_NODES.len(),
        if ready.is_empty() {
            "none".to_owned()
        } else {
            ready.join(", ")
        }
    ))
}

/// How many containers the current layout expects of the stack listed as `list`: one per
/// service of the compose file, and the replicas `ms-tui scale` made ([`scale::expected_count`]).
///
/// On a swarm deployment: the tasks the swarm's services want, and the edge.
pub async fn expected(options: &StackOptions, list: &[ContainerStatus]) -> anyhow::Result<usize> {
    let docker = crate::docker::connect().await?;
    if let Some(tasks) = swarm_deploy::expected(&docker).await? {
        return Ok(tasks);
    }
    Ok(scale::expected_count(&services(options).await?, list))
}

/// The services of the stack's compose file, replica services included (for
/// [`scale::expected_count`] by a caller that counts more than once).
pub async fn services(options: &StackOptions) -> anyhow::Result<Vec<String>> {
    let layout = Layout::discover(options.root.as_deref())?;
    let compose = Compose::detect().await?;
    compose_services(&compose, &layout).await
}

/// The services of the compose file (`config --services`), replica services included.
async fn compose_services(compose: &Compose, layout: &Layout) -> anyhow::Result<Vec<String>> {
    // Without a .env compose still insists on the required variables; listing uses none.
    let env: &[(&str, &str)] = if layout.env_file().exists() {
        &[]
    } else {
        &PLACEHOLDER_ENV
    };
    Ok(compose
        .output(layout, &["config", "--services"], env)
        .await?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Runs compose with `args`, each output line a [`Progress::Output`] as it comes.
async fn run_reporting<P: FnMut(Progress) + ?Sized>(
    compose: &Compose,
    layout: &Layout,
    args: &[&str],
    env: &[(&str, &str)],
    progress: &mut P,
) -> anyhow::Result<()> {
    let (tx, lines) = mpsc::unbounded_channel();
    process::forward_lines(compose.run(layout, args, env, &tx), lines, progress).await
}
