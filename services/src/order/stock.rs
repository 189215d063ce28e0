//! S8, seed 001's `POST /orders`: stock is checked and taken at inventory over HTTP in both
//! modes (as in 001), then the customer is notified.
//!
//! 001 read the stock, then wrote it, per item (two orders could both pass the read); here
//! one inventory call holds every item atomically (`/reservations`), and the sale is made
//! final (`/reservations/{id}/commit`) once the order and its confirmation are safe. The
//! confirmation goes to the notification service over HTTP in sync mode (a failure is
//! reported in `warnings`, as S1 does) and on the durable `notifications` queue in async
//! mode (no confirm → the stock is released and the client gets 503).

use axum::extract::State;
use chrono::Utc;
use common::error::ErrorEnvelope;
use common::events::{Notification, Ref, notification_kind};
use common::extract::Json;
use common::{ApiError, Mode, correlation, http};
use serde::Deserialize;
use serde_json::{Value, json};

use super::find_order;
use crate::context::Ctx;
use crate::email;

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct PlaceOrder {
    user_id: Ref,
    items: Vec<OrderItem>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct OrderItem {
    product_id: Ref,
    quantity: i32,
}

/// Seed 001's answers: 400 "Product X not found", 409 (001: 400) "Insufficient stock for
/// product X", 503 when inventory is unreachable.
#[utoipa::path(post, path = "/orders", tag = "order", request_body = PlaceOrder, responses(
    (status = 200, description = "confirmed: `{order_id, status, items, total_amount, …}`", body = Object),
    (status = 400, description = "Product … not found", body = ErrorEnvelope),
    (status = 409, description = "Insufficient stock for product …", body = ErrorEnvelope),
    (status = 422, description = "no items, or a quantity below 1", body = ErrorEnvelope),
    (status = 503, description = "Inventory service unavailable", body = ErrorEnvelope),
))]
pub(super) async fn place_order(
    State(ctx): State<Ctx>,
    Json(body): Json<PlaceOrder>,
) -> Result<Json<Value>, ApiError> {
    if body.items.is_empty() {
        return Err(ApiError::unprocessable(json!([{
            "type": "value_error", "loc": ["body", "items"], "msg": "an order needs at least one item",
        }])));
    }
    if let Some(bad) = body
        .items
        .iter()
        .find(|i| !(1..=1_000_000).contains(&i.quantity))
    {
        return Err(ApiError::unprocessable(json!([{
            "type": "greater_than", "loc": ["body", "items", "quantity"],
            "msg": format!("quantity of {} must be within 1..=1000000", bad.product_id),
        }])));
    }
    let order_uuid = uuid::Uuid::new_v4().to_string();
    let inventory = &ctx.settings.peers.inventory_url;
    let items: Vec<Value> = body
        .items
        .iter()
        .map(|i| json!({ "product_id": i.product_id, "quantity": i.quantity }))
        .collect();
    let reply = http::post_json(
        &ctx.http,
        "inventory",
        &format!("{inventory}/reservations"),
        &json!({ "order_id": order_uuid, "items": items }),
    )
    .await
    .map_err(|err| {
        if err.status == axum::http::StatusCode::SERVICE_UNAVAILABLE {
            ApiError::unavailable("Inventory service unavailable")
        } else {
            err
        }
    })?;
    if !reply.is_success() {
        return Err(match reply.status.as_u16() {
            // Seed 001's wording and status for an unknown product.
            404 => ApiError::bad_request(
                reply.body["detail"]
                    .as_str()
                    .unwrap_or("Product not found")
                    .to_owned(),
            ),
            _ => super::downstream_error("inventory", &reply),
        });
    }

    // Prices come from inventory, not from the client.
    let lines = reply.body["items"].as_array().cloned().unwrap_or_default();
    let mut total = 0.0;
    let mut order_items = Vec::with_capacity(body.items.len());
    for item in &body.items {
        let line = lines.iter().find(|l| {
            l["sku"].as_str() == Some(item.product_id.key().as_str())
                || l["product_id"].as_i64() == item.product_id.as_number()
        });
        let price = line.and_then(|l| l["price"].as_f64()).unwrap_or(0.0);
        total += price * f64::from(item.quantity);
        order_items.push(json!({
            "product_id": item.product_id,
            "quantity": item.quantity,
            "price": price,
            "name": line.map(|l| l["name"].clone()),
        }));
    }
    let total = (total * 100.0).round() / 100.0;

    match record_and_notify(&ctx, &order_uuid, &body.user_id, &order_items, total).await {
        Ok(warnings) => {
            let commit = http::post_json(
                &ctx.http,
                "inventory",
                &format!("{inventory}/reservations/{order_uuid}/commit"),
                &json!({}),
            )
            .await;
            if !matches!(&commit, Ok(r) if r.is_success()) {
                // The units stay reserved (counted, not sellable); the order stands.
                tracing::warn!(order_id = %order_uuid, "confirmed order's reservation not turned into a sale");
            }
            let mut body = find_order(&ctx, &order_uuid).await?.body();
            body["warnings"] = json!(warnings);
            Ok(Json(body))
        }
        Err(err) => {
            let release = http::post_json(
                &ctx.http,
                "inventory",
                &format!("{inventory}/reservations/{order_uuid}/release"),
                &json!({}),
            )
            .await;
            if !matches!(&release, Ok(r) if r.is_success()) {
                tracing::warn!(order_id = %order_uuid, "failed order's reservation not released");
            }
            Err(err)
        }
    }
}

/// Stores the confirmed order and sends its confirmation; returns warnings for what did not
/// happen but does not undo the order (sync mode's notifier being down).
async fn record_and_notify(
    ctx: &Ctx,
    order_uuid: &str,
    user_id: &Ref,
    items: &[Value],
    total: f64,
) -> Result<Vec<String>, ApiError> {
    let items_json = serde_json::to_string(items).map_err(ApiError::internal)?;
    let mut tx = ctx.db.begin().await?;
    sqlx::query(
        "INSERT INTO orders (order_uuid, kind, status, user_id, items, total_amount, correlation_id)
         VALUES ($1, 'stock', 'confirmed', $2, $3::jsonb, $4, $5)",
    )
    .bind(order_uuid)
    .bind(user_id.key())
    .bind(items_json)
    .bind(total)
    .bind(correlation::current())
    .execute(&mut *tx)
    .await?;
    let confirmation = Notification {
        event_id: format!("confirmation-{order_uuid}"),
        kind: notification_kind::ORDER_CONFIRMATION.to_owned(),
        recipient: user_id.key(),
        message: format!("Order {order_uuid} confirmed. Total: ${total:.2}"),
        order_id: Some(order_uuid.to_owned()),
        user_id: Some(user_id.clone()),
        total_amount: Some(total),
        product_id: None,
        product_name: None,
        current_stock: None,
        timestamp: Utc::now(),
    };
    let warnings = match ctx.mode() {
        // The order and its confirmation stand or fall together.
        Mode::Async => {
            email::deliver_notification(ctx, &confirmation).await?;
            tx.commit().await?;
            vec![]
        }
        Mode::Sync => {
            tx.commit().await?;
            match email::deliver_notification(ctx, &confirmation).await {
                Ok(()) => vec![],
                Err(err) => {
                    tracing::warn!(order_id = %order_uuid, error = %err.detail, "confirmation not delivered");
                    vec![format!("confirmation notification failed: {}", err.detail)]
                }
            }
        }
    };
    Ok(warnings)
}
