//! Payment service: every payment of the stack, one `payments` table.
//!
//! - `processing`: S2's `/process_payment` (and its always-failing variant). Sync takes
//!   the configured delay and answers 200 with the result. Async stores the payment as
//!   `processing`, publishes `PaymentInitiated` (confirmed) and answers 202; a worker
//!   completes it and publishes `PaymentCompleted`, which an audit consumer records.
//! - `saga`: S5's payment. `POST /process_saga_payment` (sync) or a consumer of
//!   `stock_reserved_queue` (async) waits `SAGA_PAYMENT_DELAY_MS` and fails with probability
//!   `PAYMENT_FAILURE_RATE` (1.0 by default, as the peers); failures go to the
//!   `payment_failed` fanout, successes to `payment_succeeded`.
//! - `checkout`: S7's payments. The pipeline checkout's `POST /payments/checkout` (sync) or a
//!   consumer of `payment_service_queue` (async) waits `CHECKOUT_PAYMENT_DELAY_MS` and
//!   announces `payment.payment.processed`; the showdown checkout's `/pay` (sync) or a
//!   consumer of `order.created` (async), which answers on `payment.completed`.
//! - this file: the routes, the consumers, the ids and order references every flow uses, and
//!   `GET /payments/{id}`, the status of any payment (peer 002 had none).

mod checkout;
mod processing;
mod saga;

use axum::extract::State;
use chrono::{DateTime, Utc};
use common::broker::topology::{
    PAYMENT_COMPLETED, PAYMENT_INITIATED, PAYMENT_SERVICE, SHOWDOWN_ORDER_CREATED, STOCK_RESERVED,
};
use common::error::ErrorEnvelope;
use common::extract::{Json, Path};
use common::{ApiError, Mode};
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::context::Ctx;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/payment");

pub fn routes(mode: Mode) -> OpenApiRouter<Ctx> {
    let (process, fail) = match mode {
        Mode::Sync => (
            routes!(processing::process_sync),
            routes!(processing::fail_sync),
        ),
        Mode::Async => (
            routes!(processing::process_async),
            routes!(processing::fail_async),
        ),
    };
    OpenApiRouter::new()
        .routes(process)
        .routes(fail)
        .routes(routes!(payment_status))
        .routes(routes!(checkout::pay))
        .routes(routes!(saga::saga_payment_sync))
        .routes(routes!(checkout::checkout_payment_sync))
}

pub fn consumers(ctx: &Ctx) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        ctx.consume(
            PAYMENT_INITIATED,
            ctx.consumer_options(),
            processing::complete_payment,
        ),
        ctx.consume(
            PAYMENT_COMPLETED,
            ctx.consumer_options(),
            processing::audit_payment,
        ),
        ctx.consume(
            STOCK_RESERVED,
            ctx.db_consumer_options(),
            saga::on_stock_reserved,
        ),
        ctx.consume(
            PAYMENT_SERVICE,
            ctx.consumer_options(),
            checkout::on_checkout_order,
        ),
        ctx.consume(
            SHOWDOWN_ORDER_CREATED,
            ctx.consumer_options(),
            checkout::on_showdown_order,
        ),
    ]
}

pub async fn reset(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("TRUNCATE payments, payment_audit, processed_events")
        .execute(db)
        .await
        .map(|_| ())
}

/// Clients send order ids as numbers (002/003) or strings (000).
#[derive(Deserialize, utoipa::ToSchema)]
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

fn short_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &hex[..12])
}

#[derive(sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
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

#[utoipa::path(get, path = "/payments/{payment_id}", tag = "payment",
    params(("payment_id" = String, Path, description = "e.g. pay_…")), responses(
    (status = 200, description = "the payment", body = PaymentRow),
    (status = 404, description = "Payment … not found", body = ErrorEnvelope),
))]
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
