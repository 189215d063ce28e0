//! The admin API every service serves (not the gateway): run-time knobs, a data reset and the
//! fault injection of `faults`. Every route needs `Authorization: Bearer $MS_ADMIN_TOKEN`,
//! checked by a middleware in front of the whole router ([`require_token`]), so a caller
//! without the token gets 401 for anything under `/admin` before anything reads or judges the
//! body, the method or the path (never a 415, 422, 404 or 405 that would tell them more).

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::ApiError;
use common::error::ErrorEnvelope;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::Ctx;
use crate::faults::FaultSpec;
use crate::registry;

/// The `/admin/*` routes; [`require_token`] guards them.
pub fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(get_config, put_config))
        .routes(routes!(reset))
        .routes(routes!(get_faults, put_faults, delete_faults))
}

/// A layer over the whole router, not a `route_layer`: those run only once a route and its
/// method matched, so a wrong method on an admin path answered 405 to anyone.
pub async fn require_token(State(ctx): State<Ctx>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path != "/admin" && !path.starts_with("/admin/") {
        return next.run(request).await;
    }
    match authorize(&ctx, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
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

#[utoipa::path(get, path = "/admin/config", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, description = "`{service, mode, knobs, consumers}`", body = Object)))]
async fn get_config(State(ctx): State<Ctx>) -> Json<Value> {
    Json(config_body(&ctx))
}

#[utoipa::path(put, path = "/admin/config", tag = "admin", security(("admin_token" = [])),
    request_body(content = Object, description = "the knobs to change, e.g. `{\"email_delay_ms\": 100}`"),
    responses(
        (status = 200, description = "the configuration after the change", body = Object),
        (status = 422, description = "an unknown knob or a value out of range; nothing changed", body = ErrorEnvelope),
    ))]
async fn put_config(
    State(ctx): State<Ctx>,
    common::extract::Json(patch): common::extract::Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let knobs = ctx.knobs.apply(patch)?;
    ctx.inflight.set(knobs.sync_max_inflight);
    tracing::info!(?knobs, "run-time configuration changed");
    Ok(Json(config_body(&ctx)))
}

/// `consumers` says, per queue, the concurrency each consumer really has under the knob
/// (some are capped or fixed: S4's worker stays at 1).
fn config_body(ctx: &Ctx) -> Value {
    let knobs = ctx.knobs.get();
    let consumers = ctx.consumers.describe(knobs.consumer_concurrency);
    json!({ "service": ctx.service, "mode": ctx.mode(), "knobs": knobs, "consumers": consumers })
}

/// Restores the seed data (and empties what the service recorded), for repeatable demos.
#[utoipa::path(post, path = "/admin/reset", tag = "admin", security(("admin_token" = [])), responses(
    (status = 200, description = "`{status: \"reset\", service, mode}`", body = Object),
    (status = 503, description = "the database is unavailable", body = ErrorEnvelope),
))]
async fn reset(State(ctx): State<Ctx>) -> Result<Json<Value>, ApiError> {
    registry::reset(ctx.service, &ctx.db).await?;
    tracing::info!("data reset to seed state");
    Ok(Json(
        json!({ "status": "reset", "service": ctx.service, "mode": ctx.mode() }),
    ))
}

#[utoipa::path(get, path = "/admin/faults", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, description = "`{service, mode, fault}`, `fault` null when none", body = Object)))]
async fn get_faults(State(ctx): State<Ctx>) -> Json<Value> {
    Json(faults_body(&ctx, json!(ctx.faults.current())))
}

/// Replaces the whole fault; any invalid body is a 422 naming the field, and changes nothing.
#[utoipa::path(put, path = "/admin/faults", tag = "admin", security(("admin_token" = [])),
    request_body(content = Object, description = "the whole fault (docs/contract.md, Admin API)"),
    responses(
        (status = 200, description = "the fault now active", body = Object),
        (status = 422, description = "an invalid field, named in `detail`; nothing changed", body = ErrorEnvelope),
    ))]
async fn put_faults(
    State(ctx): State<Ctx>,
    common::extract::Json(body): common::extract::Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let spec = FaultSpec::parse(body).map_err(ApiError::unprocessable)?;
    let active = ctx.faults.set(spec);
    Ok(Json(faults_body(&ctx, json!(active))))
}

#[utoipa::path(delete, path = "/admin/faults", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, description = "`{service, mode, fault: null, cleared}`", body = Object)))]
async fn delete_faults(State(ctx): State<Ctx>) -> Json<Value> {
    let cleared = ctx.faults.clear();
    let mut body = faults_body(&ctx, Value::Null);
    body["cleared"] = json!(cleared);
    Json(body)
}

fn faults_body(ctx: &Ctx, fault: Value) -> Value {
    json!({ "service": ctx.service, "mode": ctx.mode(), "fault": fault })
}
