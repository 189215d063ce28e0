//! Payment service (S2; seed 000's `/pay`; the saga's (S5) and the checkout's (S7) payments).
//!
//! Sync: `/process_payment` takes the configured delay and answers 200 with the result.
//! Async: it stores the payment as `processing`, publishes `PaymentInitiated` (confirmed)
//! and answers 202; a worker completes it and publishes `PaymentCompleted`, which an audit
//! consumer records. `GET /payments/{id}` reports the status (peer 002 had none).
//!
//! S5: `POST /process_saga_payment` (sync) or a consumer of `stock_reserved_queue` (async)
//! waits `SAGA_PAYMENT_DELAY_MS` and fails with probability `PAYMENT_FAILURE_RATE` (1.0 by
//! default, as the peers); failures go to the `payment_failed` fanout, successes to
//! `payment_succeeded`. S7: `POST /payments/checkout` (sync) or a consumer of
//! `payment_service_queue` (async, peer 004) waits `CHECKOUT_PAYMENT_DELAY_MS` and announces
//! `payment.payment.processed`. Seed 000 async: a consumer of `order.created` answers on
//! `payment.completed`.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use common::broker::Outgoing;
use common::broker::consume::Incoming;
use common::broker::topology::{
    DEFAULT_EXCHANGE, ECOMMERCE_EVENTS, PAYMENT_COMPLETED, PAYMENT_FAILED, PAYMENT_INITIATED,
    PAYMENT_SERVICE, PAYMENT_SUCCEEDED, RK_PAYMENT_PROCESSED, SHOWDOWN_ORDER_CREATED,
    SHOWDOWN_PAYMENT_COMPLETED, STOCK_RESERVED,
};
use common::events::{
    CheckoutOrderCreated, PaymentCompleted, PaymentFailed, PaymentInitiated, PaymentProcessed,
    PaymentSucceeded, ShowdownOrder, ShowdownPaid, StockReserved, new_event_id,
};
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
        .route("/process_saga_payment", post(saga_payment_sync))
        .route("/payments/checkout", post(checkout_payment_sync))
}

pub fn consumers(ctx: &Ctx) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        ctx.consume(PAYMENT_INITIATED, ctx.consumer_options(), complete_payment),
        ctx.consume(PAYMENT_COMPLETED, ctx.consumer_options(), audit_payment),
        ctx.consume(STOCK_RESERVED, ctx.db_consumer_options(), on_stock_reserved),
        ctx.consume(PAYMENT_SERVICE, ctx.consumer_options(), on_checkout_order),
        ctx.consume(
            SHOWDOWN_ORDER_CREATED,
            ctx.consumer_options(),
            on_showdown_order,
        ),
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
    let created_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO payments (payment_id, order_id, amount, currency, status)
         VALUES ($1, $2, $3, $4, 'processing') RETURNING created_at",
    )
    .bind(&payment_id)
    .bind(&order_id)
    .bind(amount)
    .bind(&currency)
    .fetch_one(&ctx.db)
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
    ctx.publish_or_withdraw(
        Outgoing::event(
            DEFAULT_EXCHANGE,
            PAYMENT_INITIATED,
            event.event_id.clone(),
            &event,
        ),
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

// ---------------------------------------------------------------------------------------
// S5: the saga's payment.

const SAGA: &str = "saga_payment";
const CHECKOUT: &str = "checkout_payment";
const SHOWDOWN: &str = "showdown_payment";
/// Peer 002's reason, kept so their clients recognise it.
const SAGA_FAILURE: &str = "Insufficient funds (simulated failure for saga demonstration)";

/// A uniform draw in [0, 1) from the 53 low random bits of a v4 UUID (its version and
/// variant bits sit higher), which spares a dependency for one coin toss.
fn unit_random() -> f64 {
    let bits = (uuid::Uuid::new_v4().as_u128() as u64) & ((1u64 << 53) - 1);
    bits as f64 / (1u64 << 53) as f64
}

/// `PAYMENT_FAILURE_RATE` decides; 1.0 always fails, 0.0 never.
fn saga_payment_fails(rate: f64) -> bool {
    rate >= 1.0 || (rate > 0.0 && unit_random() < rate)
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

#[derive(Deserialize)]
struct SagaPaymentRequest {
    order_id: OrderRef,
    #[serde(default = "default_amount")]
    amount: f64,
}

/// Sync saga step: 200 with the payment, or peer 003's 400 "Insufficient funds".
async fn saga_payment_sync(
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
async fn on_stock_reserved(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: StockReserved = incoming.json()?;
    let order_id = event.order_id.to_string();
    let mut decided = None;
    if !db::was_processed(&ctx.db, SAGA, &incoming.event_id).await? {
        tokio::time::sleep(Duration::from_millis(ctx.knobs.get().saga_payment_delay_ms)).await;
        let mut tx = ctx.db.begin().await?;
        if db::claim_event(&mut tx, SAGA, &incoming.event_id).await? {
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
        } else {
            incoming.note_duplicate();
        }
    } else {
        incoming.note_duplicate();
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
            .publish(Outgoing::event(
                PAYMENT_FAILED,
                "",
                failed.event_id.clone(),
                &failed,
            ))
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
            .publish(Outgoing::event(
                PAYMENT_SUCCEEDED,
                "",
                succeeded.event_id.clone(),
                &succeeded,
            ))
            .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// S7: the checkout's payment (peer 004).

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

#[derive(Deserialize)]
struct CheckoutPaymentRequest {
    order_id: i64,
    amount: f64,
}

async fn checkout_payment_sync(
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

async fn on_checkout_order(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: CheckoutOrderCreated = incoming.json()?;
    if db::was_processed(&ctx.db, CHECKOUT, &incoming.event_id).await? {
        incoming.note_duplicate();
        return Ok(());
    }
    tokio::time::sleep(Duration::from_millis(
        ctx.knobs.get().checkout_payment_delay_ms,
    ))
    .await;
    let amount: f64 = event.total_amount.parse().unwrap_or(0.0);
    let mut tx = ctx.db.begin().await?;
    if !db::claim_event(&mut tx, CHECKOUT, &incoming.event_id).await? {
        incoming.note_duplicate();
        return Ok(());
    }
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
        .publish(Outgoing::event(
            ECOMMERCE_EVENTS,
            RK_PAYMENT_PROCESSED,
            processed.event_id.clone(),
            &processed,
        ))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Seed 000's async payment: the same wait as `/pay`, answered on `payment.completed`.
async fn on_showdown_order(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: ShowdownOrder = incoming.json()?;
    if db::was_processed(&ctx.db, SHOWDOWN, &incoming.event_id).await? {
        incoming.note_duplicate();
        return Ok(());
    }
    tokio::time::sleep(Duration::from_millis(
        ctx.knobs.get().showdown_payment_delay_ms,
    ))
    .await;
    let mut tx = ctx.db.begin().await?;
    if !db::claim_event(&mut tx, SHOWDOWN, &incoming.event_id).await? {
        incoming.note_duplicate();
        return Ok(());
    }
    let paid = ShowdownPaid {
        event_id: format!("paid-{}", incoming.event_id),
        order_id: event.order_id,
        order_ref: event.order_ref,
        status: "PAID".to_owned(),
        timestamp: Utc::now(),
    };
    ctx.broker
        .publish(Outgoing::event(
            DEFAULT_EXCHANGE,
            SHOWDOWN_PAYMENT_COMPLETED,
            paid.event_id.clone(),
            &paid,
        ))
        .await?;
    tx.commit().await?;
    Ok(())
}
