//! Email service (S1 welcome mail; later S7/S8 notifications): "sends" by waiting the
//! configured delay and recording the message, which `GET /emails` lists (in place of peer
//! 004's MailHog).
//!
//! Sync: `POST /send_welcome_email`, called by user. Async: a consumer of
//! `user_registered_queue` doing the same work, exactly once per event.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use common::broker::consume::Incoming;
use common::broker::topology::USER_REGISTERED;
use common::events::UserRegistered;
use common::extract::{Json, Query};
use common::scenario::{ScenarioId, steps};
use common::{ApiError, Mode, correlation, db};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::context::Ctx;

pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/email");

/// Name under which the welcome consumer records handled events.
const WELCOME_CONSUMER: &str = "welcome_email";

pub fn routes(_mode: Mode) -> Router<Ctx> {
    Router::new()
        .route("/send_welcome_email", post(send_welcome_email))
        .route("/emails", get(list_emails))
}

pub fn consumers(ctx: &Ctx) -> Vec<tokio::task::JoinHandle<()>> {
    vec![ctx.consume(USER_REGISTERED, ctx.consumer_options(), on_user_registered)]
}

pub async fn reset(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("TRUNCATE emails, processed_events RESTART IDENTITY")
        .execute(db)
        .await
        .map(|_| ())
}

/// Sends one welcome e-mail. With `event_id`, the send is recorded together with the event
/// so that a redelivery sends nothing; returns `false` when it was such a duplicate.
async fn send_welcome(
    ctx: &Ctx,
    recipient: &str,
    user_id: Option<i64>,
    event_id: Option<&str>,
) -> Result<bool, sqlx::Error> {
    tokio::time::sleep(Duration::from_millis(ctx.knobs.get().email_delay_ms)).await;
    let mut tx = ctx.db.begin().await?;
    if let Some(id) = event_id
        && !db::claim_event(&mut tx, WELCOME_CONSUMER, id).await?
    {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO emails (recipient, kind, subject, user_id, event_id, correlation_id)
         VALUES ($1, 'welcome', 'Welcome!', $2, $3, $4)",
    )
    .bind(recipient)
    .bind(user_id)
    .bind(event_id)
    .bind(correlation::current())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    ctx.completions
        .emit(ScenarioId::S1, steps::WELCOME_EMAIL_SENT, true);
    Ok(true)
}

#[derive(Deserialize)]
struct WelcomeRequest {
    email: String,
    user_id: Option<i64>,
}

async fn send_welcome_email(
    State(ctx): State<Ctx>,
    Json(body): Json<WelcomeRequest>,
) -> Result<Json<Value>, ApiError> {
    if !body.email.contains('@') {
        return Err(ApiError::unprocessable(format!(
            "not an e-mail address: {:?}",
            body.email
        )));
    }
    send_welcome(&ctx, &body.email, body.user_id, None).await?;
    Ok(Json(
        json!({ "message": "Email sent", "email": body.email, "timestamp": Utc::now() }),
    ))
}

async fn on_user_registered(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: UserRegistered = incoming.json()?;
    anyhow::ensure!(
        event.email.contains('@'),
        "UserRegistered without a usable e-mail: {:?}",
        event.email
    );
    // Skip the slow part for an event we already handled; the claim below is the real guard.
    if db::was_processed(&ctx.db, WELCOME_CONSUMER, &incoming.event_id).await? {
        incoming.note_duplicate();
        return Ok(());
    }
    if !send_welcome(
        &ctx,
        &event.email,
        Some(event.user_id),
        Some(&incoming.event_id),
    )
    .await?
    {
        incoming.note_duplicate();
    }
    Ok(())
}

#[derive(Deserialize)]
struct EmailFilter {
    recipient: Option<String>,
    kind: Option<String>,
    limit: Option<i64>,
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct SentEmail {
    id: i64,
    recipient: String,
    kind: String,
    subject: String,
    user_id: Option<i64>,
    correlation_id: Option<String>,
    sent_at: DateTime<Utc>,
}

/// Sent mail, newest first; `count` is the total matching, `emails` at most `limit` of them.
async fn list_emails(
    State(ctx): State<Ctx>,
    Query(filter): Query<EmailFilter>,
) -> Result<Json<Value>, ApiError> {
    let limit = filter.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::unprocessable("limit must be within 1..=1000"));
    }
    const WHERE: &str = "($1::text IS NULL OR recipient = $1) AND ($2::text IS NULL OR kind = $2)";
    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM emails WHERE {WHERE}"
    )))
    .bind(&filter.recipient)
    .bind(&filter.kind)
    .fetch_one(&ctx.db)
    .await?;
    let emails: Vec<SentEmail> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, recipient, kind, subject, user_id, correlation_id, sent_at FROM emails
         WHERE {WHERE} ORDER BY id DESC LIMIT $3"
    )))
    .bind(&filter.recipient)
    .bind(&filter.kind)
    .bind(limit)
    .fetch_all(&ctx.db)
    .await?;
    Ok(Json(json!({ "count": count, "emails": emails })))
}
