//! S2, a slow dependency: `POST /process_payment`. Sync takes the configured delay and
//! answers 200 with the result. Async stores the payment as `processing`, publishes
//! `PaymentInitiated` (confirmed) and answers 202; the worker on `payment_initiated_queue`
//! completes it and publishes `PaymentCompleted`, which the audit consumer on
//! `payment_completed_queue` records. `POST /process_payment_fail` is its always-failing
//! variant.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use common::ApiError;
use common::broker::consume::Incoming;
use common::broker::topology::{DEFAULT_EXCHANGE, PAYMENT_COMPLETED, PAYMENT_INITIATED};
use common::error::ErrorEnvelope;
use common::events::{PaymentCompleted, PaymentInitiated, new_event_id};
use common::extract::Json;
use common::scenario::{ScenarioId, steps};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{OrderRef, default_amount, short_id};
use crate::context::Ctx;

const WORKER: &str = "payment_worker";
const AUDIT: &str = "payment_audit";

/// Peer 002/003's payment body; every field optional, as in their sync model.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct PaymentRequest {
    #[serde(default = "default_amount")]
    amount: f64,
    #[serde(default = "default_currency")]
    currency: String,
    order_id: Option<OrderRef>,
    #[allow(dead_code)] // accepted for compatibility; a payment does not need it
    product_id: Option<i64>,
    #[allow(dead_code)]
    quantity: Option<i64>,
}

fn default_currency() -> String {
    "USD".to_owned()
}

impl PaymentRequest {
    fn validate(self) -> Result<(f64, String, Option<String>), ApiError> {
        if !self.amount.is_finite() || self.amount <= 0.0 {
            return Err(ApiError::unprocessable(json!([{
                "type": "greater_than", "loc": ["body", "amount"], "msg": "amount must be a positive number",
            }])));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ApiError::unprocessable(
                "currency must be a 3-letter code such as USD",
            ));
        }
        Ok((
            self.amount,
            self.currency.to_ascii_uppercase(),
            self.order_id.map(OrderRef::into_string),
        ))
    }
}

/// Sync: the payment is processed (after the payment delay) before the answer.
#[utoipa::path(post, path = "/process_payment", tag = "payment", request_body = PaymentRequest, responses(
    (status = 200, description = "processed: `{payment_id, status, transaction_id, …}`", body = Object),
    (status = 422, description = "amount not positive, or currency not a 3-letter code", body = ErrorEnvelope),
))]
pub(super) async fn process_sync(
    State(ctx): State<Ctx>,
    Json(body): Json<PaymentRequest>,
) -> Result<Json<Value>, ApiError> {
    let (amount, currency, order_id) = body.validate()?;
    tokio::time::sleep(Duration::from_millis(ctx.knobs.get().payment_delay_ms)).await;
    let (payment_id, transaction_id) = (short_id("pay_"), uuid::Uuid::new_v4().to_string());
    let completed_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO payments (payment_id, order_id, amount, currency, status, transaction_id, completed_at)
         VALUES ($1, $2, $3, $4, 'completed', $5, now()) RETURNING completed_at",
    )
    .bind(&payment_id)
    .bind(&order_id)
    .bind(amount)
    .bind(&currency)
    .bind(&transaction_id)
    .fetch_one(&ctx.db)
    .await?;
    ctx.completions
        .emit(ScenarioId::S2, steps::PAYMENT_COMPLETED, true);
    Ok(Json(json!({
        "status": "success",
        "payment_id": payment_id,
        "transaction_id": transaction_id,
        "amount": amount,
        "currency": currency,
        "order_id": order_id,
        "timestamp": completed_at,
    })))
}

