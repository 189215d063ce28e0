//! The one outgoing HTTP client: timeouts, the correlation header, and the mapping of a
//! failed call to the caller's answer (503 unreachable, 504 timed out).

use std::time::Duration;

use reqwest::StatusCode;
use serde::Serialize;
use serde_json::Value;

use crate::correlation;
use crate::error::ApiError;

/// Builds the client every service shares (connection pooling matters under load).
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(2).min(timeout))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        // Building only fails when the TLS backend cannot start; we ship none.
        .unwrap_or_default()
}

/// What a downstream service answered.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }
}

/// Sends `request` with the current correlation id; `service` names the callee in errors.
pub async fn send(service: &str, request: reqwest::RequestBuilder) -> Result<Reply, ApiError> {
    let request = match correlation::current() {
        Some(id) => request.header(correlation::HEADER, id),
        None => request,
    };
    let response = request.send().await.map_err(|e| call_error(service, &e))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| call_error(service, &e))?;
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok(Reply { status, body })
}

/// POSTs a JSON body to `url`.
pub async fn post_json(
    client: &reqwest::Client,
    service: &str,
    url: &str,
    body: &impl Serialize,
) -> Result<Reply, ApiError> {
    send(service, client.post(url).json(body)).await
}

fn call_error(service: &str, err: &reqwest::Error) -> ApiError {
    if err.is_timeout() {
        ApiError::timeout(format!("{service} service timed out"))
    } else if err.is_connect() {
        ApiError::unavailable(format!("{service} service unreachable"))
    } else {
        ApiError::unavailable(format!("{service} service call failed: {err}"))
    }
}

/// The warning a caller reports when an optional downstream `step` failed (the peers only
/// logged it, so their clients never knew); `None` when it succeeded.
pub fn failure_warning(step: &str, call: &Result<Reply, ApiError>) -> Option<String> {
    match call {
        Ok(reply) if reply.is_success() => None,
        Ok(reply) => Some(format!("{step} failed: answered {}", reply.status)),
        Err(err) => Some(format!(
            "{step} failed: {}",
            err.detail.as_str().unwrap_or("downstream error")
        )),
    }
}
