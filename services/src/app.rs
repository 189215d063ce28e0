//! The parts every service shares: `/health`, `/ready`, `/metrics`, the admin API (in
//! `admin`; docs/contract.md, Admin API), error fallbacks, and the middleware stack
//! (correlation id, metrics, body limit, panic guard; on business routes only, the sync worker
//! limit and the injected faults).

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use common::{ApiError, Mode, correlation, error};
use serde_json::{Value, json};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::Ctx;
use crate::openapi::{self, Kind};
use crate::{admin, faults, limit, metrics};

/// The whole HTTP API of one service instance, with its spec at `/openapi.json` and Swagger
/// UI at `/docs` (outside the faults and the worker limit, like `/health`).
pub fn router(ctx: Ctx, business: OpenApiRouter<Ctx>) -> Router {
    let business_paths: Vec<String> = business.get_openapi().paths.paths.keys().cloned().collect();
    // Faults act on business routes alone, which is what keeps `/health`, `/ready`,
    // `/metrics` and `/admin/*` out of their reach. The later `route_layer` is the outer one:
    // in sync mode a request takes its worker permit first, then sits out the injected delay
    // holding it, as it would behind a slow handler.
    let business = business.route_layer(from_fn_with_state(ctx.clone(), faults::middleware));
    let business = match ctx.mode() {
        Mode::Sync => business.route_layer(from_fn_with_state(ctx.clone(), limit::middleware)),
        Mode::Async => business,
    };
    let description = format!(
        "The {} service in {} mode. Errors answer the envelope `{{\"detail\", \"correlation_id\"}}`.",
        ctx.service,
        ctx.mode()
    );
    let (routes, mut api) = OpenApiRouter::with_openapi(openapi::document(
        &format!("ms-tui {} service ({})", ctx.service, ctx.mode()),
        description,
    ))
    .routes(routes!(health))
    .routes(routes!(ready))
    .routes(routes!(metrics_text))
    .merge(admin::router())
    .merge(business)
    .split_for_parts();
    openapi::complete(&mut api, |path| {
        if business_paths.iter().any(|p| p == path) {
            Kind::Business
        } else if path.starts_with("/admin/") {
            Kind::Admin
        } else {
            Kind::Probe
        }
    });
    metrics::register_routes(&api, |path| business_paths.iter().any(|p| p == path));
    routes
        .merge(openapi::serve(api))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .route_layer(from_fn(metrics::middleware))
        .layer(from_fn_with_state(ctx.clone(), admin::require_token))
        .layer(DefaultBodyLimit::max(ctx.settings.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("handler panicked").into_response()
        }))
        .layer(from_fn(correlation::middleware))
        .with_state(ctx)
}

#[utoipa::path(get, path = "/health", tag = "probes",
    responses((status = 200, description = "the process answers: `{status, service, mode}`", body = Object)))]
async fn health(State(ctx): State<Ctx>) -> Json<Value> {
    Json(json!({ "status": "healthy", "service": ctx.service, "mode": ctx.mode() }))
}

/// Ready when what this mode needs answers: the database always, the broker in async mode
/// (sync mode uses it only for completion events, so it reports it without depending on it).
#[utoipa::path(get, path = "/ready", tag = "probes", responses(
    (status = 200, description = "what this mode needs answers", body = Object),
    (status = 503, description = "the database (or, in async mode, the broker) is down: `{status, database, broker}`", body = Object),
))]
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

#[utoipa::path(get, path = "/metrics", tag = "probes",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics_text() -> Response {
    let mut response = Response::new(Body::from(metrics::render()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
