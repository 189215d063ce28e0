//! `publish_mode = outbox` on the real user service, its AMQP connection through a
//! [`BrokerRelay`] the test cuts (a "stopped broker" that no other test notices), the e-mail
//! consumer connected to the broker directly: registrations are accepted without a broker,
//! survive a SIGKILL of the service, and each is published and mailed exactly once.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use testkit::{BrokerRelay, Service, World, unique, wait_for};

/// Requests in flight at once while firing registrations.
const CONCURRENCY: usize = 50;

/// The world's database (made by its first service), where the test counts rows itself:
/// every service has its schema there.
async fn database(world: &World) -> PgPool {
    PgPool::connect(&world.database_url).await.unwrap()
}

async fn scalar(db: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

/// (welcome e-mails, distinct event ids among them, distinct recipients among them).
async fn welcome_mail(db: &PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT count(*), count(DISTINCT event_id), count(DISTINCT recipient)
         FROM email_service.emails WHERE kind = 'welcome'",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

async fn pending(db: &PgPool) -> i64 {
    scalar(
        db,
        "SELECT count(*) FROM user_service.outbox WHERE sent_at IS NULL",
    )
    .await
}

/// The user service in outbox mode, reaching the broker through `relay`.
async fn outbox_user(world: &World, relay: &BrokerRelay) -> Service {
    world
        .service("user", "async")
        .env("AMQP_URL", &relay.amqp_url)
        .env("PUBLISH_MODE", "outbox")
        .start()
        .await
}

/// Cuts the relay and waits until the service itself reports the broker down.
async fn stop_broker_for(relay: &BrokerRelay, service: &Service) {
    relay.cut();
    wait_for(
        "the service to lose the broker",
        Duration::from_secs(15),
        || async { (service.get("/ready").await.body["broker"] == "down").then_some(()) },
    )
    .await;
}

/// Fires `n` registrations, `CONCURRENCY` at a time; every one must be accepted (202, the
/// event queued in the outbox). Returns the e-mail addresses.
async fn register(user: &Service, n: usize, tag: &str) -> Vec<String> {
    let emails: Vec<String> = (0..n)
        .map(|_| format!("{}@example.com", unique(tag)))
        .collect();
    let replies: Vec<_> = stream::iter(emails.iter())
        .map(|email| user.post("/register", json!({ "email": email })))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for reply in &replies {
        assert_eq!(reply.status, 202, "accepted without a broker: {reply:?}");
        assert_eq!(
            reply.body["event_published"], false,
            "queued, not confirmed: {reply:?}"
        );
    }
    emails
}

#[tokio::test]
async fn outbox_accepts_500_registrations_without_a_broker_and_mails_each_once_when_it_is_back() {
    let world = World::new("outbox-outage").await;
    let relay = BrokerRelay::start(&world).await;
    let email = world
        .service("email", "async")
        .env("EMAIL_DELAY_MS", 0)
        .start()
        .await;
    let user = outbox_user(&world, &relay).await;
    let db = database(&world).await;
    let config = user.admin(Method::GET, "/admin/config", None).await;
    assert_eq!(config.body["knobs"]["publish_mode"], "outbox", "{config:?}");

    stop_broker_for(&relay, &user).await;
    let started = Instant::now();
    register(&user, 500, "outbox").await;
    let accepted_in = started.elapsed();
    assert_eq!(pending(&db).await, 500, "every event waits in the outbox");
    wait_for("the pending gauge", Duration::from_secs(10), || async {
        (user.metric("outbox_pending", "").await == 500.0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        welcome_mail(&db).await.0,
        0,
        "nothing got through the cut relay"
    );

    relay.restore();
    let restored = Instant::now();
    wait_for("500 welcome e-mails", Duration::from_secs(60), || async {
        (welcome_mail(&db).await.0 >= 500).then_some(())
    })
    .await;
    let drained_in = restored.elapsed();
    // A late duplicate would show after the drain: give one a moment to arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        welcome_mail(&db).await,
        (500, 500, 500),
        "exactly one mail per registration"
    );
    assert_eq!(pending(&db).await, 0);
    assert_eq!(user.metric("outbox_published_total", "").await, 500.0);
    assert_eq!(
        email.metric("messages_duplicate_total", "").await,
        0.0,
        "each event was delivered once"
    );
    eprintln!(
        "outbox: 500 registrations accepted without a broker in {accepted_in:?}; \
         all 500 mailed {drained_in:?} after it came back"
    );
}

#[tokio::test]
async fn outbox_entries_survive_a_sigkill_and_are_published_exactly_once_by_the_restarted_replicas()
{
    let world = World::new("outbox-kill").await;
    let relay = BrokerRelay::start(&world).await;
    let user = outbox_user(&world, &relay).await;
    let db = database(&world).await;
    stop_broker_for(&relay, &user).await;
    let emails = register(&user, 300, "killed").await;
    assert_eq!(pending(&db).await, 300);
    user.kill().await; // SIGKILL: the relay never published a thing

    // A third party holds the oldest 100 entries as a replica mid-publish would: the relays
    // must skip them, not wait for them (SKIP LOCKED), and must not publish them meanwhile.
    let mut held = db.begin().await.unwrap();
    let locked: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM user_service.outbox WHERE sent_at IS NULL ORDER BY id LIMIT 100 FOR UPDATE",
    )
    .fetch_all(&mut *held)
    .await
    .unwrap();
    assert_eq!(locked.len(), 100);

    // The broker back and two replicas of the service at once, their relays claiming from
    // the same pending entries.
    relay.restore();
    let started = Instant::now();
    let (first, second) = tokio::join!(outbox_user(&world, &relay), outbox_user(&world, &relay));
    wait_for(
        "the unlocked entries published",
        Duration::from_secs(30),
        || async { (pending(&db).await == 100).then_some(()) },
    )
    .await;
    let unlocked_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pending(&db).await, 100, "the held entries stay pending");
    assert_eq!(
        world.queue_depth("user_registered_queue").await,
        Some(200),
        "the 200 free entries, once each"
    );
    held.rollback().await.unwrap();
    wait_for("the outbox drained", Duration::from_secs(30), || async {
        (pending(&db).await == 0).then_some(())
    })
    .await;
    let drained_in = started.elapsed();
    // Nothing consumes the queue yet, so its depth counts the publishes exactly.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        world.queue_depth("user_registered_queue").await,
        Some(300),
        "each entry published exactly once"
    );
    // `+ 0.0`: a sum over no series is -0.0, which reads oddly in the report line.
    let by_first = first.metric("outbox_published_total", "").await + 0.0;
    let by_second = second.metric("outbox_published_total", "").await + 0.0;
    assert_eq!(by_first + by_second, 300.0, "{by_first} + {by_second}");

    let email = world
        .service("email", "async")
        .env("EMAIL_DELAY_MS", 0)
        .start()
        .await;
    wait_for("300 welcome e-mails", Duration::from_secs(60), || async {
        (welcome_mail(&db).await.0 >= 300).then_some(())
    })
    .await;
    assert_eq!(welcome_mail(&db).await, (300, 300, 300));
    let mut recipients: Vec<String> =
        sqlx::query_scalar("SELECT recipient FROM email_service.emails")
            .fetch_all(&db)
            .await
            .unwrap();
    recipients.sort();
    let mut expected = emails;
    expected.sort();
    assert_eq!(
        recipients, expected,
        "every accepted registration, no other"
    );
    assert_eq!(email.metric("messages_duplicate_total", "").await, 0.0);
    eprintln!(
        "outbox after SIGKILL: the 200 free entries published {unlocked_in:?} after the \
         restart, all 300 {drained_in:?} after it (by the replicas: {by_first} + {by_second})"
    );
}

