//! Inventory service: owns stock (CONTRACT §6) for the saga (S5), the stock orders and alerts
//! (S8), and serves seed 001's `/products…` read paths and peer 003's `/inventory`.
//!
//! Every unit is `available`, `reserved` (held for an order whose payment is pending) or
//! `sold`. Every change is one conditional UPDATE (`… WHERE available >= $n`), so concurrent
//! orders can never take stock below zero (peer 003 only counted reservations and never
//! checked), and a per-order `reservations` row makes reserve / release / commit idempotent.
//!
//! Sync: `/reserve_stock`, `/compensate_stock`, `/commit_stock` and `/reservations` over HTTP.
//! Async: the saga's consumers — `order_created_queue` → reserve → `stock_reserved_queue` (or
//! `stock_rejected_queue`); `inventory_payment_failed_queue` → release (for real; peer 002
//! released nothing) → `stock_released_queue`; `inventory_payment_succeeded_queue` → sale.
//! Seed 001's order path is HTTP in both modes, as in 001.
//!
//! Stock alerts (≤ 10 units left, or none) go to the notification service: over HTTP in sync
//! mode, on the durable `notifications` queue in async mode.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use common::broker::Outgoing;
use common::broker::consume::{self, Incoming};
use common::broker::topology::{
    DEFAULT_EXCHANGE, INVENTORY_PAYMENT_FAILED, INVENTORY_PAYMENT_SUCCEEDED, ORDER_CREATED,
    STOCK_REJECTED, STOCK_RELEASED, STOCK_RESERVED,
};
use common::events::{
    Notification, OrderCreated, PaymentFailed, PaymentSucceeded, Ref, StockRejected, StockReleased,
    StockReserved, new_event_id, notification_kind,
};
use common::extract::{Json, Path};
use common::{ApiError, Mode, correlation, db};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::migrate::Migrator;
use sqlx::{PgConnection, PgPool};

use crate::context::Ctx;
use crate::email;

pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/inventory");

/// Seed 001: an alert when a product has this many units or fewer left.
const LOW_STOCK: i32 = 10;
/// Who receives stock alerts (seed 001).
const ALERT_RECIPIENT: &str = "admin@company.com";
/// Anonymous reservations (peer 003's clients send no order id) get a reference of their own.
const ANONYMOUS: &str = "anon-";

const RESERVER: &str = "inventory_reserve";
const RELEASER: &str = "inventory_release";
const SELLER: &str = "inventory_commit";

const SEED: &str = "INSERT INTO stock (product_id, sku, name, price, category, available) VALUES
    (1, 'prod001', 'Laptop', 999.99, 'Electronics', 50),
    (2, 'prod002', 'Mouse', 29.99, 'Electronics', 100),
    (3, 'prod003', 'Keyboard', 79.99, 'Electronics', 75),
    (4, 'prod004', 'NoteBook', 15.00, 'Books', 1)";

pub fn routes(_mode: Mode) -> Router<Ctx> {
    Router::new()
        .route("/reserve_stock", post(reserve_stock))
        .route("/compensate_stock", post(compensate_stock))
        .route("/commit_stock", post(commit_stock))
        .route("/reservations", post(create_reservation))
        .route(
            "/reservations/{order_ref}/release",
            post(release_reservation),
        )
        .route("/reservations/{order_ref}/commit", post(commit_reservation))
        .route("/inventory", get(list_inventory))
        .route("/inventory/{product_id}", get(get_inventory))
        .route("/products", get(list_products))
        .route("/products/{product_id}", get(get_product))
        .route(
            "/products/{product_id}/stock",
            get(get_stock).put(adjust_stock),
        )
        .route("/products/category/{category}", get(products_in_category))
}

pub fn consumers(ctx: &Ctx) -> Vec<tokio::task::JoinHandle<()>> {
    let spawn = |queue: &'static str, handler: consume::Handler| {
        consume::spawn(
            ctx.broker.clone(),
            queue,
            ctx.db_consumer_options(),
            handler,
            ctx.shutdown.clone(),
        )
    };
    let c = ctx.clone();
    let reserve = consume::handler(move |m| on_order_created(c.clone(), m));
    let c = ctx.clone();
    let release = consume::handler(move |m| on_payment_failed(c.clone(), m));
    let c = ctx.clone();
    let sell = consume::handler(move |m| on_payment_succeeded(c.clone(), m));
    vec![
        spawn(ORDER_CREATED, reserve),
        spawn(INVENTORY_PAYMENT_FAILED, release),
        spawn(INVENTORY_PAYMENT_SUCCEEDED, sell),
    ]
}

