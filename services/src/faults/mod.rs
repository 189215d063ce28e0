//! Faults a service injects into itself on request (`/admin/faults`), with a dose and a time
//! limit: latency and errors on business routes, a delay before each consumed message. The
//! service ends each fault by itself at its TTL, so a control room that crashed or was killed
//! can never leave a service broken.
//!
//! - `spec`: the body of a PUT, its validation, and what a fault covers.
//! - `state`: the one active fault of the instance (in `Ctx`), its replacement and expiry.
//! - `inject`: the business-route middleware, the consumers' delay, their metrics.

mod inject;
mod spec;
mod state;

pub use inject::{before_consuming, middleware, register_metrics};
pub use spec::FaultSpec;
pub use state::Faults;