#[tokio::test]
async fn confirm_mode_still_answers_503_and_keeps_nothing_when_the_broker_is_cut() {
    let world = World::new("outbox-confirm").await;
    let relay = BrokerRelay::start(&world).await;
    let user = world
        .service("user", "async")
        .env("AMQP_URL", &relay.amqp_url)
        .start()
        .await;
    let db = database(&world).await;
    let config = user.admin(Method::GET, "/admin/config", None).await;
    assert_eq!(
        config.body["knobs"]["publish_mode"], "confirm",
        "the default"
    );
    stop_broker_for(&relay, &user).await;
    let refused = user
        .post(
            "/register",
            json!({ "email": format!("{}@example.com", unique("confirm")) }),
        )
        .await;
    refused.assert_error(503);
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM user_service.users").await,
        0
    );
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM user_service.outbox").await,
        0
    );

    // Switched at run time, the same service accepts the next one without a broker.
    let switched = user
        .admin(
            Method::PUT,
            "/admin/config",
            Some(json!({ "publish_mode": "outbox" })),
        )
        .await;
    assert_eq!(switched.status, 200, "{switched:?}");
    let bad = user
        .admin(
            Method::PUT,
            "/admin/config",
            Some(json!({ "publish_mode": "maybe" })),
        )
        .await;
    bad.assert_error(422);
    register(&user, 1, "switched").await;
    assert_eq!(pending(&db).await, 1);
    relay.restore();
    wait_for("the entry published", Duration::from_secs(30), || async {
        (pending(&db).await == 0).then_some(())
    })
    .await;
    assert_eq!(world.queue_depth("user_registered_queue").await, Some(1));
}
