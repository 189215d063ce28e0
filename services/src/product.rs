//! Product service (S3): the catalogue, and the fan-out that follows an update.
//!
//! Sync: `PUT /products/{id}` commits, then calls search `/reindex`, cache
//! `/invalidate_cache` and analytics `/log_update` one after another; a failing step is
//! reported in `warnings`, never fails the update. Async: the update and one
//! `ProductUpdated` on the `product_updates` fanout commit together once the broker
//! confirmed; the three consumers do the rest in parallel.
//!
//! A product is addressed by its numeric id or its sku (`prod001`), as docs/contract.md, Bodies, asks.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use common::broker::topology::PRODUCT_UPDATES;
use common::error::ErrorEnvelope;
use common::events::{ProductUpdated, new_event_id};
use common::extract::{Json, Path};
use common::{ApiError, Mode, http};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::migrate::Migrator;
use sqlx::{PgExecutor, PgPool};

use crate::context::Ctx;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/product");

const SEED: &str = include_str!("../migrations/product/0002_seed.sql");

pub fn routes(mode: Mode) -> OpenApiRouter<Ctx> {
    let update = match mode {
        Mode::Sync => routes!(get_product, update_sync),
        Mode::Async => routes!(get_product, update_async),
    };
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(update)
}

pub async fn reset(db: &PgPool) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query("TRUNCATE products RESTART IDENTITY")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(SEED).execute(&mut *tx).await?;
    tx.commit().await
}

#[derive(sqlx::FromRow, Serialize, utoipa::ToSchema)]
struct Product {
    id: i64,
    sku: String,
    name: String,
    price: Option<f64>,
    category: Option<String>,
    stock: i64,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, sku, name, price, category, stock, updated_at";

/// Numeric id or sku: the row's id, or 404.
async fn resolve<'e>(db: impl PgExecutor<'e>, key: &str) -> Result<i64, ApiError> {
    let id: Option<i64> = match key.parse::<i64>() {
        Ok(id) => sqlx::query_scalar("SELECT id FROM products WHERE id = $1").bind(id),
        Err(_) => sqlx::query_scalar("SELECT id FROM products WHERE sku = $1").bind(key),
    }
    .fetch_optional(db)
    .await?;
    id.ok_or_else(|| ApiError::not_found("Product not found"))
}

#[utoipa::path(get, path = "/products", tag = "product",
    responses((status = 200, description = "`{count, products}`", body = Object)))]
async fn list_products(State(ctx): State<Ctx>) -> Result<Json<Value>, ApiError> {
    let products: Vec<Product> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM products ORDER BY id"
    )))
    .fetch_all(&ctx.db)
    .await?;
    Ok(Json(
        json!({ "count": products.len(), "products": products }),
    ))
}

#[utoipa::path(get, path = "/products/{id}", tag = "product", params(("id" = String, Path, description = "numeric id or sku (e.g. 1 or prod001)")), responses(
    (status = 200, description = "the product", body = Product),
    (status = 404, description = "Product not found", body = ErrorEnvelope),
))]
async fn get_product(
    State(ctx): State<Ctx>,
    Path(key): Path<String>,
) -> Result<Json<Product>, ApiError> {
    let id = resolve(&ctx.db, &key).await?;
    let product = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM products WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(&ctx.db)
    .await?;
    Ok(Json(product))
}

/// Fields a client may set; absent ones stay as they are (peer 003's PUT model, plus the
/// superset fields of docs/contract.md, Bodies).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ProductPatch {
    name: Option<String>,
    stock: Option<i64>,
    price: Option<f64>,
    category: Option<String>,
}

impl ProductPatch {
    fn validate(&self) -> Result<(), ApiError> {
        let mut problems = Vec::new();
        if let Some(name) = &self.name
            && (name.trim().is_empty() || name.len() > 200)
        {
            problems.push(("name", "name must be 1 to 200 characters"));
        }
        if self.stock.is_some_and(|s| s < 0) {
            problems.push(("stock", "stock must not be negative"));
        }
        // The range also refuses NaN and the infinities: neither is in it.
        if self.price.is_some_and(|p| !(0.0..=1e9).contains(&p)) {
            problems.push(("price", "price must be a number within 0..=1e9"));
        }
        if self.category.as_ref().is_some_and(|c| c.len() > 100) {
            problems.push(("category", "category must be at most 100 characters"));
        }
        if problems.is_empty() {
            return Ok(());
        }
        let detail: Vec<Value> = problems
            .into_iter()
            .map(
                |(field, msg)| json!({ "type": "value_error", "loc": ["body", field], "msg": msg }),
            )
            .collect();
        Err(ApiError::unprocessable(detail))
    }
}

async fn apply<'e>(
    db: impl PgExecutor<'e>,
    id: i64,
    patch: &ProductPatch,
) -> sqlx::Result<Product> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE products SET name = COALESCE($2, name), stock = COALESCE($3, stock),
             price = COALESCE($4, price), category = COALESCE($5, category), updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(&patch.name)
    .bind(patch.stock)
    .bind(patch.price)
    .bind(&patch.category)
    .fetch_one(db)
    .await
}

