//! The shared contract of the ms-tui stack, used by every service and by the control room.
//!
//! # Layout
//! - [`config`]: settings from the environment (each also a flag) and the run-time knobs.
//! - [`error`]: the error envelope `{"detail", "correlation_id"}` and its status mapping.
//! - [`extract`]: JSON / path / query extractors whose rejections use that envelope.
//! - [`correlation`]: the `x-correlation-id` middleware and the task-local current id.
//! - [`logging`]: tracing setup (JSON off a terminal).
//! - [`http`]: the one outgoing HTTP client and how its failures map to 503 / 504.
//! - [`broker`]: RabbitMQ topology, supervised connection, publish-with-confirm, consumers.
//! - [`events`]: business event payloads (peer fields + `event_id`).
//! - [`db`]: PostgreSQL pools per schema, migrations, the idempotency ledger.
//! - [`completion`]: completion events on `ms.telemetry` for the control room.
//! - [`scenario`]: the S1–S8 catalogue and the service/port map.
//! - [`shutdown`]: the cancellation token fired by SIGTERM / Ctrl-C.
#![forbid(unsafe_code)]

pub mod broker;
pub mod completion;
pub mod config;
pub mod correlation;
pub mod db;
pub mod error;
pub mod events;
pub mod extract;
pub mod http;
pub mod logging;
pub mod scenario;
pub mod shutdown;

pub use config::Mode;
pub use error::ApiError;
