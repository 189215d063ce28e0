//! S7, `POST /checkout`, in the two shapes the peers sent (docs/contract.md, Bodies), told apart by
//! their fields:
//!
//! - peer 004's `{user_id, user_email, items[]}`: the checkout pipeline. Sync blocks through
//!   payment (`/payments/checkout`, 1 s) and the confirmation mail
//!   (`/send_order_confirmation`, 2 s) and answers 200 `confirmed`. Async answers 202
//!   `pending` once `order.order.created` is confirmed; payment announces
//!   `payment.payment.processed` (→ `paid`), email announces `email.email.sent` (→
//!   `confirmed`), both read here from `order_updates_queue` (peer 004's order stayed
//!   `pending` forever: nobody consumed the results).
//! - seed 000's `{order_id, amount}`: sync calls payment's `/pay` (3 s) and answers with its
//!   body; async answers 202 `ORDER_ACCEPTED` once the order is on `order.created`.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use common::broker::consume::Incoming;
use common::broker::topology::{
    DEFAULT_EXCHANGE, ECOMMERCE_EVENTS, RK_ORDER_CREATED, SHOWDOWN_ORDER_CREATED,
};
use common::error::ErrorEnvelope;
use common::events::{
    CheckoutItem, CheckoutOrderCreated, EmailSent, PaymentProcessed, Ref, ShowdownOrder,
    ShowdownPaid, new_event_id,
};
use common::extract::Json;
use common::scenario::{ScenarioId, steps};
use common::{ApiError, Mode, correlation, http};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{accepted_body, downstream_error, load_order};
use crate::context::Ctx;

const ON_UPDATE: &str = "checkout_order_updates";
const ON_SHOWDOWN_PAID: &str = "showdown_paid";

/// Peer 004's line: the price comes from the client, as a decimal string (or a number).
#[derive(Deserialize, utoipa::ToSchema)]
struct Line {
    product_id: Ref,
    quantity: i32,
    price: Price,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
enum Price {
    Number(f64),
    Text(String),
}

#[derive(Deserialize, utoipa::ToSchema)]
struct PipelineRequest {
    user_id: Ref,
    user_email: String,
    items: Vec<Line>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ShowdownRequest {
    order_id: Ref,
    amount: f64,
}

fn invalid(field: &str, msg: impl Into<String>) -> ApiError {
    ApiError::unprocessable(
        json!([{ "type": "value_error", "loc": ["body", field], "msg": msg.into() }]),
    )
}

/// A validated pipeline checkout: the lines with parsed prices and the total in cents.
struct Pipeline {
    user_id: Ref,
    user_email: String,
    items: Vec<CheckoutItem>,
    total: f64,
}

impl PipelineRequest {
    fn validate(self) -> Result<Pipeline, ApiError> {
        if !self.user_email.contains('@') || self.user_email.len() > 254 {
            return Err(invalid("user_email", "not an e-mail address"));
        }
        if self.items.is_empty() {
            return Err(invalid("items", "a checkout needs at least one item"));
        }
        let mut cents: i64 = 0;
        let mut items = Vec::with_capacity(self.items.len());
        for line in self.items {
            if !(1..=1_000_000).contains(&line.quantity) {
                return Err(invalid("quantity", "quantity must be within 1..=1000000"));
            }
            let price = match &line.price {
                Price::Number(n) => *n,
                Price::Text(t) => t
                    .trim()
                    .parse()
                    .map_err(|_| invalid("price", format!("not a decimal price: {t:?}")))?,
            };
            if !price.is_finite() || !(0.0..=1e9).contains(&price) {
                return Err(invalid("price", "price must be within 0..=1e9"));
            }
            // Money in whole cents, as peer 004's Decimal did.
            let unit = (price * 100.0).round() as i64;
            cents = cents.saturating_add(unit.saturating_mul(i64::from(line.quantity)));
            items.push(CheckoutItem {
                product_id: line.product_id,
                quantity: line.quantity,
                price: format!("{:.2}", unit as f64 / 100.0),
            });
        }
        Ok(Pipeline {
            user_id: self.user_id,
            user_email: self.user_email,
            items,
            total: cents as f64 / 100.0,
        })
    }
}

/// The two bodies `checkout` accepts, for the spec: `checkout` itself tells them apart by
/// their fields, to name the shape it expected in its 422.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(
    dead_code,
    reason = "a schema only; `checkout` reads the body as either struct"
)]
enum CheckoutBody {
    Pipeline(PipelineRequest),
    Showdown(ShowdownRequest),
}

