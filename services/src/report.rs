//! Report service (S4): a CPU-bound job — repeated SHA-256 for `REPORT_CPU_MS` of wall
//! time — always on a blocking thread, never on the async runtime.
//!
//! Sync: `POST /generate_report` does the work inside the request and answers 200 with the
//! hash. Async: it records a `queued` job and publishes `GenerateReportJob`, answering 202
//! with the `job_id` once the broker confirmed; a worker takes jobs one at a time
//! (prefetch 1) and `GET /jobs/{id}` reports queued → running → completed, the endpoint
//! peer 002 promised and never built.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use common::broker::consume::Incoming;
use common::broker::topology::{DEFAULT_EXCHANGE, REPORT_JOB};
use common::error::ErrorEnvelope;
use common::events::{GenerateReportJob, new_event_id};
use common::extract::{Json, Path};
use common::scenario::{ScenarioId, steps};
use common::{ApiError, Mode, correlation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::context::Ctx;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/report");

const WORKER: &str = "report_worker";

pub fn routes(mode: Mode) -> OpenApiRouter<Ctx> {
    let generate = match mode {
        Mode::Sync => routes!(generate_sync),
        Mode::Async => routes!(generate_async),
    };
    OpenApiRouter::new()
        .routes(generate)
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
}

pub fn consumers(ctx: &Ctx) -> Vec<tokio::task::JoinHandle<()>> {
    // One job at a time whatever `consumer_concurrency` says (its start log and the admin
    // API's `consumers` say so): on a 2-core machine parallel jobs only slow each other down.
    let options = ctx.consumer_options().one_at_a_time();
    vec![ctx.consume(REPORT_JOB, options, run_job)]
}

pub async fn reset(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("TRUNCATE jobs, processed_events")
        .execute(db)
        .await
        .map(|_| ())
}

/// The outcome of the CPU work.
#[derive(Debug)]
pub struct Computed {
    pub hash: String,
    pub iterations: u64,
    pub elapsed: Duration,
}

/// Hashes `seed`, then the digest again and again, until `budget` of wall time passed.
/// Blocking by design: call it through `spawn_blocking`.
pub fn compute(seed: &str, budget: Duration) -> Computed {
    let start = Instant::now();
    let mut digest = Sha256::digest(seed.as_bytes());
    let mut iterations = 1u64;
    // Checking the clock every 1024 rounds keeps its cost out of the measurement.
    while start.elapsed() < budget {
        for _ in 0..1024 {
            digest = Sha256::digest(digest);
        }
        iterations += 1024;
    }
    Computed {
        hash: hex::encode(digest),
        iterations,
        elapsed: start.elapsed(),
    }
}

async fn compute_off_runtime(ctx: &Ctx, seed: String) -> Result<Computed, ApiError> {
    let budget = Duration::from_millis(ctx.knobs.get().report_cpu_ms);
    tokio::task::spawn_blocking(move || compute(&seed, budget))
        .await
        .map_err(ApiError::internal)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReportRequest {
    #[serde(default = "default_report_type")]
    report_type: String,
    #[serde(default)]
    parameters: Value,
}

fn default_report_type() -> String {
    "monthly".to_owned()
}

/// The body is optional (peer 002's async API ignored it, so its clients send none).
fn parse_request(body: &Bytes) -> Result<ReportRequest, ApiError> {
    let request: ReportRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReportRequest {
            report_type: default_report_type(),
            parameters: Value::Null,
        }
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::unprocessable(format!("invalid report request: {e}")))?
    };
    let valid = !request.report_type.is_empty()
        && request.report_type.len() <= 64
        && request
            .report_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(ApiError::unprocessable(
            "report_type must be 1 to 64 letters, digits, '_' or '-'",
        ));
    }
    Ok(request)
}

