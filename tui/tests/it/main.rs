//! Integration tests of the control room, in one test binary (a module per former file):
//! every integration binary links the whole dependency tree again, and on a 2-core CI machine
//! a dozen of them cost more build time than the tests themselves.
//!
//! - `ui_*` (but the two below): insta snapshots of each pane and overlay (`ui_experiment`:
//!   the `e` picker, a run's progress, its markers, the verdict) on ratatui's `TestBackend`; the
//!   app log pane's is alone in `tests/applog.rs` (tui-logger's buffer is global).
//! - `broker_probe`, `load_engine`: the queue sampler and the load engine against the real
//!   RabbitMQ and services of `scripts/test-infra.sh`.
//! - `remote_engine`: `DOCKER_HOST` that names no engine (a clear error) and, on the running
//!   stack, `status` and `up` through a TCP forwarder (socat) to the engine's socket.
//! - with `--features stack-tests`, the tests against the running Docker stack (`ms-tui up`),
//!   all inside a `mod on_the_running_stack` so phase 2 of `scripts/test.sh` can skip them:
//!   `stack_seeds` (the seed READMEs), `stack_docs` (`/docs` and `/openapi.json`),
//!   `stack_experiments` (`ms-tui run`), `stack_bench` (`ms-tui bench --quick`),
//!   `stack_bench_usage` (the bench's stats reader), `stack_broker_cluster` (a broker node
//!   killed under load), `stack_failures` (outages), `stack_faults` (partitions,
//!   headless holders and leftovers), `stack_monitoring` (the monitoring profile: every
//!   Prometheus target up, request rates, the dashboard's metrics), `stack_scale` (`ms-tui scale`: replicas of a consumer), `stack_swarm` (S1's services on a
//!   single-node swarm: the edge, a killed task replaced, e-mail scaled to 3), `ui_docker_engine` (the
//!   control room against the real engine), `ui_e2e_tmux` (the binary in tmux),
//!   `ui_e2e_faults` (faults from the keyboard, in tmux), `ui_e2e_knobs` (`c` and its
//!   re-apply after a restart, in tmux) and `ui_e2e_experiment` (showdown
//!   picked with `e` and run to its verdict, in tmux).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod ui_fixtures;

mod broker_probe;
mod experiment_effects;
mod load_engine;
mod remote_engine;
mod ui_containers;
mod ui_experiment;
mod ui_logs;
mod ui_measure;
mod ui_overlays;
mod ui_screen;
mod ui_status;
mod ui_timeline;

#[cfg(feature = "stack-tests")]
mod stack_support;

#[cfg(feature = "stack-tests")]
mod stack_bench;
#[cfg(feature = "stack-tests")]
mod stack_bench_usage;
#[cfg(feature = "stack-tests")]
mod stack_broker_cluster;
#[cfg(feature = "stack-tests")]
mod stack_docs;
#[cfg(feature = "stack-tests")]
mod stack_experiments;
#[cfg(feature = "stack-tests")]
mod stack_failures;
#[cfg(feature = "stack-tests")]
mod stack_faults;
#[cfg(feature = "stack-tests")]
mod stack_monitoring;
#[cfg(feature = "stack-tests")]
mod stack_scale;
#[cfg(feature = "stack-tests")]
mod stack_seeds;
#[cfg(feature = "stack-tests")]
mod stack_swarm;
#[cfg(feature = "stack-tests")]
mod ui_docker_engine;
#[cfg(feature = "stack-tests")]
mod ui_e2e_experiment;
#[cfg(feature = "stack-tests")]
mod ui_e2e_faults;
#[cfg(feature = "stack-tests")]
mod ui_e2e_knobs;
#[cfg(feature = "stack-tests")]
mod ui_e2e_tmux;
