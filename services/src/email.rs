//! Email service (S1 welcome mail; later S7/S8 notifications): "sends" by waiting the
//! configured delay and recording the message, which `GET /emails` lists (in place of peer
//! 004's MailHog).
//!
//! Sync: `POST /send_welcome_email`, called by user. Async: a consumer of
//! `user_registered_queue` doing the same work, exactly once per event.
//!
//! S7 (peer 004): the order confirmation mail — `POST /send_order_confirmation` in sync mode;
//! in async mode a consumer of `email_service_queue` (`payment.payment.processed`) that then
//! announces `email.email.sent`, which moves the order to `confirmed` (peer 004 never did).
//!
//! S8 (seed 001's notification service): order confirmations and stock alerts, stored and
//! listed under `/notifications…`; delivered over HTTP (`POST /notifications`) in sync mode
//! and on the durable `notifications` queue in async mode, so an alert published while this
//! service is down waits for it (001's Redis pub/sub dropped it).

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use common::broker::Outgoing;
use common::broker::consume::Incoming;
use common::broker::topology::{
    DEFAULT_EXCHANGE, ECOMMERCE_EVENTS, EMAIL_SERVICE, NOTIFICATIONS, RK_EMAIL_SENT,
    USER_REGISTERED,
};
use common::events::{
    EmailSent, Notification, PaymentProcessed, UserRegistered, new_event_id, notification_kind,
};
use common::extract::{Json, Path, Query};
use common::scenario::{ScenarioId, steps};
use common::{ApiError, Mode, correlation, db, http};
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
        .route("/send_order_confirmation", post(send_order_confirmation))
        .route(
            "/notifications",
            get(list_notifications).post(receive_notification),
        )
        .route("/notifications/stats", get(notification_stats))
        .route("/notifications/test", post(test_notification))
        .route("/notifications/type/{kind}", get(notifications_of_type))
        .route("/notifications/{id}", delete(delete_notification))
}

pub fn consumers(ctx: &Ctx) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        ctx.consume(USER_REGISTERED, ctx.consumer_options(), on_user_registered),
        ctx.consume(EMAIL_SERVICE, ctx.consumer_options(), on_payment_processed),
        ctx.consume(NOTIFICATIONS, ctx.consumer_options(), on_notification),
    ]
}

pub async fn reset(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("TRUNCATE emails, notifications, processed_events RESTART IDENTITY")
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
    tracing::info!(%recipient, "welcome e-mail sent");
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

// ---------------------------------------------------------------------------------------
// S7: the order confirmation mail (peer 004).

const CONFIRMATION_CONSUMER: &str = "order_confirmation_email";

/// Sends one confirmation mail for `order_id`, after the checkout e-mail delay. With
/// `event_id`, the send is claimed together with the record (a redelivery sends nothing).
/// The `email.email.sent` announcement, if any, is published before the commit: the claim
/// and the record only stand once the broker has it.
async fn send_confirmation(
    ctx: &Ctx,
    order_id: i64,
    recipient: &str,
    event_id: Option<&str>,
) -> anyhow::Result<bool> {
    tokio::time::sleep(Duration::from_millis(
        ctx.knobs.get().checkout_email_delay_ms,
    ))
    .await;
    let subject = format!("Order Confirmation - Order #{order_id}");
    let mut tx = ctx.db.begin().await?;
    if let Some(id) = event_id
        && !db::claim_event(&mut tx, CONFIRMATION_CONSUMER, id).await?
    {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO emails (recipient, kind, subject, order_id, event_id, correlation_id)
         VALUES ($1, 'order_confirmation', $2, $3, $4, $5)",
    )
    .bind(recipient)
    .bind(&subject)
    .bind(order_id)
    .bind(event_id)
    .bind(correlation::current())
    .execute(&mut *tx)
    .await?;
    if event_id.is_some() {
        let sent = EmailSent {
            event_type: "email.sent".to_owned(),
            event_id: format!("sent-{order_id}"),
            timestamp: Utc::now(),
            order_id,
            recipient: recipient.to_owned(),
            subject,
            template: "order_confirmation".to_owned(),
        };
        ctx.broker
            .publish(Outgoing::event(
                ECOMMERCE_EVENTS,
                RK_EMAIL_SENT,
                sent.event_id.clone(),
                &sent,
            ))
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}

#[derive(Deserialize)]
struct ConfirmationRequest {
    order_id: i64,
    user_email: String,
}

async fn send_order_confirmation(
    State(ctx): State<Ctx>,
    Json(body): Json<ConfirmationRequest>,
) -> Result<Json<Value>, ApiError> {
    if !body.user_email.contains('@') {
        return Err(ApiError::unprocessable(format!(
            "not an e-mail address: {:?}",
            body.user_email
        )));
    }
    send_confirmation(&ctx, body.order_id, &body.user_email, None)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({
        "message": "Email sent",
        "email": body.user_email,
        "order_id": body.order_id,
        "timestamp": Utc::now(),
    })))
}

