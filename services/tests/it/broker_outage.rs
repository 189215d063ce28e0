//! Stops the real broker (`rabbitmqctl stop_app`) under running services. Its world is
//! `World::alone`, so no other test of the binary runs while the broker is down.

use std::time::Duration;

use serde_json::json;
use testkit::{World, required, unique, wait_for};

async fn rabbitmqctl(command: &str) {
    let ctl = required("MS_TEST_RABBITMQCTL");
    let mut words = ctl.split_whitespace();
    let program = words.next().expect("a command");
    let status = tokio::process::Command::new(program)
        .args(words)
        .arg(command)
        .status()
        .await
        .expect("run rabbitmqctl");
    assert!(status.success(), "rabbitmqctl {command} failed");
}

#[tokio::test]
async fn broker_down_means_503_and_the_service_recovers_by_itself() {
    let world = World::alone("outage").await;
    let mut user = world.service("user", "async").start().await;
    let email = world
        .service("email", "async")
        .env("EMAIL_DELAY_MS", 0)
        .start()
        .await;
    let pids = (user.pid(), email.pid());
    assert_eq!(
        user.post(
            "/register",
            json!({ "email": format!("{}@example.com", unique("before")) })
        )
        .await
        .status,
        202
    );

    rabbitmqctl("stop_app").await;
    let lost = format!("{}@example.com", unique("during"));
    let during = user.post("/register", json!({ "email": lost })).await;
    let ready = user.get("/ready").await;
    // Restart the broker before asserting, so a failure leaves the shared broker usable.
    rabbitmqctl("start_app").await;

    during.assert_error(503);
    assert_eq!(ready.status, 503, "not ready without the broker: {ready:?}");
    assert_eq!(ready.body["broker"], "down");

    let after = format!("{}@example.com", unique("after"));
    wait_for(
        "registrations to be accepted again",
        Duration::from_secs(30),
        || async {
            let reply = user.post("/register", json!({ "email": after })).await;
            assert!(
                reply.status == 202 || reply.status == 503,
                "only 202 or 503, got {reply:?}"
            );
            (reply.status == 202).then_some(())
        },
    )
    .await;
    wait_for(
        "the e-mail after recovery",
        Duration::from_secs(30),
        || async {
            (email.get(&format!("/emails?recipient={after}")).await.body["count"] == 1)
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        email.get(&format!("/emails?recipient={lost}")).await.body["count"],
        0,
        "the refused registration sent nothing"
    );
    assert!(
        user.get("/users").await.body["users"]
            .as_array()
            .is_some_and(|u| u.iter().all(|x| x["email"] != lost.as_str())),
        "and stored nothing"
    );
    assert!(user.is_running(), "recovered without a process restart");
    assert_eq!((user.pid(), email.pid()), pids);
}
