//! S8, stock and alerts (seed 001), both modes: stock checked and taken at inventory over
//! HTTP, the confirmation notification, low-stock / out-of-stock alerts, and alerts that
//! survive their consumer being down (001's Redis pub/sub lost them).

use std::time::Duration;

use serde_json::{Value, json};
use testkit::{Service, World, expect_completion, unique, wait_for};

struct Shop {
    email: Service,
    inventory: Service,
    order: Service,
}

async fn shop(world: &World, mode: &str) -> Shop {
    let email = world.service("email", mode).start().await;
    let inventory = world
        .service("inventory", mode)
        .env("EMAIL_SERVICE_URL", &email.base)
        .start()
        .await;
    let order = world
        .service("order", mode)
        .env("INVENTORY_SERVICE_URL", &inventory.base)
        .env("EMAIL_SERVICE_URL", &email.base)
        .start()
        .await;
    Shop {
        email,
        inventory,
        order,
    }
}

async fn stock_of(inventory: &Service, product: &str) -> i64 {
    let r = inventory.get(&format!("/products/{product}/stock")).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["stock"].as_i64().unwrap()
}

/// Waits until the notification service stored `count` notifications of `kind`.
async fn notifications(email: &Service, kind: &str, count: usize) -> Vec<Value> {
    wait_for(
        &format!("{count} {kind} notification(s)"),
        Duration::from_secs(10),
        || async {
            let r = email.get(&format!("/notifications/type/{kind}")).await;
            let list = r.body["notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            (list.len() >= count).then_some(list)
        },
    )
    .await
}

async fn order_flow(mode: &str) {
    let world = World::new(&format!("s8-{mode}")).await;
    let s = shop(&world, mode).await;
    let mut completions = world.completions().await;
    let cid = unique("cid");
    let user = unique("user");

    let reply = s
        .order
        .post_with_id(
            "/orders",
            json!({ "user_id": user, "items": [{ "product_id": "prod002", "quantity": 2 }] }),
            &cid,
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["status"], "confirmed");
    assert_eq!(reply.body["total_amount"].as_f64(), Some(59.98));
    assert_eq!(reply.body["user_id"], user.as_str());
    let order_id = reply.body["order_id"].as_str().unwrap().to_owned();
    assert_eq!(order_id.len(), 36, "seed 001's UUID order id: {order_id}");
    assert_eq!(stock_of(&s.inventory, "prod002").await, 98);
    let sold = s.inventory.get("/inventory/2").await;
    assert_eq!(
        (sold.body["reserved"].as_i64(), sold.body["sold"].as_i64()),
        (Some(0), Some(2)),
        "{sold:?}"
    );

    expect_completion(
        &mut completions,
        &cid,
        "notification_stored",
        Duration::from_secs(10),
    )
    .await;
    let confirmations = notifications(&s.email, "order_confirmation", 1).await;
    assert_eq!(confirmations[0]["order_id"], order_id.as_str());
    assert_eq!(confirmations[0]["recipient"], user.as_str());
    assert_eq!(confirmations[0]["status"], "sent");
    let by_uuid = s.order.get(&format!("/orders/{order_id}/status")).await;
    assert_eq!(by_uuid.body["status"], "confirmed", "{by_uuid:?}");

    // Down to 9 Keyboards: a low-stock alert.
    let low = s
        .order
        .post(
            "/orders",
            json!({ "user_id": user, "items": [{ "product_id": 3, "quantity": 66 }] }),
        )
        .await;
    assert_eq!(low.status, 200, "{low:?}");
    let alerts = notifications(&s.email, "low_stock_alert", 1).await;
    assert_eq!(
        (
            alerts[0]["product_id"].as_str(),
            alerts[0]["current_stock"].as_i64()
        ),
        (Some("prod003"), Some(9))
    );
    assert_eq!(alerts[0]["recipient"], "admin@company.com");

    // One NoteBook, two buyers at once: exactly one gets it, then it is out of stock.
    let body = json!({ "user_id": user, "items": [{ "product_id": "prod004", "quantity": 1 }] });
    let (a, b) = tokio::join!(
        s.order.post("/orders", body.clone()),
        s.order.post("/orders", body.clone())
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let loser = if a.status == 409 { &a } else { &b };
    loser.assert_error(409);
    assert!(
        loser.body["detail"]
            .to_string()
            .contains("Insufficient stock for product prod004"),
        "{loser:?}"
    );
    assert_eq!(stock_of(&s.inventory, "prod004").await, 0);
    notifications(&s.email, "out_of_stock_alert", 1).await;

    // All or nothing: a short second line leaves the first untouched.
    let partial = s
        .order
        .post(
            "/orders",
            json!({ "user_id": user, "items": [{ "product_id": "prod001", "quantity": 1 }, { "product_id": "prod004", "quantity": 1 }] }),
        )
        .await;
    partial.assert_error(409);
    assert_eq!(stock_of(&s.inventory, "prod001").await, 50);

    let unknown = s
        .order
        .post(
            "/orders",
            json!({ "user_id": user, "items": [{ "product_id": "prod999", "quantity": 1 }] }),
        )
        .await;
    unknown.assert_error(400);
    assert_eq!(unknown.body["detail"], "Product prod999 not found");
    s.order
        .post("/orders", json!({ "user_id": user, "items": [] }))
        .await
        .assert_error(422);

    let stats = s.email.get("/notifications/stats").await;
    assert!(
        stats.body["total_notifications"].as_i64().unwrap() >= 4,
        "{stats:?}"
    );
    assert!(stats.body["last_notification"].is_object(), "{stats:?}");
    let all = s.email.get("/notifications").await;
    assert!(all.body["notifications"].as_array().unwrap().len() >= 4);

    // Seed 001's inventory paths.
    let products = s.inventory.get("/products").await;
    assert_eq!(products.body["products"].as_array().unwrap().len(), 4);
    let books = s.inventory.get("/products/category/books").await;
    assert_eq!(books.body["products"][0]["product_id"], "prod004");
    s.inventory
        .send(
            reqwest::Client::new()
                .put(s.inventory.url("/products/prod002/stock"))
                .json(&json!({ "quantity": -1000 })),
        )
        .await
        .assert_error(400);
    let restock = s
        .inventory
        .send(
            reqwest::Client::new()
                .put(s.inventory.url("/products/prod002/stock"))
                .json(&json!({ "quantity": 5 })),
        )
        .await;
    assert_eq!(
        (
            restock.status,
            restock.body["previous_stock"].as_i64(),
            restock.body["new_stock"].as_i64()
        ),
        (200, Some(98), Some(103)),
        "{restock:?}"
    );
    s.inventory.get("/products/prod404").await.assert_error(404);
}

#[tokio::test]
async fn sync_orders_check_stock_and_notify() {
    order_flow("sync").await;
}

#[tokio::test]
async fn async_orders_check_stock_and_notify() {
    order_flow("async").await;
}

/// Seed 001 published alerts on Redis pub/sub: with the notifier down they were gone. Here
/// they wait in the durable `notifications` queue.
#[tokio::test]
async fn alerts_survive_their_consumer_being_down() {
    let world = World::new("s8-down").await;
    let email = world.service("email", "async").start().await;
    email.kill().await;
    let inventory = world.service("inventory", "async").start().await;
    let order = world
        .service("order", "async")
        .env("INVENTORY_SERVICE_URL", &inventory.base)
        .start()
        .await;

    let reply = order
        .post(
            "/orders",
            json!({ "user_id": "u1", "items": [{ "product_id": "prod001", "quantity": 45 }] }),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(stock_of(&inventory, "prod001").await, 5);
    assert!(
        world.queue_depth("notifications").await.unwrap_or(0) >= 2,
        "confirmation and alert wait in the queue"
    );

    let email = world.service("email", "async").start().await;
    let alerts = notifications(&email, "low_stock_alert", 1).await;
    assert_eq!(
        (
            alerts[0]["product_id"].as_str(),
            alerts[0]["current_stock"].as_i64()
        ),
        (Some("prod001"), Some(5))
    );
    notifications(&email, "order_confirmation", 1).await;
}

/// Found by the fuzz run: JSON allows a NUL in a string, PostgreSQL's `text` does not, and the
/// database's refusal used to surface as a 500.
#[tokio::test]
async fn a_nul_in_stored_text_is_a_422_not_a_500() {
    let world = World::new("s8-nul").await;
    let email = world.service("email", "sync").start().await;
    let reply = email
        .post(
            "/notifications/test",
            json!({ "recipient": "a\u{0}b@example.com", "message": "hi" }),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(
        reply.body["detail"][0]["msg"]
            .as_str()
            .unwrap_or("")
            .contains("NUL"),
        "{}",
        reply.body
    );
    assert!(reply.body["correlation_id"].is_string(), "{}", reply.body);
}
