//! Correlation ids (docs/contract.md, Correlation): taken from `x-correlation-id` or generated, echoed in the
//! response, and available to everything the request does through a task-local.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-correlation-id";

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request or message being handled, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Accepts a client's id only if it is safe to echo in headers and logs.
pub fn sanitize(raw: &str) -> Option<String> {
    let ok = (1..=128).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| raw.to_owned())
}

/// Runs `fut` with `id` as the current correlation id, inside a span that logs it.
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    let span = tracing::info_span!("flow", correlation_id = %id);
    CURRENT.scope(id, fut.instrument(span)).await
}

/// Axum middleware: every request runs in the scope of its correlation id.
pub async fn middleware(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(sanitize)
        .unwrap_or_else(new_id);
    let header = HeaderValue::from_str(&id).ok();
    let mut response = scope(id, next.run(request)).await;
    if let Some(value) = header {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_ids_are_replaced() {
        assert_eq!(sanitize("abc-123_x.y:z").as_deref(), Some("abc-123_x.y:z"));
        assert_eq!(sanitize(""), None);
        assert_eq!(sanitize("a b"), None);
        assert_eq!(sanitize("a\nb"), None);
        assert_eq!(sanitize(&"x".repeat(129)), None);
    }

    #[tokio::test]
    async fn current_follows_the_scope() {
        assert_eq!(current(), None);
        let seen = scope("c-1".into(), async { current() }).await;
        assert_eq!(seen.as_deref(), Some("c-1"));
    }
}
