//! S7's payments, for the two checkout shapes order's `/checkout` takes.
//!
//! - The pipeline checkout: `POST /payments/checkout` (sync) or the consumer of
//!   `payment_service_queue` (async, `order.order.created`), which waits
//!   `CHECKOUT_PAYMENT_DELAY_MS` and announces `payment.payment.processed` on
//!   `ecommerce_events`.
//! - The showdown checkout: `POST /pay` (sync) or the consumer of `order.created` (async),
//!   which waits `SHOWDOWN_PAYMENT_DELAY_MS` and answers on `payment.completed`.

use std::time::Duration;

use axum::extract::State;
use chrono::Utc;
use common::ApiError;
use common::broker::consume::Incoming;
use common::broker::topology::{
    DEFAULT_EXCHANGE, ECOMMERCE_EVENTS, RK_PAYMENT_PROCESSED, SHOWDOWN_PAYMENT_COMPLETED,
};
use common::error::ErrorEnvelope;
use common::events::{CheckoutOrderCreated, PaymentProcessed, ShowdownOrder, ShowdownPaid};
use common::extract::Json;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{OrderRef, short_id};
use crate::context::Ctx;

const CHECKOUT: &str = "checkout_payment";
const SHOWDOWN: &str = "showdown_payment";

/// Peer 004's transaction ids: "TXN-" and 12 upper-case hex digits.
fn checkout_transaction_id() -> String {
    short_id("TXN-").to_ascii_uppercase()
}

async fn record_checkout_payment(
    db: &mut sqlx::PgConnection,
    order_id: &str,
    amount: f64,
) -> sqlx::Result<(String, String)> {
    let (payment_id, transaction_id) = (short_id("pay_"), checkout_transaction_id());
    sqlx::query(
        "INSERT INTO payments (payment_id, order_id, amount, currency, status, transaction_id, completed_at, kind)
         VALUES ($1, $2, $3, 'USD', 'completed', $4, now(), 'checkout')",
    )
    .bind(&payment_id)
    .bind(order_id)
    .bind(amount)
    .bind(&transaction_id)
    .execute(&mut *db)
    .await?;
    Ok((payment_id, transaction_id))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct CheckoutPaymentRequest {
    order_id: i64,
    amount: f64,
}

#[utoipa::path(post, path = "/payments/checkout", tag = "payment", request_body = CheckoutPaymentRequest, responses(
    (status = 200, description = "completed: `{payment_id, order_id, amount, status, transaction_id, timestamp}`", body = Object),
    (status = 422, description = "amount must be a non-negative number", body = ErrorEnvelope),
))]
pub(super) async fn checkout_payment_sync(
    State(ctx): State<Ctx>,
    Json(body): Json<CheckoutPaymentRequest>,
) -> Result<Json<Value>, ApiError> {
    if !body.amount.is_finite() || body.amount < 0.0 {
        return Err(ApiError::unprocessable(
            "amount must be a non-negative number",
        ));
    }
    tokio::time::sleep(Duration::from_millis(
        ctx.knobs.get().checkout_payment_delay_ms,
    ))
    .await;
    let mut conn = ctx.db.acquire().await?;
    let (payment_id, transaction_id) =
        record_checkout_payment(&mut conn, &body.order_id.to_string(), body.amount).await?;
    Ok(Json(json!({
        "payment_id": payment_id,
        "order_id": body.order_id,
        "amount": body.amount,
        "status": "completed",
        "transaction_id": transaction_id,
        "timestamp": Utc::now(),
    })))
}

pub(super) async fn on_checkout_order(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: CheckoutOrderCreated = incoming.json()?;
    if ctx.handled_before(CHECKOUT, &incoming).await? {
        return Ok(());
    }
    tokio::time::sleep(Duration::from_millis(
        ctx.knobs.get().checkout_payment_delay_ms,
    ))
    .await;
    let amount: f64 = event.total_amount.parse().unwrap_or(0.0);
    let Some(mut tx) = ctx.claim(CHECKOUT, &incoming).await? else {
        return Ok(());
    };
    let (payment_id, transaction_id) =
        record_checkout_payment(&mut tx, &event.order_id.to_string(), amount).await?;
    let processed = PaymentProcessed {
        event_type: "payment.processed".to_owned(),
        event_id: format!("processed-{}", event.order_id),
        timestamp: Utc::now(),
        payment_id,
        order_id: event.order_id,
        user_id: event.user_id,
        user_email: event.user_email,
        amount: event.total_amount,
        status: "completed".to_owned(),
        transaction_id,
    };
    ctx.broker
        .publish_event(
            ECOMMERCE_EVENTS,
            RK_PAYMENT_PROCESSED,
            &processed.event_id,
            &processed,
        )
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Seed 000's payment (`/checkout` → `/pay`), the same in both modes.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct PayRequest {
    order_id: OrderRef,
    amount: f64,
}

#[utoipa::path(post, path = "/pay", tag = "payment", request_body = PayRequest, responses(
    (status = 200, description = "`{status: \"PAID\", order_id}` after the Showdown payment delay", body = Object),
    (status = 422, description = "amount must be a positive number", body = ErrorEnvelope),
))]
pub(super) async fn pay(
    State(ctx): State<Ctx>,
    Json(body): Json<PayRequest>,
) -> Result<Json<Value>, ApiError> {
    if !body.amount.is_finite() || body.amount <= 0.0 {
        return Err(ApiError::unprocessable("amount must be a positive number"));
    }
    tokio::time::sleep(Duration::from_millis(
        ctx.knobs.get().showdown_payment_delay_ms,
    ))
    .await;
    Ok(Json(
        json!({ "status": "PAID", "order_id": body.order_id.into_string() }),
    ))
}

/// Seed 000's async payment: the same wait as `/pay`, answered on `payment.completed`.
pub(super) async fn on_showdown_order(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: ShowdownOrder = incoming.json()?;
    if ctx.handled_before(SHOWDOWN, &incoming).await? {
        return Ok(());
    }
    tokio::time::sleep(Duration::from_millis(
        ctx.knobs.get().showdown_payment_delay_ms,
    ))
    .await;
    let Some(tx) = ctx.claim(SHOWDOWN, &incoming).await? else {
        return Ok(());
    };
    let paid = ShowdownPaid {
        event_id: format!("paid-{}", incoming.event_id),
        order_id: event.order_id,
        order_ref: event.order_ref,
        status: "PAID".to_owned(),
        timestamp: Utc::now(),
    };
    ctx.broker
        .publish_event(
            DEFAULT_EXCHANGE,
            SHOWDOWN_PAYMENT_COMPLETED,
            &paid.event_id,
            &paid,
        )
        .await?;
    tx.commit().await?;
    Ok(())
}
