//! User service (S1): registration, then a welcome e-mail.
//!
//! Sync: store the user, call email's `/send_welcome_email` and wait for it (≥ the e-mail
//! delay), answer 201. Async: store the user and announce `UserRegistered` (in `confirm`
//! mode once the broker confirmed it, in `outbox` mode once user and entry committed),
//! answer 202; the e-mail follows.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use common::broker::topology::{DEFAULT_EXCHANGE, USER_REGISTERED};
use common::error::ErrorEnvelope;
use common::events::{UserRegistered, new_event_id};
use common::extract::{Json, Path};
use common::{ApiError, Mode, http};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::migrate::Migrator;
use sqlx::{PgExecutor, PgPool};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::Ctx;

pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/user");

pub fn routes(mode: Mode) -> OpenApiRouter<Ctx> {
    let register = match mode {
        Mode::Sync => routes!(register_sync),
        Mode::Async => routes!(register_async),
    };
    OpenApiRouter::new()
        .routes(register)
        .routes(routes!(list_users))
        .routes(routes!(get_user))
}

pub async fn reset(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("TRUNCATE users, processed_events RESTART IDENTITY")
        .execute(db)
        .await
        .map(|_| ())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct Registration {
    email: String,
}

/// Pydantic's `EmailStr` rejected what this rejects; the answer keeps FastAPI's 422 shape.
fn valid_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim();
    if email.len() <= 254
        && email.parse::<email_address::EmailAddress>().is_ok()
        && email.contains('.')
    {
        Ok(email.to_owned())
    } else {
        Err(ApiError::unprocessable(json!([{
            "type": "value_error", "loc": ["body", "email"],
            "msg": format!("value is not a valid email address: {raw:?}"),
        }])))
    }
}

async fn insert_user<'e>(
    db: impl PgExecutor<'e>,
    email: &str,
) -> Result<(i64, DateTime<Utc>), ApiError> {
    let row: Option<(i64, DateTime<Utc>)> =
        sqlx::query_as("INSERT INTO users (email) VALUES ($1) ON CONFLICT (email) DO NOTHING RETURNING id, created_at")
            .bind(email)
            .fetch_optional(db)
            .await?;
    row.ok_or_else(|| ApiError::bad_request("Email already registered"))
}

/// Sync: stores the user and waits for the welcome e-mail.
#[utoipa::path(post, path = "/register", tag = "user", request_body = Registration, responses(
    (status = 201, description = "registered; `welcome_email_sent` false (with `warnings`) when the e-mail failed", body = Object),
    (status = 400, description = "Email already registered", body = ErrorEnvelope),
    (status = 422, description = "not a valid e-mail address", body = ErrorEnvelope),
))]
async fn register_sync(
    State(ctx): State<Ctx>,
    Json(body): Json<Registration>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let email = valid_email(&body.email)?;
    // Committed before the e-mail call: no database connection is held while we wait
    // (the peers held one, which capped them near 25 req/s).
    let (id, created_at) = insert_user(&ctx.db, &email).await?;
    let url = format!("{}/send_welcome_email", ctx.settings.peers.email_url);
    let call = http::post_json(
        &ctx.http,
        "email",
        &url,
        &json!({ "email": email, "user_id": id }),
    )
    .await;
    let warnings: Vec<String> = http::failure_warning("welcome e-mail", &call)
        .into_iter()
        .collect();
    if !warnings.is_empty() {
        // As the peer: the user exists, so registration still succeeds; the client is told.
        tracing::warn!(?warnings, user_id = id, "registered without welcome e-mail");
    } else {
        tracing::info!(user_id = id, "user registered; welcome e-mail sent");
    }
    let body = json!({
        "id": id,
        "email": email,
        "message": "User registered successfully",
        "timestamp": created_at,
        "welcome_email_sent": warnings.is_empty(),
        "warnings": warnings,
    });
    Ok((StatusCode::CREATED, Json(body)))
}

/// Async: stores the user and announces `UserRegistered`; the e-mail follows.
#[utoipa::path(post, path = "/register", tag = "user", request_body = Registration, responses(
    (status = 202, description = "registered, the welcome e-mail to follow", body = Object),
    (status = 400, description = "Email already registered", body = ErrorEnvelope),
    (status = 422, description = "not a valid e-mail address", body = ErrorEnvelope),
    (status = 503, description = "the broker did not confirm the event; nothing was stored", body = ErrorEnvelope),
))]
async fn register_async(
    State(ctx): State<Ctx>,
    Json(body): Json<Registration>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let email = valid_email(&body.email)?;
    // The user row and the event stand or fall together: an unconfirmed event withdraws the
    // user, so a 503 leaves no half-registered user behind.
    let mut publication = ctx.begin_publication().await?;
    let (id, created_at) = insert_user(publication.db(), &email).await?;
    let event = UserRegistered {
        event_id: new_event_id(),
        user_id: id,
        email: email.clone(),
        timestamp: created_at,
    };
    let published = publication
        .publish(
            DEFAULT_EXCHANGE,
            USER_REGISTERED,
            &event.event_id,
            &event,
            sqlx::query("DELETE FROM users WHERE id = $1").bind(id),
        )
        .await?;
    // One line per flow step, so that the control room's log filter on a correlation id
    // shows the registration next to the e-mail it caused.
    tracing::info!(
        user_id = id,
        ?published,
        "user registered; UserRegistered announced"
    );
    let body = json!({
        "id": id,
        "email": email,
        "message": "User registered successfully. Welcome email will be sent shortly.",
        // `false` in outbox mode: the event is committed, its publish still to come.
        "event_published": published.confirmed(),
        "timestamp": created_at,
    });
    Ok((StatusCode::ACCEPTED, Json(body)))
}

#[utoipa::path(get, path = "/users", tag = "user",
    responses((status = 200, description = "`{count, users: [{id, email}]}`", body = Object)))]
async fn list_users(State(ctx): State<Ctx>) -> Result<Json<Value>, ApiError> {
    let users: Vec<(i64, String)> = sqlx::query_as("SELECT id, email FROM users ORDER BY id")
        .fetch_all(&ctx.db)
        .await?;
    let users: Vec<Value> = users
        .into_iter()
        .map(|(id, email)| json!({ "id": id, "email": email }))
        .collect();
    Ok(Json(json!({ "count": users.len(), "users": users })))
}

#[utoipa::path(get, path = "/users/{id}", tag = "user", params(("id" = i64, Path, description = "user id")), responses(
    (status = 200, description = "`{id, email}`", body = Object),
    (status = 404, description = "User not found", body = ErrorEnvelope),
))]
async fn get_user(State(ctx): State<Ctx>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let user: Option<(i64, String)> = sqlx::query_as("SELECT id, email FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&ctx.db)
        .await?;
    let (id, email) = user.ok_or_else(|| ApiError::not_found("User not found"))?;
    Ok(Json(json!({ "id": id, "email": email })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_validated() {
        assert_eq!(
            valid_email(" a.b@example.com ").ok().as_deref(),
            Some("a.b@example.com")
        );
        for bad in [
            "",
            "plain",
            "a@b",
            "@example.com",
            "a b@example.com",
            "a@@example.com",
        ] {
            assert!(valid_email(bad).is_err(), "{bad:?} must be rejected");
        }
    }
}
