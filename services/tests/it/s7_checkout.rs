//! S7, the checkout pipeline (peer 004) and seed 000's checkout, both modes: sync blocks
//! through payment and mail; async answers at once and the order moves pending → paid →
//! confirmed (peer 004's stayed `pending`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::{Service, World, expect_completion, unique, wait_for};

struct Pipeline {
    _payment: Service,
    email: Service,
    order: Service,
}

async fn pipeline(world: &World, mode: &str, payment_ms: u64, email_ms: u64) -> Pipeline {
    let payment = world
        .service("payment", mode)
        .env("CHECKOUT_PAYMENT_DELAY_MS", payment_ms)
        .env("SHOWDOWN_PAYMENT_DELAY_MS", 200)
        .start()
        .await;
    let email = world
        .service("email", mode)
        .env("CHECKOUT_EMAIL_DELAY_MS", email_ms)
        .start()
        .await;
    let order = world
        .service("order", mode)
        .env("PAYMENT_SERVICE_URL", &payment.base)
        .env("EMAIL_SERVICE_URL", &email.base)
        .start()
        .await;
    Pipeline {
        _payment: payment,
        email,
        order,
    }
}

fn checkout_body(email: &str) -> Value {
    json!({
        "user_id": 7,
        "user_email": email,
        "items": [
            { "product_id": 2, "quantity": 2, "price": "29.99" },
            { "product_id": "prod003", "quantity": 1, "price": 79.99 },
        ],
    })
}

fn history(order: &Value) -> Vec<String> {
    order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["status"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn sync_checkout_blocks_through_payment_and_mail() {
    let world = World::new("s7-sync").await;
    let p = pipeline(&world, "sync", 300, 400).await;
    let mut completions = world.completions().await;
    let cid = unique("cid");
    let buyer = format!("{}@example.com", unique("buyer"));

    let reply = p
        .order
        .post_with_id("/checkout", checkout_body(&buyer), &cid)
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.elapsed >= Duration::from_millis(700),
        "took {:?}",
        reply.elapsed
    );
    assert_eq!(reply.body["status"], "confirmed");
    assert_eq!(reply.body["total_amount"].as_f64(), Some(139.97));
    assert_eq!(reply.body["user_id"], 7);
    assert_eq!(reply.body["user_email"], buyer.as_str());
    assert!(reply.body["processing_duration_ms"].as_i64().unwrap() >= 700);
    assert!(
        reply.body["transaction_id"]
            .as_str()
            .unwrap()
            .starts_with("TXN-"),
        "{reply:?}"
    );
    assert_eq!(reply.body["warnings"], json!([]));
    expect_completion(
        &mut completions,
        &cid,
        "order_confirmed",
        Duration::from_secs(5),
    )
    .await;

    let id = reply.body["id"].as_i64().unwrap();
    let order = p.order.get(&format!("/orders/{id}")).await;
    assert_eq!(history(&order.body), ["pending", "paid", "confirmed"]);
    let mails = p
        .email
        .get(&format!(
            "/emails?recipient={buyer}&kind=order_confirmation"
        ))
        .await;
    assert_eq!(mails.body["count"], 1, "{mails:?}");

    // Seed 000's shape on the same route: payment's own answer.
    let showdown = p
        .order
        .post("/checkout", json!({ "order_id": "123", "amount": 100.0 }))
        .await;
    assert_eq!(showdown.status, 200, "{showdown:?}");
    assert_eq!(
        (
            showdown.body["status"].as_str(),
            showdown.body["order_id"].as_str()
        ),
        (Some("PAID"), Some("123"))
    );
    assert!(showdown.elapsed >= Duration::from_millis(200));

    let neither = p.order.post("/checkout", json!({ "amount": 3 })).await;
    neither.assert_error(422);
    let text = neither.body["detail"].to_string();
    assert!(
        text.contains("order_id") && text.contains("items"),
        "{text}"
    );
    p.order
        .post(
            "/checkout",
            json!({ "user_id": 1, "user_email": "x@example.com", "items": [] }),
        )
        .await
        .assert_error(422);
    p.order
        .post(
            "/checkout",
            json!({ "user_id": 1, "user_email": "x@example.com", "items": [{ "product_id": 1, "quantity": 1, "price": "abc" }] }),
        )
        .await
        .assert_error(422);
}

#[tokio::test]
async fn async_checkout_answers_at_once_and_moves_pending_paid_confirmed() {
    let world = World::new("s7-async").await;
    // Payment is slow on purpose: an answer faster than it cannot have waited for it, with a
    // margin a loaded CI host (answers of 2 s seen) does not eat.
    let payment_ms = 4000;
    let p = pipeline(&world, "async", payment_ms, 1500).await;
    let mut completions = world.completions().await;
    let cid = unique("cid");
    let buyer = format!("{}@example.com", unique("buyer"));

    let reply = p
        .order
        .post_with_id("/checkout", checkout_body(&buyer), &cid)
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.body["status"], "pending");
    assert!(
        reply.elapsed < Duration::from_millis(payment_ms),
        "took {:?}: the reply waited for payment",
        reply.elapsed
    );
    assert!(reply.body["processing_duration_ms"].is_i64(), "{reply:?}");
    let id = reply.body["id"].as_i64().unwrap();

    // Observed live, not only in the history: the status endpoint shows `paid` in between.
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let r = p.order.get(&format!("/orders/{id}/status")).await;
        let s = r.body["status"].as_str().unwrap_or_default().to_owned();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "confirmed" {
            break r.body;
        }
        assert!(
            Instant::now() < deadline,
            "not confirmed within 30 s; seen {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        seen,
        ["pending", "paid", "confirmed"],
        "statuses seen: {seen:?}"
    );
    assert!(
        status["payment"]["transaction_id"]
            .as_str()
            .unwrap()
            .starts_with("TXN-"),
        "{status}"
    );
    expect_completion(
        &mut completions,
        &cid,
        "order_confirmed",
        Duration::from_secs(5),
    )
    .await;
    let order = p.order.get(&format!("/orders/{id}")).await;
    assert_eq!(history(&order.body), ["pending", "paid", "confirmed"]);
    let mails = p
        .email
        .get(&format!(
            "/emails?recipient={buyer}&kind=order_confirmation"
        ))
        .await;
    assert_eq!(mails.body["count"], 1, "{mails:?}");

    // Seed 000's shape: 202 ORDER_ACCEPTED, then paid by payment's consumer.
    let showdown = p
        .order
        .post("/checkout", json!({ "order_id": "123", "amount": 100.0 }))
        .await;
    assert_eq!(showdown.status, 202, "{showdown:?}");
    assert_eq!(showdown.body["status"], "ORDER_ACCEPTED");
    let showdown_id = showdown.body["id"].as_i64().unwrap();
    wait_for("showdown order paid", Duration::from_secs(10), || async {
        let r = p.order.get(&format!("/orders/{showdown_id}")).await;
        (r.body["status"] == "paid").then_some(())
    })
    .await;
}
