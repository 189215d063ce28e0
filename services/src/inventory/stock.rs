//! Stock moves, shared by every flow that takes or gives back stock: take an order's items
//! (all or nothing, idempotent per order), settle its reservation (release or sell), and
//! read a product's current figures. Each move is one [`Change`] applied by [`apply`], the
//! one statement that writes a product's figures.

use common::ApiError;
use common::events::Ref;
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;

use super::rules::{Change, Settle, merge_items, taken_status};

/// Why stock could not be taken.
#[derive(Debug)]
pub(super) enum StockError {
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
pub(super) struct Line {
    pub(super) product_id: i64,
    pub(super) sku: String,
    pub(super) name: String,
    pub(super) price: f64,
    pub(super) quantity: i32,
    pub(super) available: i32,
    pub(super) reserved: i32,
    pub(super) sold: i32,
}

const LINE_COLUMNS: &str = "product_id, sku, name, price, available, reserved, sold";

/// Numeric ids (002/003/004) and seed 001's skus (`prod001`) name the same rows.
pub(super) async fn resolve(conn: &mut PgConnection, product: &Ref) -> Result<i64, StockError> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT product_id FROM stock WHERE product_id = $1 OR sku = $2")
            .bind(product.as_number().unwrap_or(-1))
            .bind(product.key())
            .fetch_optional(&mut *conn)
            .await?;
    id.ok_or_else(|| StockError::UnknownProduct(product.key()))
}

/// Applies `change` to product `id` unless it would take `available` below zero; `None`
/// when refused. The condition and the change are one atomic UPDATE, so even concurrent
/// orders cannot take stock below zero (and the CHECKs refuse any other figure going
/// negative). `quantity` is the line's quantity, reported with the new figures.
async fn apply(
    conn: &mut PgConnection,
    id: i64,
    change: Change,
    quantity: i32,
) -> sqlx::Result<Option<Line>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE stock SET available = available + $2, reserved = reserved + $3,
             sold = sold + $4, updated_at = now()
         WHERE product_id = $1 AND available + $2 >= 0
         RETURNING $5::int AS quantity, {LINE_COLUMNS}"
    )))
    .bind(id)
    .bind(change.available)
    .bind(change.reserved)
    .bind(change.sold)
    .bind(quantity)
    .fetch_optional(&mut *conn)
    .await
}

/// Takes `items` for `order_ref`, all or nothing (the caller's transaction rolls back on
/// error). `sell` skips the reserved state (seed 001's orders are confirmed at once). A
/// repeated call for the same order takes nothing more and reports the current figures.
pub(super) async fn take(
    conn: &mut PgConnection,
    order_ref: &str,
    items: &[(Ref, i32)],
    sell: bool,
) -> Result<Vec<Line>, StockError> {
    let mut resolved = Vec::with_capacity(items.len());
    for (product, quantity) in items {
        resolved.push((resolve(conn, product).await?, product.clone(), *quantity));
    }
    let merged = merge_items(resolved);
    let mut lines = Vec::with_capacity(merged.len());
    for (id, (product, quantity)) in merged {
        let fresh = sqlx::query(
            "INSERT INTO reservations (order_ref, product_id, quantity, status)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(order_ref)
        .bind(id)
        .bind(quantity)
        .bind(taken_status(sell))
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        let line = if fresh {
            apply(conn, id, Change::take(quantity, sell), quantity).await?
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

pub(super) async fn current_line(
    conn: &mut PgConnection,
    id: i64,
    quantity: i32,
) -> sqlx::Result<Line> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT $2::int AS quantity, {LINE_COLUMNS} FROM stock WHERE product_id = $1"
    )))
    .bind(id)
    .bind(quantity)
    .fetch_one(&mut *conn)
    .await
}

/// Settles what `order_ref` still holds reserved; empty when it holds nothing (never
/// reserved, or settled before: repeating is harmless).
pub(super) async fn settle(
    conn: &mut PgConnection,
    order_ref: &str,
    how: Settle,
) -> sqlx::Result<Vec<Line>> {
    let mut held: Vec<(i64, i32)> = sqlx::query_as(
        "UPDATE reservations SET status = $2, updated_at = now()
         WHERE order_ref = $1 AND status = 'reserved' RETURNING product_id, quantity",
    )
    .bind(order_ref)
    .bind(how.status())
    .fetch_all(&mut *conn)
    .await?;
    held.sort_unstable();
    let mut lines = Vec::with_capacity(held.len());
    for (id, quantity) in held {
        // The reservation row proves the units are in `reserved`: a settle never takes
        // `available` down, so it is never refused.
        let line = apply(conn, id, Change::settle(quantity, how), quantity)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        lines.push(line);
    }
    Ok(lines)
}
