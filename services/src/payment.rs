//! Payment service (S2; seed 000's `/pay`; later the saga and checkout roles).
//!
//! Sync: `/process_payment` takes the configured delay and answers 200 with the result.
//! Async: it stores the payment as `processing`, publishes `PaymentInitiated` (confirmed)
//! and answers 202; a worker completes it and publishes `PaymentCompleted`, which an audit
//! consumer records. `GET /payments/{id}` reports the status (peer 002 had none).

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use common::broker::Outgoing;
use common::broker::consume::Incoming;
use common::broker::topology::{DEFAULT_EXCHANGE, PAYMENT_COMPLETED, PAYMENT_INITIATED};
use common::events::{PaymentCompleted, PaymentInitiated, new_event_id};
use common::extract::{Json, Path};
use common::scenario::{ScenarioId, steps};
use common::{ApiError, Mode, db};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::context::Ctx;

pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/payment");

const WORKER: &str = "payment_worker";
const AUDIT: &str = "payment_audit";

pub fn routes(mode: Mode) -> Router<Ctx> {
    let (process, fail) = match mode {
        Mode::Sync => (post(process_sync), post(fail_sync)),
        Mode::Async => (post(process_async), post(fail_async)),
    };
    Router::new()
        .route("/process_payment", process)
        .route("/process_payment_fail", fail)
        .route("/payments/{payment_id}", get(payment_status))
        .route("/pay", post(pay))
}

pub fn consumers(ctx: &Ctx) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        ctx.consume(PAYMENT_INITIATED, ctx.consumer_options(), complete_payment),
        ctx.consume(PAYMENT_COMPLETED, ctx.consumer_options(), audit_payment),
    ]
}

pub async fn reset(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("TRUNCATE payments, payment_audit, processed_events")
        .execute(db)
        .await
        .map(|_| ())
}

/// Peer 002/003's payment body; every field optional, as in their sync model.
#[derive(Deserialize)]
struct PaymentRequest {
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

/// Clients send order ids as numbers (002/003) or strings (000).
#[derive(Deserialize)]
#[serde(untagged)]
enum OrderRef {
    Number(i64),
    Text(String),
}

impl OrderRef {
    fn into_string(self) -> String {
        match self {
            OrderRef::Number(n) => n.to_string(),
            OrderRef::Text(s) => s,
        }
    }
}

fn default_amount() -> f64 {
    100.0
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

fn short_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &hex[..12])
}

async fn process_sync(
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

async fn process_async(
    State(ctx): State<Ctx>,
    Json(body): Json<PaymentRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (amount, currency, order_id) = body.validate()?;
    let payment_id = short_id("pay_");
    let mut tx = ctx.db.begin().await?;
    let created_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO payments (payment_id, order_id, amount, currency, status)
         VALUES ($1, $2, $3, $4, 'processing') RETURNING created_at",
    )
    .bind(&payment_id)
    .bind(&order_id)
    .bind(amount)
    .bind(&currency)
    .fetch_one(&mut *tx)
    .await?;
    let event = PaymentInitiated {
        event_id: new_event_id(),
        payment_id: payment_id.clone(),
        amount,
        currency: currency.clone(),
        order_id: order_id.clone(),
        timestamp: created_at,
    };
    ctx.broker
        .publish(Outgoing::event(
            DEFAULT_EXCHANGE,
            PAYMENT_INITIATED,
            event.event_id.clone(),
            &event,
        ))
        .await?;
    tx.commit().await?;
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
async fn complete_payment(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: PaymentInitiated = incoming.json()?;
    if db::was_processed(&ctx.db, WORKER, &incoming.event_id).await? {
        incoming.note_duplicate();
        return Ok(());
    }
    tokio::time::sleep(Duration::from_millis(ctx.knobs.get().payment_delay_ms)).await;
    let mut tx = ctx.db.begin().await?;
    if !db::claim_event(&mut tx, WORKER, &incoming.event_id).await? {
        incoming.note_duplicate();
        return Ok(());
    }
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
        .publish(Outgoing::event(
            DEFAULT_EXCHANGE,
            PAYMENT_COMPLETED,
            completed.event_id.clone(),
            &completed,
        ))
        .await?;
    tx.commit().await?;
    ctx.completions
        .emit(ScenarioId::S2, steps::PAYMENT_COMPLETED, true);
    Ok(())
}

async fn audit_payment(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: PaymentCompleted = incoming.json()?;
    let mut tx = ctx.db.begin().await?;
    if !db::claim_event(&mut tx, AUDIT, &incoming.event_id).await? {
        incoming.note_duplicate();
        return Ok(());
    }
    sqlx::query("INSERT INTO payment_audit (event_id, payment_id, status) VALUES ($1, $2, $3)")
        .bind(&incoming.event_id)
        .bind(&event.payment_id)
        .bind(&event.status)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct PaymentRow {
    payment_id: String,
    order_id: Option<String>,
    amount: f64,
    currency: String,
    status: String,
    transaction_id: Option<String>,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

async fn payment_status(
    State(ctx): State<Ctx>,
    Path(payment_id): Path<String>,
) -> Result<Json<PaymentRow>, ApiError> {
    let row: Option<PaymentRow> = sqlx::query_as(
        "SELECT payment_id, order_id, amount, currency, status, transaction_id, created_at, completed_at
         FROM payments WHERE payment_id = $1",
    )
    .bind(&payment_id)
    .fetch_optional(&ctx.db)
    .await?;
    row.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("Payment {payment_id} not found")))
}

/// Peer 003's always-failing payment: 400 with the reason in `detail`.
async fn fail_sync(Json(body): Json<Value>) -> ApiError {
    ApiError::bad_request(json!({
        "status": "failed",
        "reason": "Insufficient funds",
        "order_id": body.get("order_id"),
        "timestamp": Utc::now(),
    }))
}

/// Peer 002's legacy variant: accepted, and failed.
async fn fail_async(Json(_body): Json<Value>) -> (StatusCode, Json<Value>) {
    let body = json!({ "status": "failed", "reason": "Insufficient funds", "message": "Payment failed (simulated)" });
    (StatusCode::ACCEPTED, Json(body))
}

/// Seed 000's payment (`/checkout` → `/pay`), the same in both modes.
#[derive(Deserialize)]
struct PayRequest {
    order_id: OrderRef,
    amount: f64,
}

async fn pay(
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
