//! S3's three downstream steps — search reindex, cache invalidation, analytics update log —
//! which differ only in name, delay, path and queue, so they share this one implementation.
//!
//! Sync: product calls the step's path (`POST {product_id}`) and waits. Async: the step
//! consumes its queue bound to the `product_updates` fanout. Either way the step waits its
//! delay, records the update in `handled_updates` (exactly once per event) and emits its
//! completion event. `GET /handled_updates` lists what was handled, for tests and demos.

use std::time::Duration;

use axum::extract::State;
use chrono::{DateTime, Utc};
use common::broker::consume::Incoming;
use common::broker::topology::{
    ANALYTICS_PRODUCT_UPDATES, CACHE_PRODUCT_UPDATES, SEARCH_PRODUCT_UPDATES,
};
use common::config::Knobs;
use common::events::ProductUpdated;
use common::extract::{Json, Query};
use common::scenario::{ScenarioId, steps};
use common::{ApiError, correlation};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::context::Ctx;

/// Search's and cache's schema (analytics adds its clicks to the same table set).
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/fanout");

/// One fan-out step.
pub struct Step {
    /// Service name as reported in responses (`service` field, as the peers).
    pub service: &'static str,
    /// `POST` of the step's path, as router and spec (a `routes!` of its handler).
    pub endpoint: fn() -> UtoipaMethodRouter<Ctx>,
    pub queue: &'static str,
    /// Completion step name (docs/contract.md, Completion events).
    pub done: &'static str,
    pub delay: fn(&Knobs) -> u64,
}

pub static SEARCH: Step = Step {
    service: "search",
    endpoint: || routes!(reindex),
    queue: SEARCH_PRODUCT_UPDATES,
    done: steps::REINDEXED,
    delay: |k| k.search_delay_ms,
};

pub static CACHE: Step = Step {
    service: "cache",
    endpoint: || routes!(invalidate_cache),
    queue: CACHE_PRODUCT_UPDATES,
    done: steps::CACHE_INVALIDATED,
    delay: |k| k.cache_delay_ms,
};

pub static ANALYTICS: Step = Step {
    service: "analytics",
    endpoint: || routes!(log_update),
    queue: ANALYTICS_PRODUCT_UPDATES,
    done: steps::UPDATE_LOGGED,
    delay: |k| k.analytics_delay_ms,
};

/// The step's endpoint (served in both modes: harmless in async, handy for demos) and the
/// listing of handled updates.
pub fn routes(step: &'static Step) -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes((step.endpoint)())
        .routes(routes!(list_handled))
}

/// One handler per step, because a `#[utoipa::path]` needs its path as a literal.
macro_rules! step_endpoint {
    ($name:ident, $path:literal, $step:ident, $tag:literal) => {
        #[utoipa::path(post, path = $path, tag = $tag, request_body = StepRequest, responses(
            (status = 200, description = "handled (after the step's delay): `{status, product_id, service, timestamp}`", body = Object),
        ))]
        async fn $name(
            State(ctx): State<Ctx>,
            Json(body): Json<StepRequest>,
        ) -> Result<Json<Value>, ApiError> {
            handle_request(&$step, ctx, body).await
        }
    };
}

step_endpoint!(reindex, "/reindex", SEARCH, "search");
step_endpoint!(invalidate_cache, "/invalidate_cache", CACHE, "cache");
step_endpoint!(log_update, "/log_update", ANALYTICS, "analytics");

pub fn consumer(step: &'static Step, ctx: &Ctx) -> tokio::task::JoinHandle<()> {
    ctx.consume(
        step.queue,
        ctx.db_consumer_options(),
        move |ctx, incoming| on_product_updated(step, ctx, incoming),
    )
}

pub async fn reset(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("TRUNCATE handled_updates, processed_events RESTART IDENTITY")
        .execute(db)
        .await
        .map(|_| ())
}

/// Does the step's work once. For a delivery, the record commits together with the claim
/// of its event, so a redelivery does nothing (and is noted as a duplicate).
async fn perform(
    step: &Step,
    ctx: &Ctx,
    product_id: i64,
    delivery: Option<&Incoming>,
) -> sqlx::Result<()> {
    tokio::time::sleep(Duration::from_millis((step.delay)(&ctx.knobs.get()))).await;
    let Some(mut tx) = ctx.begin_effect(step.service, delivery).await? else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO handled_updates (product_id, event_id, correlation_id) VALUES ($1, $2, $3)",
    )
    .bind(product_id)
    .bind(delivery.map(|d| d.event_id.as_str()))
    .bind(correlation::current())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    ctx.completions.emit(ScenarioId::S3, step.done, true);
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct StepRequest {
    product_id: i64,
}

async fn handle_request(
    step: &'static Step,
    ctx: Ctx,
    body: StepRequest,
) -> Result<Json<Value>, ApiError> {
    perform(step, &ctx, body.product_id, None).await?;
    Ok(Json(json!({
        "status": "ok",
        "product_id": body.product_id,
        "service": step.service,
        "timestamp": Utc::now(),
    })))
}

async fn on_product_updated(
    step: &'static Step,
    ctx: Ctx,
    incoming: Incoming,
) -> anyhow::Result<()> {
    let event: ProductUpdated = incoming.json()?;
    // Skip the delay for a known duplicate; the claim inside `perform` is the real guard.
    if !ctx.handled_before(step.service, &incoming).await? {
        perform(step, &ctx, event.product_id, Some(&incoming)).await?;
    }
    Ok(())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HandledFilter {
    product_id: Option<i64>,
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct Handled {
    id: i64,
    product_id: i64,
    event_id: Option<String>,
    correlation_id: Option<String>,
    handled_at: DateTime<Utc>,
}

/// The 100 most recent handled updates (optionally of one product) and the total count.
#[utoipa::path(get, path = "/handled_updates", tag = "fan-out", params(HandledFilter),
    responses((status = 200, description = "`{count, updates}`", body = Object)))]
async fn list_handled(
    State(ctx): State<Ctx>,
    Query(filter): Query<HandledFilter>,
) -> Result<Json<Value>, ApiError> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM handled_updates WHERE $1::bigint IS NULL OR product_id = $1",
    )
    .bind(filter.product_id)
    .fetch_one(&ctx.db)
    .await?;
    let updates: Vec<Handled> = sqlx::query_as(
        "SELECT id, product_id, event_id, correlation_id, handled_at FROM handled_updates
         WHERE $1::bigint IS NULL OR product_id = $1 ORDER BY id DESC LIMIT 100",
    )
    .bind(filter.product_id)
    .fetch_all(&ctx.db)
    .await?;
    Ok(Json(json!({ "count": count, "updates": updates })))
}
