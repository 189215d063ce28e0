//! `/admin/faults` and what an injected fault does, in-process: the token before the body,
//! every refusal naming its field, replace semantics, expiry, and which routes a fault reaches.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::Mode;
use common::scenario::Service;
use serde_json::{Value, json};

use crate::faults;
use crate::testing::{
    Answer, assert_envelope, bearer, empty, json, offline_ctx, offline_router, send, settings,
    with_token,
};

fn user() -> Router {
    offline_router(Service::User, Mode::Sync)
}

async fn put_fault(router: &Router, body: Value) -> Answer {
    let request = bearer(json("PUT", "/admin/faults", body.to_string()));
    send(router.clone(), request).await
}

async fn active_fault(router: &Router) -> Value {
    let answer = send(router.clone(), bearer(empty("GET", "/admin/faults"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["fault"].clone()
}

/// A business route that needs neither database nor broker: its body is refused with 422 by
/// the extractor, so an answer in milliseconds means "the handler ran".
fn register_nobody() -> Request<Body> {
    json("POST", "/register", "{}")
}

fn detail(answer: &Answer) -> &str {
    answer.body["detail"].as_str().unwrap_or_default()
}

fn assert_injected(answer: &Answer, status: u16) {
    assert_envelope(answer, StatusCode::from_u16(status).unwrap());
    assert!(
        detail(answer).starts_with("injected fault"),
        "{}",
        answer.text
    );
}

// ---- the token comes first ----

#[tokio::test]
async fn every_faults_method_without_or_with_a_wrong_token_is_401() {
    let body = r#"{"latency_ms": 10, "ttl_s": 5}"#;
    for token in [None, Some("Bearer not-it")] {
        for request in [
            empty("GET", "/admin/faults"),
            json("PUT", "/admin/faults", body),
            empty("DELETE", "/admin/faults"),
        ] {
            let what = format!("{} with {token:?}", request.method());
            let request = match token {
                Some(value) => with_token(request, value),
                None => request,
            };
            let answer = send(user(), request).await;
            assert_envelope(&answer, StatusCode::UNAUTHORIZED);
            assert_eq!(detail(&answer), "missing or wrong bearer token", "{what}");
        }
    }
}

#[tokio::test]
async fn a_faults_put_without_the_token_is_401_whatever_its_body() {
    let router = user();
    let wrong_type = Request::builder()
        .method("PUT")
        .uri("/admin/faults")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("latency please"))
        .unwrap();
    for request in [
        json("PUT", "/admin/faults", "{not json"),
        json("PUT", "/admin/faults", r#"{"nope": 1}"#),
        json("PUT", "/admin/faults", r#"{"latency_ms": 1}"#),
        empty("PUT", "/admin/faults"),
        wrong_type,
    ] {
        let answer = send(router.clone(), request).await;
        assert_envelope(&answer, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(active_fault(&router).await, Value::Null, "nothing applied");
}

// ---- 422: each field named, nothing applied ----

#[tokio::test]
async fn each_invalid_field_is_a_422_naming_it_and_nothing_is_applied() {
    let router = user();
    for (body, expected) in [
        (json!({ "latency_ms": 100 }), "ttl_s: missing field"),
        (
            json!({ "ttl_s": 5, "latency": 100 }),
            "latency: unknown field",
        ),
        (
            json!({ "ttl_s": 5, "latency_ms": "slow" }),
            "latency_ms: invalid type",
        ),
        (json!({ "ttl_s": "5" }), "ttl_s: invalid type"),
        (
            json!({ "ttl_s": 5, "error_rate": "half" }),
            "error_rate: invalid type",
        ),
        (
            json!({ "ttl_s": 5, "latency_ms": -1 }),
            "latency_ms: invalid value",
        ),
        (json!({ "ttl_s": -5 }), "ttl_s: invalid value"),
        (
            json!({ "ttl_s": 5, "latency_ms": 60_001 }),
            "latency_ms: must be at most 60000",
        ),
        (
            json!({ "ttl_s": 5, "jitter_ms": 60_001 }),
            "jitter_ms: must be at most 60000",
        ),
        (
            json!({ "ttl_s": 5, "consumer_delay_ms": 60_001 }),
            "consumer_delay_ms: must be at most 60000",
        ),
        (
            json!({ "ttl_s": 5, "error_rate": 1.01 }),
            "error_rate: must be within 0.0..=1.0",
        ),
        (
            json!({ "ttl_s": 5, "error_rate": -0.5 }),
            "error_rate: must be within 0.0..=1.0",
        ),
        (
            json!({ "ttl_s": 5, "error_status": 499 }),
            "error_status: must be within 500..=599",
        ),
        (
            json!({ "ttl_s": 5, "error_status": 600 }),
            "error_status: must be within 500..=599",
        ),
        (
            json!({ "ttl_s": 5, "route_prefix": "users" }),
            "route_prefix: must start with",
        ),
        (json!({ "ttl_s": 0 }), "ttl_s: must be at least 1"),
        (json!({ "ttl_s": 3_601 }), "ttl_s: must be at most 3600"),
        (
            json!([{ "ttl_s": 5 }]),
            "expected a JSON object of fault fields",
        ),
    ] {
        let answer = put_fault(&router, body.clone()).await;
        assert_envelope(&answer, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            detail(&answer).starts_with(expected),
            "{body}: {}",
            answer.text
        );
    }
    assert_eq!(active_fault(&router).await, Value::Null, "nothing applied");
}

#[tokio::test]
async fn a_refused_put_leaves_the_active_fault_as_it_was() {
    let router = user();
    let set = put_fault(&router, json!({ "latency_ms": 7, "ttl_s": 60 })).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    let refused = put_fault(&router, json!({ "error_rate": 1.0, "ttl_s": 0 })).await;
    assert_envelope(&refused, StatusCode::UNPROCESSABLE_ENTITY);
    let fault = active_fault(&router).await;
    assert_eq!(
        (fault["latency_ms"].as_u64(), fault["error_rate"].as_f64()),
        (Some(7), Some(0.0))
    );
}

// ---- PUT, GET, DELETE ----

#[tokio::test]
async fn a_put_answers_200_with_the_whole_active_fault() {
    let router = user();
    let body = json!({ "latency_ms": 200, "jitter_ms": 50, "route_prefix": "/users", "ttl_s": 30 });
    let answer = put_fault(&router, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.body,
        json!({
            "service": "user", "mode": "sync",
            "fault": {
                "latency_ms": 200, "jitter_ms": 50, "error_rate": 0.0, "error_status": 503,
                "consumer_delay_ms": 0, "route_prefix": "/users", "ttl_s": 30,
                "expires_in_s": 30.0,
            },
        })
    );
    let read = active_fault(&router).await;
    let left = read["expires_in_s"].as_f64().unwrap();
    assert!((29.0..=30.0).contains(&left), "counting down: {left}");
    assert_eq!(read["latency_ms"], 200);
}

#[tokio::test]
async fn get_says_null_without_a_fault() {
    let answer = send(user(), bearer(empty("GET", "/admin/faults"))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!({ "service": "user", "mode": "sync", "fault": null })
    );
}

#[tokio::test]
async fn a_replaced_fault_loses_the_fields_the_new_put_left_out() {
    let router = user();
    let first = json!({
        "latency_ms": 500, "jitter_ms": 100, "error_rate": 0.5, "error_status": 502,
        "consumer_delay_ms": 40, "route_prefix": "/users", "ttl_s": 60,
    });
    assert_eq!(put_fault(&router, first).await.status, StatusCode::OK);
    let second = put_fault(&router, json!({ "consumer_delay_ms": 10, "ttl_s": 5 })).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    let fault = active_fault(&router).await;
    assert_eq!(
        (
            &fault["latency_ms"],
            &fault["jitter_ms"],
            &fault["error_rate"],
            &fault["error_status"],
            &fault["route_prefix"],
        ),
        (&json!(0), &json!(0), &json!(0.0), &json!(503), &Value::Null)
    );
    assert_eq!(
        (&fault["consumer_delay_ms"], &fault["ttl_s"]),
        (&json!(10), &json!(5))
    );
}

#[tokio::test]
async fn delete_clears_the_fault_and_says_whether_there_was_one() {
    let router = user();
    put_fault(&router, json!({ "error_rate": 1.0, "ttl_s": 60 })).await;
    let deleted = send(router.clone(), bearer(empty("DELETE", "/admin/faults"))).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert_eq!(
        deleted.body,
        json!({ "service": "user", "mode": "sync", "fault": null, "cleared": true })
    );
    assert_eq!(active_fault(&router).await, Value::Null);
    assert_eq!(
        send(router.clone(), register_nobody()).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let again = send(router, bearer(empty("DELETE", "/admin/faults"))).await;
    assert_eq!(again.body["cleared"], false);
}

#[tokio::test]
async fn every_service_serves_its_faults_in_both_modes() {
    for service in Service::ALL.into_iter().filter(|s| *s != Service::Gateway) {
        for mode in Mode::ALL {
            let router = offline_router(service, mode);
            let answer = put_fault(&router, json!({ "consumer_delay_ms": 1, "ttl_s": 5 })).await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "{service} {mode}: {}",
                answer.text
            );
            assert_eq!(
                (&answer.body["service"], &answer.body["mode"]),
                (&json!(service), &json!(mode))
            );
        }
    }
}

// ---- what a fault does, and where ----

#[tokio::test]
async fn error_rate_1_answers_the_injected_status_on_business_routes_only() {
    let router = user();
    put_fault(
        &router,
        json!({ "error_rate": 1.0, "error_status": 507, "ttl_s": 60 }),
    )
    .await;
    for _ in 0..5 {
        assert_injected(&send(router.clone(), register_nobody()).await, 507);
    }
    assert_injected(&send(router.clone(), empty("GET", "/users/1")).await, 507);

    let health = send(router.clone(), empty("GET", "/health")).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = send(router.clone(), empty("GET", "/ready")).await;
    assert_eq!(
        ready.body["status"], "not ready",
        "its own answer: {}",
        ready.text
    );
    let metrics = send(router.clone(), empty("GET", "/metrics")).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let config = send(router.clone(), bearer(empty("GET", "/admin/config"))).await;
    assert_eq!(config.status, StatusCode::OK, "{}", config.text);
    assert_eq!(active_fault(&router).await["error_rate"], 1.0);
    // The spec and its page are the service's own, like `/health`: never faulted.
    for docs in ["/docs/", "/openapi.json"] {
        let answer = send(router.clone(), empty("GET", docs)).await;
        assert_eq!(answer.status, StatusCode::OK, "{docs}: {}", answer.text);
    }
    let answer = send(router.clone(), empty("GET", "/no/such/route")).await;
    assert_envelope(&answer, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn async_routes_are_faulted_too() {
    let router = offline_router(Service::Analytics, Mode::Async);
    put_fault(&router, json!({ "error_rate": 1.0, "ttl_s": 60 })).await;
    let click = r#"{"user_id": 7, "page": "/home"}"#;
    assert_injected(
        &send(router, json("POST", "/track_click", click)).await,
        503,
    );
}

#[tokio::test]
async fn the_route_prefix_limits_the_fault_to_matching_paths() {
    let router = user();
    let body = json!({ "error_rate": 1.0, "route_prefix": "/users", "ttl_s": 60 });
    put_fault(&router, body).await;
    assert_injected(&send(router.clone(), empty("GET", "/users/1")).await, 503);
    let other = send(router, register_nobody()).await;
    assert_envelope(&other, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn latency_is_added_before_the_handler_and_not_to_health() {
    let router = user();
    put_fault(&router, json!({ "latency_ms": 150, "ttl_s": 60 })).await;
    let started = Instant::now();
    let answer = send(router.clone(), register_nobody()).await;
    let took = started.elapsed();
    assert_envelope(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(took >= Duration::from_millis(150), "{took:?}");

    let started = Instant::now();
    assert_eq!(
        send(router, empty("GET", "/health")).await.status,
        StatusCode::OK
    );
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "/health is not delayed"
    );
}

#[tokio::test]
async fn the_injected_delay_holds_the_sync_worker_permit() {
    let router = user();
    let limit = bearer(json("PUT", "/admin/config", r#"{"sync_max_inflight": 1}"#));
    assert_eq!(send(router.clone(), limit).await.status, StatusCode::OK);
    put_fault(&router, json!({ "latency_ms": 300, "ttl_s": 60 })).await;
    let started = Instant::now();
    let (a, b) = tokio::join!(
        send(router.clone(), register_nobody()),
        send(router.clone(), register_nobody())
    );
    let took = started.elapsed();
    assert_eq!(
        (a.status, b.status),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY
        )
    );
    assert!(
        took >= Duration::from_millis(600),
        "one permit, two delays in turn: {took:?}"
    );
}

#[tokio::test]
async fn a_fault_ends_by_itself_at_its_ttl() {
    let router = user();
    put_fault(&router, json!({ "error_rate": 1.0, "ttl_s": 1 })).await;
    assert_injected(&send(router.clone(), register_nobody()).await, 503);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let after = send(router.clone(), register_nobody()).await;
    assert_envelope(&after, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(active_fault(&router).await, Value::Null);
}

#[tokio::test]
async fn injections_are_counted_in_metrics() {
    crate::metrics::install();
    faults::register_metrics();
    let router = user();
    put_fault(
        &router,
        json!({ "latency_ms": 1, "error_rate": 1.0, "ttl_s": 60 }),
    )
    .await;
    send(router.clone(), register_nobody()).await;
    let text = send(router, empty("GET", "/metrics")).await.text;
    for kind in ["latency", "error"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("ms_faults_injected_total{{kind=\"{kind}\"}}")))
            .unwrap_or_else(|| panic!("no {kind} counter in:\n{text}"));
        let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(count >= 1.0, "{line}");
    }
    assert!(
        text.contains("ms_faults_injected_total{kind=\"consumer_delay\"}"),
        "registered at zero"
    );
}

#[tokio::test]
async fn a_consumer_delay_is_slept_before_each_delivery_and_cut_short_by_shutdown() {
    let ctx = offline_ctx(Service::Email, settings(Mode::Async));
    let started = Instant::now();
    faults::before_consuming(&ctx).await;
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "no fault, no delay"
    );

    ctx.faults
        .set(faults::FaultSpec::parse(json!({ "consumer_delay_ms": 200, "ttl_s": 60 })).unwrap());
    let started = Instant::now();
    faults::before_consuming(&ctx).await;
    assert!(started.elapsed() >= Duration::from_millis(200));

    ctx.shutdown.cancel();
    let started = Instant::now();
    faults::before_consuming(&ctx).await;
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "shutdown does not wait for it"
    );
}
