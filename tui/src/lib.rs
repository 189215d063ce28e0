//! ms-tui: a terminal control room over the sync and async stacks.
//!
//! # Layout
//! - [`admin`]: run-time knobs (failure rate, e-mail delay, sync worker limit) through every
//!   service's admin API with the stack's token.
//! - [`cli`]: the command line (`ms-tui`, `up`, `down`, `status`, `scale`, `load`, `fault`,
//!   `--demo`, `--help`).
//! - [`stack`]: the Docker stack of `compose/` — bring it up (building what is missing, waiting
//!   for health) and down, report its status, scale an async service's consumers out to
//!   replicas. `ms-tui up|down|status|scale` and the control room's start-up share this code.
//! - [`app`]: the interactive control room (Elm style: one owner of the state, `update` is the
//!   only writer, `view` only draws; workers talk to it over bounded channels).
//! - [`ui`]: `view` and one file per pane (containers, logs, status line, help, confirmation,
//!   the app's own log, scenarios, latency, queues, the timeline chart, the active-faults
//!   panel, the fault menu, the experiment overlays), plus the layout and its views.
//! - [`docker`]: the one Docker layer — connect, the project's labels, containers and their
//!   health, lifecycle actions guarded by the project label — and the control room's Docker
//!   worker on it (events, stats and log-follow streams, reconnect with back-off). The stack
//!   module uses the same layer.
//! - [`outbox`]: every worker's side of the bounded channel to the app task (`send` what must
//!   arrive, `offer` stream samples, which drop and are counted when the app falls behind).
//! - [`faults`]: faults with a dose and an expiry, in a service (its `/admin/faults`) or on the
//!   platform (partition, pause, stop, kill, broker outage); the control room's fault worker
//!   and the headless `ms-tui fault`.
//! - [`terminal`]: raw mode and the alternate screen, restored on exit, panic and Ctrl-C.
//! - [`logging`]: the app's own log, to the tui-logger pane and a file, never to the terminal.
//! - [`broker`]: the broker worker — queue depths by AMQP passive declare, unacked and rates
//!   from the management API — and the telemetry worker, which matches completion events
//!   on `ms.telemetry` to the load engine's requests.
//! - [`units`]: numbers with a unit as people type them (`30s`, `1%`).
//! - [`load`]: the open-model load engine (intended send times, HdrHistogram per run,
//!   expected statuses as success), used by the control room and headless.
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod bench;
pub mod broker;
pub mod cli;
pub mod docker;
pub mod experiment;
pub mod faults;
pub mod load;
pub mod logging;
pub mod outbox;
pub mod stack;
pub mod terminal;
pub mod ui;
pub mod units;