pub async fn reset(db: &PgPool) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query("TRUNCATE reservations, processed_events")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM stock").execute(&mut *tx).await?;
    sqlx::query(SEED).execute(&mut *tx).await?;
    tx.commit().await
}

// ---------------------------------------------------------------------------------------
// Domain: stock moves.

/// Why stock could not be taken.
#[derive(Debug)]
enum StockError {
    UnknownProduct(String),
    Insufficient {
        product: String,
        requested: i32,
        available: i32,
    },
    Db(sqlx::Error),
}

impl From<sqlx::Error> for StockError {
    fn from(err: sqlx::Error) -> Self {
        StockError::Db(err)
    }
}

impl std::fmt::Display for StockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StockError::UnknownProduct(p) => write!(f, "Product {p} not found"),
            StockError::Insufficient { product, .. } => {
                write!(f, "Insufficient stock for product {product}")
            }
            StockError::Db(e) => write!(f, "database error: {e}"),
        }
    }
}

impl From<StockError> for ApiError {
    fn from(err: StockError) -> Self {
        match err {
            StockError::UnknownProduct(_) => ApiError::not_found(err.to_string()),
            StockError::Insufficient {
                ref product,
                requested,
                available,
            } => ApiError::conflict(json!({
                "message": err.to_string(),
                "product_id": product,
                "requested": requested,
                "available": available,
            })),
            StockError::Db(e) => e.into(),
        }
    }
}

/// A product's figures after a change.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
struct Line {
    product_id: i64,
    sku: String,
    name: String,
    price: f64,
    quantity: i32,
    available: i32,
    reserved: i32,
    sold: i32,
}

const LINE_COLUMNS: &str = "product_id, sku, name, price, available, reserved, sold";

/// Numeric ids (002/003/004) and seed 001's skus (`prod001`) name the same rows.
async fn resolve(conn: &mut PgConnection, product: &Ref) -> Result<i64, StockError> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT product_id FROM stock WHERE product_id = $1 OR sku = $2")
            .bind(product.as_number().unwrap_or(-1))
            .bind(product.key())
            .fetch_optional(&mut *conn)
            .await?;
    id.ok_or_else(|| StockError::UnknownProduct(product.key()))
}

/// Takes `items` for `order_ref`, all or nothing (the caller's transaction rolls back on
/// error). `sell` skips the reserved state (seed 001's orders are confirmed at once). A
/// repeated call for the same order takes nothing more and reports the current figures.
async fn take(
    conn: &mut PgConnection,
    order_ref: &str,
    items: &[(Ref, i32)],
    sell: bool,
) -> Result<Vec<Line>, StockError> {
    // Merged per product and in id order: one row per product and order, and concurrent
    // multi-item orders lock rows in the same order (no deadlock).
    let mut merged: BTreeMap<i64, (Ref, i32)> = BTreeMap::new();
    for (product, quantity) in items {
        let id = resolve(conn, product).await?;
        let entry = merged.entry(id).or_insert((product.clone(), 0));
        entry.1 = entry.1.saturating_add(*quantity);
    }
    let status = if sell { "committed" } else { "reserved" };
    let mut lines = Vec::with_capacity(merged.len());
    for (id, (product, quantity)) in merged {
        let fresh = sqlx::query(
            "INSERT INTO reservations (order_ref, product_id, quantity, status)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(order_ref)
        .bind(id)
        .bind(quantity)
        .bind(status)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        let line: Option<Line> = if fresh {
            // The one statement that takes stock: it cannot go below zero, even under
            // concurrency, because the condition and the change are one atomic UPDATE.
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE stock SET available = available - $2,
                     reserved = reserved + CASE WHEN $3::bool THEN 0 ELSE $2 END,
                     sold = sold + CASE WHEN $3::bool THEN $2 ELSE 0 END,
                     updated_at = now()
                 WHERE product_id = $1 AND available >= $2
                 RETURNING $2::int AS quantity, {LINE_COLUMNS}"
            )))
            .bind(id)
            .bind(quantity)
            .bind(sell)
            .fetch_optional(&mut *conn)
            .await?
        } else {
            Some(current_line(conn, id, quantity).await?)
        };
        match line {
            Some(line) => lines.push(line),
            None => {
                let available: i32 =
                    sqlx::query_scalar("SELECT available FROM stock WHERE product_id = $1")
                        .bind(id)
                        .fetch_one(&mut *conn)
                        .await?;
                return Err(StockError::Insufficient {
                    product: product.key(),
                    requested: quantity,
                    available,
                });
            }
        }
    }
    Ok(lines)
}

