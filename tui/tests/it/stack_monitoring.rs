//! The monitoring profile (`ms-tui up --monitoring`) on the Docker stack, on the path the
//! stack's `.env` has (offline here: Prometheus and postgres-exporter from Debian's packages,
//! no Grafana): every Prometheus target up, a burst of S1 and S6 in both modes then a
//! request-rate series for each service hit, and every metric name the Grafana dashboard
//! asks for present in Prometheus.
//!
//! The test brings the profile up itself and puts the plain stack back afterwards (`up`
//! without the flag, which removes the profile's containers), a failing run included.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::Mode;
use common::scenario::{self, ScenarioId};
use ms_tui::stack::dashboard;
use ms_tui::stack::{Layout, UpOptions};
use serde_json::Value;

use crate::stack_support::{Stack, eventually, options, run_detached, unique};

const PROMETHEUS: &str = "http://127.0.0.1:9090";
/// Requests per scenario and mode in the burst: enough for a rate over two scrapes.
const BURST: u64 = 30;
/// Our targets: ten services per mode and the gateway; then RabbitMQ, postgres-exporter and
/// Prometheus itself.
const TARGETS: usize = 10 * 2 + 1 + 3;

fn up_options(monitoring: bool) -> UpOptions {
    UpOptions {
        stack: options(),
        monitoring,
        ..UpOptions::default()
    }
}

/// Puts the stack without the profile back when the test ends, passed or failed.
struct PlainStackAgain;

impl Drop for PlainStackAgain {
    fn drop(&mut self) {
        run_detached("the plain-stack restore", || async {
            if let Err(e) = ms_tui::stack::up(&up_options(false), |p| println!("{p}")).await {
                eprintln!("restoring the plain stack: up failed: {e:#}");
            }
        });
    }
}

/// `GET /api/v1/<path>` of Prometheus: its `data`, or None while it does not answer.
async fn api(stack: &Stack, path: &str, query: &[(&str, &str)]) -> Option<Value> {
    let url =
        reqwest::Url::parse_with_params(&format!("{PROMETHEUS}/api/v1/{path}"), query).ok()?;
    let reply = stack.http.get(url).send().await.ok()?;
    let body: Value = reply.json().await.ok()?;
    (body["status"] == "success").then(|| body["data"].clone())
}

/// An instant PromQL query's result vector.
async fn query(stack: &Stack, promql: &str) -> Vec<Value> {
    api(stack, "query", &[("query", promql)])
        .await
        .and_then(|data| data["result"].as_array().cloned())
        .unwrap_or_default()
}

/// The burst: `BURST` requests of `id`'s catalogue request in both modes, at once.
async fn burst(stack: &Stack, id: ScenarioId) {
    let scenario = scenario::get(id);
    let sends = Mode::ALL.iter().flat_map(|&mode| {
        let request = scenario.request(mode);
        let prefix = unique("mon");
        (0..BURST).map(move |seq| {
            let url = format!(
                "{}{}",
                stack.base(request.service, mode),
                scenario::render(request.path, &format!("{prefix}-{seq}"), seq)
            );
            let body: Option<Value> = request.body.map(|template| {
                let text = scenario::render(template, &format!("{prefix}-{seq}"), seq);
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{id} body {text}: {e}"))
            });
            async move {
                let reply = stack.send(request.method, &url, body.as_ref()).await;
                assert!(
                    request.is_expected(reply.status),
                    "{id} {mode} {url}: {} {}",
                    reply.status,
                    reply.text
                );
            }
        })
    });
    futures_util::future::join_all(sends).await;
}

mod on_the_running_stack {
    use super::*;

