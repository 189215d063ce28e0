//! `ms-service`: every microservice of the ms-tui stack, sync and async, in one binary.
//!
//! The binary (`main.rs`) is only the command line; everything it runs lives in this library,
//! so that tests can build any service's router in-process (see `testing`).
//!
//! # Layout
//! - `run.rs`: starts one service: database, broker, consumers, HTTP server, shutdown.
//! - `healthcheck.rs`: `ms-service healthcheck`, the container probe of `/ready`.
//! - `app.rs`: what every service serves (`/health`, `/ready`, `/metrics`) and the
//!   middleware stack.
//! - `admin.rs`: `/admin/*` behind its token: knobs, data reset, faults.
//! - `faults/`: faults injected on request, with a dose and a TTL (latency, errors, a slow
//!   consumer), and the middleware that applies them to business routes.
//! - `context.rs`: the handles shared by handlers and consumers.
//! - `limit.rs`: `SYNC_MAX_INFLIGHT`, the optional thread-pool-like cap of sync mode.
//! - `chance.rs`: the random draws (a failing payment, an injected error, jitter).
//! - `metrics.rs`: the Prometheus recorder and per-route request metrics.
//! - `registry.rs`: which services exist and their hooks.
//! - One module per service, its sync and async handlers side by side over the same domain
//!   code: `user.rs` (S1), `email.rs` (S1 mail, S7 confirmation mail, S8 notifications),
//!   `payment.rs` (S2, seed 000's `/pay`, the S5 and S7 payments), `product.rs` (S3),
//!   `fanout.rs` (S3's search, cache and analytics steps, one code for three services),
//!   `report.rs` (S4), `analytics.rs` (S6 clicks), `order.rs` (S5 saga, S7 checkout, S8 stock
//!   orders), `inventory.rs` (stock for S5/S8, alerts).
//! - `gateway.rs`: peer 004's gateway on 9000, forwarding to either stack (no data, no broker).
//! - Tests only: `testing.rs` builds a service's router over a context whose database and
//!   broker are not connected; `inprocess_tests/` drives those routers with
//!   `tower::ServiceExt::oneshot` (no broker, no database, no `MS_TEST_*` variables).
#![forbid(unsafe_code)]

mod admin;
mod analytics;
mod app;
mod chance;
mod context;
mod email;
mod fanout;
mod faults;
mod gateway;
pub mod healthcheck;
mod inventory;
mod limit;
mod metrics;
mod order;
mod payment;
mod product;
pub mod registry;
mod report;
pub mod run;
mod user;

#[cfg(test)]
mod inprocess_tests;
#[cfg(test)]
mod testing;