async fn current_line(conn: &mut PgConnection, id: i64, quantity: i32) -> sqlx::Result<Line> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT $2::int AS quantity, {LINE_COLUMNS} FROM stock WHERE product_id = $1"
    )))
    .bind(id)
    .bind(quantity)
    .fetch_one(&mut *conn)
    .await
}

/// What happens to a reservation when the order's payment is settled.
#[derive(Clone, Copy)]
enum Settle {
    /// Payment failed: the units go back to `available`.
    Release,
    /// Payment succeeded: the units are sold.
    Commit,
}

/// Settles what `order_ref` still holds reserved; empty when it holds nothing (never
/// reserved, or settled before: repeating is harmless).
async fn settle(conn: &mut PgConnection, order_ref: &str, how: Settle) -> sqlx::Result<Vec<Line>> {
    let (status, change) = match how {
        Settle::Release => ("released", "available = available + $2"),
        Settle::Commit => ("committed", "sold = sold + $2"),
    };
    let mut held: Vec<(i64, i32)> = sqlx::query_as(
        "UPDATE reservations SET status = $2, updated_at = now()
         WHERE order_ref = $1 AND status = 'reserved' RETURNING product_id, quantity",
    )
    .bind(order_ref)
    .bind(status)
    .fetch_all(&mut *conn)
    .await?;
    held.sort_unstable();
    let mut lines = Vec::with_capacity(held.len());
    for (id, quantity) in held {
        // The reservation row proves the units are in `reserved`; the CHECK would refuse
        // anything else rather than let a figure go negative.
        let line: Line = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE stock SET reserved = reserved - $2, {change}, updated_at = now()
             WHERE product_id = $1 RETURNING $2::int AS quantity, {LINE_COLUMNS}"
        )))
        .bind(id)
        .bind(quantity)
        .fetch_one(&mut *conn)
        .await?;
        lines.push(line);
    }
    Ok(lines)
}

