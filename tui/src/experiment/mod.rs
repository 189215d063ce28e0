//! Experiments: a scenario's load in one or both modes, timed faults and knob changes, a
//! completion grace, then the figures no dashboard gives — work accepted, completed, lost and
//! duplicated, counted request by request — judged against thresholds, with a report.
//!
//! - [`spec`]: the TOML file and the checked plan ([`spec::Experiment`]); errors name the line
//!   and column.
//! - [`threshold`]: `ack_p99 < 20ms` and the like, parsed and judged.
//! - [`builtin`]: the experiments shipped in the binary (`experiments/*.toml`).
//! - [`runner`]: runs a plan against the stack — setup, load, grace, accounting, restore — and
//!   reports progress; shared by `ms-tui run` and the control room. [`steps`]: the timed
//!   steps on their own task; [`collect`]: completion events and queue depths;
//!   [`environment`]: what the run ran on; [`setup`]: reset, restock, knobs and the stock
//!   invariant; [`figures`]: a lane's result from what the round gathered.
//! - [`accounting`]: matches answers to effect rows and completion events (pure).
//! - [`effects`]: the business rows each flow leaves, read from PostgreSQL by correlation id.
//! - [`result`]: `result.json`'s shape.
//! - [`report`]: the result folder — `result.json`, `report.md` — and the figures' formatting
//!   it shares with [`compare`]; [`chart`]: `timeline.svg`.
//! - [`compare`]: `ms-tui compare DIR1 DIR2`.
//! - [`headless`]: `ms-tui run`.

pub mod accounting;
pub mod builtin;
pub mod chart;
pub mod collect;
pub mod compare;
pub mod effects;
pub mod environment;
pub mod figures;
pub mod headless;
pub mod report;
pub mod result;
pub mod runner;
pub mod setup;
pub mod spec;
pub mod steps;
pub mod threshold;
