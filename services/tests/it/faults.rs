//! Faults injected through `/admin/faults` on real services: observed, expired by the
//! service itself, cleared by DELETE; a slow consumer's drain against a fast one; and the
//! 5 s AMQP heartbeat noticing a broker that went silent.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use testkit::{BrokerRelay, Service, World, try_wait_for, wait_for};

async fn put_fault(service: &Service, body: Value) -> Value {
    let reply = service
        .admin(Method::PUT, "/admin/faults", Some(body))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["fault"].clone()
}

async fn active_fault(service: &Service) -> Value {
    let reply = service.admin(Method::GET, "/admin/faults", None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["fault"].clone()
}

async fn injected(service: &Service, kind: &str) -> f64 {
    service
        .metric("ms_faults_injected_total", &format!("kind=\"{kind}\""))
        .await
}

fn log_of(service: &Service) -> String {
    std::fs::read_to_string(&service.log).unwrap_or_default()
}

#[tokio::test]
async fn a_latency_fault_delays_a_real_route_until_it_expires_by_itself() {
    let world = World::new("fault-latency").await;
    let analytics = world.service("analytics", "sync").start().await;
    let before = analytics.get("/clicks/count").await;
    assert_eq!(before.status, 200, "{before:?}");
    assert!(before.elapsed < Duration::from_millis(400), "{before:?}");

    let fault = put_fault(&analytics, json!({ "latency_ms": 400, "ttl_s": 3 })).await;
    assert_eq!(
        (&fault["latency_ms"], &fault["ttl_s"]),
        (&json!(400), &json!(3))
    );
    let set_at = Instant::now();
    for _ in 0..3 {
        let slow = analytics.get("/clicks/count").await;
        assert_eq!(slow.status, 200, "{slow:?}");
        assert!(slow.elapsed >= Duration::from_millis(400), "{slow:?}");
    }
    let health = analytics.get("/health").await;
    assert!(
        health.elapsed < Duration::from_millis(400),
        "/health is never faulted"
    );
    assert!(injected(&analytics, "latency").await >= 3.0);

    // No client call ends it: only the clock.
    tokio::time::sleep(
        Duration::from_secs(3).saturating_sub(set_at.elapsed()) + Duration::from_millis(300),
    )
    .await;
    assert!(
        log_of(&analytics).contains("fault expired"),
        "the service logged the end itself"
    );
    assert_eq!(active_fault(&analytics).await, Value::Null);
    let after = analytics.get("/clicks/count").await;
    assert!(after.elapsed < Duration::from_millis(400), "{after:?}");
    assert!(log_of(&analytics).contains("fault set: latency 400 ms"));
}

#[tokio::test]
async fn an_error_rate_of_1_answers_every_request_with_the_injected_status_until_deleted() {
    let world = World::new("fault-errors").await;
    let analytics = world.service("analytics", "sync").start().await;
    let body = json!({ "error_rate": 1.0, "error_status": 502, "ttl_s": 60 });
    put_fault(&analytics, body).await;
    for i in 0..10 {
        let click = analytics
            .post("/track_click", json!({ "user_id": i, "page": "/f" }))
            .await;
        click.assert_error(502);
        let detail = click.body["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with("injected fault"), "{click:?}");
    }
    analytics.get("/clicks/count").await.assert_error(502);
    assert_eq!(
        analytics.get("/ready").await.status,
        200,
        "/ready is never faulted"
    );
    assert!(injected(&analytics, "error").await >= 11.0);

    let deleted = analytics.admin(Method::DELETE, "/admin/faults", None).await;
    assert_eq!(
        (deleted.status, &deleted.body["cleared"]),
        (200, &json!(true)),
        "{deleted:?}"
    );
    assert!(log_of(&analytics).contains("fault cleared"));
    let count = analytics.get("/clicks/count").await;
    assert_eq!(
        (count.status, &count.body["count"]),
        (200, &json!(0)),
        "no click got through: {count:?}"
    );
}

/// Clicks accepted by the async route, then the time until the consumer stored all of them.
async fn drain_time(
    world: &World,
    analytics: &Service,
    clicks: i64,
    stored_before: i64,
) -> Duration {
    let started = Instant::now();
    let sends = (0..clicks)
        .map(|i| analytics.post("/track_click", json!({ "user_id": i, "page": "/drain" })));
    for reply in futures_util::future::join_all(sends).await {
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    wait_for("the clicks stored", Duration::from_secs(60), || async {
        let stored = analytics.get("/clicks/count").await.body["count"].as_i64()?;
        (stored >= stored_before + clicks
            && world.queue_depth("click_tracked_queue").await == Some(0))
        .then_some(())
    })
    .await;
    started.elapsed()
}

#[tokio::test]
async fn a_consumer_delay_slows_the_drain_of_a_real_queue() {
    let world = World::new("fault-consumer").await;
    // One delivery at a time, so the drain time is the sum of the delays.
    let analytics = world
        .service("analytics", "async")
        .env("CONSUMER_PREFETCH", 1)
        .start()
        .await;
    let clicks = 8;
    let fast = drain_time(&world, &analytics, clicks, 0).await;

    put_fault(&analytics, json!({ "consumer_delay_ms": 300, "ttl_s": 60 })).await;
    let slow = drain_time(&world, &analytics, clicks, clicks).await;
    assert!(
        slow >= Duration::from_millis(300 * 8),
        "8 deliveries, 300 ms each: {slow:?}"
    );
    assert!(slow > fast * 2, "fast {fast:?}, slow {slow:?}");
    assert!(injected(&analytics, "consumer_delay").await >= 8.0);
    eprintln!(
        "drain of {clicks} clicks: {fast:?} without a fault, {slow:?} with 300 ms per delivery"
    );
}

// ---- the heartbeat ----

#[tokio::test]
async fn a_silent_broker_is_noticed_within_the_heartbeat_bound() {
    let world = World::new("fault-heartbeat").await;
    let relay = BrokerRelay::start(&world).await;
    let email = world
        .service("email", "async")
        .env("AMQP_URL", &relay.amqp_url)
        .start()
        .await;

    relay.freeze();
    let silent_since = Instant::now();
    let noticed = try_wait_for(Duration::from_secs(30), || async {
        (email.get("/ready").await.status == 503).then(|| silent_since.elapsed())
    })
    .await
    .expect("the service noticed the silent broker");
    eprintln!("a silent broker was noticed after {noticed:?} (heartbeat 5 s)");
    assert!(noticed <= Duration::from_secs(15), "{noticed:?}");
    assert!(
        noticed >= Duration::from_secs(5),
        "noticed by the heartbeat, not sooner: {noticed:?}"
    );

    relay.restore();
    email.wait_ready(Duration::from_secs(30)).await;
}
