//! The gateway's own answers (it owns no data and no broker: its router needs no offline
//! context, only settings whose upstreams are all a closed local port), and the statuses it
//! passes through from an upstream.

use std::time::Duration;

use axum::http::StatusCode;
use common::Mode;
use common::scenario::Service;
use serde_json::json;

use crate::gateway;
use crate::testing::{assert_envelope, empty, json, offline_router, send, settings};

fn offline_gateway() -> axum::Router {
    gateway::app(settings(Mode::Sync))
}

#[tokio::test]
async fn gateway_unknown_route_is_404() {
    let answer = send(offline_gateway(), empty("GET", "/no/such/route")).await;
    assert_envelope(&answer, StatusCode::NOT_FOUND);
    assert_eq!(answer.body["detail"], "Not Found");
}

#[tokio::test]
async fn gateway_unknown_service_is_404_naming_the_known_ones() {
    let answer = send(offline_gateway(), empty("GET", "/sync/nope/users")).await;
    assert_envelope(&answer, StatusCode::NOT_FOUND);
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("unknown service `nope`"), "{detail}");
    assert!(
        detail.contains("inventory") && !detail.contains("gateway"),
        "{detail}"
    );
}

#[tokio::test]
async fn gateway_wrong_method_is_405() {
    let answer = send(offline_gateway(), empty("GET", "/api/checkout")).await;
    assert_envelope(&answer, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn gateway_oversized_pass_through_body_is_413() {
    let body = "x".repeat(settings(Mode::Sync).max_body_bytes + 1);
    let answer = send(offline_gateway(), json("POST", "/sync/user/register", body)).await;
    assert_envelope(&answer, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.body["detail"], "request body too large");
}

#[tokio::test]
async fn gateway_oversized_api_body_is_413() {
    let body = "x".repeat(settings(Mode::Sync).max_body_bytes + 1);
    let answer = send(offline_gateway(), json("POST", "/api/checkout", body)).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn gateway_unreachable_upstream_is_503_naming_service_and_stack() {
    let request = json("POST", "/async/user/register", r#"{"email": "a@b.co"}"#);
    let answer = tokio::time::timeout(Duration::from_secs(5), send(offline_gateway(), request))
        .await
        .expect("a refused connection answers at once");
    assert_envelope(&answer, StatusCode::SERVICE_UNAVAILABLE);
    let detail = answer.body["detail"].to_string();
    assert!(
        detail.contains("user") && detail.contains("async"),
        "{detail}"
    );
}

#[tokio::test]
async fn gateway_ready_needs_nothing() {
    let answer = send(offline_gateway(), empty("GET", "/ready")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["database"], "not used");
    assert_eq!(answer.body["broker"], "not used");
}

#[tokio::test]
async fn gateway_health_is_503_while_the_api_upstream_is_down() {
    let request = send(offline_gateway(), empty("GET", "/health"));
    let answer = tokio::time::timeout(Duration::from_secs(5), request)
        .await
        .expect("probes of refused ports answer at once");
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    assert_eq!(answer.body["status"], "unhealthy");
    assert_eq!(
        answer.body["api_upstream"],
        json!({ "service": "order", "mode": "async", "state": "down" })
    );
    let user = answer.body["upstreams"]["user"]["sync"]
        .as_str()
        .unwrap_or_default();
    assert!(user.starts_with("down"), "{user}");
}

/// 415 and 422 are the upstream's: the gateway forwards body and headers as sent and answers
/// what came back. The upstream here is the offline user service on a loopback port.
#[tokio::test]
async fn gateway_passes_the_upstreams_415_and_422_through() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let app = offline_router(Service::User, Mode::Sync);
        axum::serve(listener, app).await
    });
    let mut config = settings(Mode::Sync);
    config.peers.user_url = upstream;
    let router = gateway::app(config);

    let no_json = empty("POST", "/sync/user/register");
    let answer = send(router.clone(), no_json).await;
    assert_envelope(&answer, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let invalid = json("POST", "/sync/user/register", r#"{"email": "nope"}"#);
    let answer = send(router, invalid).await;
    assert_envelope(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["detail"][0]["loc"], json!(["body", "email"]));
    server.abort();
}
