//! Test support shared by the integration tests of `services` and `tui`: real `ms-service`
//! processes against the real RabbitMQ and PostgreSQL that `scripts/test-infra.sh` starts.
//! Each test gets its own RabbitMQ vhost and its own database, deleted when it ends, so tests
//! run in parallel without seeing each other's messages or rows and runs leave nothing behind.
//!
//! A dev-dependency only: nothing here ships.
//!
//! # Layout
//! - [`env`](mod@env): the test infrastructure's settings (`MS_TEST_*`), which a test cannot run without.
//! - [`world`]: [`World`], one test's vhost and database, and the process-wide broker lock
//!   that lets a test stop the shared broker with no other test running.
//! - [`amqp`]: a world's broker seen from the test: queue depths, raw publishes and the
//!   completion events.
//! - [`service`]: [`Service`], an `ms-service` child process in a world, and its HTTP [`Reply`].
//! - [`relay`]: [`BrokerRelay`], a TCP relay to the broker that a test can freeze or cut, to
//!   fake an outage of the shared broker without stopping it.
//! - [`wait`]: polling until a condition holds, and unique names.
#![forbid(unsafe_code)]
// Test support fails loudly by design: a broken harness must stop the test, not be handled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod amqp;
pub mod env;
pub mod relay;
pub mod service;
pub mod wait;
pub mod world;

pub use amqp::{CompletionFeed, expect_completion};
pub use env::{Infra, required};
pub use relay::BrokerRelay;
pub use service::{ADMIN_TOKEN, Reply, Service, ServiceBuilder};
pub use wait::{try_wait_for, unique, wait_for};
pub use world::World;
