//! Where the active fault acts: the business-route middleware (delay, then maybe an injected
//! error) and the pause before each consumed message. Each injection is counted in
//! `ms_faults_injected_total{kind}`.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::ApiError;

use crate::context::Ctx;

const INJECTED: &str = "ms_faults_injected_total";

/// The kinds of injection, each a label value of [`INJECTED`].
const KINDS: [&str; 3] = ["latency", "error", "consumer_delay"];

/// Registers every kind at zero, so a scrape shows the series before the first fault.
pub fn register_metrics() {
    for kind in KINDS {
        metrics::counter!(INJECTED, "kind" => kind).increment(0);
    }
}

fn count(kind: &'static str) {
    metrics::counter!(INJECTED, "kind" => kind).increment(1);
}

/// Middleware for business routes only (`app::router` puts it there and nowhere else, so
/// `/health`, `/ready`, `/metrics` and `/admin/*` are never faulted). In sync mode it sits
/// inside the worker limit: a delayed request holds its permit, as a slow handler would.
pub async fn middleware(State(ctx): State<Ctx>, request: Request, next: Next) -> Response {
    let Some(fault) = ctx
        .faults
        .active_spec()
        .filter(|f| f.covers(request.uri().path()))
    else {
        return next.run(request).await;
    };
    let delay = fault.request_delay();
    if !delay.is_zero() {
        count("latency");
        tokio::time::sleep(delay).await;
    }
    if crate::chance::happens(fault.error_rate) {
        count("error");
        return injected_error(fault.error_status).into_response();
    }
    next.run(request).await
}

fn injected_error(status: u64) -> ApiError {
    // The spec checked 500..=599; should that ever slip, a plain 503 is still an error.
    let code = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    ApiError::new(
        code,
        format!(
            "injected fault: this {} was injected by PUT /admin/faults",
            code.as_u16()
        ),
    )
}

/// The pause before a consumed message is handled, so the queue drains more slowly. Cut
/// short by shutdown, which then waits only for the real work.
pub async fn before_consuming(ctx: &Ctx) {
    let delay = ctx
        .faults
        .active_spec()
        .map_or(Duration::ZERO, |f| f.consumer_delay());
    if delay.is_zero() {
        return;
    }
    count("consumer_delay");
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = ctx.shutdown.cancelled() => {}
    }
}
