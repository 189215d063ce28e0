//! The load engine: open-model traffic against one scenario in one mode, measured the way
//! oha and wrk2 measure it, usable by the control room and headless (`ms-tui load`).
//!
//! - [`schedule`]: the intended send time of every request at a target arrival rate.
//! - [`outcome`]: how an answer is classified (the catalogue's expected statuses are success).
//! - [`stats`]: an HdrHistogram and counters per run; percentiles and achieved rate.
//! - [`engine`]: the sender — one task per request, started at its intended time, timed from
//!   that time (coordinated-omission correct), bounded in flight.
//!
//! Why open model: a closed loop (N clients, each waiting for its answer) slows down with
//! the service and hides exactly the stalls this project exists to show.

pub mod engine;
pub mod outcome;
pub mod schedule;
pub mod stats;

pub use engine::{LoadHandle, LoadSpec, Sample, start};
pub use outcome::Outcome;
pub use schedule::Schedule;
pub use stats::{Stats, Summary};
