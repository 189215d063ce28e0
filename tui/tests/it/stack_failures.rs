//! Failures on the running Docker stack: stop a container, watch each stack's answer, start it
//! again, watch both recover (docs/architecture.md, The Docker stack).
//!
//! - sync payment down: sync checkout answers 503 at once with a `detail` naming payment, the
//!   async checkout still 2xx; back up, both work;
//! - async email down: registrations still 202 and the e-mail queue grows by exactly the
//!   number sent; back up, it drains to 0 and every e-mail is recorded exactly once;
//! - RabbitMQ down: async endpoints answer 503, never a 2xx; back up, they recover within
//!   10 s without any container restarting.
//!
//! The tests stop shared containers, so they take turns (one lock); a guard starts the
//! container again even when a test fails.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::stack_support::{Stack, eventually, unique};
use common::Mode;
use common::broker::topology;
use common::scenario::{self, Service};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// One failure test at a time: each stops a container the others rely on.
static TURN: Mutex<()> = Mutex::const_new(());

/// "503 within about a second": the bound asserted is generous (this VM stalls up to ~1 s at
/// random); the measured time is printed.
const FAST_FAILURE: Duration = Duration::from_secs(3);

fn checkout_body() -> Value {
    json!({
        "user_id": 7,
        "user_email": format!("{}@example.com", unique("buyer")),
        "items": [{ "product_id": 2, "quantity": 1, "price": "29.99" }]
    })
}

/// Every async request of the catalogue (S1–S8), ready to send.
fn async_requests(stack: &Stack) -> Vec<(String, String, String, Option<Value>)> {
    scenario::CATALOGUE
        .iter()
        .map(|s| {
            let spec = s.request(Mode::Async);
            let token = unique("outage");
            let path = scenario::render(spec.path, &token, 1);
            let body = spec.body.map(|b| {
                serde_json::from_str(&scenario::render(b, &token, 1))
                    .unwrap_or_else(|err| panic!("{} body: {err}", s.id))
            });
            (
                s.id.to_string(),
                spec.method.to_owned(),
                format!("{}{path}", stack.base(spec.service, Mode::Async)),
                body,
            )
        })
        .collect()
}

/// The tests; `scripts/test.sh` runs this module only once the stack is up.
mod on_the_running_stack {
    use super::*;

    #[tokio::test]
    async fn sync_checkout_fails_fast_while_payment_is_down_and_async_checkout_does_not() {
        let _turn = TURN.lock().await;
        let stack = Stack::healthy().await;
        let sync_checkout = format!("{}/checkout", stack.base(Service::Order, Mode::Sync));
        let async_checkout = format!("{}/checkout", stack.base(Service::Order, Mode::Async));

        let payment = stack.stop("payment", "sync").await;
        let down = stack.post(&sync_checkout, &checkout_body()).await;
        println!(
            "sync checkout with payment stopped: {} in {:.0} ms: {}",
            down.status,
            down.elapsed.as_secs_f64() * 1000.0,
            down.text
        );
        assert_eq!(down.status, 503, "{}", down.text);
        assert!(
            down.elapsed < FAST_FAILURE,
            "took {:?} to fail",
            down.elapsed
        );
        let detail = down.body["detail"].to_string();
        assert!(
            detail.contains("payment"),
            "detail should name the payment service: {detail}"
        );
        let accepted = stack.post(&async_checkout, &checkout_body()).await;
        assert!(
            (200..300).contains(&accepted.status),
            "async checkout while sync payment is down: {} {}",
            accepted.status,
            accepted.text
        );

        payment.start().await;
        stack.wait_healthy(Duration::from_secs(60)).await;
        let ok = stack.post(&sync_checkout, &checkout_body()).await;
        assert_eq!(
            ok.status, 200,
            "sync checkout after payment is back: {}",
            ok.text
        );
        assert_eq!(ok.body["status"], "confirmed", "{}", ok.text);
        let accepted = stack.post(&async_checkout, &checkout_body()).await;
        assert_eq!(accepted.status, 202, "{}", accepted.text);
        let id = accepted.body["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("async checkout answer has no id: {}", accepted.text));
        let order = format!("{}/orders/{id}", stack.base(Service::Order, Mode::Async));
        eventually(
            Duration::from_secs(30),
            "the async order is confirmed",
            || async { (stack.get(&order).await.body["status"] == "confirmed").then_some(()) },
        )
        .await;
    }

    #[tokio::test]
    async fn registrations_queue_up_while_email_is_down_and_each_mail_is_sent_once_after() {
        let _turn = TURN.lock().await;
        let stack = Stack::healthy().await;
        let queue = topology::USER_REGISTERED;
        eventually(
            Duration::from_secs(60),
            "the e-mail queue is empty to begin with",
            || async { (stack.queue_depth(queue).await == 0).then_some(()) },
        )
        .await;

        let email = stack.stop("email", "async").await;
        let register = format!("{}/register", stack.base(Service::User, Mode::Async));
        let addresses: Vec<String> = (0..5)
            .map(|_| format!("{}@example.com", unique("queued")))
            .collect();
        for address in &addresses {
            let reply = stack.post(&register, &json!({ "email": address })).await;
            assert_eq!(
                reply.status, 202,
                "register while email is down: {}",
                reply.text
            );
        }
        // Confirmed publishes are counted at once; a short wait shows nothing else moves them.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            stack.queue_depth(queue).await,
            addresses.len() as u32,
            "{queue} should hold exactly the registrations sent"
        );

        email.start().await;
        let drained_from = Instant::now();
        eventually(
            Duration::from_secs(90),
            "the e-mail queue drains to 0",
            || async { (stack.queue_depth(queue).await == 0).then_some(()) },
        )
        .await;
        println!(
            "{queue} drained {:.1} s after email-async was started",
            drained_from.elapsed().as_secs_f64()
        );
        stack.wait_healthy(Duration::from_secs(60)).await;
        let sent = |address: &String| {
            format!(
                "{}/emails?recipient={address}",
                stack.base(Service::Email, Mode::Async)
            )
        };
        for address in &addresses {
            eventually(
                Duration::from_secs(30),
                "the e-mail is recorded",
                || async { (stack.get(&sent(address)).await.body["count"] == 1).then_some(()) },
            )
            .await;
        }
        // Exactly once: nothing arrives later (no redelivery has a second effect).
        tokio::time::sleep(Duration::from_secs(2)).await;
        for address in &addresses {
            let reply = stack.get(&sent(address)).await;
            assert_eq!(reply.body["count"], 1, "{address}: {}", reply.text);
        }
    }