/// Peer 004's email consumer: only completed payments get a mail.
async fn on_payment_processed(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: PaymentProcessed = incoming.json()?;
    if event.status != "completed" {
        tracing::info!(order_id = event.order_id, status = %event.status, "no confirmation for an unpaid order");
        return Ok(());
    }
    if db::was_processed(&ctx.db, CONFIRMATION_CONSUMER, &incoming.event_id).await? {
        incoming.note_duplicate();
        return Ok(());
    }
    if !send_confirmation(
        &ctx,
        event.order_id,
        &event.user_email,
        Some(&incoming.event_id),
    )
    .await?
    {
        incoming.note_duplicate();
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// S8: notifications (seed 001's notification service).

/// Hands a notification to the notification service the way this mode talks: a confirmed
/// publish on `notifications` (async) or `POST /notifications` (sync). Used by order and
/// inventory.
pub async fn deliver_notification(ctx: &Ctx, notification: &Notification) -> Result<(), ApiError> {
    match ctx.mode() {
        Mode::Async => {
            ctx.broker
                .publish(Outgoing::event(
                    DEFAULT_EXCHANGE,
                    NOTIFICATIONS,
                    notification.event_id.clone(),
                    notification,
                ))
                .await?;
            Ok(())
        }
        Mode::Sync => {
            let url = format!("{}/notifications", ctx.settings.peers.email_url);
            let reply = http::post_json(&ctx.http, "notification", &url, notification).await?;
            if reply.is_success() {
                Ok(())
            } else {
                Err(ApiError::unavailable(format!(
                    "notification service answered {}",
                    reply.status
                )))
            }
        }
    }
}

/// Stores a notification once per event id; `false` for a duplicate.
async fn store_notification(ctx: &Ctx, n: &Notification) -> Result<bool, ApiError> {
    let payload = serde_json::to_string(n).map_err(ApiError::internal)?;
    let stored = sqlx::query(
        "INSERT INTO notifications (notification_id, type, message, recipient, payload, event_id, correlation_id, timestamp)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, now()) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&n.kind)
    .bind(&n.message)
    .bind(&n.recipient)
    .bind(payload)
    .bind(&n.event_id)
    .bind(correlation::current())
    .execute(&ctx.db)
    .await?
    .rows_affected()
        == 1;
    if stored {
        tracing::info!(kind = %n.kind, recipient = %n.recipient, "notification sent");
        if n.kind == notification_kind::ORDER_CONFIRMATION {
            ctx.completions
                .emit(ScenarioId::S8, steps::NOTIFICATION_STORED, true);
        }
    }
    Ok(stored)
}

async fn on_notification(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let notification: Notification = incoming.json()?;
    let stored = store_notification(&ctx, &notification)
        .await
        .map_err(|e| anyhow::Error::new(e).context("storing a notification"))?;
    if !stored {
        incoming.note_duplicate();
    }
    Ok(())
}

/// Sync mode's delivery path (and any client's).
async fn receive_notification(
    State(ctx): State<Ctx>,
    Json(notification): Json<Notification>,
) -> Result<Json<Value>, ApiError> {
    let stored = store_notification(&ctx, &notification).await?;
    Ok(Json(json!({
        "status": if stored { "sent" } else { "duplicate" },
        "event_id": notification.event_id,
        "type": notification.kind,
    })))
}

#[derive(Deserialize)]
struct TestNotification {
    message: String,
    recipient: String,
}

/// Seed 001's `POST /notifications/test`.
async fn test_notification(
    State(ctx): State<Ctx>,
    Json(body): Json<TestNotification>,
) -> Result<Json<Value>, ApiError> {
    let notification = Notification {
        event_id: new_event_id(),
        kind: "test".to_owned(),
        recipient: body.recipient,
        message: body.message,
        order_id: None,
        user_id: None,
        total_amount: None,
        product_id: None,
        product_name: None,
        current_stock: None,
        timestamp: Utc::now(),
    };
    store_notification(&ctx, &notification).await?;
    let rows =
        notifications_where(&ctx, "event_id = $1", Some(notification.event_id.as_str())).await?;
    rows.into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| ApiError::internal("stored notification not found"))
}

/// One stored notification as seed 001 showed it, plus the message's own fields.
fn notification_body(row: NotificationRow) -> Value {
    let mut body: Value = serde_json::from_str(&row.payload).unwrap_or_else(|_| json!({}));
    if let Value::Object(fields) = &mut body {
        fields.insert("notification_id".into(), json!(row.notification_id));
        fields.insert("type".into(), json!(row.kind));
        fields.insert("message".into(), json!(row.message));
        fields.insert("recipient".into(), json!(row.recipient));
        fields.insert("status".into(), json!(row.status));
        fields.insert("timestamp".into(), json!(row.timestamp));
    }
    body
}

#[derive(sqlx::FromRow)]
struct NotificationRow {
    notification_id: String,
    #[sqlx(rename = "type")]
    kind: String,
    message: String,
    recipient: String,
    payload: String,
    status: String,
    timestamp: DateTime<Utc>,
}

/// Newest first; `condition` may use `$1` bound to `arg`.
async fn notifications_where(
    ctx: &Ctx,
    condition: &'static str,
    arg: Option<&str>,
) -> Result<Vec<Value>, ApiError> {
    let rows: Vec<NotificationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT notification_id, type, message, recipient, payload::text AS payload, status, timestamp
         FROM notifications WHERE ($1::text IS NULL OR {condition})
         ORDER BY timestamp DESC, notification_id LIMIT 1000"
    )))
    .bind(arg)
    .fetch_all(&ctx.db)
    .await?;
    Ok(rows.into_iter().map(notification_body).collect())
}