    #[tokio::test]
    async fn prometheus_scrapes_every_target_and_has_every_series_the_dashboard_reads() {
        let began = Instant::now();
        let _restore = PlainStackAgain;
        let report = ms_tui::stack::up(&up_options(true), |p| println!("{p}"))
            .await
            .unwrap_or_else(|e| panic!("ms-tui up --monitoring: {e:#}"));
        println!(
            "monitoring profile up: {:.1} s after compose up",
            report.start_to_healthy.as_secs_f64()
        );
        let stack = Stack::healthy().await;
        assert!(
            stack.env.monitoring(),
            "compose/.env says MS_MONITORING=true"
        );
        // `status` and `up` count what compose lists: the profile's containers are in it,
        // Grafana only off the offline path.
        for service in ["prometheus", "postgres-exporter"] {
            assert!(
                stack.services.iter().any(|s| s == service),
                "{service} is one of the stack's services: {:?}",
                stack.services
            );
        }
        assert_eq!(
            stack.services.iter().any(|s| s == "grafana"),
            !stack.env.offline(),
            "Grafana runs exactly when the stack is not offline"
        );
        let list = stack.containers().await;
        assert_eq!(list.len(), stack.expected(&list), "containers counted");

        // Every target scraped, and healthy.
        let targets = eventually(
            Duration::from_secs(60),
            "every Prometheus target reports health up",
            || async {
                let data = api(&stack, "targets", &[("state", "active")]).await?;
                let active = data["activeTargets"].as_array()?.clone();
                let all_up = active.len() == TARGETS && active.iter().all(|t| t["health"] == "up");
                all_up.then_some(active)
            },
        )
        .await;
        let up = query(&stack, "up == 1").await;
        assert_eq!(up.len(), TARGETS, "up == 1 for every target: {up:?}");
        println!(
            "{} targets up: {}",
            targets.len(),
            targets
                .iter()
                .filter_map(|t| t["labels"]["instance"].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );

        // A burst of S1 and S6 in both modes, then a request rate for each service hit.
        let burst_began = Instant::now();
        burst(&stack, ScenarioId::S1).await;
        burst(&stack, ScenarioId::S6).await;
        println!(
            "burst: {} requests in {:.1} s",
            BURST * 4,
            burst_began.elapsed().as_secs_f64()
        );
        let hit = [
            (ScenarioId::S1, Mode::Sync),
            (ScenarioId::S1, Mode::Async),
            (ScenarioId::S6, Mode::Sync),
            (ScenarioId::S6, Mode::Async),
        ];
        for (id, mode) in hit {
            let request = scenario::get(id).request(mode);
            let promql = format!(
                r#"sum by (service, mode, route) (rate(http_requests_total{{service="{}",mode="{mode}",route="{}"}}[1m])) > 0"#,
                request.service, request.path
            );
            let series = eventually(
                Duration::from_secs(30),
                &format!("a request rate of {id} {mode} in Prometheus: {promql}"),
                || async {
                    let result = query(&stack, &promql).await;
                    (!result.is_empty()).then_some(result)
                },
            )
            .await;
            println!(
                "{id} {mode}: {} {} at {} req/s",
                request.service, request.path, series[0]["value"][1]
            );
        }
        // S1 sync sends its e-mail over HTTP: the e-mail service was hit too. Its rate needs
        // two scrapes after the burst, like the others (CI once read it one scrape early).
        let email_promql = r#"sum by (route) (rate(http_requests_total{service="email",mode="sync",route!~"/health|/ready|/metrics"}[1m])) > 0"#;
        eventually(
            Duration::from_secs(30),
            "a request rate of the sync e-mail service S1 called",
            || async {
                let result = query(&stack, email_promql).await;
                (!result.is_empty()).then_some(result)
            },
        )
        .await;

        // Every metric the dashboard reads exists in Prometheus now.
        let layout =
            Layout::discover(options().root.as_deref()).unwrap_or_else(|e| panic!("{e:#}"));
        let text = std::fs::read_to_string(layout.dashboard_file())
            .unwrap_or_else(|e| panic!("{}: {e}", layout.dashboard_file().display()));
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("dashboard: {e}"));
        let wanted: BTreeSet<String> = dashboard::expressions(&json)
            .iter()
            .flat_map(|expr| dashboard::metric_names(expr))
            .collect();
        assert!(wanted.len() >= 8, "the dashboard reads metrics: {wanted:?}");
        let names = api(&stack, "label/__name__/values", &[])
            .await
            .unwrap_or_else(|| panic!("Prometheus's metric names"));
        let present: BTreeSet<String> = names
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect();
        let missing: Vec<&String> = wanted.difference(&present).collect();
        assert!(
            missing.is_empty(),
            "the dashboard reads metrics Prometheus does not have: {missing:?}"
        );
        println!(
            "the dashboard's {} metrics are all in Prometheus: {}",
            wanted.len(),
            wanted.iter().cloned().collect::<Vec<_>>().join(", ")
        );

        // And every query of it answers a series: the routes' counters and histograms were
        // registered at zero, so even the scenarios not fired have theirs. The broker counts
        // acks per channel from a queue's first ack on: only the burst's queues have one.
        // A series born in the burst (the broker's acks) has a rate from its second scrape on:
        // the empty ones get a few more scrapes.
        let exprs = dashboard::expressions(&json);
        let mut empty: Vec<String> = exprs
            .iter()
            .filter(|expr| {
                let fired = [ScenarioId::S1, ScenarioId::S6]
                    .iter()
                    .any(|id| scenario::get(*id).queues.iter().any(|q| expr.contains(q)));
                fired || !expr.contains("rabbitmq_channel_messages_acked_total")
            })
            .map(|expr| expr.replace("$__rate_interval", "1m"))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut still = Vec::new();
            for promql in empty {
                if query(&stack, &promql).await.is_empty() {
                    still.push(promql);
                }
            }
            empty = still;
            if empty.is_empty() || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        assert!(
            empty.is_empty(),
            "{} of the dashboard's {} queries answer no series: {empty:#?}",
            empty.len(),
            exprs.len()
        );
        println!(
            "the dashboard's {} queries each answer a series",
            exprs.len()
        );
        println!("test body: {:.1} s", began.elapsed().as_secs_f64());
    }
}