/// Sends seed 001's low-stock / out-of-stock alerts for the lines that dropped to ≤ 10.
/// Sync mode posts them to the notification service after the fact (a slow or absent
/// notifier must not hold the order); async mode publishes them durably before answering.
async fn alert_if_low(ctx: &Ctx, lines: &[Line]) {
    for line in lines.iter().filter(|l| l.available <= LOW_STOCK) {
        let (kind, message) = if line.available == 0 {
            (
                notification_kind::OUT_OF_STOCK_ALERT,
                format!("Out of stock alert: {} is out of stock", line.name),
            )
        } else {
            (
                notification_kind::LOW_STOCK_ALERT,
                format!(
                    "Low stock alert: {} has only {} units left",
                    line.name, line.available
                ),
            )
        };
        let alert = Notification {
            event_id: new_event_id(),
            kind: kind.to_owned(),
            recipient: ALERT_RECIPIENT.to_owned(),
            message,
            order_id: None,
            user_id: None,
            total_amount: None,
            product_id: Some(line.sku.clone()),
            product_name: Some(line.name.clone()),
            current_stock: Some(i64::from(line.available)),
            timestamp: Utc::now(),
        };
        match ctx.mode() {
            Mode::Async => {
                if let Err(err) = email::deliver_notification(ctx, &alert).await {
                    tracing::warn!(error = ?err.detail, kind, "stock alert not delivered");
                }
            }
            Mode::Sync => {
                let ctx = ctx.clone();
                let id = correlation::current().unwrap_or_else(correlation::new_id);
                tokio::spawn(correlation::scope(id, async move {
                    if let Err(err) = email::deliver_notification(&ctx, &alert).await {
                        tracing::warn!(error = ?err.detail, "stock alert not delivered");
                    }
                }));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTTP: peer 003's reservation API and our multi-item one.

/// Peer 003's body, plus an optional `order_id` that makes the call idempotent per order.
#[derive(Deserialize)]
struct StockRequest {
    product_id: Ref,
    #[serde(default = "one")]
    quantity: i32,
    order_id: Option<Ref>,
}

fn one() -> i32 {
    1
}

fn valid_quantity(quantity: i32) -> Result<i32, ApiError> {
    if (1..=1_000_000).contains(&quantity) {
        Ok(quantity)
    } else {
        Err(ApiError::unprocessable(json!([{
            "type": "greater_than", "loc": ["body", "quantity"],
            "msg": "quantity must be within 1..=1000000",
        }])))
    }
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

async fn reserve_stock(
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
async fn compensate_stock(
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

#[derive(Deserialize)]
struct OrderRefBody {
    order_id: Ref,
}

async fn commit_stock(
    State(ctx): State<Ctx>,
    Json(body): Json<OrderRefBody>,
) -> Result<Json<Value>, ApiError> {
    settle_http(&ctx, &body.order_id.key(), Settle::Commit).await
}

async fn release_reservation(
    State(ctx): State<Ctx>,
    Path(order_ref): Path<String>,
) -> Result<Json<Value>, ApiError> {
    settle_http(&ctx, &order_ref, Settle::Release).await
}

async fn commit_reservation(
    State(ctx): State<Ctx>,
    Path(order_ref): Path<String>,
) -> Result<Json<Value>, ApiError> {
    settle_http(&ctx, &order_ref, Settle::Commit).await
}

async fn settle_http(ctx: &Ctx, order_ref: &str, how: Settle) -> Result<Json<Value>, ApiError> {
    let mut tx = ctx.db.begin().await?;
    let lines = settle(&mut tx, order_ref, how).await?;
    tx.commit().await?;
    let wanted = match how {
        Settle::Release => "released",
        Settle::Commit => "committed",
    };
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

#[derive(Deserialize)]
struct ReservationRequest {
    order_id: Ref,
    items: Vec<ReservationItem>,
    /// Sell at once instead of holding (seed 001's orders are confirmed immediately).
    #[serde(default)]
    commit: bool,
}

#[derive(Deserialize)]
struct ReservationItem {
    product_id: Ref,
    quantity: i32,
}

/// All items of one order, all or nothing: 409 names the first product short of stock.
async fn create_reservation(
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
        "status": if body.commit { "committed" } else { "reserved" },
        "order_id": order_ref,
        "items": lines,
        "timestamp": Utc::now(),
    })))
}

// ---------------------------------------------------------------------------------------
// HTTP: reads (peer 003's `/inventory`, seed 001's `/products…`) and 001's stock adjustment.

#[derive(Serialize, sqlx::FromRow)]
struct Product {
    id: i64,
    sku: String,
    name: String,
    price: f64,
    category: String,
    available: i32,
    reserved: i32,
    sold: i32,
    updated_at: DateTime<Utc>,
}

impl Product {
    /// The superset body: 001's `product_id` (its string id) and `stock`, plus our figures.
    fn body(&self) -> Value {
        json!({
            "id": self.id,
            "product_id": self.sku,
            "sku": self.sku,
            "name": self.name,
            "price": self.price,
            "category": self.category,
            "stock": self.available,
            "available": self.available,
            "reserved": self.reserved,
            "sold": self.sold,
            "last_updated": self.updated_at,
        })
    }
}

const PRODUCT_COLUMNS: &str =
    "product_id AS id, sku, name, price, category, available, reserved, sold, updated_at";

async fn product(ctx: &Ctx, product_id: &str) -> Result<Product, ApiError> {
    let key = Ref::Text(product_id.to_owned());
    let row: Option<Product> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM stock WHERE product_id = $1 OR sku = $2"
    )))
    .bind(key.as_number().unwrap_or(-1))
    .bind(key.key())
    .fetch_optional(&ctx.db)
    .await?;
    row.ok_or_else(|| ApiError::not_found("Product not found"))
}

async fn all_products(ctx: &Ctx) -> Result<Vec<Product>, ApiError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM stock ORDER BY product_id"
    )))
    .fetch_all(&ctx.db)
    .await?)
}

