//! S4 CPU job in both modes: the work in the request (sync) or a job queue (async).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use testkit::{Service, World, expect_completion, unique, wait_for};

#[tokio::test]
async fn sync_report_computes_in_the_request_without_blocking_the_runtime() {
    let world = World::new("s4-sync").await;
    let report = world
        .service("report", "sync")
        .env("REPORT_CPU_MS", 1500)
        .start()
        .await;
    let mut completions = world.completions().await;
    let cid = unique("cid");

    let job = report.post_with_id(
        "/generate_report",
        json!({ "report_type": "monthly" }),
        &cid,
    );
    let probe = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        report.get("/health").await
    };
    let (reply, health) = tokio::join!(job, probe);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.elapsed >= Duration::from_millis(1500),
        "{:?}",
        reply.elapsed
    );
    assert_eq!(reply.body["status"], "completed");
    assert_eq!(reply.body["report_type"], "monthly");
    let hash = reply.body["report_hash"].as_str().unwrap();
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hash}"
    );
    assert!(reply.body["iterations"].as_u64().unwrap() > 1024);
    assert!(reply.body["computation_time_seconds"].as_f64().unwrap() >= 1.5);
    // The hashing runs on a blocking thread: the server kept answering meanwhile.
    assert_eq!(health.status, 200);
    assert!(
        health.elapsed < Duration::from_millis(1000),
        "/health took {:?} during a report",
        health.elapsed
    );
    expect_completion(
        &mut completions,
        &cid,
        "job_completed",
        Duration::from_secs(5),
    )
    .await;

    let no_body = report
        .send(reqwest::Client::new().post(report.url("/generate_report")))
        .await;
    assert_eq!(
        (no_body.status, no_body.body["report_type"].as_str()),
        (200, Some("monthly"))
    );
    for bad in [
        json!({ "report_type": "" }),
        json!({ "report_type": "a b" }),
        json!({ "x": 1 }),
    ] {
        report.post("/generate_report", bad).await.assert_error(422);
    }
}

async fn job(report: &Service, id: &str) -> Value {
    let reply = report.get(&format!("/jobs/{id}")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body
}

fn at(job: &Value, field: &str) -> DateTime<Utc> {
    job[field].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn async_jobs_queue_run_one_at_a_time_and_report_progress() {
    let world = World::new("s4-async").await;
    let report = world
        .service("report", "async")
        .env("REPORT_CPU_MS", 1500)
        .start()
        .await;
    let mut completions = world.completions().await;
    let cid = unique("cid");

    let first = report
        .post_with_id("/generate_report", json!({ "report_type": "weekly" }), &cid)
        .await;
    let second = report.post("/generate_report", json!({})).await;
    for reply in [&first, &second] {
        assert_eq!(reply.status, 202, "{reply:?}");
        assert_eq!(reply.body["status"], "queued");
        assert!(
            reply.elapsed < Duration::from_millis(1500),
            "answered before the work: {:?}",
            reply.elapsed
        );
    }
    let (a, b) = (
        first.body["job_id"].as_str().unwrap().to_owned(),
        second.body["job_id"].as_str().unwrap().to_owned(),
    );
    assert!(a.starts_with("job_") && a != b);

    let running = wait_for("the first job running", Duration::from_secs(5), || async {
        let j = job(&report, &a).await;
        (j["status"] == "running").then_some(j)
    })
    .await;
    assert!(running["started_at"].is_string() && running["report_hash"].is_null());
    assert_eq!(
        job(&report, &b).await["status"],
        "queued",
        "the second waits its turn"
    );

    let done_a = wait_for(
        "the first job completed",
        Duration::from_secs(10),
        || async {
            let j = job(&report, &a).await;
            (j["status"] == "completed").then_some(j)
        },
    )
    .await;
    assert_eq!(done_a["report_type"], "weekly");
    assert_eq!(done_a["report_hash"].as_str().unwrap().len(), 64);
    assert!(done_a["duration_ms"].as_i64().unwrap() >= 1500);
    expect_completion(
        &mut completions,
        &cid,
        "job_completed",
        Duration::from_secs(5),
    )
    .await;

    let done_b = wait_for(
        "the second job completed",
        Duration::from_secs(10),
        || async {
            let j = job(&report, &b).await;
            (j["status"] == "completed").then_some(j)
        },
    )
    .await;
    assert!(
        at(&done_b, "started_at") >= at(&done_a, "completed_at"),
        "jobs overlapped: {done_a} / {done_b}"
    );
    let list = report.get("/jobs").await;
    assert_eq!(list.body["by_status"]["completed"], 2, "{list:?}");
    report.get("/jobs/job_unknown").await.assert_error(404);
}
