//! In-process tests: every router driven with `tower::ServiceExt::oneshot` over a context
//! whose database and broker are not connected (`crate::testing`). They need no broker, no
//! database and no `MS_TEST_*` variable, so `cargo test -p services --lib` runs them anywhere;
//! what needs the real broker or database stays in `tests/it`.
//!
//! - `app`: what every service shares: the error envelope, correlation ids, `/health`,
//!   `/ready` with its dependencies down, `/metrics`, the admin API's 401 and 422.
//! - `errors`: 404, 405, 413, 415 and 422 on every service, in both modes.
//! - `gateway`: the gateway's own answers, and the statuses it passes through.
//! - `openapi`: the spec against the routers (every documented route served, answering a
//!   documented status; the seed READMEs' routes all documented), admin's token before the
//!   body, and the Swagger UI at `/docs`.
//! - `faults`: `/admin/faults` (token first, 422s naming the field, replace, expiry) and what
//!   an injected fault does to which routes.

mod app;
mod errors;
mod faults;
mod gateway;
mod openapi;
