//! The one error type of every HTTP API, and the one place that maps errors to status codes.
//!
//! Bodies follow FastAPI's envelope (docs/contract.md, Error envelope), because the peers' clients read
//! `detail.compensation_executed`: `{"detail": <string|object|list>, "correlation_id": "…"}`.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::correlation;

/// An error answer: a status and a `detail` for the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<Value>) -> Self {
        ApiError {
            status,
            detail: detail.into(),
        }
    }

    pub fn bad_request(detail: impl Into<Value>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<Value>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn conflict(detail: impl Into<Value>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    pub fn unprocessable(detail: impl Into<Value>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    pub fn unauthorized(detail: impl Into<Value>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// A dependency (broker, database, another service) is down: the client may retry.
    pub fn unavailable(detail: impl Into<Value>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }

    /// A dependency did not answer in time.
    pub fn timeout(detail: impl Into<Value>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, detail)
    }

    /// A fault of ours: logged with its cause, answered without leaking it.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the service log",
        )
    }

    /// FastAPI's validation shape, so clients that parse `detail[0].msg` keep working.
    fn validation(kind: &str, location: &str, msg: impl Into<String>) -> Self {
        Self::unprocessable(json!([{ "type": kind, "loc": [location], "msg": msg.into() }]))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

/// So a handler's failure keeps its status inside an `anyhow` chain (a consumer tells a
/// 503, worth retrying, from a bad message).
impl std::error::Error for ApiError {}

/// The body of every error answer; `ApiError` writes it and the OpenAPI spec names it on
/// every error response, so the two cannot differ.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    /// A message, or FastAPI's validation list `[{"type", "loc", "msg"}]`, or an object.
    pub detail: Value,
    /// The request's `x-correlation-id` (null outside a request).
    pub correlation_id: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorEnvelope {
            detail: self.detail,
            correlation_id: correlation::current(),
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => Self::validation("json_data", "body", e.body_text()),
            JsonRejection::JsonSyntaxError(e) => {
                Self::validation("json_invalid", "body", e.body_text())
            }
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a JSON body with `content-type: application/json`",
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
            }
            other => Self::new(other.status(), other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::validation("path", "path", rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::validation("query", "query", rejection.body_text())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        // 22021: text PostgreSQL cannot store, in practice a NUL (`\u0000`), which JSON allows
        // in strings and `text` does not; the input is at fault, not the service.
        const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
        if crate::db::is_transient(&err) {
            Self::unavailable(format!("database unavailable: {err}"))
        } else if err.as_database_error().and_then(|e| e.code()).as_deref()
            == Some(CHARACTER_NOT_IN_REPERTOIRE)
        {
            Self::validation(
                "value_error",
                "body",
                "text must not contain the NUL character (\\u0000)",
            )
        } else {
            Self::internal(err)
        }
    }
}

impl From<crate::broker::PublishError> for ApiError {
    fn from(err: crate::broker::PublishError) -> Self {
        // 503, never 202: the message was not confirmed, so nothing was accepted.
        Self::unavailable(format!(
            "message broker could not confirm the event, nothing was accepted: {err}"
        ))
    }
}

/// Unknown route: the same envelope as every other error.
#[expect(clippy::unused_async, reason = "an axum fallback is an async handler")]
pub async fn not_found() -> ApiError {
    ApiError::not_found("Not Found")
}

/// Known route, wrong method.
#[expect(clippy::unused_async, reason = "an axum fallback is an async handler")]
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}
