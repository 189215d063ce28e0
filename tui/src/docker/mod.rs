//! The Docker layer: everything the crate knows about containers comes from here, and every
//! lifecycle action goes through here — for the control room (the worker) and for
//! `ms-tui up|down|status` (the stack module) alike.
//!
//! The control room's worker uses streams, not polling: the engine's events stream (filtered
//! to the project's label) says when a container changes; one stats stream and one log-follow
//! stream per container carry samples and lines. When the engine goes away the worker says so
//! and reconnects by itself with back-off.
//!
//! - [`engine`]: connect (to `DOCKER_HOST`: unix://, tcp:// or ssh://; with API version
//!   negotiation); list a project's containers, inspected.
//! - [`labels`]: the project and its labels — what makes a container ours, and the check itself.
//! - [`actions`]: kill / stop / start / pause / unpause / restart, each after a label check.
//! - [`exec`]: a command inside a container (label-checked), and on it `ms-service admin`, the
//!   admin API of a container without a published port (a replica, a partitioned service).
//! - [`status`]: the project's containers as `ms-tui up|status` report them; volumes, log tails.
//! - [`swarm`]: the stack as Docker Swarm runs it: services with desired and running tasks,
//!   and their replicas.
//! - [`container`]: a container as the worker reports it (group, replica, state, health,
//!   usage).
//! - [`msg`]: what the worker reports ([`DockerMsg`]) and what it is asked to do.
//! - [`worker`]: the supervisor — connect, snapshot, events, streams, reconnect.
//! - [`streams`]: the per-container stats and log-follow tasks.
//! - [`convert`]: engine answers → table rows, stats samples → CPU % and memory.
//! - [`logline`]: a log line ready to draw, from a raw one (JSON logs decoded).

pub mod actions;
pub mod container;
pub mod convert;
pub mod engine;
pub mod exec;
pub mod labels;
pub mod logline;
pub mod msg;
pub mod status;
pub mod streams;
pub mod swarm;
pub mod worker;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use actions::Action;
pub use container::{ContainerInfo, Group, Health, RunState, Usage};
pub use engine::connect;
pub use labels::Project;
pub use logline::{Level, LogLine};
pub use msg::{ActionRequest, DockerMsg, Target};

use crate::outbox::Outbox;

/// Capacity of the action queue: a handful of key presses, never a backlog.
pub const REQUESTS: usize = 16;

/// Starts the worker for `project`'s containers ([`Project::default`] is the stack); it reports
/// on `to_app` (any channel whose message wraps a [`DockerMsg`]) and takes actions from the
/// returned sender. It stops when the app drops its receiver or the sender.
pub fn spawn<M: From<DockerMsg> + Send + 'static>(
    project: Project,
    to_app: mpsc::Sender<M>,
) -> (mpsc::Sender<ActionRequest>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(REQUESTS);
    let task = tokio::spawn(worker::run(project, Outbox::new(to_app), rx));
    (tx, task)
}