async fn list_inventory(State(ctx): State<Ctx>) -> Result<Json<Value>, ApiError> {
    let rows: Vec<Value> = all_products(&ctx)
        .await?
        .iter()
        .map(Product::body)
        .collect();
    Ok(Json(json!({ "count": rows.len(), "inventory": rows })))
}

async fn get_inventory(
    State(ctx): State<Ctx>,
    Path(product_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(product(&ctx, &product_id).await?.body()))
}

async fn list_products(State(ctx): State<Ctx>) -> Result<Json<Value>, ApiError> {
    let rows: Vec<Value> = all_products(&ctx)
        .await?
        .iter()
        .map(Product::body)
        .collect();
    Ok(Json(json!({ "products": rows })))
}

async fn get_product(
    State(ctx): State<Ctx>,
    Path(product_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(product(&ctx, &product_id).await?.body()))
}

async fn products_in_category(
    State(ctx): State<Ctx>,
    Path(category): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rows: Vec<Product> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM stock WHERE lower(category) = lower($1) ORDER BY product_id"
    )))
    .bind(&category)
    .fetch_all(&ctx.db)
    .await?;
    let rows: Vec<Value> = rows.iter().map(Product::body).collect();
    Ok(Json(json!({ "products": rows })))
}

async fn get_stock(
    State(ctx): State<Ctx>,
    Path(product_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = product(&ctx, &product_id).await?;
    Ok(Json(json!({
        "product_id": p.sku,
        "id": p.id,
        "product_name": p.name,
        "stock": p.available,
        "available": p.available,
        "reserved": p.reserved,
        "sold": p.sold,
        "last_updated": p.updated_at,
    })))
}

#[derive(Deserialize)]
struct StockAdjustment {
    /// Signed change of the available stock (seed 001).
    quantity: i32,
}

/// Seed 001's stock edit: a signed change of `available` (a restock or a write-off, outside
/// any order); 400 "Insufficient stock" when it would go below zero, as in 001.
async fn adjust_stock(
    State(ctx): State<Ctx>,
    Path(product_id): Path<String>,
    Json(body): Json<StockAdjustment>,
) -> Result<Json<Value>, ApiError> {
    let p = product(&ctx, &product_id).await?;
    let changed: Option<(i32, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE stock SET available = available + $2, updated_at = now()
         WHERE product_id = $1 AND available + $2 >= 0 RETURNING available, updated_at",
    )
    .bind(p.id)
    .bind(body.quantity)
    .fetch_optional(&ctx.db)
    .await?;
    let (new_stock, updated_at) =
        changed.ok_or_else(|| ApiError::bad_request("Insufficient stock"))?;
    if body.quantity < 0 {
        let mut conn = ctx.db.acquire().await?;
        let line = current_line(&mut conn, p.id, -body.quantity).await?;
        drop(conn);
        alert_if_low(&ctx, &[line]).await;
    }
    Ok(Json(json!({
        "product_id": p.sku,
        "id": p.id,
        "previous_stock": new_stock - body.quantity,
        "new_stock": new_stock,
        "updated_at": updated_at,
    })))
}

// ---------------------------------------------------------------------------------------
// Async: the saga's consumers.

/// Reserves for a new order and says so; an order that cannot be served is rejected (peer
/// 002 reserved blindly). The reservation commits before the announcement, so the stock row
/// is never locked while the broker confirms (concurrent orders for one product would queue
/// behind each other); the announcement is made from the stored state, so a redelivery after
/// a failed announcement announces again. Its id derives from the order: the payment and
/// order services see it once however often it is sent.
async fn on_order_created(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: OrderCreated = incoming.json()?;
    let order_ref = event.order_id.to_string();
    let mut tx = ctx.db.begin().await?;
    let fresh = db::claim_event(&mut tx, RESERVER, &incoming.event_id).await?;
    let mut lines = Vec::new();
    let mut rejection = None;
    if fresh {
        // A savepoint: a rejection undoes the partial take but keeps the claim.
        let mut attempt = sqlx::Connection::begin(&mut *tx).await?;
        let items = [(Ref::Number(event.product_id), event.quantity)];
        match take(&mut attempt, &order_ref, &items, false).await {
            Ok(taken) => {
                attempt.commit().await?;
                lines = taken;
            }
            Err(StockError::Db(err)) => return Err(err.into()),
            Err(refused) => {
                attempt.rollback().await?;
                rejection = Some(refused.to_string());
            }
        }
    }
    tx.commit().await?;
    if !fresh {
        incoming.note_duplicate();
    }
    let reserved: bool = if fresh {
        rejection.is_none()
    } else {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM reservations WHERE order_ref = $1)")
            .bind(&order_ref)
            .fetch_one(&ctx.db)
            .await?
    };
    if reserved {
        let announcement = StockReserved {
            event_id: format!("reserved-{}", event.order_id),
            order_id: event.order_id,
            product_id: event.product_id,
            quantity: event.quantity,
            reserved_at: Utc::now(),
        };
        publish(&ctx, STOCK_RESERVED, &announcement.event_id, &announcement).await?;
    } else {
        let reason = rejection.unwrap_or_else(|| {
            format!(
                "Stock could not be reserved for product {}",
                event.product_id
            )
        });
        let announcement = StockRejected {
            event_id: format!("rejected-{}", event.order_id),
            order_id: event.order_id,
            product_id: event.product_id,
            quantity: event.quantity,
            reason,
            timestamp: Utc::now(),
        };
        publish(&ctx, STOCK_REJECTED, &announcement.event_id, &announcement).await?;
    }
    alert_if_low(&ctx, &lines).await;
    Ok(())
}

