//! The parts every service shares: `/health`, `/ready`, `/metrics`, the admin API
//! (docs/contract.md, Admin API), error fallbacks, and the middleware stack (correlation id, metrics, body
//! limit, panic guard, sync worker limit).

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::{ApiError, Mode, correlation, error};
use serde_json::{Value, json};
use tower_http::catch_panic::CatchPanicLayer;

use crate::context::Ctx;
use crate::{limit, metrics, registry};

/// The whole HTTP API of one service instance.
pub fn router(ctx: Ctx, business: Router<Ctx>) -> Router {
    let business = match ctx.mode() {
        Mode::Sync => business.route_layer(from_fn_with_state(ctx.clone(), limit::middleware)),
        Mode::Async => business,
    };
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .route("/admin/config", get(get_config).put(put_config))
        .route("/admin/reset", post(reset))
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

/// Every admin call needs `Authorization: Bearer $MS_ADMIN_TOKEN`.
fn authorize(ctx: &Ctx, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (&ctx.settings.admin_token, presented) {
        (Some(expected), Some(given))
            if constant_time_eq(expected.as_bytes(), given.as_bytes()) =>
        {
            Ok(())
        }
        (None, _) => Err(ApiError::unauthorized(
            "admin API disabled: MS_ADMIN_TOKEN is not set",
        )),
        _ => Err(ApiError::unauthorized("missing or wrong bearer token")),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn get_config(State(ctx): State<Ctx>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    authorize(&ctx, &headers)?;
    Ok(Json(config_body(&ctx)))
}

async fn put_config(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    common::extract::Json(patch): common::extract::Json<Value>,
) -> Result<Json<Value>, ApiError> {
    authorize(&ctx, &headers)?;
    let knobs = ctx.knobs.apply(patch)?;
    ctx.inflight.set(knobs.sync_max_inflight);
    tracing::info!(?knobs, "run-time configuration changed");
    Ok(Json(config_body(&ctx)))
}

fn config_body(ctx: &Ctx) -> Value {
    json!({ "service": ctx.service, "mode": ctx.mode(), "knobs": ctx.knobs.get() })
}

/// Restores the seed data (and empties what the service recorded), for repeatable demos.
async fn reset(State(ctx): State<Ctx>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    authorize(&ctx, &headers)?;
    registry::reset(ctx.service, &ctx.db).await?;
    tracing::info!("data reset to seed state");
    Ok(Json(
        json!({ "status": "reset", "service": ctx.service, "mode": ctx.mode() }),
    ))
}
