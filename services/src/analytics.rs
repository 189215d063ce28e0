//! Analytics service: S6 click ingestion, and S3's update-log step (see [`crate::fanout`]).
//!
//! Sync: `POST /track_click` stores the click before answering. Async: it publishes one
//! `ClickTracked` to `click_tracked_queue` and answers 200 once the broker confirmed (peer
//! 002 answered 200 even when the publish failed, losing the click); a consumer stores it,
//! once per event. `GET /clicks/count` tells how many are stored (the zero-loss check).

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use common::broker::consume::Incoming;
use common::broker::topology::{CLICK_TRACKED, DEFAULT_EXCHANGE};
use common::events::{ClickTracked, new_event_id};
use common::extract::Json;
use common::scenario::{ScenarioId, steps};
use common::{ApiError, Mode};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::migrate::Migrator;
use sqlx::{PgExecutor, PgPool};

use crate::context::Ctx;
use crate::fanout;

pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/analytics");

pub fn routes(mode: Mode) -> Router<Ctx> {
    let track = match mode {
        Mode::Sync => post(track_sync),
        Mode::Async => post(track_async),
    };
    Router::new()
        .route("/track_click", track)
        .route("/clicks/count", get(count_clicks))
        .merge(fanout::routes(&fanout::ANALYTICS))
}

pub fn consumers(ctx: &Ctx) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        ctx.consume(CLICK_TRACKED, ctx.db_consumer_options(), store_click),
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
#[derive(Deserialize)]
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

#[derive(sqlx::FromRow, serde::Serialize)]
struct ClickCount {
    count: i64,
    last_stored_at: Option<DateTime<Utc>>,
}

async fn count_clicks(State(ctx): State<Ctx>) -> Result<Json<ClickCount>, ApiError> {
    let count: ClickCount =
        sqlx::query_as("SELECT count(*) AS count, max(stored_at) AS last_stored_at FROM clicks")
            .fetch_one(&ctx.db)
            .await?;
    Ok(Json(count))
}
