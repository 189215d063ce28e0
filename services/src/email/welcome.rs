//! S1's welcome mail: `POST /send_welcome_email` in sync mode (called by user, which waits
//! for it), the consumer of `user_registered_queue` in async mode; one send for both.

use std::time::Duration;

use axum::extract::State;
use chrono::Utc;
use common::ApiError;
use common::broker::consume::Incoming;
use common::correlation;
use common::error::ErrorEnvelope;
use common::events::UserRegistered;
use common::extract::Json;
use common::scenario::{ScenarioId, steps};
use serde::Deserialize;
use serde_json::{Value, json};

use super::check_address;
use crate::context::Ctx;

/// Name under which the welcome consumer records handled events.
const CONSUMER: &str = "welcome_email";

/// Sends one welcome e-mail. For a delivery, the send is recorded together with the claim of
/// its event, so that a redelivery sends nothing (and is noted as a duplicate).
async fn send_welcome(
    ctx: &Ctx,
    recipient: &str,
    user_id: Option<i64>,
    delivery: Option<&Incoming>,
) -> sqlx::Result<()> {
    tokio::time::sleep(Duration::from_millis(ctx.knobs.get().email_delay_ms)).await;
    let Some(mut tx) = ctx.begin_effect(CONSUMER, delivery).await? else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO emails (recipient, kind, subject, user_id, event_id, correlation_id)
         VALUES ($1, 'welcome', 'Welcome!', $2, $3, $4)",
    )
    .bind(recipient)
    .bind(user_id)
    .bind(delivery.map(|d| d.event_id.as_str()))
    .bind(correlation::current())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(%recipient, "welcome e-mail sent");
    ctx.completions
        .emit(ScenarioId::S1, steps::WELCOME_EMAIL_SENT, true);
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct WelcomeRequest {
    email: String,
    user_id: Option<i64>,
}

#[utoipa::path(post, path = "/send_welcome_email", tag = "email", request_body = WelcomeRequest, responses(
    (status = 200, description = "sent (after the e-mail delay): `{message, email, timestamp}`", body = Object),
    (status = 422, description = "not an e-mail address", body = ErrorEnvelope),
))]
pub(super) async fn send_welcome_email(
    State(ctx): State<Ctx>,
    Json(body): Json<WelcomeRequest>,
) -> Result<Json<Value>, ApiError> {
    check_address(&body.email)?;
    send_welcome(&ctx, &body.email, body.user_id, None).await?;
    Ok(Json(
        json!({ "message": "Email sent", "email": body.email, "timestamp": Utc::now() }),
    ))
}

pub(super) async fn on_user_registered(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let event: UserRegistered = incoming.json()?;
    anyhow::ensure!(
        event.email.contains('@'),
        "UserRegistered without a usable e-mail: {:?}",
        event.email
    );
    // Skip the slow part for an event we already handled; the claim is the real guard.
    if ctx.handled_before(CONSUMER, &incoming).await? {
        return Ok(());
    }
    send_welcome(&ctx, &event.email, Some(event.user_id), Some(&incoming)).await?;
    Ok(())
}
