//! What every service shares, tested on the user service (and, where cheap, on all of them).

use std::time::Duration;

use axum::http::{StatusCode, header};
use common::Mode;
use common::correlation::HEADER;
use common::scenario::Service;
use serde_json::json;

use crate::testing::{
    ADMIN_TOKEN, Answer, assert_envelope, bearer, empty, json, offline_router, offline_router_with,
    send, settings, with_token,
};

/// Every service that runs on the common app (the gateway has its own router).
fn app_services() -> impl Iterator<Item = Service> {
    Service::ALL.into_iter().filter(|s| *s != Service::Gateway)
}

async fn user(request: axum::http::Request<axum::body::Body>) -> Answer {
    send(offline_router(Service::User, Mode::Sync), request).await
}

fn correlation(answer: &Answer) -> &str {
    answer
        .headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

// ---- the error envelope and correlation ids ----

#[tokio::test]
async fn error_envelope_carries_the_callers_correlation_id() {
    let mut request = empty("GET", "/no/such/route");
    request
        .headers_mut()
        .insert(HEADER, "trace-42.a:b_c".parse().unwrap());
    let answer = user(request).await;
    assert_envelope(&answer, StatusCode::NOT_FOUND);
    assert_eq!(answer.body["detail"], "Not Found");
    assert_eq!(correlation(&answer), "trace-42.a:b_c");
    assert_eq!(answer.body["correlation_id"], "trace-42.a:b_c");
}

#[tokio::test]
async fn a_correlation_id_is_generated_when_none_is_given() {
    let answer = user(empty("GET", "/no/such/route")).await;
    assert_envelope(&answer, StatusCode::NOT_FOUND);
    let id = correlation(&answer);
    assert!(uuid::Uuid::parse_str(id).is_ok(), "not a UUID: {id:?}");
}

#[tokio::test]
async fn an_unsafe_correlation_id_is_replaced_not_echoed() {
    let mut request = empty("GET", "/no/such/route");
    request
        .headers_mut()
        .insert(HEADER, "two words".parse().unwrap());
    let answer = user(request).await;
    assert_envelope(&answer, StatusCode::NOT_FOUND);
    assert_ne!(correlation(&answer), "two words");
    assert!(uuid::Uuid::parse_str(correlation(&answer)).is_ok());
}

#[tokio::test]
async fn successful_answers_echo_the_correlation_id_too() {
    let mut request = empty("GET", "/health");
    request
        .headers_mut()
        .insert(HEADER, "ok-1".parse().unwrap());
    let answer = user(request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(correlation(&answer), "ok-1");
}

#[tokio::test]
async fn a_path_parameter_of_the_wrong_type_is_a_422_in_fastapis_shape() {
    let answer = user(empty("GET", "/users/not-a-number")).await;
    assert_envelope(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["detail"][0]["type"], "path");
    assert_eq!(answer.body["detail"][0]["loc"], json!(["path"]));
    assert!(answer.body["detail"][0]["msg"].is_string());
}

// ---- /health, /ready, /metrics ----

#[tokio::test]
async fn health_names_the_service_and_mode_of_every_service() {
    for service in app_services() {
        for mode in Mode::ALL {
            let answer = send(offline_router(service, mode), empty("GET", "/health")).await;
            assert_eq!(answer.status, StatusCode::OK, "{service} {mode}");
            assert_eq!(
                answer.body,
                json!({ "status": "healthy", "service": service, "mode": mode }),
                "{service} {mode}"
            );
        }
    }
}

#[tokio::test]
async fn ready_is_503_naming_the_database_and_broker_down_in_both_modes() {
    for mode in Mode::ALL {
        let router = offline_router(Service::User, mode);
        let answer =
            tokio::time::timeout(Duration::from_secs(5), send(router, empty("GET", "/ready")))
                .await
                .expect("/ready answers quickly with its dependencies down");
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{mode}");
        assert_eq!(
            answer.body,
            json!({
                "status": "not ready", "service": "user", "mode": mode,
                "database": "down", "broker": "down",
            }),
            "{mode}"
        );
    }
}

#[tokio::test]
async fn ready_is_503_on_every_service_without_its_dependencies() {
    for service in app_services() {
        let answer = send(offline_router(service, Mode::Async), empty("GET", "/ready")).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{service}");
        assert_eq!(answer.body["service"], service.name());
        assert_eq!(answer.body["database"], "down", "{service}");
        assert_eq!(answer.body["broker"], "down", "{service}");
    }
}

#[tokio::test]
async fn metrics_are_served_as_prometheus_text() {
    let answer = user(empty("GET", "/metrics")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let content_type = answer.headers.get(header::CONTENT_TYPE).unwrap();
    assert_eq!(content_type, "text/plain; version=0.0.4");
}

// ---- dependencies down behind a business route ----

#[tokio::test]
async fn a_route_that_needs_the_database_answers_503_instead_of_hanging() {
    let request = send(
        offline_router(Service::User, Mode::Sync),
        empty("GET", "/users"),
    );
    let answer = tokio::time::timeout(Duration::from_secs(5), request)
        .await
        .expect("the pool's acquire timeout bounds the wait");
    assert_envelope(&answer, StatusCode::SERVICE_UNAVAILABLE);
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("database unavailable"), "{detail}");
}

#[tokio::test]
async fn an_async_event_the_broker_cannot_confirm_is_a_503_never_a_202() {
    let click = r#"{"user_id": 7, "page": "/home"}"#;
    let router = offline_router(Service::Analytics, Mode::Async);
    let answer = send(router, json("POST", "/track_click", click)).await;
    assert_envelope(&answer, StatusCode::SERVICE_UNAVAILABLE);
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("nothing was accepted"), "{detail}");
}

// ---- the admin API: 401 ----

#[tokio::test]
async fn admin_without_a_token_is_401() {
    let answer = user(empty("GET", "/admin/config")).await;
    assert_envelope(&answer, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.body["detail"], "missing or wrong bearer token");
}

#[tokio::test]
async fn admin_with_a_wrong_token_is_401() {
    let answer = user(with_token(empty("GET", "/admin/config"), "Bearer not-it")).await;
    assert_envelope(&answer, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.body["detail"], "missing or wrong bearer token");
}

#[tokio::test]
async fn admin_wants_the_bearer_scheme() {
    let answer = user(with_token(empty("GET", "/admin/config"), ADMIN_TOKEN)).await;
    assert_envelope(&answer, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_is_401_for_everyone_when_no_token_is_configured() {
    let mut disabled = settings(Mode::Sync);
    disabled.admin_token = None;
    let router = offline_router_with(Service::User, disabled);
    let answer = send(router, bearer(empty("GET", "/admin/config"))).await;
    assert_envelope(&answer, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.body["detail"],
        "admin API disabled: MS_ADMIN_TOKEN is not set"
    );
}

#[tokio::test]
async fn admin_reset_without_a_token_is_401_before_touching_the_database() {
    let answer = user(empty("POST", "/admin/reset")).await;
    assert_envelope(&answer, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_config_change_without_a_token_is_401() {
    let patch = r#"{"email_delay_ms": 1}"#;
    let answer = user(json("PUT", "/admin/config", patch)).await;
    assert_envelope(&answer, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_checks_the_token_before_the_body_is_read() {
    let wrong_type = || {
        axum::http::Request::builder()
            .method("PUT")
            .uri("/admin/config")
            .header(header::CONTENT_TYPE, "text/plain")
            .body(axum::body::Body::from("email_delay_ms=1"))
            .unwrap()
    };
    for request in [
        wrong_type(),
        with_token(wrong_type(), "Bearer not-it"),
        json("PUT", "/admin/config", "{not json"),
        json("PUT", "/admin/config", r#"{"nope": 1}"#),
        empty("PUT", "/admin/config"),
        json("POST", "/admin/reset", "{not json"),
    ] {
        let answer = user(request).await;
        assert_envelope(&answer, StatusCode::UNAUTHORIZED);
    }
    // With the token, the same body gets the answer about the body.
    assert_eq!(
        user(bearer(wrong_type())).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
}

// ---- the admin API: answers and 422 ----

#[tokio::test]
async fn admin_config_answers_the_knobs_with_the_right_token() {
    let answer = user(bearer(empty("GET", "/admin/config"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["service"], "user");
    assert_eq!(answer.body["mode"], "sync");
    assert_eq!(answer.body["knobs"]["payment_delay_ms"], 2000);
}

#[tokio::test]
async fn admin_config_change_is_applied_and_served_back() {
    let router = offline_router(Service::User, Mode::Sync);
    let patch = r#"{"email_delay_ms": 5, "payment_failure_rate": 0.5}"#;
    let changed = send(router.clone(), bearer(json("PUT", "/admin/config", patch))).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["knobs"]["email_delay_ms"], 5);
    let read = send(router, bearer(empty("GET", "/admin/config"))).await;
    assert_eq!(read.body["knobs"]["payment_failure_rate"], 0.5);
}

#[tokio::test]
async fn admin_config_refuses_an_unknown_knob_with_422() {
    let answer = user(bearer(json("PUT", "/admin/config", r#"{"nope": 1}"#))).await;
    assert_envelope(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["detail"], "unknown knob `nope`");
}

#[tokio::test]
async fn admin_config_refuses_an_out_of_range_value_and_changes_nothing() {
    let router = offline_router(Service::User, Mode::Sync);
    let patch = r#"{"email_delay_ms": 9, "payment_failure_rate": 2.0}"#;
    let refused = send(router.clone(), bearer(json("PUT", "/admin/config", patch))).await;
    assert_envelope(&refused, StatusCode::UNPROCESSABLE_ENTITY);
    let detail = refused.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("payment_failure_rate"), "{detail}");
    let read = send(router, bearer(empty("GET", "/admin/config"))).await;
    assert_eq!(
        read.body["knobs"]["email_delay_ms"], 500,
        "atomic: nothing changed"
    );
}

#[tokio::test]
async fn admin_config_takes_a_publish_mode_and_refuses_any_other_with_422() {
    let router = offline_router(Service::User, Mode::Async);
    let read = send(router.clone(), bearer(empty("GET", "/admin/config"))).await;
    assert_eq!(read.body["knobs"]["publish_mode"], "confirm", "the default");
    let patch = r#"{"publish_mode": "outbox"}"#;
    let changed = send(router.clone(), bearer(json("PUT", "/admin/config", patch))).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["knobs"]["publish_mode"], "outbox");
    for bad in [r#"{"publish_mode": "sometimes"}"#, r#"{"publish_mode": 1}"#] {
        let refused = send(router.clone(), bearer(json("PUT", "/admin/config", bad))).await;
        assert_envelope(&refused, StatusCode::UNPROCESSABLE_ENTITY);
        let detail = refused.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("invalid knob value"), "{detail}");
    }
    let named = send(
        router.clone(),
        bearer(json(
            "PUT",
            "/admin/config",
            r#"{"publish_mode": "sometimes"}"#,
        )),
    )
    .await;
    let detail = named.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("publish_mode must be `confirm` or `outbox`"),
        "{detail}"
    );
    let read = send(router, bearer(empty("GET", "/admin/config"))).await;
    assert_eq!(read.body["knobs"]["publish_mode"], "outbox", "unchanged");
}

#[tokio::test]
async fn admin_config_refuses_a_value_of_the_wrong_type_with_422() {
    let patch = r#"{"email_delay_ms": "slow"}"#;
    let answer = user(bearer(json("PUT", "/admin/config", patch))).await;
    assert_envelope(&answer, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn admin_config_refuses_a_body_that_is_not_an_object_with_422() {
    let answer = user(bearer(json("PUT", "/admin/config", "[1, 2]"))).await;
    assert_envelope(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        answer.body["detail"],
        "expected a JSON object of knob fields"
    );
}

#[tokio::test]
async fn admin_config_serves_consumer_concurrency_and_refuses_it_out_of_range() {
    let router = offline_router(Service::Email, Mode::Async);
    let read = send(router.clone(), bearer(empty("GET", "/admin/config"))).await;
    assert_eq!(
        read.body["knobs"]["consumer_concurrency"], 16,
        "{}",
        read.text
    );
    assert!(read.body["consumers"].is_object(), "{}", read.text);
    for bad in ["0", "1025"] {
        let patch = format!(r#"{{"consumer_concurrency": {bad}}}"#);
        let refused = send(router.clone(), bearer(json("PUT", "/admin/config", &patch))).await;
        assert_envelope(&refused, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            refused.body["detail"],
            format!("consumer_concurrency must be within 1..=1024, got {bad}")
        );
    }
}
