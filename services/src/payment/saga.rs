//! S5's payment. Sync: `POST /process_saga_payment`, called by order's orchestration. Async:
//! the consumer of `stock_reserved_queue`, which announces the outcome on the
//! `payment_failed` or the `payment_succeeded` fanout. Both wait `SAGA_PAYMENT_DELAY_MS` and
//! fail with probability `PAYMENT_FAILURE_RATE` (1.0 by default, as in the original saga).

use std::time::Duration;

use axum::extract::State;
use chrono::Utc;
use common::ApiError;
use common::broker::consume::Incoming;
use common::broker::topology::{PAYMENT_FAILED, PAYMENT_SUCCEEDED};
use common::error::ErrorEnvelope;
use common::events::{PaymentFailed, PaymentSucceeded, StockReserved};
use common::extract::Json;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{OrderRef, default_amount, short_id};
use crate::context::Ctx;

const SAGA: &str = "saga_payment";
/// Peer 002's reason, kept so their clients recognise it.
const SAGA_FAILURE: &str = "Insufficient funds (simulated failure for saga demonstration)";

/// `PAYMENT_FAILURE_RATE` decides; 1.0 always fails, 0.0 never.
fn saga_payment_fails(rate: f64) -> bool {
    crate::chance::happens(rate)
}

/// The outcome of one saga payment, recorded before it is announced.
struct SagaOutcome {
    payment_id: String,
    transaction_id: Option<String>,
    failed: bool,
}

/// Waits the saga's payment delay, decides, and records the payment in `tx`.
async fn run_saga_payment(
    ctx: &Ctx,
    tx: &mut sqlx::PgConnection,
    order_id: &str,
    amount: f64,
) -> sqlx::Result<SagaOutcome> {
    let failed = saga_payment_fails(ctx.knobs.get().payment_failure_rate);
    let payment_id = short_id("pay_");
    let transaction_id = (!failed).then(|| short_id("txn_"));
    sqlx::query(
        "INSERT INTO payments (payment_id, order_id, amount, currency, status, transaction_id, completed_at, kind, failure_reason)
         VALUES ($1, $2, $3, 'USD', $4, $5, now(), 'saga', $6)",
    )
    .bind(&payment_id)
    .bind(order_id)
    .bind(amount)
    .bind(if failed { "failed" } else { "completed" })
    .bind(&transaction_id)
    .bind(failed.then_some(SAGA_FAILURE))
    .execute(&mut *tx)
    .await?;
    Ok(SagaOutcome {
        payment_id,
        transaction_id,
        failed,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct SagaPaymentRequest {
    order_id: OrderRef,
    #[serde(default = "default_amount")]
    amount: f64,
}

/// Sync saga step: 200 with the payment, or peer 003's 400 "Insufficient funds".
#[utoipa::path(post, path = "/process_saga_payment", tag = "payment", request_body = SagaPaymentRequest, responses(
    (status = 200, description = "`{status: success, payment_id, transaction_id, amount, order_id, timestamp}`", body = Object),
    (status = 400, description = "the payment failed: `detail` is `{status: failed, reason, order_id, payment_id, timestamp}`", body = ErrorEnvelope),
))]
pub(super) async fn saga_payment_sync(
    State(ctx): State<Ctx>,
    Json(body): Json<SagaPaymentRequest>,
) -> Result<Json<Value>, ApiError> {
    let order_id = body.order_id.into_string();
    tokio::time::sleep(Duration::from_millis(ctx.knobs.get().saga_payment_delay_ms)).await;
    let mut conn = ctx.db.acquire().await?;
    let outcome = run_saga_payment(&ctx, &mut conn, &order_id, body.amount).await?;
    if outcome.failed {
        return Err(ApiError::bad_request(json!({
            "status": "failed",
            "reason": "Insufficient funds",
            "order_id": order_id,
            "payment_id": outcome.payment_id,
            "timestamp": Utc::now(),
        })));
    }
    Ok(Json(json!({
        "status": "success",
        "payment_id": outcome.payment_id,
        "transaction_id": outcome.transaction_id,
        "amount": body.amount,
        "order_id": order_id,
        "timestamp": Utc::now(),
    })))
}

/// Async saga step. The decision is recorded first and announced from the record, so a
/// redelivery (e.g. after a failed announcement) announces the same outcome again instead of
/// tossing the coin twice; the announcement's id derives from the order, so downstream sees
/// it once. No database connection is held while the broker confirms.
pub(super) async fn on_stock_reserved(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: StockReserved = incoming.json()?;
    let order_id = event.order_id.to_string();
    let mut decided = None;
    if !ctx.handled_before(SAGA, &incoming).await? {
        tokio::time::sleep(Duration::from_millis(ctx.knobs.get().saga_payment_delay_ms)).await;
        if let Some(mut tx) = ctx.claim(SAGA, &incoming).await? {
            let amount = default_amount() * f64::from(event.quantity.max(1));
            let outcome = run_saga_payment(&ctx, &mut tx, &order_id, amount).await?;
            tx.commit().await?;
            let status = if outcome.failed {
                "failed"
            } else {
                "completed"
            };
            decided = Some((
                outcome.payment_id,
                status.to_owned(),
                outcome.transaction_id,
            ));
        }
    }
    let recorded: Option<(String, String, Option<String>)> = match decided {
        Some(outcome) => Some(outcome),
        None => {
            sqlx::query_as(
                "SELECT payment_id, status, transaction_id FROM payments
                 WHERE kind = 'saga' AND order_id = $1 ORDER BY created_at LIMIT 1",
            )
            .bind(&order_id)
            .fetch_optional(&ctx.db)
            .await?
        }
    };
    let Some((payment_id, status, transaction_id)) = recorded else {
        anyhow::bail!("saga payment for order {order_id} was claimed but not recorded");
    };
    if status == "failed" {
        let failed = PaymentFailed {
            event_id: format!("failed-{}", event.order_id),
            payment_id: None,
            order_id: event.order_id,
            reason: SAGA_FAILURE.to_owned(),
            timestamp: Utc::now(),
        };
        ctx.broker
            .publish_event(PAYMENT_FAILED, "", &failed.event_id, &failed)
            .await?;
    } else {
        let succeeded = PaymentSucceeded {
            event_id: format!("succeeded-{}", event.order_id),
            payment_id,
            order_id: event.order_id,
            transaction_id: transaction_id.unwrap_or_default(),
            timestamp: Utc::now(),
        };
        ctx.broker
            .publish_event(PAYMENT_SUCCEEDED, "", &succeeded.event_id, &succeeded)
            .await?;
    }
    Ok(())
}