/// Async: the payment is recorded and announced; its processing follows.
#[utoipa::path(post, path = "/process_payment", tag = "payment", request_body = PaymentRequest, responses(
    (status = 202, description = "accepted: `{payment_id, status: \"processing\", …}`", body = Object),
    (status = 422, description = "amount not positive, or currency not a 3-letter code", body = ErrorEnvelope),
))]
pub(super) async fn process_async(
    State(ctx): State<Ctx>,
    Json(body): Json<PaymentRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (amount, currency, order_id) = body.validate()?;
    let payment_id = short_id("pay_");
    let mut publication = ctx.begin_publication().await?;
    let created_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO payments (payment_id, order_id, amount, currency, status)
         VALUES ($1, $2, $3, $4, 'processing') RETURNING created_at",
    )
    .bind(&payment_id)
    .bind(&order_id)
    .bind(amount)
    .bind(&currency)
    .fetch_one(publication.db())
    .await?;
    let event = PaymentInitiated {
        event_id: new_event_id(),
        payment_id: payment_id.clone(),
        amount,
        currency: currency.clone(),
        order_id: order_id.clone(),
        timestamp: created_at,
    };
    // The consumer may complete the payment within a millisecond of the confirm: it must find
    // the row, so the row is committed first and withdrawn if the broker does not confirm.
    publication
        .publish(
            DEFAULT_EXCHANGE,
            PAYMENT_INITIATED,
            &event.event_id,
            &event,
            sqlx::query("DELETE FROM payments WHERE payment_id = $1 AND status = 'processing'")
                .bind(&payment_id),
        )
        .await?;
    let body = json!({
        "payment_id": payment_id,
        "status": "processing",
        "message": "Payment is being processed",
        "amount": amount,
        "currency": currency,
        "order_id": order_id,
        "status_url": format!("/payments/{payment_id}"),
    });
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// The worker: completes a payment once, then announces it on `payment_completed_queue`.
pub(super) async fn complete_payment(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: PaymentInitiated = incoming.json()?;
    if ctx.handled_before(WORKER, &incoming).await? {
        return Ok(());
    }
    tokio::time::sleep(Duration::from_millis(ctx.knobs.get().payment_delay_ms)).await;
    let Some(mut tx) = ctx.claim(WORKER, &incoming).await? else {
        return Ok(());
    };
    let transaction_id = short_id("txn_");
    let updated = sqlx::query(
        "UPDATE payments SET status = 'completed', transaction_id = $2, completed_at = now()
         WHERE payment_id = $1 AND status = 'processing'",
    )
    .bind(&event.payment_id)
    .bind(&transaction_id)
    .execute(&mut *tx)
    .await?;
    anyhow::ensure!(
        updated.rows_affected() == 1,
        "payment {} is unknown or not processing",
        event.payment_id
    );
    // Derived from the payment, so a re-published completion is still one event downstream.
    let completed = PaymentCompleted {
        event_id: format!("completed-{}", event.payment_id),
        payment_id: event.payment_id,
        transaction_id,
        status: "success".to_owned(),
        timestamp: Utc::now(),
    };
    ctx.broker
        .publish_event(
            DEFAULT_EXCHANGE,
            PAYMENT_COMPLETED,
            &completed.event_id,
            &completed,
        )
        .await?;
    tx.commit().await?;
    ctx.completions
        .emit(ScenarioId::S2, steps::PAYMENT_COMPLETED, true);
    Ok(())
}

pub(super) async fn audit_payment(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: PaymentCompleted = incoming.json()?;
    let Some(mut tx) = ctx.claim(AUDIT, &incoming).await? else {
        return Ok(());
    };
    sqlx::query("INSERT INTO payment_audit (event_id, payment_id, status) VALUES ($1, $2, $3)")
        .bind(&incoming.event_id)
        .bind(&event.payment_id)
        .bind(&event.status)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Peer 003's always-failing payment: 400 with the reason in `detail`.
#[utoipa::path(post, path = "/process_payment_fail", tag = "payment", request_body = Object, responses(
    (status = 400, description = "always: `detail` is `{status: failed, reason, order_id, timestamp}`", body = ErrorEnvelope),
))]
pub(super) async fn fail_sync(Json(body): Json<Value>) -> ApiError {
    ApiError::bad_request(json!({
        "status": "failed",
        "reason": "Insufficient funds",
        "order_id": body.get("order_id"),
        "timestamp": Utc::now(),
    }))
}

/// Peer 002's legacy variant: accepted, and failed.
#[utoipa::path(post, path = "/process_payment_fail", tag = "payment", request_body = Object, responses(
    (status = 202, description = "always: accepted and failed, `{status: failed, reason, message}`", body = Object),
))]
pub(super) async fn fail_async(Json(_body): Json<Value>) -> (StatusCode, Json<Value>) {
    let body = json!({ "status": "failed", "reason": "Insufficient funds", "message": "Payment failed (simulated)" });
    (StatusCode::ACCEPTED, Json(body))
}
