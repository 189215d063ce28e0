//! The reservation API over HTTP, in both modes: the single-product calls of order's
//! orchestrated saga (S5 sync: `/reserve_stock`, `/compensate_stock`, `/commit_stock`), and
//! the multi-item reservations of the stock orders (S8, both modes: `/reservations`, then
//! `/reservations/{order}/commit` or `…/release`).

use axum::extract::State;
use chrono::Utc;
use common::ApiError;
use common::error::ErrorEnvelope;
use common::events::Ref;
use common::extract::{Json, Path};
use serde::Deserialize;
use serde_json::{Value, json};

use super::alerts::alert_if_low;
use super::rules::{Settle, taken_status, valid_quantity};
use super::stock::{Line, current_line, resolve, settle, take};
use crate::context::Ctx;

/// Anonymous reservations (peer 003's clients send no order id) get a reference of their own.
const ANONYMOUS: &str = "anon-";

/// Peer 003's body, plus an optional `order_id` that makes the call idempotent per order.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct StockRequest {
    product_id: Ref,
    #[serde(default = "one")]
    quantity: i32,
    order_id: Option<Ref>,
}

fn one() -> i32 {
    1
}

fn stock_reply(line: &Line, order_ref: &str, message: &str) -> Value {
    json!({
        "status": "ok",
        "product_id": line.product_id,
        "sku": line.sku,
        "quantity": line.quantity,
        "total_reserved": line.reserved,
        "available": line.available,
        "reserved": line.reserved,
        "sold": line.sold,
        "reservation_id": order_ref,
        "message": message,
        "timestamp": Utc::now(),
    })
}

#[utoipa::path(post, path = "/reserve_stock", tag = "inventory", request_body = StockRequest, responses(
    (status = 200, description = "Stock reserved (idempotent per `order_id`)", body = Object), (status = 404, description = "Product … not found", body = ErrorEnvelope), (status = 409, description = "insufficient stock: `detail` names the product, requested and available", body = ErrorEnvelope), (status = 422, description = "a quantity outside 1..=1000000", body = ErrorEnvelope),
))]
pub(super) async fn reserve_stock(
    State(ctx): State<Ctx>,
    Json(body): Json<StockRequest>,
) -> Result<Json<Value>, ApiError> {
    let quantity = valid_quantity(body.quantity)?;
    let order_ref = body.order_id.map_or_else(
        || format!("{ANONYMOUS}{}", uuid::Uuid::new_v4().simple()),
        |r| r.key(),
    );
    let mut tx = ctx.db.begin().await?;
    let lines = take(&mut tx, &order_ref, &[(body.product_id, quantity)], false).await?;
    tx.commit().await?;
    alert_if_low(&ctx, &lines).await;
    let line = lines
        .first()
        .ok_or_else(|| ApiError::internal("reservation without a line"))?;
    Ok(Json(stock_reply(line, &order_ref, "Stock reserved")))
}

/// Releases the order's reservation; without `order_id` (peer 003's clients), one anonymous
/// reservation of that product and quantity.
#[utoipa::path(post, path = "/compensate_stock", tag = "inventory", request_body = StockRequest, responses(
    (status = 200, description = "Stock released", body = Object), (status = 404, description = "Product … not found", body = ErrorEnvelope), (status = 409, description = "insufficient stock: `detail` names the product, requested and available", body = ErrorEnvelope), (status = 422, description = "a quantity outside 1..=1000000", body = ErrorEnvelope),
))]
pub(super) async fn compensate_stock(
    State(ctx): State<Ctx>,
    Json(body): Json<StockRequest>,
) -> Result<Json<Value>, ApiError> {
    let quantity = valid_quantity(body.quantity)?;
    let mut tx = ctx.db.begin().await?;
    let product_id = resolve(&mut tx, &body.product_id).await?;
    let order_ref = match body.order_id {
        Some(r) => r.key(),
        None => {
            let anonymous: Option<String> = sqlx::query_scalar(
                "SELECT order_ref FROM reservations
                 WHERE order_ref LIKE 'anon-%' AND product_id = $1 AND quantity = $2
                   AND status = 'reserved'
                 ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED",
            )
            .bind(product_id)
            .bind(quantity)
            .fetch_optional(&mut *tx)
            .await?;
            anonymous.ok_or_else(|| {
                ApiError::not_found(format!(
                    "No reservation of {quantity} for product {} to release",
                    body.product_id
                ))
            })?
        }
    };
    let lines = settle(&mut tx, &order_ref, Settle::Release).await?;
    tx.commit().await?;
    match lines.first() {
        Some(line) => Ok(Json(stock_reply(line, &order_ref, "Stock released"))),
        None => already_settled(&ctx, &order_ref, "released").await,
    }
}

