//! The load engine: open-model traffic against one scenario in one mode, measured the way
//! oha and wrk2 measure it, usable by the control room and headless (`ms-tui load`).
//!
//! - [`schedule`]: the intended send time of every request at a target arrival rate.
//! - [`outcome`]: how an answer is classified (the catalogue's expected statuses are success).
//! - [`stats`]: an HdrHistogram and counters per run; percentiles and achieved rate.
//! - [`engine`]: the sender — one task per request, started at its intended time, timed from
//!   that time (coordinated-omission correct), bounded in flight.
//! - [`closed`]: the closed model the academic study used (N users, each waiting for its
//!   answer; service time, uncorrected), to reproduce its numbers beside ours.
//! - [`headless`]: `ms-tui load`, the engine from the command line with a text or JSON report.
//! - [`worker`]: the control room's side — runs and one-shot fires on `update`'s commands,
//!   figures back to the app task twice a second.
//!
//! Why open model: a closed loop (N clients, each waiting for its answer) slows down with
//! the service and hides exactly the stalls this project exists to show.

pub mod closed;
pub mod engine;
pub mod headless;
pub mod outcome;
pub mod schedule;
pub mod stats;
pub mod worker;

pub use engine::{LoadHandle, LoadSpec, Sample, fire_once, start};
pub use outcome::Outcome;
pub use schedule::Schedule;
pub use stats::{Stats, Summary};
