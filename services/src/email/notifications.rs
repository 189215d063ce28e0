//! S8's notifications: order confirmations and stock alerts, each stored once per event id
//! and listed under `/notifications…`. They arrive over HTTP (`POST /notifications`) in sync
//! mode and on the durable `notifications` queue in async mode; [`deliver_notification`]
//! sends them the way the mode talks.

use axum::extract::State;
use chrono::{DateTime, Utc};
use common::broker::consume::Incoming;
use common::broker::topology::{DEFAULT_EXCHANGE, NOTIFICATIONS};
use common::error::ErrorEnvelope;
use common::events::{Notification, new_event_id, notification_kind};
use common::extract::{Json, Path};
use common::scenario::{ScenarioId, steps};
use common::{ApiError, Mode, correlation, http};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::Ctx;

/// Hands a notification to the notification service the way this mode talks: a confirmed
/// publish on `notifications` (async) or `POST /notifications` (sync). Used by order and
/// inventory.
pub async fn deliver_notification(ctx: &Ctx, notification: &Notification) -> Result<(), ApiError> {
    match ctx.mode() {
        Mode::Async => {
            ctx.broker
                .publish_event(
                    DEFAULT_EXCHANGE,
                    NOTIFICATIONS,
                    &notification.event_id,
                    notification,
                )
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

pub(super) async fn on_notification(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
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
#[utoipa::path(post, path = "/notifications", tag = "notifications", request_body = Notification,
    responses((status = 200, description = "`{status: sent|duplicate, event_id, type}`", body = Object)))]
pub(super) async fn receive_notification(
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

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct TestNotification {
    message: String,
    recipient: String,
}

/// Seed 001's `POST /notifications/test`.
#[utoipa::path(post, path = "/notifications/test", tag = "notifications", request_body = TestNotification,
    responses((status = 200, description = "the stored test notification", body = Object)))]
pub(super) async fn test_notification(
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

#[utoipa::path(get, path = "/notifications", tag = "notifications",
    responses((status = 200, description = "`{notifications, count}`", body = Object)))]
pub(super) async fn list_notifications(State(ctx): State<Ctx>) -> Result<Json<Value>, ApiError> {
    let notifications = notifications_where(&ctx, "true", None).await?;
    Ok(Json(
        json!({ "count": notifications.len(), "notifications": notifications }),
    ))
}

#[utoipa::path(get, path = "/notifications/type/{kind}", tag = "notifications",
    params(("kind" = String, Path, description = "e.g. order_confirmation, low_stock, out_of_stock, test")),
    responses((status = 200, description = "the notifications of that type", body = Object)))]
pub(super) async fn notifications_of_type(
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

#[utoipa::path(get, path = "/notifications/stats", tag = "notifications",
    responses((status = 200, description = "`{total_notifications, notifications_by_type, last_notification}`", body = Object)))]
pub(super) async fn notification_stats(State(ctx): State<Ctx>) -> Result<Json<Value>, ApiError> {
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

#[utoipa::path(delete, path = "/notifications/{id}", tag = "notifications",
    params(("id" = String, Path, description = "notification_id")), responses(
    (status = 200, description = "`{message, notification_id}`", body = Object),
    (status = 404, description = "Notification not found", body = ErrorEnvelope),
))]
pub(super) async fn delete_notification(
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