/// Repeating a settle is fine when it was settled the same way; anything else is a conflict.
async fn already_settled(
    ctx: &Ctx,
    order_ref: &str,
    wanted: &str,
) -> Result<Json<Value>, ApiError> {
    let rows: Vec<(i64, i32, String)> = sqlx::query_as(
        "SELECT product_id, quantity, status FROM reservations WHERE order_ref = $1 ORDER BY product_id",
    )
    .bind(order_ref)
    .fetch_all(&ctx.db)
    .await?;
    match rows.first() {
        None => Err(ApiError::not_found(format!(
            "No reservation for order {order_ref}"
        ))),
        Some((_, _, status)) if status == wanted => {
            let mut conn = ctx.db.acquire().await?;
            let (id, quantity, _) = &rows[0];
            let line = current_line(&mut conn, *id, *quantity).await?;
            Ok(Json(stock_reply(
                &line,
                order_ref,
                &format!("Already {wanted}"),
            )))
        }
        Some((_, _, status)) => Err(ApiError::conflict(format!(
            "Reservation for order {order_ref} is already {status}"
        ))),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct OrderRefBody {
    order_id: Ref,
}

#[utoipa::path(post, path = "/commit_stock", tag = "inventory", request_body = OrderRefBody, responses(
    (status = 200, description = "the order's reservation is sold", body = Object),
    (status = 404, description = "no reservation for that order", body = ErrorEnvelope),
    (status = 409, description = "the reservation was settled the other way", body = ErrorEnvelope),
))]
pub(super) async fn commit_stock(
    State(ctx): State<Ctx>,
    Json(body): Json<OrderRefBody>,
) -> Result<Json<Value>, ApiError> {
    settle_http(&ctx, &body.order_id.key(), Settle::Commit).await
}

#[utoipa::path(post, path = "/reservations/{order_ref}/release", tag = "inventory", params(("order_ref" = String, Path, description = "the order the reservation belongs to")), responses(
    (status = 200, description = "released (idempotent)", body = Object),
    (status = 404, description = "no reservation for that order", body = ErrorEnvelope),
    (status = 409, description = "the reservation was already committed", body = ErrorEnvelope),
))]
pub(super) async fn release_reservation(
    State(ctx): State<Ctx>,
    Path(order_ref): Path<String>,
) -> Result<Json<Value>, ApiError> {
    settle_http(&ctx, &order_ref, Settle::Release).await
}

#[utoipa::path(post, path = "/reservations/{order_ref}/commit", tag = "inventory", params(("order_ref" = String, Path, description = "the order the reservation belongs to")), responses(
    (status = 200, description = "committed (idempotent)", body = Object),
    (status = 404, description = "no reservation for that order", body = ErrorEnvelope),
    (status = 409, description = "the reservation was already released", body = ErrorEnvelope),
))]
pub(super) async fn commit_reservation(
    State(ctx): State<Ctx>,
    Path(order_ref): Path<String>,
) -> Result<Json<Value>, ApiError> {
    settle_http(&ctx, &order_ref, Settle::Commit).await
}

async fn settle_http(ctx: &Ctx, order_ref: &str, how: Settle) -> Result<Json<Value>, ApiError> {
    let mut tx = ctx.db.begin().await?;
    let lines = settle(&mut tx, order_ref, how).await?;
    tx.commit().await?;
    let wanted = how.status();
    if lines.is_empty() {
        return already_settled(ctx, order_ref, wanted).await;
    }
    Ok(Json(json!({
        "status": wanted,
        "order_id": order_ref,
        "items": lines,
        "timestamp": Utc::now(),
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct ReservationRequest {
    order_id: Ref,
    items: Vec<ReservationItem>,
    /// Sell at once instead of holding (seed 001's orders are confirmed immediately).
    #[serde(default)]
    commit: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ReservationItem {
    product_id: Ref,
    quantity: i32,
}

/// All items of one order, all or nothing: 409 names the first product short of stock.
#[utoipa::path(post, path = "/reservations", tag = "inventory", request_body = ReservationRequest, responses(
    (status = 200, description = "all items reserved (or sold, with `commit`)", body = Object), (status = 404, description = "Product … not found", body = ErrorEnvelope), (status = 409, description = "insufficient stock: `detail` names the product, requested and available", body = ErrorEnvelope),
    (status = 422, description = "no items, or a quantity outside 1..=1000000", body = ErrorEnvelope),
))]
pub(super) async fn create_reservation(
    State(ctx): State<Ctx>,
    Json(body): Json<ReservationRequest>,
) -> Result<Json<Value>, ApiError> {
    if body.items.is_empty() {
        return Err(ApiError::unprocessable("items must not be empty"));
    }
    let items = body
        .items
        .into_iter()
        .map(|i| Ok((i.product_id, valid_quantity(i.quantity)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let order_ref = body.order_id.key();
    let mut tx = ctx.db.begin().await?;
    let lines = take(&mut tx, &order_ref, &items, body.commit).await?;
    tx.commit().await?;
    alert_if_low(&ctx, &lines).await;
    Ok(Json(json!({
        "status": taken_status(body.commit),
        "order_id": order_ref,
        "items": lines,
        "timestamp": Utc::now(),
    })))
}
