//! `ms-service admin`, the real binary against a real service: what it prints and its exit
//! codes (0 on 2xx, 1 on any other status, 2 on usage errors and when nothing answers).

use std::process::Output;

use serde_json::Value;
use testkit::{ADMIN_TOKEN, World, service::ms_service};

/// Runs `ms-service admin <args>` against `port`, with `token` as `MS_ADMIN_TOKEN`.
async fn admin(port: u16, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(ms_service());
    command
        .arg("admin")
        .args(args)
        .env_clear()
        .env("PORT", port.to_string());
    if let Some(token) = token {
        command.env("MS_ADMIN_TOKEN", token);
    }
    command.output().await.expect("run ms-service admin")
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}): {:?}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn admin_prints_the_answer_and_exits_by_its_status() {
    let world = World::new("admin-cli").await;
    let user = world.service("user", "async").start().await;
    let port = user.port();

    let got = admin(port, Some(ADMIN_TOKEN), &["get", "/admin/config"]).await;
    assert_eq!(code(&got), Some(0), "{}", stderr(&got));
    let body = stdout_json(&got);
    assert_eq!(
        (&body["service"], &body["mode"]),
        (&"user".into(), &"async".into())
    );

    let put = admin(
        port,
        Some(ADMIN_TOKEN),
        &["put", "/admin/config", r#"{"email_delay_ms":123}"#],
    )
    .await;
    assert_eq!(code(&put), Some(0), "{}", stderr(&put));
    assert_eq!(stdout_json(&put)["knobs"]["email_delay_ms"], 123);
    let seen = user
        .admin(reqwest::Method::GET, "/admin/config", None)
        .await;
    assert_eq!(
        seen.body["knobs"]["email_delay_ms"], 123,
        "the service took it"
    );

    // A status other than 2xx: exit 1, the status and the service's own words on stderr.
    let refused = admin(
        port,
        Some(ADMIN_TOKEN),
        &["put", "/admin/config", r#"{"payment_failure_rate":2}"#],
    )
    .await;
    assert_eq!(code(&refused), Some(1), "{}", stderr(&refused));
    assert!(refused.stdout.is_empty(), "nothing on stdout");
    let said = stderr(&refused);
    assert!(
        said.contains("422") && said.contains("payment_failure_rate"),
        "{said}"
    );
    let unchanged = user
        .admin(reqwest::Method::GET, "/admin/config", None)
        .await;
    assert_eq!(
        unchanged.body["knobs"]["payment_failure_rate"], 1.0,
        "a refused patch changes nothing"
    );

    let wrong_token = admin(port, Some("not-the-token"), &["get", "/admin/config"]).await;
    assert_eq!(code(&wrong_token), Some(1));
    assert!(
        stderr(&wrong_token).contains("401"),
        "{}",
        stderr(&wrong_token)
    );

    let reset = admin(port, Some(ADMIN_TOKEN), &["post", "/admin/reset"]).await;
    assert_eq!(code(&reset), Some(0), "{}", stderr(&reset));
    assert_eq!(stdout_json(&reset)["status"], "reset");

    // Usage errors: exit 2 before anything is sent.
    let bad_json = admin(port, Some(ADMIN_TOKEN), &["put", "/admin/config", "{nope"]).await;
    assert_eq!(code(&bad_json), Some(2));
    assert!(
        stderr(&bad_json).contains("not JSON"),
        "{}",
        stderr(&bad_json)
    );
    let no_token = admin(port, None, &["get", "/admin/config"]).await;
    assert_eq!(code(&no_token), Some(2));
    assert!(
        stderr(&no_token).contains("MS_ADMIN_TOKEN"),
        "{}",
        stderr(&no_token)
    );
    let bad_verb = admin(port, Some(ADMIN_TOKEN), &["patch", "/admin/config"]).await;
    assert_eq!(code(&bad_verb), Some(2), "clap's usage error");
}

#[tokio::test]
async fn admin_exits_2_when_nothing_answers() {
    // A port that was free a moment ago and that nothing listens on now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let started = std::time::Instant::now();
    let nobody = admin(port, Some(ADMIN_TOKEN), &["get", "/admin/config"]).await;
    assert_eq!(code(&nobody), Some(2), "{}", stderr(&nobody));
    let said = stderr(&nobody);
    assert!(
        said.contains("nothing answers") && said.contains(&format!("127.0.0.1:{port}")),
        "{said}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "refused at once"
    );
}
