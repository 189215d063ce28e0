//! S5's choreographed saga, inventory's part (async mode): `order_created_queue` → reserve →
//! `stock_reserved_queue` (or `stock_rejected_queue`); `inventory_payment_failed_queue` →
//! release → `stock_released_queue`; `inventory_payment_succeeded_queue` → sale. Each
//! consumer claims its event with the stock move, so a redelivery moves nothing twice.

use chrono::Utc;
use common::broker::consume::Incoming;
use common::broker::topology::{DEFAULT_EXCHANGE, STOCK_REJECTED, STOCK_RELEASED, STOCK_RESERVED};
use common::events::{
    OrderCreated, PaymentFailed, PaymentSucceeded, Ref, StockRejected, StockReleased, StockReserved,
};

use super::alerts::alert_if_low;
use super::rules::Settle;
use super::stock::{StockError, settle, take};
use crate::context::Ctx;

const RESERVER: &str = "inventory_reserve";
const RELEASER: &str = "inventory_release";
const SELLER: &str = "inventory_commit";

/// Reserves for a new order and says so; an order that cannot be served is rejected (peer
/// 002 reserved blindly). The reservation commits before the announcement, so the stock row
/// is never locked while the broker confirms (concurrent orders for one product would queue
/// behind each other); the announcement is made from the stored state, so a redelivery after
/// a failed announcement announces again. Its id derives from the order: the payment and
/// order services see it once however often it is sent.
pub(super) async fn on_order_created(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: OrderCreated = incoming.json()?;
    let order_ref = event.order_id.to_string();
    let mut lines = Vec::new();
    let mut rejection = None;
    let fresh = match ctx.claim(RESERVER, &incoming).await? {
        Some(mut tx) => {
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
            tx.commit().await?;
            true
        }
        None => false,
    };
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
        ctx.broker
            .publish_event(
                DEFAULT_EXCHANGE,
                STOCK_RESERVED,
                &announcement.event_id,
                &announcement,
            )
            .await?;
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
        ctx.broker
            .publish_event(
                DEFAULT_EXCHANGE,
                STOCK_REJECTED,
                &announcement.event_id,
                &announcement,
            )
            .await?;
    }
    alert_if_low(&ctx, &lines).await;
    Ok(())
}

/// The compensation: gives the units back and announces it with the real figures (commit
/// first, then announce from the reservation row, as `on_order_created`).
pub(super) async fn on_payment_failed(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: PaymentFailed = incoming.json()?;
    let order_ref = event.order_id.to_string();
    let lines = match ctx.claim(RELEASER, &incoming).await? {
        Some(mut tx) => {
            let lines = settle(&mut tx, &order_ref, Settle::Release).await?;
            tx.commit().await?;
            lines
        }
        None => Vec::new(),
    };
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
            ctx.broker
                .publish_event(
                    DEFAULT_EXCHANGE,
                    STOCK_RELEASED,
                    &announcement.event_id,
                    &announcement,
                )
                .await?;
        }
        None => tracing::warn!(
            order_id = event.order_id,
            "payment failed for an order without a reservation"
        ),
    }
    Ok(())
}

pub(super) async fn on_payment_succeeded(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: PaymentSucceeded = incoming.json()?;
    let Some(mut tx) = ctx.claim(SELLER, &incoming).await? else {
        return Ok(());
    };
    settle(&mut tx, &event.order_id.to_string(), Settle::Commit).await?;
    tx.commit().await?;
    Ok(())
}
