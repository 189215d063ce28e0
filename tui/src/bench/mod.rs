//! `ms-tui bench`: the sync-vs-async study, one mode after the other, as open-model rate
//! ladders with a verdict per step, completion measured, CPU and memory per 1,000 requests;
//! with `--profile peer` also the academic study's closed-model, pooled-p95 way beside ours.
//!
//! - [`result`]: `report.json`'s shape.
//! - [`criteria`]: a step's criteria and the ladder's stopping rule (pure).
//! - [`plan`]: which ladders, which rates, how long (pure).
//! - [`step`]: one step against the stack: reset, load, drain, figures.
//! - [`usage`]: CPU seconds and memory per container over a step (Docker stats).
//! - [`academic`]: the closed-model run and the study's arithmetic (pooled p95, 400 as error).
//! - [`report`]: `report.md` and the SVG charts.
//! - [`headless`]: the command.

pub mod academic;
pub mod criteria;
pub mod headless;
pub mod plan;
pub mod report;
pub mod result;
pub mod step;
pub mod usage;