/// One route, two shapes: the fields decide (neither → 422 naming both).
#[utoipa::path(post, path = "/checkout", tag = "order", request_body(content = CheckoutBody,
    description = "seed 004's `{user_id, user_email, items}` (the pipeline) or seed 000's `{order_id, amount}` (Showdown)"), responses(
    (status = 200, description = "sync: the finished order", body = Object),
    (status = 202, description = "async: the accepted order", body = Object),
    (status = 400, description = "sync pipeline: the payment was refused", body = ErrorEnvelope),
    (status = 422, description = "neither shape, or a bad field of one", body = ErrorEnvelope),
    (status = 504, description = "sync: payment or e-mail did not answer in time", body = ErrorEnvelope),
))]
pub(super) async fn checkout(
    State(ctx): State<Ctx>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let parse = |shape: &'static str| {
        move |e: serde_json::Error| invalid("body", format!("invalid {shape} checkout: {e}"))
    };
    if body.get("items").is_some() {
        let request: PipelineRequest = serde_json::from_value(body)
            .map_err(parse("seed 004 {user_id, user_email, items[]}"))?;
        let pipeline = request.validate()?;
        match ctx.mode() {
            Mode::Sync => pipeline_sync(&ctx, pipeline).await,
            Mode::Async => pipeline_async(&ctx, pipeline).await,
        }
    } else if body.get("order_id").is_some() && body.get("amount").is_some() {
        let request: ShowdownRequest =
            serde_json::from_value(body).map_err(parse("seed 000 {order_id, amount}"))?;
        if !request.amount.is_finite() || request.amount <= 0.0 {
            return Err(invalid("amount", "amount must be a positive number"));
        }
        match ctx.mode() {
            Mode::Sync => showdown_sync(&ctx, request).await,
            Mode::Async => showdown_async(&ctx, request).await,
        }
    } else {
        Err(ApiError::unprocessable(
            "expected either seed 000's {\"order_id\", \"amount\"} or seed 004's \
             {\"user_id\", \"user_email\", \"items\": [{\"product_id\", \"quantity\", \"price\"}]}",
        ))
    }
}

async fn insert_pipeline_order(
    db: impl sqlx::PgExecutor<'_>,
    p: &Pipeline,
) -> Result<i64, ApiError> {
    let items = serde_json::to_string(&p.items).map_err(ApiError::internal)?;
    Ok(sqlx::query_scalar(
        "INSERT INTO orders (order_uuid, kind, status, user_id, user_email, items, total_amount,
             correlation_id)
         VALUES ($1, 'checkout', 'pending', $2, $3, $4::jsonb, $5, $6) RETURNING id",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(p.user_id.key())
    .bind(&p.user_email)
    .bind(items)
    .bind(p.total)
    .bind(correlation::current())
    .fetch_one(db)
    .await?)
}

async fn update(
    ctx: &Ctx,
    id: i64,
    status: &str,
    transaction_id: Option<&str>,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE orders SET status = $2, transaction_id = COALESCE($3, transaction_id),
             reason = COALESCE($4, reason), updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(transaction_id)
    .bind(reason)
    .execute(&ctx.db)
    .await
    .map(|_| ())
}

