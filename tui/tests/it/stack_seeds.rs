//! Every seed README's curl example, against the running Docker stack, mapped by docs/contract.md, Port map:
//! each one on the sync ports (80xx), the async ports (81xx) and through the gateway
//! (`:9000/sync/{service}/…`, `:9000/async/{service}/…`), answering the status and fields
//! its README documents for that mode (seed 003 documents the sync stack, 002 the async one;
//! 000, 001 and 004 their own services). Plus 004's own gateway API and 002's RabbitMQ
//! management calls.
//!
//! One table, one test: every row runs, and the failures are reported together.
//!
//! Mapping notes: seed 004's `curl http://localhost:8001` (its services' root, a liveness
//! check) is served as `/health`; 002's `guest:guest` management login is the stack's own
//! account from `compose/.env` (never `guest`).

use std::time::Duration;

use crate::stack_support::{Reply, Stack, eventually, unique};
use common::Mode;
use common::scenario::Service;
use futures_util::StreamExt;
use serde_json::{Value, json};

/// What a mode's answer must be: its status and fields. A field is a dotted path
/// (`detail.compensation_executed`) that must be present and not null, or `path=value` that
/// must equal `value` (JSON if it parses, else a string).
struct Expect {
    status: u16,
    fields: &'static [&'static str],
}

/// Checks a mode makes after its answer, as the README goes on to do.
#[derive(Clone, Copy, PartialEq)]
enum FollowUp {
    None,
    /// 002 S4: `GET /jobs/{job_id}` answers.
    Job,
    /// 002 S5: `GET /orders/{id}` a little later says `failed`.
    OrderFails,
}

struct Example {
    /// Which README and which example.
    seed: &'static str,
    service: Service,
    method: &'static str,
    path: &'static str,
    /// `{u}` becomes a token unique per request (the peers' unique keys, e.g. e-mails).
    body: Option<&'static str>,
    sync: Expect,
    asynchronous: Expect,
    follow_up: FollowUp,
}

/// Seed 001's first product, as both modes must show it.
const LAPTOP: &[&str] = &[
    "product_id=prod001",
    "name=Laptop",
    "price",
    "stock",
    "category",
];

const fn expect(status: u16, fields: &'static [&'static str]) -> Expect {
    Expect { status, fields }
}

