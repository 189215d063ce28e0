//! Analytics service: S6 click ingestion, and S3's update-log step (see [`crate::fanout`]).
//!
//! Sync: `POST /track_click` stores the click before answering. Async: it publishes one
//! `ClickTracked` to `click_tracked_queue` and answers 200 once the broker confirmed (peer
//! 002 answered 200 even when the publish failed, losing the click); a consumer stores it,
//! once per event, in batches (one statement and one commit for what the broker has sent,
//! acked together after the commit). `GET /clicks/count` tells how many are stored (the
//! zero-loss check).

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::State;
use chrono::{DateTime, Utc};
use common::broker::consume::Incoming;
use common::broker::topology::{CLICK_TRACKED, DEFAULT_EXCHANGE};
use common::error::ErrorEnvelope;
use common::events::{ClickTracked, new_event_id};
use common::extract::Json;
use common::scenario::{ScenarioId, steps};
use common::{ApiError, Mode, correlation};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::migrate::Migrator;
use sqlx::{PgExecutor, PgPool};

use crate::context::Ctx;
use crate::fanout;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/analytics");

pub fn routes(mode: Mode) -> OpenApiRouter<Ctx> {
    let track = match mode {
        Mode::Sync => routes!(track_sync),
        Mode::Async => routes!(track_async),
    };
    OpenApiRouter::new()
        .routes(track)
        .routes(routes!(count_clicks))
        .merge(fanout::routes(&fanout::ANALYTICS))
}

/// How long a batch of clicks waits to fill after its first: a few ms of completion latency
/// buys one commit for many clicks.
const BATCH_WAIT: Duration = Duration::from_millis(5);

pub fn consumers(ctx: &Ctx) -> Vec<tokio::task::JoinHandle<()>> {
    // Batched: one statement and one commit per batch; `store_click` is the per-message path
    // of a batch that failed.
    let clicks = ctx.batch_consumer_options(BATCH_WAIT, store_clicks);
    vec![
        ctx.consume(CLICK_TRACKED, clicks, store_click),
        fanout::consumer(&fanout::ANALYTICS, ctx),
    ]
}

pub async fn reset(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("TRUNCATE clicks RESTART IDENTITY")
        .execute(db)
        .await?;
    fanout::reset(db).await
}

/// Peer 002's click body.
#[derive(Deserialize, utoipa::ToSchema)]
struct Click {
    user_id: i64,
    page: String,
    session_id: Option<String>,
}

impl Click {
    fn validate(&self) -> Result<(), ApiError> {
        if self.page.is_empty() || self.page.len() > 2048 {
            return Err(ApiError::unprocessable(json!([{
                "type": "value_error", "loc": ["body", "page"], "msg": "page must be 1 to 2048 characters",
            }])));
        }
        if self.session_id.as_ref().is_some_and(|s| s.len() > 200) {
            return Err(ApiError::unprocessable(
                "session_id must be at most 200 characters",
            ));
        }
        Ok(())
    }
}

/// Stores one click; `false` when its event was stored before (a redelivery).
async fn insert_click<'e>(
    db: impl PgExecutor<'e>,
    click: &ClickTracked,
    event_id: Option<&str>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO clicks (user_id, page, session_id, event_id, clicked_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(click.user_id)
    .bind(&click.page)
    .bind(&click.session_id)
    .bind(event_id)
    .bind(click.timestamp)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn tracked(click: Click) -> ClickTracked {
    ClickTracked {
        event_id: new_event_id(),
        user_id: click.user_id,
        page: click.page,
        // As peer 002: a click without a session gets one, so events are always complete.
        session_id: click
            .session_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        timestamp: Utc::now(),
    }
}

/// Sync: the click is stored before the answer.
#[utoipa::path(post, path = "/track_click", tag = "analytics", request_body = Click, responses(
    (status = 200, description = "stored: `{status: tracked, session_id}`", body = Object),
    (status = 422, description = "page or session_id out of bounds", body = ErrorEnvelope),
))]
async fn track_sync(
    State(ctx): State<Ctx>,
    Json(click): Json<Click>,
) -> Result<Json<Value>, ApiError> {
    click.validate()?;
    let click = tracked(click);
    insert_click(&ctx.db, &click, None).await?;
    ctx.completions
        .emit(ScenarioId::S6, steps::CLICK_STORED, true);
    Ok(Json(
        json!({ "status": "tracked", "session_id": click.session_id }),
    ))
}

/// Async: the click is announced (confirmed by the broker); a batched consumer stores it.
#[utoipa::path(post, path = "/track_click", tag = "analytics", request_body = Click, responses(
    (status = 200, description = "announced: `{status: tracked, session_id, event_published, event_id}`", body = Object),
    (status = 422, description = "page or session_id out of bounds", body = ErrorEnvelope),
    (status = 503, description = "the broker did not confirm the click", body = ErrorEnvelope),
))]
async fn track_async(
    State(ctx): State<Ctx>,
    Json(click): Json<Click>,
) -> Result<Json<Value>, ApiError> {
    click.validate()?;
    let click = tracked(click);
    ctx.broker
        .publish_event(DEFAULT_EXCHANGE, CLICK_TRACKED, &click.event_id, &click)
        .await?;
    Ok(Json(json!({
        "status": "tracked",
        "session_id": click.session_id,
        "event_published": true,
        "event_id": click.event_id,
    })))
}

async fn store_click(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let click: ClickTracked = incoming.json()?;
    if insert_click(&ctx.db, &click, Some(&incoming.event_id)).await? {
        ctx.completions
            .emit(ScenarioId::S6, steps::CLICK_STORED, true);
    } else {
        incoming.note_duplicate();
    }
    Ok(())
}

/// Stores a batch of clicks with one statement (its own commit); the clicks whose event was
/// stored before (redeliveries, or the same event twice in the batch) are noted as duplicates.
async fn store_clicks(ctx: Ctx, batch: Vec<Incoming>) -> anyhow::Result<()> {
    let clicks = batch
        .iter()
        .map(|incoming| incoming.json::<ClickTracked>())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut stored: HashSet<String> = sqlx::query_scalar(
        "INSERT INTO clicks (user_id, page, session_id, event_id, clicked_at)
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
    )
    .bind(clicks.iter().map(|c| c.user_id).collect::<Vec<_>>())
    .bind(clicks.iter().map(|c| c.page.as_str()).collect::<Vec<_>>())
    .bind(
        clicks
            .iter()
            .map(|c| c.session_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        batch
            .iter()
            .map(|i| i.event_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(clicks.iter().map(|c| c.timestamp).collect::<Vec<_>>())
    .fetch_all(&ctx.db)
    .await?
    .into_iter()
    .collect();
    for incoming in &batch {
        // Taken out when matched: the same event twice in one batch was stored once.
        if stored.remove(&incoming.event_id) {
            let completions = ctx.completions.clone();
            correlation::scope(incoming.correlation_id.clone(), async move {
                completions.emit(ScenarioId::S6, steps::CLICK_STORED, true);
            })
            .await;
        } else {
            incoming.note_duplicate();
        }
    }
    Ok(())
}

#[derive(sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
struct ClickCount {
    count: i64,
    last_stored_at: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/clicks/count", tag = "analytics",
    responses((status = 200, description = "clicks stored so far", body = ClickCount)))]
async fn count_clicks(State(ctx): State<Ctx>) -> Result<Json<ClickCount>, ApiError> {
    let count: ClickCount =
        sqlx::query_as("SELECT count(*) AS count, max(stored_at) AS last_stored_at FROM clicks")
            .fetch_one(&ctx.db)
            .await?;
    Ok(Json(count))
}