/// The blocking pipeline: the client waits for payment and mail (≈ 3 s by default).
async fn pipeline_sync(ctx: &Ctx, p: Pipeline) -> Result<Response, ApiError> {
    let started = Instant::now();
    let mut publication = ctx.begin_publication().await?;
    let id = insert_pipeline_order(publication.db(), &p).await?;
    let peers = &ctx.settings.peers;
    let payment = http::post_json(
        &ctx.http,
        "payment",
        &format!("{}/payments/checkout", peers.payment_url),
        &json!({ "order_id": id, "user_id": p.user_id, "user_email": p.user_email, "amount": p.total }),
    )
    .await
    .and_then(|reply| {
        if reply.is_success() {
            Ok(reply)
        } else {
            Err(downstream_error("payment", &reply))
        }
    });
    let payment = match payment {
        Ok(reply) => reply,
        Err(err) => {
            let reason = format!("payment failed: {}", err.detail);
            update(ctx, id, "failed", None, Some(reason.as_str())).await?;
            return Err(ApiError::new(
                err.status,
                json!({ "message": "Checkout failed: payment did not complete", "order_id": id, "reason": err.detail }),
            ));
        }
    };
    let transaction_id = payment.body["transaction_id"].as_str().map(str::to_owned);
    update(ctx, id, "paid", transaction_id.as_deref(), None).await?;

    let mail = http::post_json(
        &ctx.http,
        "email",
        &format!("{}/send_order_confirmation", peers.email_url),
        &json!({ "order_id": id, "user_email": p.user_email, "total_amount": format!("{:.2}", p.total) }),
    )
    .await;
    let warnings: Vec<String> = match mail {
        Ok(reply) if reply.is_success() => {
            update(ctx, id, "confirmed", None, None).await?;
            ctx.completions
                .emit(ScenarioId::S7, steps::ORDER_CONFIRMED, true);
            vec![]
        }
        // Paid but not mailed: the order stays `paid` and the client is told.
        Ok(reply) => vec![format!(
            "confirmation e-mail failed: email service answered {}",
            reply.status
        )],
        Err(err) => vec![format!("confirmation e-mail failed: {}", err.detail)],
    };
    record_duration(ctx, id, started).await?;
    let mut body = load_order(ctx, id).await?.body();
    body["warnings"] = json!(warnings);
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

async fn record_duration(ctx: &Ctx, id: i64, started: Instant) -> sqlx::Result<()> {
    let ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    sqlx::query("UPDATE orders SET processing_duration_ms = $2 WHERE id = $1")
        .bind(id)
        .bind(ms)
        .execute(&ctx.db)
        .await
        .map(|_| ())
}

/// Answers once the order and its event are both safe (committed first, as in the saga, so
/// the consumers always find it; undone if the broker does not confirm).
/// `processing_duration_ms` is what peer 004 measured (insert + publish), now including the
/// broker's confirm.
async fn pipeline_async(ctx: &Ctx, p: Pipeline) -> Result<Response, ApiError> {
    let started = Instant::now();
    let mut publication = ctx.begin_publication().await?;
    let id = insert_pipeline_order(publication.db(), &p).await?;
    let event = CheckoutOrderCreated {
        event_type: "order.created".to_owned(),
        event_id: new_event_id(),
        timestamp: Utc::now(),
        order_id: id,
        user_id: p.user_id.clone(),
        user_email: p.user_email.clone(),
        total_amount: format!("{:.2}", p.total),
        items: p.items.clone(),
    };
    publication
        .publish(
            ECOMMERCE_EVENTS,
            RK_ORDER_CREATED,
            &event.event_id,
            &event,
            sqlx::query("DELETE FROM orders WHERE id = $1").bind(id),
        )
        .await?;
    // Accepted from here on: what follows is reported, never turned into an error reply.
    if let Err(err) = record_duration(ctx, id, started).await {
        tracing::warn!(order_id = id, error = %err, "processing time of an accepted order not recorded");
    }
    let body = accepted_body(ctx, id).await;
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Peer 004's results move the order on: paid, then confirmed. Each arrives once (claimed);
/// a late `payment.processed` after the mail still records the transaction.
pub(super) async fn on_order_update(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: Value = incoming.json()?;
    let kind = event["event_type"].as_str().unwrap_or_default().to_owned();
    let Some(mut tx) = ctx.claim(ON_UPDATE, &incoming).await? else {
        return Ok(());
    };
    let mut confirmed = false;
    match kind.as_str() {
        "payment.processed" => {
            let paid: PaymentProcessed = serde_json::from_value(event)?;
            let status = if paid.status == "completed" {
                "paid"
            } else {
                "failed"
            };
            sqlx::query(
                "UPDATE orders SET transaction_id = $2, updated_at = now(),
                     status = CASE WHEN status = 'pending' THEN $3 ELSE status END
                 WHERE id = $1",
            )
            .bind(paid.order_id)
            .bind(&paid.transaction_id)
            .bind(status)
            .execute(&mut *tx)
            .await?;
        }
        "email.sent" => {
            let sent: EmailSent = serde_json::from_value(event)?;
            confirmed = sqlx::query(
                "UPDATE orders SET status = 'confirmed', updated_at = now()
                 WHERE id = $1 AND status IN ('pending', 'paid')",
            )
            .bind(sent.order_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
        }
        other => tracing::info!(event_type = other, "order update of no concern; skipped"),
    }
    tx.commit().await?;
    if confirmed {
        ctx.completions
            .emit(ScenarioId::S7, steps::ORDER_CONFIRMED, true);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Seed 000's checkout.

async fn insert_showdown_order(
    db: impl sqlx::PgExecutor<'_>,
    request: &ShowdownRequest,
    status: &str,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO orders (order_uuid, kind, status, client_ref, total_amount, correlation_id)
         VALUES ($1, 'showdown', $2, $3, $4, $5) RETURNING id",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(status)
    .bind(request.order_id.key())
    .bind(request.amount)
    .bind(correlation::current())
    .fetch_one(db)
    .await
}

/// Seed 000 sync: payment's answer is the answer (its status too); unreachable → 503.
async fn showdown_sync(ctx: &Ctx, request: ShowdownRequest) -> Result<Response, ApiError> {
    let url = format!("{}/pay", ctx.settings.peers.payment_url);
    let reply = http::post_json(
        &ctx.http,
        "payment",
        &url,
        &json!({ "order_id": request.order_id.key(), "amount": request.amount }),
    )
    .await?;
    if !reply.is_success() {
        return Err(ApiError::new(
            reply.status,
            json!({ "message": "Payment failed", "payment": reply.body }),
        ));
    }
    insert_showdown_order(&ctx.db, &request, "paid").await?;
    Ok((reply.status, axum::Json(reply.body)).into_response())
}

/// Seed 000 async: 202 (its README's claim; its code said 200) once the broker has the order.
async fn showdown_async(ctx: &Ctx, request: ShowdownRequest) -> Result<Response, ApiError> {
    let mut publication = ctx.begin_publication().await?;
    let id = insert_showdown_order(publication.db(), &request, "pending").await?;
    let event = ShowdownOrder {
        event_id: new_event_id(),
        order_id: request.order_id.key(),
        order_ref: Some(id),
        amount: request.amount,
        timestamp: Utc::now(),
    };
    publication
        .publish(
            DEFAULT_EXCHANGE,
            SHOWDOWN_ORDER_CREATED,
            &event.event_id,
            &event,
            sqlx::query("DELETE FROM orders WHERE id = $1").bind(id),
        )
        .await?;
    let body = json!({
        "status": "ORDER_ACCEPTED",
        "message": "Order received and processing started.",
        "order_id": request.order_id.key(),
        "id": id,
    });
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Seed 000 published payment results that nobody read; here they mark the order paid.
pub(super) async fn on_showdown_paid(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: ShowdownPaid = incoming.json()?;
    let Some(id) = event.order_ref else {
        tracing::info!(order_id = %event.order_id, "payment result without our order reference; nothing to update");
        return Ok(());
    };
    let Some(mut tx) = ctx.claim(ON_SHOWDOWN_PAID, &incoming).await? else {
        return Ok(());
    };
    sqlx::query("UPDATE orders SET status = 'paid', updated_at = now() WHERE id = $1 AND status = 'pending'")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
