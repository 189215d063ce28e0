//! S7's order confirmation mail: `POST /send_order_confirmation` in sync mode (called by
//! order's checkout, which waits for it); in async mode the consumer of `email_service_queue`
//! (`payment.payment.processed`), which then announces `email.email.sent` on
//! `ecommerce_events`.

use std::time::Duration;

use axum::extract::State;
use chrono::Utc;
use common::ApiError;
use common::broker::consume::Incoming;
use common::broker::topology::{ECOMMERCE_EVENTS, RK_EMAIL_SENT};
use common::correlation;
use common::error::ErrorEnvelope;
use common::events::{EmailSent, PaymentProcessed};
use common::extract::Json;
use serde::Deserialize;
use serde_json::{Value, json};

use super::check_address;
use crate::context::Ctx;

const CONSUMER: &str = "order_confirmation_email";

/// Sends one confirmation mail for `order_id`, after the checkout e-mail delay. For a
/// delivery, the send is claimed together with the record (a redelivery sends nothing) and
/// announced as `email.email.sent` before the commit: the claim and the record only stand
/// once the broker has the announcement.
async fn send_confirmation(
    ctx: &Ctx,
    order_id: i64,
    recipient: &str,
    delivery: Option<&Incoming>,
) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_millis(
        ctx.knobs.get().checkout_email_delay_ms,
    ))
    .await;
    let subject = format!("Order Confirmation - Order #{order_id}");
    let Some(mut tx) = ctx.begin_effect(CONSUMER, delivery).await? else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO emails (recipient, kind, subject, order_id, event_id, correlation_id)
         VALUES ($1, 'order_confirmation', $2, $3, $4, $5)",
    )
    .bind(recipient)
    .bind(&subject)
    .bind(order_id)
    .bind(delivery.map(|d| d.event_id.as_str()))
    .bind(correlation::current())
    .execute(&mut *tx)
    .await?;
    if delivery.is_some() {
        let sent = EmailSent {
            event_type: "email.sent".to_owned(),
            event_id: format!("sent-{order_id}"),
            timestamp: Utc::now(),
            order_id,
            recipient: recipient.to_owned(),
            subject,
            template: "order_confirmation".to_owned(),
        };
        ctx.broker
            .publish_event(ECOMMERCE_EVENTS, RK_EMAIL_SENT, &sent.event_id, &sent)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct ConfirmationRequest {
    order_id: i64,
    user_email: String,
}

#[utoipa::path(post, path = "/send_order_confirmation", tag = "email", request_body = ConfirmationRequest, responses(
    (status = 200, description = "sent: `{message, email, order_id, timestamp}`", body = Object),
    (status = 422, description = "not an e-mail address", body = ErrorEnvelope),
))]
pub(super) async fn send_order_confirmation(
    State(ctx): State<Ctx>,
    Json(body): Json<ConfirmationRequest>,
) -> Result<Json<Value>, ApiError> {
    check_address(&body.user_email)?;
    send_confirmation(&ctx, body.order_id, &body.user_email, None)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({
        "message": "Email sent",
        "email": body.user_email,
        "order_id": body.order_id,
        "timestamp": Utc::now(),
    })))
}

/// Peer 004's email consumer: only completed payments get a mail.
pub(super) async fn on_payment_processed(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: PaymentProcessed = incoming.json()?;
    if event.status != "completed" {
        tracing::info!(order_id = event.order_id, status = %event.status, "no confirmation for an unpaid order");
        return Ok(());
    }
    if ctx.handled_before(CONSUMER, &incoming).await? {
        return Ok(());
    }
    send_confirmation(&ctx, event.order_id, &event.user_email, Some(&incoming)).await?;
    Ok(())
}