async fn list_notifications(State(ctx): State<Ctx>) -> Result<Json<Value>, ApiError> {
    let notifications = notifications_where(&ctx, "true", None).await?;
    Ok(Json(
        json!({ "count": notifications.len(), "notifications": notifications }),
    ))
}

async fn notifications_of_type(
    State(ctx): State<Ctx>,
    Path(kind): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let notifications = notifications_where(&ctx, "type = $1", Some(kind.as_str())).await?;
    Ok(Json(json!({
        "type": kind,
        "count": notifications.len(),
        "notifications": notifications,
    })))
}

async fn notification_stats(State(ctx): State<Ctx>) -> Result<Json<Value>, ApiError> {
    let by_type: Vec<(String, i64)> =
        sqlx::query_as("SELECT type, count(*) FROM notifications GROUP BY type ORDER BY type")
            .fetch_all(&ctx.db)
            .await?;
    let total: i64 = by_type.iter().map(|(_, n)| n).sum();
    let last = notifications_where(&ctx, "true", None)
        .await?
        .into_iter()
        .next();
    let by_type: serde_json::Map<String, Value> =
        by_type.into_iter().map(|(k, n)| (k, json!(n))).collect();
    Ok(Json(json!({
        "total_notifications": total,
        "notifications_by_type": by_type,
        "last_notification": last,
    })))
}

async fn delete_notification(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let deleted = sqlx::query("DELETE FROM notifications WHERE notification_id = $1")
        .bind(&id)
        .execute(&ctx.db)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(ApiError::not_found("Notification not found"));
    }
    Ok(Json(
        json!({ "message": "Notification deleted", "notification_id": id }),
    ))
}
