//! Inventory service: owns stock (docs/contract.md, Data) for the saga (S5), the stock orders and alerts
//! (S8), and serves the product reads of both.
//!
//! Every unit is `available`, `reserved` (held for an order whose payment is pending) or
//! `sold`. Every change is one conditional UPDATE (`… WHERE available + change >= 0`), so
//! concurrent orders can never take stock below zero (peer 003 only counted reservations and
//! never checked), and a per-order `reservations` row makes reserve / release / commit
//! idempotent.
//!
//! - `rules`: the stock rules as pure functions (quantities, merging, moves, alert
//!   thresholds), unit tested without a database.
//! - `stock`: the stock moves on the database — take, settle, current figures.
//! - `reservations`: the reservation API over HTTP — the sync saga's `/reserve_stock`,
//!   `/compensate_stock`, `/commit_stock` and the stock orders' `/reservations…` (HTTP in
//!   both modes).
//! - `saga`: the async saga's consumers — `order_created_queue` → reserve →
//!   `stock_reserved_queue` (or `stock_rejected_queue`); `inventory_payment_failed_queue` →
//!   release → `stock_released_queue`; `inventory_payment_succeeded_queue` → sale.
//! - `catalogue`: `/inventory…`, `/products…` and the stock adjustment.
//! - `alerts`: stock alerts (≤ 10 units left, or none) to the notification service: over HTTP
//!   in sync mode, on the durable `notifications` queue in async mode.
//! - this file: the routes, the consumers and the seed stock.

mod alerts;
mod catalogue;
mod reservations;
mod rules;
mod saga;
mod stock;

use common::Mode;
use common::broker::topology::{
    INVENTORY_PAYMENT_FAILED, INVENTORY_PAYMENT_SUCCEEDED, ORDER_CREATED,
};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::context::Ctx;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/inventory");

const SEED: &str = "INSERT INTO stock (product_id, sku, name, price, category, available) VALUES
    (1, 'prod001', 'Laptop', 999.99, 'Electronics', 50),
    (2, 'prod002', 'Mouse', 29.99, 'Electronics', 100),
    (3, 'prod003', 'Keyboard', 79.99, 'Electronics', 75),
    (4, 'prod004', 'NoteBook', 15.00, 'Books', 1)";

pub fn routes(_mode: Mode) -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(reservations::reserve_stock))
        .routes(routes!(reservations::compensate_stock))
        .routes(routes!(reservations::commit_stock))
        .routes(routes!(reservations::create_reservation))
        .routes(routes!(reservations::release_reservation))
        .routes(routes!(reservations::commit_reservation))
        .routes(routes!(catalogue::list_inventory))
        .routes(routes!(catalogue::get_inventory))
        .routes(routes!(catalogue::list_products))
        .routes(routes!(catalogue::get_product))
        .routes(routes!(catalogue::get_stock, catalogue::adjust_stock))
        .routes(routes!(catalogue::products_in_category))
}

pub fn consumers(ctx: &Ctx) -> Vec<tokio::task::JoinHandle<()>> {
    let options = ctx.db_consumer_options();
    vec![
        ctx.consume(ORDER_CREATED, options.clone(), saga::on_order_created),
        ctx.consume(
            INVENTORY_PAYMENT_FAILED,
            options.clone(),
            saga::on_payment_failed,
        ),
        ctx.consume(
            INVENTORY_PAYMENT_SUCCEEDED,
            options.clone(),
            saga::on_payment_succeeded,
        ),
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
