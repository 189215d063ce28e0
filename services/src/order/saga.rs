//! S5, the saga (peers 002/003): reserve stock, pay, and on failure give the stock back.
//!
//! Sync (orchestration, peer 003): inventory `/reserve_stock` → payment
//! `/process_saga_payment` → on failure inventory `/compensate_stock`, then 400 with
//! `detail.compensation_executed: true`; on success inventory `/commit_stock`, then 200.
//! Out of stock → 409 (peer 003 answered 500, and never checked stock).
//!
//! Async (choreography, peer 002): 202 `pending` once `OrderCreated` is confirmed; inventory
//! reserves (or rejects), payment decides, the `payment_failed` fanout reaches inventory
//! (which now really releases) and this service; the order ends `failed` with
//! `compensation_executed` once inventory announced the release, or `completed`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use common::broker::consume::Incoming;
use common::broker::topology::{DEFAULT_EXCHANGE, ORDER_CREATED};
use common::error::ErrorEnvelope;
use common::events::{
    OrderCreated, PaymentFailed, PaymentSucceeded, Ref, StockRejected, StockReleased, new_event_id,
};
use common::extract::Json;
use common::scenario::{ScenarioId, steps};
use common::{ApiError, correlation, http};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{accepted_body, downstream_error, load_order, numeric_product_id};
use crate::context::Ctx;

/// Peer 003's body: `product_id` (a number, or seed 001's `prod001`) and `quantity` = 1.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct CreateOrder {
    product_id: Ref,
    #[serde(default = "one")]
    quantity: i32,
}

fn one() -> i32 {
    1
}

impl CreateOrder {
    fn validate(&self) -> Result<(i64, i32), ApiError> {
        let product_id = numeric_product_id(&self.product_id).ok_or_else(|| {
            ApiError::unprocessable(json!([{
                "type": "value_error", "loc": ["body", "product_id"],
                "msg": "product_id must be a number or a product id such as prod001",
            }]))
        })?;
        if !(1..=1_000_000).contains(&self.quantity) {
            return Err(ApiError::unprocessable(json!([{
                "type": "greater_than", "loc": ["body", "quantity"],
                "msg": "quantity must be within 1..=1000000",
            }])));
        }
        Ok((product_id, self.quantity))
    }
}

async fn insert_pending(
    db: impl sqlx::PgExecutor<'_>,
    product_id: i64,
    quantity: i32,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO orders (order_uuid, kind, product_id, quantity, status, correlation_id)
         VALUES ($1, 'saga', $2, $3, 'pending', $4) RETURNING id",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(product_id)
    .bind(quantity)
    .bind(correlation::current())
    .fetch_one(db)
    .await
}

async fn set_status(
    ctx: &Ctx,
    id: i64,
    status: &str,
    reason: Option<&str>,
    compensated: bool,
    transaction_id: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE orders SET status = $2, reason = COALESCE($3, reason),
             compensation_executed = compensation_executed OR $4,
             transaction_id = COALESCE($5, transaction_id), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(reason)
    .bind(compensated)
    .bind(transaction_id)
    .execute(&ctx.db)
    .await
    .map(|_| ())
}

