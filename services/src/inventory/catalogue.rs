//! The product catalogue as inventory holds it: `/inventory…` (the saga's stock view) and
//! `/products…` (the stock orders' product reads), and the stock adjustment
//! `PUT /products/{id}/stock` (a restock or a write-off, outside any order).

use axum::extract::State;
use chrono::{DateTime, Utc};
use common::ApiError;
use common::error::ErrorEnvelope;
use common::events::Ref;
use common::extract::{Json, Path};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::alerts::alert_if_low;
use super::stock::current_line;
use crate::context::Ctx;

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

#[utoipa::path(get, path = "/inventory", tag = "inventory",
    responses((status = 200, description = "every product's stock", body = Object)))]
pub(super) async fn list_inventory(State(ctx): State<Ctx>) -> Result<Json<Value>, ApiError> {
    let rows: Vec<Value> = all_products(&ctx)
        .await?
        .iter()
        .map(Product::body)
        .collect();
    Ok(Json(json!({ "count": rows.len(), "inventory": rows })))
}

#[utoipa::path(get, path = "/inventory/{product_id}", tag = "inventory", params(("product_id" = String, Path, description = "numeric id or sku (prod001)")),
    responses((status = 200, description = "the product's stock", body = Object), (status = 404, description = "Product … not found", body = ErrorEnvelope)))]
pub(super) async fn get_inventory(
    State(ctx): State<Ctx>,
    Path(product_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(product(&ctx, &product_id).await?.body()))
}

#[utoipa::path(get, path = "/products", tag = "inventory",
    responses((status = 200, description = "the catalogue (seed 001's shape)", body = Object)))]
pub(super) async fn list_products(State(ctx): State<Ctx>) -> Result<Json<Value>, ApiError> {
    let rows: Vec<Value> = all_products(&ctx)
        .await?
        .iter()
        .map(Product::body)
        .collect();
    Ok(Json(json!({ "products": rows })))
}

#[utoipa::path(get, path = "/products/{product_id}", tag = "inventory", params(("product_id" = String, Path, description = "numeric id or sku (prod001)")),
    responses((status = 200, description = "the product", body = Object), (status = 404, description = "Product … not found", body = ErrorEnvelope)))]
pub(super) async fn get_product(
    State(ctx): State<Ctx>,
    Path(product_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(product(&ctx, &product_id).await?.body()))
}

#[utoipa::path(get, path = "/products/category/{category}", tag = "inventory",
    params(("category" = String, Path, description = "e.g. electronics")),
    responses((status = 200, description = "the products of that category (maybe none)", body = Object)))]
pub(super) async fn products_in_category(
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

#[utoipa::path(get, path = "/products/{product_id}/stock", tag = "inventory", params(("product_id" = String, Path, description = "numeric id or sku (prod001)")),
    responses((status = 200, description = "`{product_id, available, reserved, sold, …}`", body = Object), (status = 404, description = "Product … not found", body = ErrorEnvelope)))]
pub(super) async fn get_stock(
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

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct StockAdjustment {
    /// Signed change of the available stock (seed 001).
    quantity: i32,
}

/// Seed 001's stock edit: a signed change of `available` (a restock or a write-off, outside
/// any order); 400 "Insufficient stock" when it would go below zero, as in 001.
#[utoipa::path(put, path = "/products/{product_id}/stock", tag = "inventory", params(("product_id" = String, Path, description = "numeric id or sku (prod001)")),
    request_body = StockAdjustment, responses(
    (status = 200, description = "the stock after the change", body = Object),
    (status = 400, description = "Insufficient stock: the change would go below zero", body = ErrorEnvelope), (status = 404, description = "Product … not found", body = ErrorEnvelope),
))]
pub(super) async fn adjust_stock(
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