/// Sync: the CPU work runs before the answer.
#[utoipa::path(post, path = "/generate_report", tag = "report",
    request_body(content = Option<ReportRequest>, description = "optional; read whatever its content type"), responses(
    (status = 200, description = "`{status: completed, report_type, report_hash, computation_time_seconds, iterations, timestamp}`", body = Object),
    (status = 413, description = "the body is larger than MS_MAX_BODY_BYTES (axum's plain text)"),
    (status = 422, description = "not a report request, or a bad report_type", body = ErrorEnvelope),
))]
async fn generate_sync(State(ctx): State<Ctx>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let request = parse_request(&body)?;
    let seed = format!(
        "{}-{}",
        request.report_type,
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let done = compute_off_runtime(&ctx, seed).await?;
    ctx.completions
        .emit(ScenarioId::S4, steps::JOB_COMPLETED, true);
    Ok(Json(json!({
        "status": "completed",
        "report_type": request.report_type,
        "report_hash": done.hash,
        "computation_time_seconds": done.elapsed.as_secs_f64(),
        "iterations": done.iterations,
        "timestamp": Utc::now(),
    })))
}

/// Async: the job is queued for the worker; `GET /jobs/{job_id}` follows it.
#[utoipa::path(post, path = "/generate_report", tag = "report",
    request_body(content = Option<ReportRequest>, description = "optional; read whatever its content type"), responses(
    (status = 202, description = "`{job_id, status: queued, message, status_url}`", body = Object),
    (status = 413, description = "the body is larger than MS_MAX_BODY_BYTES (axum's plain text)"),
    (status = 422, description = "not a report request, or a bad report_type", body = ErrorEnvelope),
))]
async fn generate_async(
    State(ctx): State<Ctx>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request = parse_request(&body)?;
    let hex = uuid::Uuid::new_v4().simple().to_string();
    let job_id = format!("job_{}", &hex[..12]);
    // Committed before publishing: the worker may get the job within a millisecond of the
    // confirm and must find it. If the broker cannot confirm, the job is withdrawn.
    let mut publication = ctx.begin_publication().await?;
    let created_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO jobs (job_id, report_type, status, correlation_id)
         VALUES ($1, $2, 'queued', $3) RETURNING created_at",
    )
    .bind(&job_id)
    .bind(&request.report_type)
    .bind(correlation::current())
    .fetch_one(publication.db())
    .await?;
    let job = GenerateReportJob {
        event_id: new_event_id(),
        job_id: job_id.clone(),
        report_type: request.report_type,
        parameters: request.parameters,
        timestamp: created_at,
    };
    publication
        .publish(
            DEFAULT_EXCHANGE,
            REPORT_JOB,
            &job.event_id,
            &job,
            sqlx::query("DELETE FROM jobs WHERE job_id = $1 AND status = 'queued'").bind(&job_id),
        )
        .await?;
    let body = json!({
        "job_id": job_id,
        "status": "queued",
        "message": "Report generation queued",
        "status_url": format!("/jobs/{job_id}"),
    });
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// The worker. A job found `running` was interrupted (crash before ack): it runs again.
async fn run_job(ctx: Ctx, incoming: Incoming) -> anyhow::Result<()> {
    let job: GenerateReportJob = incoming.json()?;
    let started = sqlx::query(
        "UPDATE jobs SET status = 'running', started_at = now()
         WHERE job_id = $1 AND status IN ('queued', 'running')",
    )
    .bind(&job.job_id)
    .execute(&ctx.db)
    .await?;
    if started.rows_affected() == 0 {
        // Completed before (a redelivery), or withdrawn (its publish was never confirmed).
        incoming.note_duplicate();
        return Ok(());
    }
    let done = compute_off_runtime(&ctx, job.job_id.clone())
        .await
        .map_err(|e| anyhow::Error::new(e).context("report computation failed"))?;
    let Some(mut tx) = ctx.claim(WORKER, &incoming).await? else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE jobs SET status = 'completed', report_hash = $2, iterations = $3,
             duration_ms = $4, completed_at = now()
         WHERE job_id = $1",
    )
    .bind(&job.job_id)
    .bind(&done.hash)
    .bind(i64::try_from(done.iterations).unwrap_or(i64::MAX))
    .bind(i64::try_from(done.elapsed.as_millis()).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    ctx.completions
        .emit(ScenarioId::S4, steps::JOB_COMPLETED, true);
    Ok(())
}

#[derive(sqlx::FromRow, Serialize, utoipa::ToSchema)]
struct Job {
    job_id: String,
    report_type: String,
    status: String,
    report_hash: Option<String>,
    iterations: Option<i64>,
    duration_ms: Option<i64>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
}

const JOB_COLUMNS: &str = "job_id, report_type, status, report_hash, iterations, duration_ms, created_at, started_at, completed_at";

#[utoipa::path(get, path = "/jobs/{job_id}", tag = "report",
    params(("job_id" = String, Path, description = "e.g. job_…")), responses(
    (status = 200, description = "the job", body = Job),
    (status = 404, description = "Job … not found", body = ErrorEnvelope),
))]
async fn get_job(
    State(ctx): State<Ctx>,
    Path(job_id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let job: Option<Job> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1"
    )))
    .bind(&job_id)
    .fetch_optional(&ctx.db)
    .await?;
    job.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("Job {job_id} not found")))
}

/// The 100 newest jobs and how many are in each state.
#[utoipa::path(get, path = "/jobs", tag = "report",
    responses((status = 200, description = "the 100 newest jobs and the count per state", body = Object)))]
async fn list_jobs(State(ctx): State<Ctx>) -> Result<Json<Value>, ApiError> {
    let jobs: Vec<Job> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at DESC LIMIT 100"
    )))
    .fetch_all(&ctx.db)
    .await?;
    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM jobs GROUP BY status")
            .fetch_all(&ctx.db)
            .await?;
    let by_status: serde_json::Map<String, Value> =
        states.into_iter().map(|(s, n)| (s, json!(n))).collect();
    Ok(Json(json!({ "jobs": jobs, "by_status": by_status })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_runs_for_its_budget_and_is_deterministic_per_iteration_count() {
        let done = compute("seed", Duration::from_millis(30));
        assert!(done.elapsed >= Duration::from_millis(30));
        assert_eq!(done.hash.len(), 64);
        assert!(done.iterations > 1);
        // Zero budget: one digest round plus nothing else.
        let once = compute("seed", Duration::ZERO);
        assert_eq!(once.iterations, 1);
        assert_eq!(once.hash, hex::encode(Sha256::digest(b"seed")));
    }

    #[test]
    fn an_empty_body_means_the_default_report() {
        let request = parse_request(&Bytes::from_static(b"  ")).expect("empty is fine");
        assert_eq!(request.report_type, "monthly");
        assert!(parse_request(&Bytes::from_static(b"{\"report_type\":\"a b\"}")).is_err());
        assert!(parse_request(&Bytes::from_static(b"{oops")).is_err());
    }
}
