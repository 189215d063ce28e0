//! Integration tests of the services: real `ms-service` processes against the real RabbitMQ
//! and PostgreSQL of `scripts/test-infra.sh`, each test in a world of its own (the `testkit`
//! crate, shared with the control room's tests). One test binary, a module per former file:
//! every integration binary links the whole dependency tree again, and on a 2-core CI
//! machine eleven of them cost more build time than the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod admin_cli;
mod broker_outage;
mod faults;
mod gateway;
mod messaging;
mod migrations;
mod s1_register;
mod s2_payment;
mod s3_fanout;
mod s4_report;
mod s5_saga;
mod s6_clicks;
mod s7_checkout;
mod s8_stock;
