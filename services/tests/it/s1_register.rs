//! S1 (register → welcome e-mail), both modes, on the real broker and database.

use std::time::Duration;

use serde_json::json;
use testkit::{World, expect_completion, unique, wait_for};

#[tokio::test]
async fn sync_register_waits_for_the_email_and_reports_completion() {
    let world = World::new("s1-sync").await;
    let email = world.service("email", "sync").start().await;
    let user = world
        .service("user", "sync")
        .env("EMAIL_SERVICE_URL", &email.base)
        .start()
        .await;
    let mut completions = world.completions().await;

    let address = format!("{}@example.com", unique("sync"));
    let cid = unique("cid");
    let reply = user
        .post_with_id("/register", json!({ "email": address }), &cid)
        .await;

    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(
        reply.correlation_id.as_deref(),
        Some(cid.as_str()),
        "correlation id echoed"
    );
    assert_eq!(reply.body["email"], address);
    assert_eq!(reply.body["message"], "User registered successfully");
    assert!(
        reply.body["id"].is_i64() && reply.body["timestamp"].is_string(),
        "{reply:?}"
    );
    assert_eq!(reply.body["welcome_email_sent"], true);
    assert!(
        reply.elapsed >= Duration::from_millis(500),
        "sync S1 waits for the 500 ms e-mail, took {:?}",
        reply.elapsed
    );

    let sent = email.get(&format!("/emails?recipient={address}")).await;
    assert_eq!(sent.body["count"], 1, "{sent:?}");
    assert_eq!(
        sent.body["emails"][0]["correlation_id"],
        cid.as_str(),
        "correlation id carried to the e-mail"
    );

    let event = expect_completion(
        &mut completions,
        &cid,
        "welcome_email_sent",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        (
            event["scenario"].as_str(),
            event["mode"].as_str(),
            event["service"].as_str()
        ),
        (Some("s1"), Some("sync"), Some("email"))
    );
    assert_eq!(event["ok"], true);

    let users = user.get("/users").await;
    assert_eq!(users.body["count"], 1);
    let id = reply.body["id"].as_i64().unwrap_or_default();
    let one = user.get(&format!("/users/{id}")).await;
    assert_eq!(
        (one.status, one.body["email"].as_str()),
        (200, Some(address.as_str()))
    );
}

#[tokio::test]
async fn sync_register_still_succeeds_when_email_is_down() {
    let world = World::new("s1-sync-down").await;
    let user = world
        .service("user", "sync")
        .env("EMAIL_SERVICE_URL", "http://127.0.0.1:9")
        .start()
        .await;
    let reply = user
        .post(
            "/register",
            json!({ "email": format!("{}@example.com", unique("nomail")) }),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["welcome_email_sent"], false);
    assert!(
        reply.body["warnings"][0]
            .as_str()
            .unwrap_or_default()
            .contains("email"),
        "{reply:?}"
    );
}

