//! Prometheus metrics: per-route request counts and latency, plus the broker metrics that
//! `common` records (published / consumed / retried / dead-lettered / duplicate per queue,
//! deliveries in flight, batch sizes), and the process's CPU time and resident memory under
//! the standard names (`process_cpu_seconds_total`, `process_resident_memory_bytes`, …).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use utoipa::openapi::OpenApi;

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Batch mode's sizes (`common::broker::consume`), up to the knob's 1024.
const BATCH_SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Installs the process-wide recorder once; later calls return the same handle.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("consumer_batch_size".into()),
                    BATCH_SIZE_BUCKETS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed; ours then simply stays empty.
        let _ = metrics::set_global_recorder(recorder);
        process().describe();
        process().collect();
        let upkeep = handle.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        });
        handle
    })
}

fn process() -> &'static metrics_process::Collector {
    PROCESS.get_or_init(metrics_process::Collector::default)
}

/// The exposition text, with the process's CPU and memory read now (a read of /proc/self:
/// each scrape sees the current value, not the last upkeep's).
pub fn render() -> String {
    let handle = install();
    process().collect();
    handle.render()
}

/// Puts every documented answer of the routes `wanted` picks from `api` at zero, and their
/// latency histograms empty, before the first request: a dashboard's rate or quantile of a
/// route then has a series to read from the start (0 req/s, not "no data"). The labels are
/// those [`middleware`] records: axum's matched path is the spec's path (`/orders/{id}`).
pub fn register_routes(api: &OpenApi, wanted: impl Fn(&str) -> bool) {
    for (path, item) in api.paths.paths.iter().filter(|(path, _)| wanted(path)) {
        let operations = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            // `5XX` (an injected fault's range) names no one status to register.
            let statuses = operation
                .responses
                .responses
                .keys()
                .filter(|status| status.parse::<u16>().is_ok());
            for status in statuses {
                metrics::counter!("http_requests_total", "method" => method, "route" => path.clone(), "status" => status.clone())
                    .increment(0);
            }
            // A histogram is rendered (all buckets 0) once its handle exists.
            let _ = metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => path.clone());
        }
    }
}

pub async fn middleware(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
