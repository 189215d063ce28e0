//! The parts every service shares: `/health`, `/ready`, `/metrics`, the admin API (in
//! `admin`; docs/contract.md, Admin API), error fallbacks, and the middleware stack
//! (correlation id, metrics, body limit, panic guard; on business routes only, the sync worker
//! limit and the injected faults).

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use common::{ApiError, Mode, correlation, error};
use serde_json::{Value, json};
use tower_http::catch_panic::CatchPanicLayer;

use crate::context::Ctx;
use crate::{admin, faults, limit, metrics};

/// The whole HTTP API of one service instance.
pub fn router(ctx: Ctx, business: Router<Ctx>) -> Router {
    // Faults act on business routes alone, which is what keeps `/health`, `/ready`,
    // `/metrics` and `/admin/*` out of their reach. The later `route_layer` is the outer one:
    // in sync mode a request takes its worker permit first, then sits out the injected delay
    // holding it, as it would behind a slow handler.
    let business = business.route_layer(from_fn_with_state(ctx.clone(), faults::middleware));
    let business = match ctx.mode() {
        Mode::Sync => business.route_layer(from_fn_with_state(ctx.clone(), limit::middleware)),
        Mode::Async => business,
    };
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .merge(admin::router(ctx.clone()))
        .merge(business)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .route_layer(from_fn(metrics::middleware))
        .layer(DefaultBodyLimit::max(ctx.settings.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("handler panicked").into_response()
        }))
        .layer(from_fn(correlation::middleware))
        .with_state(ctx)
}

async fn health(State(ctx): State<Ctx>) -> Json<Value> {
    Json(json!({ "status": "healthy", "service": ctx.service, "mode": ctx.mode() }))
}

/// Ready when what this mode needs answers: the database always, the broker in async mode
/// (sync mode uses it only for completion events, so it reports it without depending on it).
async fn ready(State(ctx): State<Ctx>) -> Response {
    let database = common::db::ping(&ctx.db).await;
    let broker = ctx.broker.is_connected();
    let ready = database && (broker || ctx.mode() == Mode::Sync);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "service": ctx.service,
        "mode": ctx.mode(),
        "database": if database { "up" } else { "down" },
        "broker": if broker { "up" } else { "down" },
    });
    (status, Json(body)).into_response()
}

async fn metrics_text() -> Response {
    let mut response = Response::new(Body::from(metrics::render()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
