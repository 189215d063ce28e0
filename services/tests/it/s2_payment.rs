//! S2 (slow payment) both modes, seed 000's `/pay`, and the sync worker limit.

use std::time::{Duration, Instant};

use serde_json::json;
use testkit::{World, expect_completion, unique, wait_for};

#[tokio::test]
async fn sync_payment_blocks_for_the_delay_and_completes() {
    let world = World::new("s2-sync").await;
    let payment = world
        .service("payment", "sync")
        .env("PAYMENT_DELAY_MS", 700)
        .start()
        .await;
    let mut completions = world.completions().await;
    let cid = unique("cid");

    let reply = payment
        .post_with_id(
            "/process_payment",
            json!({ "amount": 12.5, "order_id": 7 }),
            &cid,
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.elapsed >= Duration::from_millis(700),
        "took {:?}",
        reply.elapsed
    );
    assert_eq!(reply.body["status"], "success");
    assert_eq!(reply.body["amount"], 12.5);
    assert_eq!(reply.body["order_id"], "7");
    assert!(reply.body["transaction_id"].is_string() && reply.body["timestamp"].is_string());
    assert_eq!(reply.correlation_id.as_deref(), Some(cid.as_str()));
    expect_completion(
        &mut completions,
        &cid,
        "payment_completed",
        Duration::from_secs(5),
    )
    .await;

    let id = reply.body["payment_id"].as_str().unwrap_or_default();
    let status = payment.get(&format!("/payments/{id}")).await;
    assert_eq!(status.body["status"], "completed", "{status:?}");

    let defaults = payment.post("/process_payment", json!({})).await;
    assert_eq!(
        (defaults.status, defaults.body["amount"].as_f64()),
        (200, Some(100.0)),
        "peer 003 defaults amount to 100"
    );

    let fail = payment
        .post("/process_payment_fail", json!({ "order_id": 3 }))
        .await;
    fail.assert_error(400);
    assert_eq!(
        (
            fail.body["detail"]["status"].as_str(),
            fail.body["detail"]["reason"].as_str()
        ),
        (Some("failed"), Some("Insufficient funds"))
    );
}

/// The async payment's work time in the acknowledgement test.
const PAYMENT_MS: u64 = 4000;

#[tokio::test]
async fn async_payment_answers_202_and_the_worker_completes_it() {
    let world = World::new("s2-async").await;
    let payment = world
        .service("payment", "async")
        // Long enough that "answered before the work" holds on a host that stalls for a
        // second at a time (a full run here failed a 0.7 s bound).
        .env("PAYMENT_DELAY_MS", PAYMENT_MS)
        .start()
        .await;
    let mut completions = world.completions().await;
    let cid = unique("cid");

    let reply = payment
        .post_with_id("/process_payment", json!({ "amount": 99.0 }), &cid)
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.body["status"], "processing");
    let id = reply.body["payment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        id.starts_with("pay_") && id.len() == 16,
        "peer 002's id shape: {id}"
    );
    assert!(
        reply.elapsed < Duration::from_millis(PAYMENT_MS),
        "answers before the work is done: {:?}",
        reply.elapsed
    );

    let early = payment.get(&format!("/payments/{id}")).await;
    assert_eq!(early.body["status"], "processing", "{early:?}");
    let event = expect_completion(
        &mut completions,
        &cid,
        "payment_completed",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        (event["mode"].as_str(), event["scenario"].as_str()),
        (Some("async"), Some("s2"))
    );
    let done = payment.get(&format!("/payments/{id}")).await;
    assert_eq!(done.body["status"], "completed", "{done:?}");
    assert!(
        done.body["transaction_id"]
            .as_str()
            .unwrap_or_default()
            .starts_with("txn_")
    );

    // The audit consumer drained payment_completed_queue.
    wait_for("audit drained", Duration::from_secs(5), || async {
        (world.queue_depth("payment_completed_queue").await == Some(0)).then_some(())
    })
    .await;
    assert!(
        payment
            .metric(
                "messages_consumed_total",
                "queue=\"payment_completed_queue\""
            )
            .await
            >= 1.0
    );

    payment.get("/payments/pay_nope").await.assert_error(404);
    payment
        .post("/process_payment", json!({ "amount": -5 }))
        .await
        .assert_error(422);
    payment
        .post("/process_payment", json!({ "amount": "lots" }))
        .await
        .assert_error(422);
    let legacy = payment.post("/process_payment_fail", json!({})).await;
    assert_eq!(
        (legacy.status, legacy.body["status"].as_str()),
        (202, Some("failed"))
    );
}

#[tokio::test]
async fn showdown_pay_answers_paid_in_both_modes() {
    let world = World::new("s2-pay").await;
    for mode in ["sync", "async"] {
        let payment = world
            .service("payment", mode)
            .env("SHOWDOWN_PAYMENT_DELAY_MS", 300)
            .start()
            .await;
        let reply = payment
            .post("/pay", json!({ "order_id": "123", "amount": 100.0 }))
            .await;
        assert_eq!(reply.status, 200, "{mode}: {reply:?}");
        assert_eq!(
            (
                reply.body["status"].as_str(),
                reply.body["order_id"].as_str()
            ),
            (Some("PAID"), Some("123"))
        );
        assert!(reply.elapsed >= Duration::from_millis(300));
        payment
            .post("/pay", json!({ "amount": 1 }))
            .await
            .assert_error(422);
    }
}

#[tokio::test]
async fn sync_worker_limit_queues_requests_like_a_thread_pool() {
    let world = World::new("s2-limit").await;
    let payment = world
        .service("payment", "sync")
        .env("PAYMENT_DELAY_MS", 1000)
        .start()
        .await;

    let burst = |n: usize| {
        let payment = &payment;
        async move {
            let started = Instant::now();
            let replies = futures_util::future::join_all(
                (0..n).map(|_| payment.post("/process_payment", json!({ "amount": 1 }))),
            )
            .await;
            assert!(replies.iter().all(|r| r.status == 200));
            started.elapsed()
        }
    };
    let unlimited = burst(3).await;

    let set = payment
        .admin(
            reqwest::Method::PUT,
            "/admin/config",
            Some(json!({ "sync_max_inflight": 1 })),
        )
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    let limited = burst(3).await;
    assert!(
        limited >= Duration::from_millis(3000),
        "one at a time: 3 × 1 s, took {limited:?}"
    );
    // Without the limit our async I/O lets the three waits overlap (≈ 1 s, not 3 s).
    assert!(
        unlimited < limited,
        "unlimited {unlimited:?} vs limited {limited:?}"
    );
}