    #[tokio::test]
    async fn async_endpoints_answer_503_while_rabbitmq_is_down_and_recover_without_restarts() {
        let _turn = TURN.lock().await;
        let stack = Stack::healthy().await;
        let before: HashMap<String, (i64, String)> = stack
            .containers()
            .await
            .into_iter()
            .filter(|c| c.service != "rabbitmq")
            .map(|c| {
                (
                    c.compose_service.clone(),
                    (c.restart_count, c.started_at.clone()),
                )
            })
            .collect();

        let rabbitmq = stack.stop("rabbitmq", "infra").await;
        for (id, method, url, body) in async_requests(&stack) {
            let reply = stack.send(&method, &url, body.as_ref()).await;
            println!(
                "broker down: {id} {method} {url} -> {} in {:.0} ms",
                reply.status,
                reply.elapsed.as_secs_f64() * 1000.0
            );
            assert_eq!(
                reply.status, 503,
                "{id} must refuse while the broker is down (never a 2xx whose work is lost): {}",
                reply.text
            );
        }
        // The sync stack does not depend on the broker.
        let sync_register = stack
            .post(
                &format!("{}/register", stack.base(Service::User, Mode::Sync)),
                &json!({ "email": format!("{}@example.com", unique("nobroker")) }),
            )
            .await;
        assert_eq!(sync_register.status, 201, "{}", sync_register.text);

        rabbitmq.start().await;
        let rabbit = stack.container("rabbitmq", "infra").await;
        let broker_back = eventually(
            Duration::from_secs(180),
            "RabbitMQ is healthy again",
            || {
                let docker = &stack.docker;
                let rabbit = &rabbit;
                async move {
                    let now = ms_tui::docker::status::refresh(docker, rabbit).await.ok()?;
                    now.is_ready().then(Instant::now)
                }
            },
        )
        .await;
        for (id, method, url, body) in async_requests(&stack) {
            let recovered = eventually(
                Duration::from_secs(10),
                &format!("{id} recovers within 10 s of the broker"),
                || {
                    let (stack, method, url, body) = (&stack, &method, &url, &body);
                    async move {
                        let reply = stack.send(method, url, body.as_ref()).await;
                        (200..300).contains(&reply.status).then_some(reply.status)
                    }
                },
            )
            .await;
            println!(
                "broker back: {id} -> {recovered} {:.1} s after RabbitMQ was healthy",
                broker_back.elapsed().as_secs_f64()
            );
        }

        for container in stack.containers().await {
            if let Some((restarts, started_at)) = before.get(&container.compose_service) {
                assert_eq!(
                    (container.restart_count, &container.started_at),
                    (*restarts, started_at),
                    "{} restarted during the broker outage",
                    container.compose_service
                );
            }
        }
        stack.wait_healthy(Duration::from_secs(60)).await;
    }
}
