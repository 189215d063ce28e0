//! The gateway (peer 004's, on 9000): `/api/*` to the async order service, `/sync|async/…` to
//! any service, a `/health` that really probes, and clear 503 / 504 when an upstream fails.

use std::time::Duration;

use serde_json::json;
use testkit::World;

#[tokio::test]
async fn gateway_forwards_to_both_stacks_and_reports_health() {
    let world = World::new("gw").await;
    let order = world.service("order", "async").start().await;
    let payment = world
        .service("payment", "sync")
        .env("PAYMENT_DELAY_MS", 100)
        .start()
        .await;
    let gateway = world
        .service("gateway", "async")
        .env("ASYNC_ORDER_SERVICE_URL", &order.base)
        .env("PAYMENT_SERVICE_URL", &payment.base)
        .start()
        .await;

    let checkout = json!({
        "user_id": 1, "user_email": "gw@example.com",
        "items": [{ "product_id": 1, "quantity": 1, "price": "999.99" }],
    });
    let placed = gateway
        .post_with_id("/api/checkout", checkout, "gw-cid-1")
        .await;
    assert_eq!(placed.status, 202, "{placed:?}");
    assert_eq!(placed.body["status"], "pending");
    assert_eq!(placed.correlation_id.as_deref(), Some("gw-cid-1"));
    let id = placed.body["id"].as_i64().unwrap();

    let fetched = gateway.get(&format!("/api/orders/{id}")).await;
    assert_eq!(
        (fetched.status, fetched.body["id"].as_i64()),
        (200, Some(id)),
        "{fetched:?}"
    );
    let status = gateway.get(&format!("/api/orders/{id}/status")).await;
    assert_eq!(status.body["status"], "pending", "{status:?}");
    gateway.get("/api/orders/987654").await.assert_error(404);
    gateway
        .post("/api/checkout", json!({ "nothing": true }))
        .await
        .assert_error(422);

    // Any service of either stack, method, body and query as sent.
    let listed = gateway.get("/async/order/orders").await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let paid = gateway
        .post("/sync/payment/process_payment", json!({ "amount": 5 }))
        .await;
    assert_eq!(
        (paid.status, paid.body["status"].as_str()),
        (200, Some("success")),
        "{paid:?}"
    );
    let by_id = gateway
        .get(&format!(
            "/sync/payment/payments/{}",
            paid.body["payment_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_id.body["status"], "completed", "{by_id:?}");
    gateway.get("/sync/nosuch/x").await.assert_error(404);
    // Not started: the sync order service's default address does not answer.
    let down = gateway.get("/sync/order/orders").await;
    down.assert_error(503);

    let health = gateway.get("/health").await;
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(health.body["upstreams"]["order"]["async"], "up");
    assert_eq!(health.body["upstreams"]["payment"]["sync"], "up");
    assert!(
        health.body["upstreams"]["user"]["async"]
            .as_str()
            .unwrap()
            .starts_with("down"),
        "{health:?}"
    );
}

#[tokio::test]
async fn stopped_upstream_gives_503_within_a_second() {
    let world = World::new("gw-down").await;
    let order = world.service("order", "async").start().await;
    let gateway = world
        .service("gateway", "async")
        .env("ASYNC_ORDER_SERVICE_URL", &order.base)
        .start()
        .await;
    assert_eq!(gateway.get("/health").await.status, 200);

    order.kill().await;
    let reply = gateway
        .post(
            "/api/checkout",
            json!({ "user_id": 1, "user_email": "a@example.com", "items": [{ "product_id": 1, "quantity": 1, "price": "1.00" }] }),
        )
        .await;
    reply.assert_error(503);
    assert!(
        reply.elapsed < Duration::from_secs(1),
        "took {:?}",
        reply.elapsed
    );
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("order service (async stack)") && detail.contains("unreachable"),
        "{detail}"
    );

    let health = gateway.get("/health").await;
    assert_eq!(health.status, 503, "{health:?}");
    assert_eq!(health.body["status"], "unhealthy");
}

#[tokio::test]
async fn slow_upstream_gives_504() {
    let world = World::new("gw-slow").await;
    let payment = world
        .service("payment", "sync")
        .env("PAYMENT_DELAY_MS", 5000)
        .start()
        .await;
    let gateway = world
        .service("gateway", "sync")
        .env("PAYMENT_SERVICE_URL", &payment.base)
        .env("HTTP_TIMEOUT_MS", 500)
        .start()
        .await;
    let reply = gateway
        .post("/sync/payment/process_payment", json!({ "amount": 1 }))
        .await;
    reply.assert_error(504);
    assert!(
        // Well before the upstream's 5 s: the gateway cut it short (slack for a loaded machine).
        reply.elapsed < Duration::from_millis(4000),
        "took {:?}",
        reply.elapsed
    );
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("did not answer within 500 ms"),
        "{reply:?}"
    );
}
