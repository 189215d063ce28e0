//! The broker layer's guarantees, on a real RabbitMQ: idempotency, redelivery after a crash,
//! real publisher confirms, bounded retries into the dead-letter queue, and zero loss.

use std::time::Duration;

use serde_json::json;
use testkit::{World, unique, wait_for};

fn registered(event_id: &str, email: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "event_id": event_id, "user_id": 1, "email": email, "timestamp": "2026-01-01T00:00:00Z" }))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_duplicate_event_has_one_effect() {
    let world = World::new("dup").await;
    let email = world
        .service("email", "async")
        .env("EMAIL_DELAY_MS", 50)
        .start()
        .await;
    let address = format!("{}@example.com", unique("dup"));
    let event_id = unique("evt");
    world
        .publish_raw(
            "user_registered_queue",
            &registered(&event_id, &address),
            Some(&event_id),
        )
        .await;
    world
        .publish_raw(
            "user_registered_queue",
            &registered(&event_id, &address),
            Some(&event_id),
        )
        .await;

    wait_for(
        "both deliveries handled",
        Duration::from_secs(10),
        || async {
            (email
                .metric("messages_consumed_total", "user_registered_queue")
                .await
                >= 2.0
                && world.queue_depth("user_registered_queue").await == Some(0))
            .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = email.get(&format!("/emails?recipient={address}")).await;
    assert_eq!(sent.body["count"], 1, "{sent:?}");
    assert_eq!(
        email
            .metric("messages_duplicate_total", "user_registered_queue")
            .await,
        1.0
    );
}

#[tokio::test]
async fn a_consumer_killed_after_its_effect_but_before_its_ack_causes_no_second_effect() {
    let world = World::new("crash").await;
    let user = world.service("user", "async").start().await;
    // Holds every ack 30 s after the effect is committed: the window we crash in.
    let doomed = world
        .service("email", "async")
        .env("EMAIL_DELAY_MS", 0)
        .env("FAULT_ACK_DELAY_MS", 30_000)
        .start()
        .await;
    let address = format!("{}@example.com", unique("crash"));
    assert_eq!(
        user.post("/register", json!({ "email": address }))
            .await
            .status,
        202
    );

    let path = format!("/emails?recipient={address}");
    wait_for("the effect", Duration::from_secs(10), || async {
        (doomed.get(&path).await.body["count"] == 1).then_some(())
    })
    .await;
    doomed.kill().await;

    // Unacked, so the broker hands it back once the connection is gone.
    wait_for(
        "the redelivery to be queued",
        Duration::from_secs(10),
        || async { (world.queue_depth("user_registered_queue").await == Some(1)).then_some(()) },
    )
    .await;
    let survivor = world
        .service("email", "async")
        .env("EMAIL_DELAY_MS", 0)
        .start()
        .await;
    wait_for(
        "the redelivery to be handled",
        Duration::from_secs(10),
        || async {
            (survivor
                .metric("messages_duplicate_total", "user_registered_queue")
                .await
                == 1.0)
                .then_some(())
        },
    )
    .await;
    wait_for("the queue to drain", Duration::from_secs(10), || async {
        (world.queue_depth("user_registered_queue").await == Some(0)).then_some(())
    })
    .await;
    assert_eq!(
        survivor.get(&path).await.body["count"],
        1,
        "one e-mail, not two"
    );
}

#[tokio::test]
async fn a_full_queue_nacks_and_the_endpoint_answers_503_accepting_nothing() {
    let world = World::new("nack").await;
    let user = world.service("user", "async").start().await;
    world
        .set_queue_policy(
            "user_registered_queue",
            json!({ "max-length": 1, "overflow": "reject-publish" }),
        )
        .await;

    let first = format!("{}@example.com", unique("first"));
    assert_eq!(
        user.post("/register", json!({ "email": first }))
            .await
            .status,
        202
    );
    let second = format!("{}@example.com", unique("second"));
    let refused = user.post("/register", json!({ "email": second })).await;
    refused.assert_error(503);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("nothing was accepted"),
        "{refused:?}"
    );

    let users = user.get("/users").await;
    assert_eq!(
        users.body["count"], 1,
        "the refused user was rolled back: {users:?}"
    );
    assert_eq!(world.queue_depth("user_registered_queue").await, Some(1));
    // The refusal left the service healthy: the same user can register once there is room.
    assert_eq!(user.get("/ready").await.status, 200);
}

#[tokio::test]
async fn a_poison_message_is_retried_then_dead_lettered_and_counted() {
    let world = World::new("poison").await;
    let email = world
        .service("email", "async")
        .env("MAX_RETRIES", 3)
        .env("RETRY_DELAY_MS", 100)
        .start()
        .await;
    world
        .publish_raw(
            "user_registered_queue",
            b"{ this is not json",
            Some(&unique("poison")),
        )
        .await;

    wait_for(
        "the poison message in the DLQ",
        Duration::from_secs(20),
        || async {
            (world.queue_depth("user_registered_queue.dlq").await == Some(1)).then_some(())
        },
    )
    .await;
    assert_eq!(
        email
            .metric(
                "messages_dead_lettered_total",
                "queue=\"user_registered_queue\""
            )
            .await,
        1.0
    );
    assert_eq!(
        email
            .metric("messages_retried_total", "queue=\"user_registered_queue\"")
            .await,
        3.0
    );
    assert_eq!(
        email
            .metric("messages_consumed_total", "queue=\"user_registered_queue\"")
            .await,
        4.0,
        "1 + 3 retries"
    );
    assert_eq!(world.queue_depth("user_registered_queue").await, Some(0));
    assert_eq!(
        world.queue_depth("user_registered_queue.retry").await,
        Some(0)
    );

    // A message without an event id cannot be handled idempotently: straight to the DLQ.
    world
        .publish_raw(
            "user_registered_queue",
            &registered("x", "a@example.com"),
            None,
        )
        .await;
    wait_for(
        "the id-less message in the DLQ",
        Duration::from_secs(20),
        || async {
            (world.queue_depth("user_registered_queue.dlq").await == Some(2)).then_some(())
        },
    )
    .await;
    assert_eq!(email.get("/emails").await.body["count"], 0);
    assert_eq!(
        email
            .metric("messages_retried_total", "queue=\"user_registered_queue\"")
            .await,
        3.0,
        "not retried"
    );
    assert_eq!(
        email
            .metric(
                "messages_dead_lettered_total",
                "queue=\"user_registered_queue\""
            )
            .await,
        2.0
    );
}

#[tokio::test]
async fn a_thousand_registrations_made_while_email_is_down_give_a_thousand_emails() {
    const N: usize = 1000;
    let world = World::new("thousand").await;
    let user = world.service("user", "async").start().await;
    let tag = unique("k");

    // A 503 (the machine overloaded, the pool busy) means "not accepted": like a real client
    // we retry it. The retry must then be accepted, not refused as a duplicate, which also
    // proves that the 503 left no half-registered user behind.
    let register = |i: usize| {
        let user = &user;
        let email = format!("{tag}-{i}@example.com");
        async move {
            for _ in 0..10 {
                let reply = user.post("/register", json!({ "email": email })).await;
                if reply.status != 503 {
                    return reply.status;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            503
        }
    };
    let mut statuses = Vec::with_capacity(N);
    for chunk in (0..N).collect::<Vec<_>>().chunks(20) {
        statuses.extend(futures_util::future::join_all(chunk.iter().map(|i| register(*i))).await);
    }
    let refused: Vec<&u16> = statuses.iter().filter(|s| **s != 202).collect();
    assert!(
        refused.is_empty(),
        "every registration accepted; refused: {refused:?}"
    );
    assert_eq!(
        world.queue_depth("user_registered_queue").await,
        Some(N as u32),
        "all waiting in the queue"
    );

    let email = world
        .service("email", "async")
        .env("EMAIL_DELAY_MS", 5)
        .env("CONSUMER_PREFETCH", 50)
        .start()
        .await;
    wait_for("the queue to drain", Duration::from_secs(120), || async {
        (world.queue_depth("user_registered_queue").await == Some(0)).then_some(())
    })
    .await;
    wait_for("1000 e-mails", Duration::from_secs(10), || async {
        (email.get("/emails?kind=welcome").await.body["count"] == N).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        email.get("/emails?kind=welcome").await.body["count"],
        N,
        "no more, no fewer"
    );
    assert_eq!(email.metric("messages_duplicate_total", "").await, 0.0);
    assert_eq!(
        world.queue_depth("user_registered_queue.dlq").await,
        Some(0)
    );
}
