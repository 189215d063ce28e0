//! S3 fan-out in both modes: product → search, cache, analytics; and the catalogue API.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::{Service, World, expect_completion, unique, wait_for};

const STEPS: [(&str, &str); 3] = [
    ("search", "reindexed"),
    ("cache", "cache_invalidated"),
    ("analytics", "update_logged"),
];

/// Search, cache and analytics in `mode`, each with `delay_ms`.
async fn start_steps(world: &World, mode: &str, delay_ms: u64) -> Vec<Service> {
    let mut steps = Vec::new();
    for (service, _) in STEPS {
        let delay_knob = format!("{}_DELAY_MS", service.to_uppercase());
        steps.push(
            world
                .service(service, mode)
                .env(&delay_knob, delay_ms)
                .start()
                .await,
        );
    }
    steps
}

async fn start_product(world: &World, mode: &str, steps: &[Service]) -> Service {
    world
        .service("product", mode)
        .env("SEARCH_SERVICE_URL", &steps[0].base)
        .env("CACHE_SERVICE_URL", &steps[1].base)
        .env("ANALYTICS_SERVICE_URL", &steps[2].base)
        .start()
        .await
}

async fn handled(step: &Service, product_id: i64) -> i64 {
    let reply = step
        .get(&format!("/handled_updates?product_id={product_id}"))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["count"].as_i64().unwrap()
}

#[tokio::test]
async fn sync_update_waits_for_the_three_steps_in_sequence() {
    let world = World::new("s3-sync").await;
    let steps = start_steps(&world, "sync", 250).await;
    let product = start_product(&world, "sync", &steps).await;
    let mut completions = world.completions().await;
    let cid = unique("cid");

    let reply = product
        .send(
            reqwest::Client::new()
                .put(product.url("/products/1"))
                .header("x-correlation-id", &cid)
                .json(&json!({ "stock": 42 })),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.elapsed >= Duration::from_millis(750),
        "three 250 ms steps in sequence took only {:?}",
        reply.elapsed
    );
    assert_eq!(
        (reply.body["id"].as_i64(), reply.body["stock"].as_i64()),
        (Some(1), Some(42))
    );
    assert_eq!(reply.body["sku"], "prod001");
    assert_eq!(reply.body["warnings"], json!([]));
    for (service, step) in STEPS {
        let event = expect_completion(&mut completions, &cid, step, Duration::from_secs(5)).await;
        assert_eq!(
            (event["service"].as_str(), event["mode"].as_str()),
            (Some(service), Some("sync"))
        );
    }
    for step in &steps {
        assert_eq!(handled(step, 1).await, 1);
    }
    let by_sku = product.get("/products/prod001").await;
    assert_eq!(
        (by_sku.status, by_sku.body["stock"].as_i64()),
        (200, Some(42))
    );
}

#[tokio::test]
async fn sync_update_survives_a_dead_step_and_says_so() {
    let world = World::new("s3-sync-dead").await;
    let mut steps = start_steps(&world, "sync", 0).await;
    let product = start_product(&world, "sync", &steps).await;
    steps.remove(1).kill().await; // cache

    let reply = product
        .put("/products/2", json!({ "name": "Mouse 2" }))
        .await;
    assert_eq!(
        reply.status, 200,
        "a dead step must not fail the update: {reply:?}"
    );
    let warnings = reply.body["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{reply:?}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("cache invalidation failed"),
        "{warnings:?}"
    );
    assert_eq!(product.get("/products/2").await.body["name"], "Mouse 2");
    assert_eq!(handled(&steps[0], 2).await, 1, "search still ran");
    assert_eq!(handled(&steps[1], 2).await, 1, "analytics still ran");
}