/// The compensation: gives the units back and announces it with the real figures (commit
/// first, then announce from the reservation row, as `on_order_created`).
async fn on_payment_failed(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: PaymentFailed = incoming.json()?;
    let order_ref = event.order_id.to_string();
    let mut tx = ctx.db.begin().await?;
    let fresh = db::claim_event(&mut tx, RELEASER, &incoming.event_id).await?;
    let lines = if fresh {
        settle(&mut tx, &order_ref, Settle::Release).await?
    } else {
        Vec::new()
    };
    tx.commit().await?;
    if !fresh {
        incoming.note_duplicate();
    }
    let released: Option<(i64, i32)> = match lines.first() {
        Some(line) => Some((line.product_id, line.quantity)),
        None => {
            sqlx::query_as(
                "SELECT product_id, quantity FROM reservations
                 WHERE order_ref = $1 AND status = 'released' ORDER BY product_id LIMIT 1",
            )
            .bind(&order_ref)
            .fetch_optional(&ctx.db)
            .await?
        }
    };
    match released {
        Some((product_id, quantity)) => {
            let announcement = StockReleased {
                event_id: format!("released-{}", event.order_id),
                order_id: event.order_id,
                product_id,
                quantity,
                reason: "payment_failed".to_owned(),
                released_at: Utc::now(),
            };
            publish(&ctx, STOCK_RELEASED, &announcement.event_id, &announcement).await?;
        }
        None => tracing::warn!(
            order_id = event.order_id,
            "payment failed for an order without a reservation"
        ),
    }
    Ok(())
}

async fn on_payment_succeeded(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: PaymentSucceeded = incoming.json()?;
    let mut tx = ctx.db.begin().await?;
    if !db::claim_event(&mut tx, SELLER, &incoming.event_id).await? {
        incoming.note_duplicate();
        return Ok(());
    }
    settle(&mut tx, &event.order_id.to_string(), Settle::Commit).await?;
    tx.commit().await?;
    Ok(())
}

async fn publish(
    ctx: &Ctx,
    queue: &'static str,
    event_id: &str,
    body: &impl Serialize,
) -> anyhow::Result<()> {
    ctx.broker
        .publish(Outgoing::event(
            DEFAULT_EXCHANGE,
            queue,
            event_id.to_owned(),
            body,
        ))
        .await?;
    Ok(())
}