/// The orchestrated saga. The order row is committed first (no transaction is held across
/// the calls), and every outcome leaves it terminal.
/// Sync saga: reserve stock, pay, commit or compensate, all before the answer.
#[utoipa::path(post, path = "/create_order", tag = "order", request_body = CreateOrder, responses(
    (status = 200, description = "completed: the order, `message`, `payment`", body = Object),
    (status = 400, description = "payment refused; the stock was released (`detail.compensation_executed`)", body = ErrorEnvelope),
    (status = 404, description = "inventory does not know the product", body = ErrorEnvelope),
    (status = 409, description = "insufficient stock", body = ErrorEnvelope),
    (status = 422, description = "a bad product_id or quantity", body = ErrorEnvelope),
    (status = 504, description = "inventory or payment did not answer in time", body = ErrorEnvelope),
))]
pub(super) async fn create_order_sync(
    State(ctx): State<Ctx>,
    Json(body): Json<CreateOrder>,
) -> Result<Json<Value>, ApiError> {
    let (product_id, quantity) = body.validate()?;
    let mut publication = ctx.begin_publication().await?;
    let id = insert_pending(publication.db(), product_id, quantity).await?;
    let peers = &ctx.settings.peers;
    let stock = json!({ "product_id": product_id, "quantity": quantity, "order_id": id });

    let reserve = http::post_json(
        &ctx.http,
        "inventory",
        &format!("{}/reserve_stock", peers.inventory_url),
        &stock,
    )
    .await;
    let reserve_error = match reserve {
        Ok(reply) if reply.is_success() => None,
        Ok(reply) => Some(downstream_error("inventory", &reply)),
        Err(err) => Some(err),
    };
    if let Some(err) = reserve_error {
        let reason = err.detail.clone();
        let reason_text = detail_text(&reason);
        set_status(&ctx, id, "failed", Some(reason_text.as_str()), false, None).await?;
        ctx.completions
            .emit(ScenarioId::S5, steps::SAGA_FINISHED, true);
        let message = if err.status == StatusCode::CONFLICT {
            "Order failed: insufficient stock"
        } else {
            "Order failed: could not reserve stock"
        };
        return Err(ApiError::new(
            err.status,
            json!({
                "message": message,
                "order_id": id,
                "product_id": product_id,
                "reason": reason,
                "compensation_executed": false,
                "timestamp": Utc::now(),
            }),
        ));
    }

    let payment = http::post_json(
        &ctx.http,
        "payment",
        &format!("{}/process_saga_payment", peers.payment_url),
        &json!({ "order_id": id, "amount": 100.0 * f64::from(quantity), "product_id": product_id, "quantity": quantity }),
    )
    .await;
    match payment {
        Ok(reply) if reply.is_success() => {
            let transaction_id = reply.body["transaction_id"].as_str().map(str::to_owned);
            let commit = http::post_json(
                &ctx.http,
                "inventory",
                &format!("{}/commit_stock", peers.inventory_url),
                &json!({ "order_id": id }),
            )
            .await;
            if !matches!(&commit, Ok(r) if r.is_success()) {
                // The units stay reserved (still counted); the order is paid regardless.
                tracing::warn!(
                    order_id = id,
                    "paid order's reservation not turned into a sale"
                );
            }
            set_status(
                &ctx,
                id,
                "completed",
                None,
                false,
                transaction_id.as_deref(),
            )
            .await?;
            ctx.completions
                .emit(ScenarioId::S5, steps::SAGA_FINISHED, true);
            let mut body = load_order(&ctx, id).await?.body();
            body["message"] = json!("Order completed");
            body["payment"] = reply.body;
            Ok(Json(body))
        }
        outcome => {
            // Peer 003's 400 when payment refused; 503/504 when payment itself failed.
            let (status, reason) = match &outcome {
                Ok(_) => (
                    StatusCode::BAD_REQUEST,
                    "Payment processing failed".to_owned(),
                ),
                Err(err) => (err.status, detail_text(&err.detail)),
            };
            let compensate = http::post_json(
                &ctx.http,
                "inventory",
                &format!("{}/compensate_stock", peers.inventory_url),
                &stock,
            )
            .await;
            let compensated = matches!(&compensate, Ok(r) if r.is_success());
            if compensated {
                set_status(&ctx, id, "failed", Some(reason.as_str()), true, None).await?;
                ctx.completions
                    .emit(ScenarioId::S5, steps::SAGA_FINISHED, true);
                Err(ApiError::new(
                    status,
                    json!({
                        "message": "Order failed due to payment issue",
                        "order_id": id,
                        "product_id": product_id,
                        "reason": reason,
                        "compensation_executed": true,
                        "timestamp": Utc::now(),
                    }),
                ))
            } else {
                let why = match compensate {
                    Ok(reply) => format!("inventory answered {}", reply.status),
                    Err(err) => detail_text(&err.detail),
                };
                let reason = format!("{reason}; compensation failed: {why}");
                set_status(&ctx, id, "failed", Some(reason.as_str()), false, None).await?;
                Err(ApiError::unavailable(json!({
                    "message": "Order failed and its stock could not be released yet",
                    "order_id": id,
                    "product_id": product_id,
                    "reason": reason,
                    "compensation_executed": false,
                    "timestamp": Utc::now(),
                })))
            }
        }
    }
}

fn detail_text(detail: &Value) -> String {
    match detail {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("message")
            .or_else(|| o.get("reason"))
            .and_then(Value::as_str)
            .map_or_else(|| detail.to_string(), str::to_owned),
        other => other.to_string(),
    }
}

