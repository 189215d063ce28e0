//! Email service: "sends" by waiting the configured delay and recording the message, which
//! `GET /emails` lists (in place of peer 004's MailHog); and the notification service of S8.
//!
//! - `welcome`: S1's welcome mail — `POST /send_welcome_email` (sync, called by user) and a
//!   consumer of `user_registered_queue` (async) doing the same work, exactly once per event.
//! - `confirmation`: S7's order confirmation mail — `POST /send_order_confirmation`
//!   (sync) and a consumer of `email_service_queue` (`payment.payment.processed`) that then
//!   announces `email.email.sent`, which moves the order to `confirmed` (peer 004 never did).
//! - `notifications`: S8's order confirmations and stock alerts (seed 001's notification
//!   service), stored and listed under `/notifications…`; delivered over HTTP
//!   (`POST /notifications`) in sync mode and on the durable `notifications` queue in async
//!   mode, so an alert published while this service is down waits for it (001's Redis
//!   pub/sub dropped it). [`deliver_notification`] is how order and inventory send them.
//! - this file: the routes, the consumers, and the listing of sent mail (`/emails`), shared
//!   by the two mail flows.

mod confirmation;
mod notifications;
mod welcome;

use axum::extract::State;
use chrono::{DateTime, Utc};
use common::broker::topology::{EMAIL_SERVICE, NOTIFICATIONS, USER_REGISTERED};
use common::error::ErrorEnvelope;
use common::extract::{Json, Query};
use common::{ApiError, Mode};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::Ctx;

pub use notifications::deliver_notification;

pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/email");

pub fn routes(_mode: Mode) -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(welcome::send_welcome_email))
        .routes(routes!(list_emails))
        .routes(routes!(confirmation::send_order_confirmation))
        .routes(routes!(
            notifications::list_notifications,
            notifications::receive_notification
        ))
        .routes(routes!(notifications::notification_stats))
        .routes(routes!(notifications::test_notification))
        .routes(routes!(notifications::notifications_of_type))
        .routes(routes!(notifications::delete_notification))
}

pub fn consumers(ctx: &Ctx) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        ctx.consume(
            USER_REGISTERED,
            ctx.consumer_options(),
            welcome::on_user_registered,
        ),
        ctx.consume(
            EMAIL_SERVICE,
            ctx.consumer_options(),
            confirmation::on_payment_processed,
        ),
        ctx.consume(
            NOTIFICATIONS,
            ctx.consumer_options(),
            notifications::on_notification,
        ),
    ]
}

pub async fn reset(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("TRUNCATE emails, notifications, processed_events RESTART IDENTITY")
        .execute(db)
        .await
        .map(|_| ())
}

/// The one check of a recipient both mail flows make (422 otherwise).
fn check_address(address: &str) -> Result<(), ApiError> {
    if address.contains('@') {
        Ok(())
    } else {
        Err(ApiError::unprocessable(format!(
            "not an e-mail address: {address:?}"
        )))
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
#[utoipa::path(get, path = "/emails", tag = "email", params(EmailFilter), responses(
    (status = 200, description = "`{count, emails}`, newest first, at most `limit` (default 100)", body = Object),
    (status = 422, description = "limit must be within 1..=1000", body = ErrorEnvelope),
))]
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