fn updated_body(product: &Product, extra: Value) -> Value {
    let mut body = json!({
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "price": product.price,
        "category": product.category,
        "stock": product.stock,
        "message": "Product updated successfully",
        "timestamp": product.updated_at,
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body
}

/// Sync: updates, then calls search, cache and analytics in turn before answering.
#[utoipa::path(put, path = "/products/{id}", tag = "product", params(("id" = String, Path, description = "numeric id or sku (e.g. 1 or prod001)")), request_body = ProductPatch, responses(
    (status = 200, description = "updated; each peer call's outcome in the body", body = Object),
    (status = 404, description = "Product not found", body = ErrorEnvelope),
    (status = 422, description = "a field out of range or unknown, named in `detail[].loc`", body = ErrorEnvelope),
))]
async fn update_sync(
    State(ctx): State<Ctx>,
    Path(key): Path<String>,
    Json(patch): Json<ProductPatch>,
) -> Result<Json<Value>, ApiError> {
    patch.validate()?;
    let id = resolve(&ctx.db, &key).await?;
    // Committed before the fan-out: a slow or dead downstream never holds a connection.
    let product = apply(&ctx.db, id, &patch).await?;
    let peers = &ctx.settings.peers;
    let steps = [
        (
            "search reindex",
            "search",
            format!("{}/reindex", peers.search_url),
        ),
        (
            "cache invalidation",
            "cache",
            format!("{}/invalidate_cache", peers.cache_url),
        ),
        (
            "analytics update log",
            "analytics",
            format!("{}/log_update", peers.analytics_url),
        ),
    ];
    let mut warnings = Vec::new();
    for (step, service, url) in steps {
        let call = http::post_json(&ctx.http, service, &url, &json!({ "product_id": id })).await;
        warnings.extend(http::failure_warning(step, &call));
    }
    if !warnings.is_empty() {
        tracing::warn!(
            ?warnings,
            product_id = id,
            "product updated, fan-out incomplete"
        );
    }
    Ok(Json(updated_body(
        &product,
        json!({ "warnings": warnings }),
    )))
}

/// Async: updates and announces `ProductUpdated` to the three consumers.
#[utoipa::path(put, path = "/products/{id}", tag = "product", params(("id" = String, Path, description = "numeric id or sku (e.g. 1 or prod001)")), request_body = ProductPatch, responses(
    (status = 200, description = "updated; `event_published`, `event_id`", body = Object),
    (status = 404, description = "Product not found", body = ErrorEnvelope),
    (status = 422, description = "a field out of range or unknown, named in `detail[].loc`", body = ErrorEnvelope),
))]
async fn update_async(
    State(ctx): State<Ctx>,
    Path(key): Path<String>,
    Json(patch): Json<ProductPatch>,
) -> Result<Json<Value>, ApiError> {
    patch.validate()?;
    let mut tx = ctx.db.begin().await?;
    let id = resolve(&mut *tx, &key).await?;
    let product = apply(&mut *tx, id, &patch).await?;
    let event = ProductUpdated {
        event_id: new_event_id(),
        product_id: product.id,
        name: product.name.clone(),
        stock: product.stock,
        timestamp: product.updated_at,
    };
    ctx.broker
        .publish_event(PRODUCT_UPDATES, "", &event.event_id, &event)
        .await?;
    tx.commit().await?;
    Ok(Json(updated_body(
        &product,
        json!({ "event_published": true, "event_id": event.event_id }),
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    name: String,
    #[serde(default)]
    stock: i64,
    sku: Option<String>,
    price: Option<f64>,
    category: Option<String>,
}

/// Peer 002's create (no event). Without a sku, one is made from the id (`prod005`).
#[utoipa::path(post, path = "/products", tag = "product", request_body = NewProduct, responses(
    (status = 201, description = "created (no event)", body = Object),
    (status = 409, description = "a product with that sku exists", body = ErrorEnvelope),
    (status = 422, description = "a field out of range or unknown", body = ErrorEnvelope),
))]
async fn create_product(
    State(ctx): State<Ctx>,
    Json(new): Json<NewProduct>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let patch = ProductPatch {
        name: Some(new.name.clone()),
        stock: Some(new.stock),
        price: new.price,
        category: new.category.clone(),
    };
    patch.validate()?;
    if let Some(sku) = &new.sku
        && (sku.is_empty() || sku.len() > 64 || sku.parse::<i64>().is_ok())
    {
        return Err(ApiError::unprocessable(
            "sku must be 1 to 64 characters and not a number (numbers are ids)",
        ));
    }
    let mut tx = ctx.db.begin().await?;
    let id: i64 = sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('products', 'id'))")
        .fetch_one(&mut *tx)
        .await?;
    let sku = new.sku.unwrap_or_else(|| format!("prod{id:03}"));
    let product: Option<Product> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO products (id, sku, name, price, category, stock) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (sku) DO NOTHING RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(&sku)
    .bind(new.name.trim())
    .bind(new.price)
    .bind(&new.category)
    .bind(new.stock)
    .fetch_optional(&mut *tx)
    .await?;
    let product =
        product.ok_or_else(|| ApiError::conflict(format!("a product with sku {sku:?} exists")))?;
    tx.commit().await?;
    let mut body = updated_body(&product, json!({ "event_published": false }));
    body["message"] = json!("Product created successfully");
    Ok((StatusCode::CREATED, Json(body)))
}