#[tokio::test]
async fn async_register_answers_202_then_sends_exactly_one_email() {
    let world = World::new("s1-async").await;
    let user = world.service("user", "async").start().await;
    let email = world.service("email", "async").start().await;
    let mut completions = world.completions().await;

    let address = format!("{}@example.com", unique("async"));
    let cid = unique("cid");
    let reply = user
        .post_with_id("/register", json!({ "email": address }), &cid)
        .await;

    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.correlation_id.as_deref(), Some(cid.as_str()));
    assert_eq!(reply.body["event_published"], true);
    assert_eq!(reply.body["email"], address);
    assert!(reply.body["id"].is_i64());

    let event = expect_completion(
        &mut completions,
        &cid,
        "welcome_email_sent",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        (event["mode"].as_str(), event["scenario"].as_str()),
        (Some("async"), Some("s1"))
    );
    let path = format!("/emails?recipient={address}");
    wait_for("the welcome e-mail", Duration::from_secs(10), || async {
        (email.get(&path).await.body["count"] == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = email.get(&path).await;
    assert_eq!(sent.body["count"], 1, "exactly once: {sent:?}");
    assert_eq!(
        sent.body["emails"][0]["correlation_id"],
        cid.as_str(),
        "correlation id carried through the broker"
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_with_the_envelope() {
    let world = World::new("s1-input").await;
    let user = world
        .service("user", "async")
        .env("MAX_BODY_BYTES", 4096)
        .start()
        .await;
    let http = reqwest::Client::new();

    let malformed = user
        .send(
            http.post(user.url("/register"))
                .header("content-type", "application/json")
                .body("{\"email\":"),
        )
        .await;
    malformed.assert_error(422);
    assert_eq!(
        malformed.body["detail"][0]["type"], "json_invalid",
        "{malformed:?}"
    );

    user.post("/register", json!({ "email": 5 }))
        .await
        .assert_error(422);
    let missing = user.post("/register", json!({})).await;
    missing.assert_error(422);
    assert!(
        missing.body["detail"][0]["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("email"),
        "names the field: {missing:?}"
    );
    let invalid = user
        .post("/register", json!({ "email": "not-an-address" }))
        .await;
    invalid.assert_error(422);
    assert_eq!(invalid.body["detail"][0]["loc"][1], "email");

    let huge = user
        .post("/register", json!({ "email": "x".repeat(10_000) }))
        .await;
    huge.assert_error(413);
    let no_type = user.send(http.post(user.url("/register")).body("{}")).await;
    no_type.assert_error(415);

    user.get("/users/999999").await.assert_error(404);
    user.get("/users/abc").await.assert_error(422);
    user.get("/no/such/route").await.assert_error(404);
    user.send(http.delete(user.url("/register")))
        .await
        .assert_error(405);

    let address = format!("{}@example.com", unique("dup"));
    assert_eq!(
        user.post("/register", json!({ "email": address }))
            .await
            .status,
        202
    );
    let dup = user.post("/register", json!({ "email": address })).await;
    dup.assert_error(400);
    assert_eq!(dup.body["detail"], "Email already registered");
}

#[tokio::test]
async fn admin_api_needs_the_token_and_changes_knobs_and_data() {
    let world = World::new("s1-admin").await;
    let user = world
        .service("user", "sync")
        .env("EMAIL_SERVICE_URL", "http://127.0.0.1:9")
        .start()
        .await;
    let http = reqwest::Client::new();

    user.send(http.get(user.url("/admin/config")))
        .await
        .assert_error(401);
    user.send(http.get(user.url("/admin/config")).bearer_auth("wrong"))
        .await
        .assert_error(401);
    user.send(http.post(user.url("/admin/reset")))
        .await
        .assert_error(401);

    let config = user
        .admin(reqwest::Method::GET, "/admin/config", None)
        .await;
    assert_eq!(
        (
            config.status,
            config.body["knobs"]["email_delay_ms"].as_u64()
        ),
        (200, Some(500)),
        "{config:?}"
    );
    let changed = user
        .admin(
            reqwest::Method::PUT,
            "/admin/config",
            Some(json!({ "email_delay_ms": 20, "payment_failure_rate": 0 })),
        )
        .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(changed.body["knobs"]["email_delay_ms"], 20);
    assert_eq!(changed.body["knobs"]["payment_failure_rate"], 0.0);
    user.admin(
        reqwest::Method::PUT,
        "/admin/config",
        Some(json!({ "payment_failure_rate": 3 })),
    )
    .await
    .assert_error(422);
    user.admin(
        reqwest::Method::PUT,
        "/admin/config",
        Some(json!({ "bogus": 1 })),
    )
    .await
    .assert_error(422);

    user.post(
        "/register",
        json!({ "email": format!("{}@example.com", unique("r")) }),
    )
    .await;
    assert_eq!(user.get("/users").await.body["count"], 1);
    assert_eq!(
        user.admin(reqwest::Method::POST, "/admin/reset", None)
            .await
            .status,
        200
    );
    assert_eq!(
        user.get("/users").await.body["count"],
        0,
        "reset restores the seed state"
    );

    let health = user.get("/health").await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (200, Some("healthy"))
    );
    let metrics = user
        .metric("http_requests_total", "route=\"/register\"")
        .await;
    assert!(metrics >= 1.0, "request metrics per route");
}
