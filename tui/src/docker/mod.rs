//! The Docker worker: everything the control room knows about containers comes from here, as
//! typed messages, and every lifecycle action goes through here.
//!
//! Streams, not polling: the engine's events stream (filtered to the project's label) says
//! when a container changes; one stats stream and one log-follow stream per container carry
//! samples and lines. When the engine goes away the worker says so and reconnects by itself
//! with back-off.
//!
//! - [`worker`]: the supervisor — connect, snapshot, events, streams, reconnect.
//! - [`streams`]: the per-container stats and log-follow tasks.
//! - [`actions`]: kill / stop / start / pause / unpause / restart, each after a label check.
//! - [`labels`]: what makes a container ours (and the check itself).
//! - [`convert`]: engine answers → table rows, stats samples → CPU % and memory.
//! - [`logline`]: a raw log line → a line ready to draw (JSON logs decoded).
//! - [`outbox`]: the channel to the app: `send` for what must arrive, `offer` for streams.

pub mod actions;
pub mod convert;
pub mod labels;
pub mod logline;
pub mod outbox;
pub mod streams;
pub mod worker;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::msg::{Action, Msg, Target};
pub use labels::Project;

/// An action the app asks for.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    pub target: Target,
    pub action: Action,
}

/// Capacity of the action queue: a handful of key presses, never a backlog.
pub const REQUESTS: usize = 16;

/// Starts the worker for `project`'s containers ([`Project::default`] is the stack); it reports
/// on `to_app` and takes actions from the returned sender. It stops when the app drops its
/// receiver or the sender.
pub fn spawn(
    project: Project,
    to_app: mpsc::Sender<Msg>,
) -> (mpsc::Sender<ActionRequest>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(REQUESTS);
    let task = tokio::spawn(worker::run(project, outbox::Outbox::new(to_app), rx));
    (tx, task)
}