#[tokio::test]
async fn async_update_answers_before_the_steps_and_each_runs_exactly_once() {
    let world = World::new("s3-async").await;
    let steps = start_steps(&world, "async", 5000).await;
    let product = start_product(&world, "async", &steps).await;
    let mut completions = world.completions().await;
    let cid = unique("cid");
    // Warm the pool first: on a loaded CI host the first query alone took seconds.
    assert_eq!(product.get("/products/3").await.status, 200);

    let reply = product
        .send(
            reqwest::Client::new()
                .put(product.url("/products/3"))
                .header("x-correlation-id", &cid)
                .json(&json!({ "stock": 7, "name": "Keyboard Pro" })),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["event_published"], true);
    assert!(
        reply.elapsed < Duration::from_millis(5000),
        "async must answer before any 5 s step finishes; took {:?}",
        reply.elapsed
    );
    for step in &steps {
        assert_eq!(
            handled(step, 3).await,
            0,
            "no step finished yet when the answer came"
        );
    }
    for (service, step) in STEPS {
        let event = expect_completion(&mut completions, &cid, step, Duration::from_secs(30)).await;
        assert_eq!(
            (event["service"].as_str(), event["mode"].as_str()),
            (Some(service), Some("async"))
        );
    }
    // Exactly once: give any duplicate delivery time to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for step in &steps {
        assert_eq!(handled(step, 3).await, 1);
    }
    for queue in [
        "search_product_updates_queue",
        "cache_product_updates_queue",
        "analytics_product_updates_queue",
    ] {
        assert_eq!(world.queue_depth(queue).await, Some(0), "{queue}");
    }
}

#[tokio::test]
async fn async_update_waits_in_the_queue_of_a_dead_step() {
    let world = World::new("s3-async-dead").await;
    let mut steps = start_steps(&world, "async", 0).await;
    let product = start_product(&world, "async", &steps).await;
    steps.remove(0).kill().await; // search

    let reply = product.put("/products/1", json!({ "stock": 5 })).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    wait_for("cache and analytics", Duration::from_secs(10), || async {
        (handled(&steps[0], 1).await == 1 && handled(&steps[1], 1).await == 1).then_some(())
    })
    .await;
    assert_eq!(
        world.queue_depth("search_product_updates_queue").await,
        Some(1),
        "the update waits for search"
    );
    let search = world.service("search", "async").start().await;
    wait_for("search catches up", Duration::from_secs(10), || async {
        (handled(&search, 1).await == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn catalogue_reads_creates_and_rejects_bad_input() {
    let world = World::new("s3-catalogue").await;
    let product = world.service("product", "async").start().await;

    let list = product.get("/products").await;
    assert_eq!(list.body["count"], 4, "{list:?}");
    let names: Vec<&str> = list.body["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Laptop", "Mouse", "Keyboard", "NoteBook"]);
    let laptop = product.get("/products/1").await;
    assert_eq!(
        (
            laptop.body["sku"].as_str(),
            laptop.body["price"].as_f64(),
            laptop.body["stock"].as_i64()
        ),
        (Some("prod001"), Some(999.99), Some(50))
    );

    let created = product
        .post("/products", json!({ "name": "Monitor", "stock": 3 }))
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(
        (created.body["id"].as_i64(), created.body["sku"].as_str()),
        (Some(5), Some("prod005"))
    );
    assert_eq!(created.body["event_published"], false);
    product
        .post("/products", json!({ "name": "Other", "sku": "prod005" }))
        .await
        .assert_error(409);

    product.get("/products/999").await.assert_error(404);
    product.get("/products/nope").await.assert_error(404);
    product
        .put("/products/999", json!({ "stock": 1 }))
        .await
        .assert_error(404);
    for bad in [
        json!({ "stock": -1 }),
        json!({ "stock": "many" }),
        json!({ "name": "" }),
        json!({ "colour": "red" }),
    ] {
        product
            .put("/products/1", bad.clone())
            .await
            .assert_error(422);
    }
    let untouched: Value = product.get("/products/1").await.body;
    assert_eq!(untouched["stock"], 50, "rejected updates change nothing");

    let reset = product
        .admin(reqwest::Method::POST, "/admin/reset", None)
        .await;
    assert_eq!(reset.status, 200, "{reset:?}");
    assert_eq!(product.get("/products").await.body["count"], 4);
    product.get("/products/prod005").await.assert_error(404);
}
