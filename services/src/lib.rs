//! `ms-service`: every microservice of the ms-tui stack, sync and async, in one binary.
//!
//! The binary (`main.rs`) is only the command line; everything it runs lives in this library,
//! so that tests can build any service's router in-process (see `testing`).
//!
//! # Layout
//! - `run.rs`: starts one service: database, broker, consumers, HTTP server, shutdown.
//! - `healthcheck.rs`: `ms-service healthcheck`, the container probe of `/ready`, and the one
//!   way this binary calls the service beside it on 127.0.0.1.
//! - `edge.rs`: `ms-service edge`, the TCP forwarder that publishes a swarm deployment's
//!   ports on 127.0.0.1 (the edge container of `ms-tui up --swarm`).
//! - `admin_cli.rs`: `ms-service admin <verb> <path> [body]`, the admin API of the service
//!   beside it, for `docker exec` into containers that publish no port.
//! - `app.rs`: what every service serves (`/health`, `/ready`, `/metrics`) and the
//!   middleware stack.
//! - `admin.rs`: `/admin/*` behind its token: knobs, data reset, faults.
//! - `faults/`: faults injected on request, with a dose and a TTL (latency, errors, a slow
//!   consumer), and the middleware that applies them to business routes.
//! - `context.rs`: the handles shared by handlers and consumers, and their one way to wire a
//!   consumer (`consume`, with options that follow, cap or batch under the
//!   `consumer_concurrency` knob), open its transaction (`claim`) and begin a publication.
//! - `publication.rs`: rows and the event that announces them, in either `publish_mode`:
//!   `confirm` (commit, publish with confirm, withdraw on failure) or `outbox` (rows and an
//!   outbox entry in one transaction).
//! - `outbox/`: the transactional outbox of `publish_mode = outbox`: its table's statements
//!   (`store.rs`) and the relay that publishes pending entries with confirms (`relay.rs`).
//! - `limit.rs`: `SYNC_MAX_INFLIGHT`, the optional thread-pool-like cap of sync mode.
//! - `chance.rs`: the random draws (a failing payment, an injected error, jitter).
//! - `metrics.rs`: the Prometheus recorder and per-route request metrics.
//! - `openapi.rs`: the OpenAPI 3.1 spec (`/openapi.json`) and Swagger UI (`/docs`), from the
//!   same `routes!` declarations that build the routers.
//! - `registry.rs`: which services exist and their hooks.
//! - One module per service, its sync and async handlers side by side over the same domain
//!   code; a service with several flows has one submodule per flow, the parent file keeping
//!   its routes, its consumers and what the flows share:
//!   - `user.rs` (S1 registration);
//!   - `email/`: `welcome.rs` (S1), `confirmation.rs` (S7's confirmation mail),
//!     `notifications.rs` (S8's notifications and `deliver_notification`); `email.rs` lists
//!     the sent mail (`/emails`);
//!   - `payment/`: `processing.rs` (S2 and its audit), `saga.rs` (S5), `checkout.rs` (S7's
//!     pipeline payment and the Showdown demo's `/pay`); `payment.rs` serves
//!     `GET /payments/{id}`;
//!   - `product.rs` (S3), `fanout.rs` (S3's search, cache and analytics steps, one code for
//!     three services), `report.rs` (S4), `analytics.rs` (S6 clicks);
//!   - `order/`: `saga.rs` (S5), `checkout.rs` (S7, both body shapes), `stock.rs` (S8);
//!     `order.rs` holds the order row and its reads;
//!   - `inventory/`: `rules.rs` (the stock rules, pure), `stock.rs` (the moves on the
//!     database), `reservations.rs` (the HTTP reservation API of S5 sync and S8), `saga.rs`
//!     (S5's async consumers), `catalogue.rs` (`/inventory…`, `/products…`), `alerts.rs`
//!     (S8's stock alerts).
//! - `gateway.rs`: the gateway on 9000, forwarding to either stack (no data, no broker).
//! - Tests only: `testing.rs` builds a service's router over a context whose database and
//!   broker are not connected; `inprocess_tests/` drives those routers with
//!   `tower::ServiceExt::oneshot` (no broker, no database, no `MS_TEST_*` variables).
//!
//! Which handler, publisher, consumer, queue and test module serve each scenario S1–S8:
//! docs/architecture.md, "Scenario map".
#![forbid(unsafe_code)]

mod admin;
pub mod admin_cli;
mod analytics;
mod app;
mod chance;
mod context;
pub mod edge;
mod email;
mod fanout;
mod faults;
mod gateway;
pub mod healthcheck;
mod inventory;
mod limit;
mod metrics;
mod openapi;
mod order;
mod outbox;
mod payment;
mod product;
mod publication;
pub mod registry;
mod report;
pub mod run;
mod user;

#[cfg(test)]
mod inprocess_tests;
#[cfg(test)]
mod testing;