const EXAMPLES: &[Example] = &[
    Example {
        seed: "003/002 S1 register",
        service: Service::User,
        method: "POST",
        path: "/register",
        body: Some(r#"{"email": "{u}@example.com"}"#),
        sync: expect(201, &["id", "email", "message", "timestamp"]),
        asynchronous: expect(202, &["id", "email", "message", "event_published=true"]),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "003 S2 process_payment",
        service: Service::Payment,
        method: "POST",
        path: "/process_payment",
        body: Some(r#"{"order_id": 123, "amount": 100.0}"#),
        sync: expect(
            200,
            &["status=success", "transaction_id", "amount", "order_id"],
        ),
        asynchronous: expect(202, &["payment_id", "status=processing", "message"]),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "002 S2 process_payment",
        service: Service::Payment,
        method: "POST",
        path: "/process_payment",
        body: Some(r#"{"amount": 100.0, "currency": "USD"}"#),
        sync: expect(200, &["status=success", "transaction_id", "amount"]),
        asynchronous: expect(202, &["payment_id", "status=processing", "message"]),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "003/002 S3 update product",
        service: Service::Product,
        method: "PUT",
        path: "/products/1",
        body: Some(r#"{"name": "Updated Laptop", "stock": 75}"#),
        sync: expect(200, &["id=1", "name=Updated Laptop", "stock=75", "message"]),
        asynchronous: expect(
            200,
            &[
                "id=1",
                "name=Updated Laptop",
                "stock=75",
                "event_published=true",
            ],
        ),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "003/002 S4 generate_report",
        service: Service::Report,
        method: "POST",
        path: "/generate_report",
        body: Some(r#"{"report_type": "monthly"}"#),
        sync: expect(
            200,
            &[
                "status=completed",
                "report_type=monthly",
                "report_hash",
                "computation_time_seconds",
            ],
        ),
        asynchronous: expect(202, &["job_id", "status=queued", "message"]),
        follow_up: FollowUp::Job,
    },
    Example {
        seed: "003/002 S5 create_order",
        service: Service::Order,
        method: "POST",
        path: "/create_order",
        body: Some(r#"{"product_id": 1, "quantity": 1}"#),
        sync: expect(
            400,
            &[
                "detail.compensation_executed=true",
                "detail.message",
                "detail.order_id",
            ],
        ),
        asynchronous: expect(202, &["id", "product_id=1", "quantity=1", "status=pending"]),
        follow_up: FollowUp::OrderFails,
    },
    Example {
        seed: "003/002 S6 track_click",
        service: Service::Analytics,
        method: "POST",
        path: "/track_click",
        body: Some(r#"{"user_id": 123, "page": "homepage"}"#),
        sync: expect(200, &["status=tracked"]),
        asynchronous: expect(200, &["status=tracked"]),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "000 checkout",
        service: Service::Order,
        method: "POST",
        path: "/checkout",
        body: Some(r#"{"order_id": "123", "amount": 99.99}"#),
        // 000's order_id is a string, echoed as sent (docs/contract.md, Bodies).
        sync: expect(200, &["status=PAID", r#"order_id="123""#]),
        asynchronous: expect(202, &["status=ORDER_ACCEPTED", "message"]),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "001 create order",
        service: Service::Order,
        method: "POST",
        path: "/orders",
        body: Some(
            r#"{"user_id": "user123", "items": [{"product_id": "prod001", "quantity": 2}]}"#,
        ),
        sync: expect(
            200,
            &[
                "order_id",
                "user_id=user123",
                "items",
                "status=confirmed",
                "total_amount",
            ],
        ),
        asynchronous: expect(
            200,
            &[
                "order_id",
                "user_id=user123",
                "items",
                "status=confirmed",
                "total_amount",
            ],
        ),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "001 notifications",
        service: Service::Email,
        method: "GET",
        path: "/notifications",
        body: None,
        sync: expect(200, &["notifications"]),
        asynchronous: expect(200, &["notifications"]),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "001 inventory products",
        service: Service::Inventory,
        method: "GET",
        path: "/products",
        body: None,
        sync: expect(200, &["products"]),
        asynchronous: expect(200, &["products"]),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "001 inventory product",
        service: Service::Inventory,
        method: "GET",
        path: "/products/prod001",
        body: None,
        sync: expect(200, LAPTOP),
        asynchronous: expect(200, LAPTOP),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "001/002/004 health (order)",
        service: Service::Order,
        method: "GET",
        path: "/health",
        body: None,
        sync: expect(200, &["status"]),
        asynchronous: expect(200, &["status"]),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "001/002/004 health (inventory)",
        service: Service::Inventory,
        method: "GET",
        path: "/health",
        body: None,
        sync: expect(200, &["status"]),
        asynchronous: expect(200, &["status"]),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "001/002/004 health (email)",
        service: Service::Email,
        method: "GET",
        path: "/health",
        body: None,
        sync: expect(200, &["status"]),
        asynchronous: expect(200, &["status"]),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "002 health (user)",
        service: Service::User,
        method: "GET",
        path: "/health",
        body: None,
        sync: expect(200, &["status"]),
        asynchronous: expect(200, &["status"]),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "002/004 health (payment)",
        service: Service::Payment,
        method: "GET",
        path: "/health",
        body: None,
        sync: expect(200, &["status"]),
        asynchronous: expect(200, &["status"]),
        follow_up: FollowUp::None,
    },
    Example {
        seed: "002 health (product)",
        service: Service::Product,
        method: "GET",
        path: "/health",
        body: None,
        sync: expect(200, &["status"]),
        asynchronous: expect(200, &["status"]),
        follow_up: FollowUp::None,
    },
];

/// Requests of the table in flight at once (debug binaries on 2 shared cores).
const PARALLEL: usize = 4;

/// `path=value` or `path`: `None` when it holds, else what is wrong.
fn check_field(body: &Value, spec: &str) -> Option<String> {
    let (path, wanted) = match spec.split_once('=') {
        Some((path, value)) => (
            path,
            Some(serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()))),
        ),
        None => (spec, None),
    };
    let found = path
        .split('.')
        .try_fold(body, |value, key| value.get(key))
        .filter(|value| !value.is_null());
    match (found, wanted) {
        (None, _) => Some(format!("no `{path}`")),
        (Some(found), Some(wanted)) if *found != wanted => {
            Some(format!("`{path}` is {found}, expected {wanted}"))
        }
        _ => None,
    }
}

/// One example on one route; the problems found (empty: it answered as documented).
async fn run(stack: &Stack, example: &Example, mode: Mode, via_gateway: bool) -> Vec<String> {
    let base = if via_gateway {
        stack.via_gateway(example.service, mode)
    } else {
        stack.base(example.service, mode)
    };
    let route = format!(
        "{} [{mode}{}] {} {}{}",
        example.seed,
        if via_gateway { " via gateway" } else { "" },
        example.method,
        base,
        example.path
    );
    let body = example.body.map(|b| {
        serde_json::from_str::<Value>(&b.replace("{u}", &unique("seed")))
            .unwrap_or_else(|err| panic!("{}: bad body: {err}", example.seed))
    });
    let url = format!("{base}{}", example.path);
    let reply = stack.send(example.method, &url, body.as_ref()).await;
    let expected = match mode {
        Mode::Sync => &example.sync,
        Mode::Async => &example.asynchronous,
    };
    let mut problems = Vec::new();
    if reply.status != expected.status {
        problems.push(format!(
            "{route}: status {} (expected {}): {}",
            reply.status, expected.status, reply.text
        ));
        return problems;
    }
    for field in expected.fields {
        if let Some(problem) = check_field(&reply.body, field) {
            problems.push(format!("{route}: {problem} in {}", reply.text));
        }
    }
    if mode == Mode::Async {
        problems.extend(follow_up(stack, example, &base, &reply, &route).await);
    }
    problems
}

async fn follow_up(
    stack: &Stack,
    example: &Example,
    base: &str,
    reply: &Reply,
    route: &str,
) -> Option<String> {
    match example.follow_up {
        FollowUp::None => None,
        FollowUp::Job => {
            let job = reply.body["job_id"].as_str()?;
            let status = stack.get(&format!("{base}/jobs/{job}")).await;
            (status.status != 200 || status.body["job_id"] != job).then(|| {
                format!(
                    "{route}: GET /jobs/{job}: {} {}",
                    status.status, status.text
                )
            })
        }
        FollowUp::OrderFails => {
            let id = reply.body["id"].as_i64()?;
            let url = format!("{base}/orders/{id}");
            eventually(
                Duration::from_secs(30),
                "the async saga order ends failed",
                || async { (stack.get(&url).await.body["status"] == "failed").then_some(()) },
            )
            .await;
            None
        }
    }
}

/// Seed data back (docs/contract.md, Data), and the sync report's CPU time cut from 10 s to 1 s: the
/// answer's fields are the same, and 10 s would pass the gateway's 10 s forwarding timeout.
async fn prepare(stack: &Stack) {
    for mode in Mode::ALL {
        for service in [Service::Product, Service::Inventory] {
            let url = format!("{}/admin/reset", stack.base(service, mode));
            let reply = stack.admin("POST", &url, None).await;
            assert!(reply.status < 300, "{url}: {} {}", reply.status, reply.text);
        }
    }
    set_report_cpu(stack, 1000).await;
}

async fn restore(stack: &Stack) {
    set_report_cpu(stack, 10_000).await;
    for mode in Mode::ALL {
        let url = format!("{}/admin/reset", stack.base(Service::Product, mode));
        stack.admin("POST", &url, None).await;
    }
}

async fn set_report_cpu(stack: &Stack, ms: u64) {
    let url = format!("{}/admin/config", stack.base(Service::Report, Mode::Sync));
    let reply = stack
        .admin("PUT", &url, Some(&json!({ "report_cpu_ms": ms })))
        .await;
    assert_eq!(reply.status, 200, "{url}: {}", reply.text);
}

/// The tests; `scripts/test.sh` runs this module only once the stack is up.
mod on_the_running_stack {
    use super::*;

    #[tokio::test]
    async fn every_seed_curl_example_answers_as_documented_on_both_stacks_and_the_gateway() {
        let stack = Stack::healthy().await;
        prepare(&stack).await;
        let routes: Vec<(&Example, Mode, bool)> = EXAMPLES
            .iter()
            .flat_map(|e| {
                [
                    (e, Mode::Sync, false),
                    (e, Mode::Async, false),
                    (e, Mode::Sync, true),
                    (e, Mode::Async, true),
                ]
            })
            .collect();
        let count = routes.len();
        let problems: Vec<String> = futures_util::stream::iter(routes)
            .map(|(example, mode, gateway)| run(&stack, example, mode, gateway))
            .buffer_unordered(PARALLEL)
            .flat_map(futures_util::stream::iter)
            .collect()
            .await;
        restore(&stack).await;
        assert!(
            problems.is_empty(),
            "{} of {count} seed examples did not answer as documented:\n{}",
            problems.len(),
            problems.join("\n")
        );
        println!("{count} seed examples answered as documented");
    }

    #[tokio::test]
    async fn seed_004_gateway_api_checks_out_and_tracks_the_order() {
        let stack = Stack::healthy().await;
        let health = stack.get("http://127.0.0.1:9000/health").await;
        assert_eq!(health.status, 200, "gateway /health: {}", health.text);

        let checkout = stack
            .post(
                "http://127.0.0.1:9000/api/checkout",
                &json!({
                    "user_id": 1,
                    "user_email": format!("{}@example.com", unique("test")),
                    "items": [{ "product_id": 1, "quantity": 1, "price": "1299.99" }]
                }),
            )
            .await;
        assert!(
            (200..300).contains(&checkout.status),
            "POST /api/checkout: {} {}",
            checkout.status,
            checkout.text
        );
        for field in ["id", "user_email", "status", "total_amount", "items"] {
            assert!(
                check_field(&checkout.body, field).is_none(),
                "/api/checkout lacks {field}: {}",
                checkout.text
            );
        }
        let id = checkout.body["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no id: {}", checkout.text));
        let order = stack
            .get(&format!("http://127.0.0.1:9000/api/orders/{id}"))
            .await;
        assert_eq!(order.status, 200, "{}", order.text);
        let status_url = format!("http://127.0.0.1:9000/api/orders/{id}/status");
        eventually(
            Duration::from_secs(30),
            "the order is confirmed (004's flow)",
            || async { (stack.get(&status_url).await.body["status"] == "confirmed").then_some(()) },
        )
        .await;
    }

    #[tokio::test]
    async fn seed_002_rabbitmq_management_calls_answer_with_the_stacks_account() {
        let stack = Stack::healthy().await;
        let get = |path: &'static str| {
            let stack = &stack;
            async move {
                let response = stack
                    .http
                    .get(format!("http://127.0.0.1:15672{path}"))
                    .basic_auth(
                        stack.env.rabbitmq_user(),
                        Some(stack.env.rabbitmq_password()),
                    )
                    .send()
                    .await
                    .unwrap_or_else(|err| panic!("management {path}: {err}"));
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                (status, body)
            }
        };
        let (status, overview) = get("/api/overview").await;
        assert_eq!(status, 200, "{overview}");
        let (status, queues) = get("/api/queues").await;
        assert_eq!(status, 200);
        let names: Vec<&str> = queues
            .as_array()
            .map(|q| q.iter().filter_map(|q| q["name"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            names.contains(&"user_registered_queue"),
            "queues: {names:?}"
        );
        let (status, bindings) = get("/api/exchanges/%2F/product_updates/bindings/source").await;
        assert_eq!(status, 200);
        let mut bound: Vec<&str> = bindings
            .as_array()
            .map(|b| b.iter().filter_map(|b| b["destination"].as_str()).collect())
            .unwrap_or_default();
        bound.sort_unstable();
        assert_eq!(
            bound,
            [
                "analytics_product_updates_queue",
                "cache_product_updates_queue",
                "search_product_updates_queue"
            ]
        );
        // 002's `guest:guest` is refused: the stack has its own account (docs/contract.md, Settings).
        let guest = stack
            .http
            .get("http://127.0.0.1:15672/api/overview")
            .basic_auth("guest", Some("guest"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or_default();
        assert_eq!(guest, 401);
    }
}