/// The choreographed saga's start. The order is committed before its event is published, so
/// that no consumer can act on an order it cannot see yet, and no database connection is held
/// while the broker confirms; an unconfirmed event deletes the order again (a 503 leaves no
/// stray `pending` order).
/// Async saga: the order is stored and announced; the saga runs on events.
#[utoipa::path(post, path = "/create_order", tag = "order", request_body = CreateOrder, responses(
    (status = 202, description = "accepted: the pending order", body = Object),
    (status = 422, description = "a bad product_id or quantity", body = ErrorEnvelope),
))]
pub(super) async fn create_order_async(
    State(ctx): State<Ctx>,
    Json(body): Json<CreateOrder>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (product_id, quantity) = body.validate()?;
    let mut publication = ctx.begin_publication().await?;
    let id = insert_pending(publication.db(), product_id, quantity).await?;
    let event = OrderCreated {
        event_id: new_event_id(),
        order_id: id,
        product_id,
        quantity,
        timestamp: Utc::now(),
    };
    publication
        .publish(
            DEFAULT_EXCHANGE,
            ORDER_CREATED,
            &event.event_id,
            &event,
            sqlx::query("DELETE FROM orders WHERE id = $1").bind(id),
        )
        .await?;
    let mut body = accepted_body(&ctx, id).await;
    body["message"] = json!("Order accepted; the saga runs in the background");
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// One saga event as this service applies it to the order. The four differ only in their
/// name, their statement and whether they end the saga, so [`on_event`] applies them all.
pub(super) struct SagaEvent<E> {
    /// Name under which the consumer records handled events.
    consumer: &'static str,
    /// The change; `$1` is the order id, `$2` the event's text (a reason, a transaction id).
    sql: &'static str,
    /// The order and the text the statement binds.
    binds: fn(&E) -> (i64, &str),
    /// Whether the event ends the saga: its first effective application emits the saga's
    /// completion event.
    ends_saga: bool,
}

pub(super) static PAYMENT_FAILED: SagaEvent<PaymentFailed> = SagaEvent {
    consumer: "saga_payment_failed",
    sql: "UPDATE orders SET status = 'failed', reason = $2, updated_at = now()
         WHERE id = $1 AND status = 'pending'",
    binds: |e| (e.order_id, e.reason.as_str()),
    ends_saga: false,
};

/// The saga is over when inventory says the stock is back (docs/contract.md, Completion events).
pub(super) static STOCK_RELEASED: SagaEvent<StockReleased> = SagaEvent {
    consumer: "saga_stock_released",
    sql: "UPDATE orders SET status = 'failed', compensation_executed = true,
             reason = COALESCE(reason, $2), updated_at = now()
         WHERE id = $1 AND NOT compensation_executed",
    binds: |e| (e.order_id, "Payment processing failed"),
    ends_saga: true,
};

pub(super) static STOCK_REJECTED: SagaEvent<StockRejected> = SagaEvent {
    consumer: "saga_stock_rejected",
    sql: "UPDATE orders SET status = 'failed', reason = $2, updated_at = now()
         WHERE id = $1 AND status = 'pending'",
    binds: |e| (e.order_id, e.reason.as_str()),
    ends_saga: true,
};

pub(super) static PAYMENT_SUCCEEDED: SagaEvent<PaymentSucceeded> = SagaEvent {
    consumer: "saga_payment_succeeded",
    sql: "UPDATE orders SET status = 'completed', transaction_id = $2, updated_at = now()
         WHERE id = $1 AND status = 'pending'",
    binds: |e| (e.order_id, e.transaction_id.as_str()),
    ends_saga: true,
};

/// The consumer of every saga event: applies it to the order once (claimed with the change).
pub(super) async fn on_event<E: DeserializeOwned + Send>(
    step: &'static SagaEvent<E>,
    ctx: Ctx,
    incoming: Incoming,
) -> anyhow::Result<()> {
    let event: E = incoming.json()?;
    let (order_id, text) = (step.binds)(&event);
    let Some(mut tx) = ctx.claim(step.consumer, &incoming).await? else {
        return Ok(());
    };
    let changed = sqlx::query(step.sql)
        .bind(order_id)
        .bind(text)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    tx.commit().await?;
    if changed && step.ends_saga {
        ctx.completions
            .emit(ScenarioId::S5, steps::SAGA_FINISHED, true);
    }
    Ok(())
}
