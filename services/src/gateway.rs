//! API gateway (peer 004's, on 9000): one entry point in front of both stacks.
//!
//! - `/api/checkout`, `/api/orders/{id}`, `/api/orders/{id}/status`: peer 004's API,
//!   forwarded to the async stack's order service; any answer is passed through as it came.
//! - `/sync/{service}/{path…}` and `/async/{service}/{path…}`: any route of any service of
//!   either stack, method, body and query as sent.
//! - `/health` really probes every upstream's `/ready` (peer 004's answered "healthy" for
//!   services it never asked), and is 503 while the order service behind `/api` is down.
//!
//! It owns no data and uses no broker, so it runs apart from the service runner: its own
//! router (peer 004's `/health` differs from the services' one), the same correlation-id,
//! metrics and error envelope. Upstream unreachable → 503, too slow → 504, each naming the
//! service, the stack and the address in `detail`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use clap::ValueEnum;
use common::config::Settings;
use common::error::ErrorEnvelope;
use common::extract::Path;
use common::scenario::Service;
use common::{ApiError, Mode, correlation, error, logging, shutdown};
use serde_json::{Value, json};
use tower_http::catch_panic::CatchPanicLayer;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics;
use crate::openapi::{self, Kind};

/// A probe that does not answer within this is reported down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Gateway {
    settings: Arc<Settings>,
    /// Forwarding client: the services' HTTP timeout (past it, 504).
    http: reqwest::Client,
    /// Health probes: short, so `/health` answers within about a second.
    probe: reqwest::Client,
}

impl Gateway {
    /// Where a service of a stack listens.
    fn upstream(&self, service: Service, mode: Mode) -> Option<&str> {
        let (sync, asynchronous) = (&self.settings.peers, &self.settings.async_peers);
        let url = match (service, mode) {
            (Service::User, Mode::Sync) => &sync.user_url,
            (Service::Payment, Mode::Sync) => &sync.payment_url,
            (Service::Product, Mode::Sync) => &sync.product_url,
            (Service::Report, Mode::Sync) => &sync.report_url,
            (Service::Order, Mode::Sync) => &sync.order_url,
            (Service::Analytics, Mode::Sync) => &sync.analytics_url,
            (Service::Email, Mode::Sync) => &sync.email_url,
            (Service::Search, Mode::Sync) => &sync.search_url,
            (Service::Cache, Mode::Sync) => &sync.cache_url,
            (Service::Inventory, Mode::Sync) => &sync.inventory_url,
            (Service::User, Mode::Async) => &asynchronous.async_user_url,
            (Service::Payment, Mode::Async) => &asynchronous.async_payment_url,
            (Service::Product, Mode::Async) => &asynchronous.async_product_url,
            (Service::Report, Mode::Async) => &asynchronous.async_report_url,
            (Service::Order, Mode::Async) => &asynchronous.async_order_url,
            (Service::Analytics, Mode::Async) => &asynchronous.async_analytics_url,
            (Service::Email, Mode::Async) => &asynchronous.async_email_url,
            (Service::Search, Mode::Async) => &asynchronous.async_search_url,
            (Service::Cache, Mode::Async) => &asynchronous.async_cache_url,
            (Service::Inventory, Mode::Async) => &asynchronous.async_inventory_url,
            (Service::Gateway, _) => return None,
        };
        Some(url.trim_end_matches('/'))
    }

    /// Sends one request upstream and hands back its answer unchanged (status, content type,
    /// body); a failed call becomes 503 / 504 with a `detail` a person can act on.
    async fn forward(
        &self,
        service: Service,
        mode: Mode,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response, ApiError> {
        let base = self
            .upstream(service, mode)
            .ok_or_else(|| ApiError::not_found("the gateway does not forward to itself"))?;
        let url = format!("{base}{path_and_query}");
        let mut request = self.http.request(method, &url).body(body);
        if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
            request = request.header(header::CONTENT_TYPE, content_type.clone());
        }
        if let Some(auth) = headers.get(header::AUTHORIZATION) {
            request = request.header(header::AUTHORIZATION, auth.clone());
        }
        if let Some(id) = correlation::current() {
            request = request.header(correlation::HEADER, id);
        }
        let failed = |err: reqwest::Error| {
            let name = format!("{service} service ({mode} stack) at {base}");
            // A connection that cannot even be made is "down" (503), also when the attempt
            // timed out; only an upstream that took the request and then stalled is 504.
            if err.is_timeout() && !err.is_connect() {
                ApiError::timeout(format!(
                    "{name} did not answer within {} ms",
                    self.settings.http_timeout_ms
                ))
            } else {
                ApiError::unavailable(format!("{name} is unreachable: {}", root_cause(&err)))
            }
        };
        let upstream = request.send().await.map_err(failed)?;
        let status = upstream.status();
        let content_type = upstream.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = upstream.bytes().await.map_err(failed)?;
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = status;
        if let Some(content_type) = content_type {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
        }
        Ok(response)
    }
}

/// The innermost error (e.g. "Connection refused"), which says more than reqwest's wrapper.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    logging::init();
    metrics::install();
    let stop = shutdown::on_signals();
    let address = (settings.bind, settings.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {}:{}", address.0, address.1))?;
    tracing::info!(addr = %listener.local_addr()?, service = "gateway", "listening");
    axum::serve(listener, app(settings))
        .with_graceful_shutdown(stop.cancelled_owned())
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// The gateway's whole HTTP API over `settings`: what `run` serves, and what tests drive
/// in-process.
pub(crate) fn app(settings: Settings) -> Router {
    router(Gateway {
        http: common::http::client(settings.http_timeout()),
        probe: common::http::client(PROBE_TIMEOUT),
        settings: Arc::new(settings),
    })
}

fn router(gateway: Gateway) -> Router {
    let max_body = gateway.settings.max_body_bytes;
    let document = openapi::document(
        "ms-tui gateway",
        "Peer 004's gateway API in front of the async stack's order service, and a pass-through \
         to any service of either stack. Errors answer the envelope `{\"detail\", \"correlation_id\"}`."
            .to_owned(),
    );
    let mut router = OpenApiRouter::with_openapi(document)
        .routes(routes!(service_map))
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics_text))
        .routes(routes!(api_checkout))
        .routes(routes!(api_order))
        .routes(routes!(api_order_status));
    // A pass-through takes a path of several segments, which an OpenAPI path parameter
    // cannot: axum routes the wildcard, the spec documents it as `{path}`.
    for (wildcard, passthrough) in [
        ("/sync/{service}/{*path}", routes!(forward_sync)),
        ("/async/{service}/{*path}", routes!(forward_async)),
    ] {
        let (_, paths, method_router) = passthrough;
        router = router.route(wildcard, method_router);
        router.get_openapi_mut().paths.merge(paths);
    }
    let (router, mut api) = router.split_for_parts();
    openapi::complete(&mut api, |_| Kind::Probe);
    // Peer 004's API; a pass-through's matched path is axum's wildcard, not the spec's `{path}`.
    metrics::register_routes(&api, |path| path.starts_with("/api/"));
    router
        .merge(openapi::serve(api))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .route_layer(from_fn(metrics::middleware))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("handler panicked").into_response()
        }))
        .layer(from_fn(correlation::middleware))
        .with_state(gateway)
}

#[utoipa::path(get, path = "/", tag = "gateway",
    responses((status = 200, description = "the routes and every upstream of both stacks", body = Object)))]
async fn service_map(State(gw): State<Gateway>) -> Json<Value> {
    let stacks: Value = Mode::ALL
        .iter()
        .map(|mode| {
            let services: serde_json::Map<String, Value> = Service::ALL
                .iter()
                .filter_map(|s| Some((s.name().to_owned(), json!(gw.upstream(*s, *mode)?))))
                .collect();
            (mode.as_str().to_owned(), Value::Object(services))
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    Json(json!({
        "service": "gateway",
        "api": { "forwards_to": "order (async stack)", "routes": ["/api/checkout", "/api/orders/{id}", "/api/orders/{id}/status"] },
        "passthrough": ["/sync/{service}/{path}", "/async/{service}/{path}"],
        "stacks": stacks,
    }))
}

/// The gateway itself is ready when it serves; what it depends on is `/health`'s business.
#[utoipa::path(get, path = "/ready", tag = "gateway",
    responses((status = 200, description = "the gateway serves (it has no database or broker)", body = Object)))]
async fn ready() -> Json<Value> {
    Json(
        json!({ "status": "ready", "service": "gateway", "broker": "not used", "database": "not used" }),
    )
}

#[utoipa::path(get, path = "/metrics", tag = "gateway",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics_text() -> Response {
    let mut response = Response::new(Body::from(metrics::render()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

/// Probes every upstream's `/ready` at once; 503 while the order service behind `/api` is not
/// ready, since then the gateway's own API cannot work.
#[utoipa::path(get, path = "/health", tag = "gateway", responses(
    (status = 200, description = "the async order service is ready; `upstreams` gives every other", body = Object),
    (status = 503, description = "the async order service behind `/api` is not ready", body = Object),
))]
async fn health(State(gw): State<Gateway>) -> Response {
    let targets: Vec<(Service, Mode, String)> = Mode::ALL
        .iter()
        .flat_map(|mode| Service::ALL.iter().map(move |s| (*s, *mode)))
        .filter_map(|(s, m)| Some((s, m, format!("{}/ready", gw.upstream(s, m)?))))
        .collect();
    let probes = targets.iter().map(|(service, mode, url)| {
        let gw = gw.clone();
        async move {
            let state = match gw.probe.get(url).send().await {
                Ok(r) if r.status().is_success() => "up".to_owned(),
                Ok(r) => format!("not ready ({})", r.status().as_u16()),
                Err(e) if e.is_timeout() => "down (no answer within 1 s)".to_owned(),
                Err(e) => format!("down ({})", root_cause(&e)),
            };
            (*service, *mode, state)
        }
    });
    let results = futures_util::future::join_all(probes).await;
    let mut upstreams = serde_json::Map::new();
    for (service, mode, state) in &results {
        let entry = upstreams
            .entry(service.name().to_owned())
            .or_insert_with(|| json!({}));
        entry[mode.as_str()] = json!(state);
    }
    let api_up = results
        .iter()
        .any(|(s, m, state)| *s == Service::Order && *m == Mode::Async && state == "up");
    let status = if api_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if api_up { "healthy" } else { "unhealthy" },
        "service": "gateway",
        "api_upstream": { "service": "order", "mode": "async", "state": if api_up { "up" } else { "down" } },
        "upstreams": upstreams,
    });
    (status, Json(body)).into_response()
}

fn path_and_query(path: &str, request_query: Option<&str>) -> String {
    match request_query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    }
}

#[utoipa::path(post, path = "/api/checkout", tag = "gateway",
    request_body(content = Option<Object>, description = "forwarded as sent to the async order service's `/checkout`"), responses(
    (status = "default", description = "the order service's answer, passed through"),
    (status = 413, description = "the body is larger than MS_MAX_BODY_BYTES (axum's plain text)"), (status = 503, description = "the upstream is unreachable: `detail` names service, stack and address", body = ErrorEnvelope), (status = 504, description = "the upstream did not answer within MS_HTTP_TIMEOUT_MS", body = ErrorEnvelope),
))]
async fn api_checkout(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    gw.forward(
        Service::Order,
        Mode::Async,
        Method::POST,
        "/checkout",
        &headers,
        body,
    )
    .await
}

#[utoipa::path(get, path = "/api/orders/{id}", tag = "gateway",
    params(("id" = String, Path, description = "the order id")), responses(
    (status = "default", description = "the order service's answer, passed through"), (status = 503, description = "the upstream is unreachable: `detail` names service, stack and address", body = ErrorEnvelope), (status = 504, description = "the upstream did not answer within MS_HTTP_TIMEOUT_MS", body = ErrorEnvelope),
))]
async fn api_order(
    State(gw): State<Gateway>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("/orders/{}", encode_segment(&id));
    gw.forward(
        Service::Order,
        Mode::Async,
        Method::GET,
        &path,
        &headers,
        Bytes::new(),
    )
    .await
}

#[utoipa::path(get, path = "/api/orders/{id}/status", tag = "gateway",
    params(("id" = String, Path, description = "the order id")), responses(
    (status = "default", description = "the order service's answer, passed through"), (status = 503, description = "the upstream is unreachable: `detail` names service, stack and address", body = ErrorEnvelope), (status = 504, description = "the upstream did not answer within MS_HTTP_TIMEOUT_MS", body = ErrorEnvelope),
))]
async fn api_order_status(
    State(gw): State<Gateway>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("/orders/{}/status", encode_segment(&id));
    gw.forward(
        Service::Order,
        Mode::Async,
        Method::GET,
        &path,
        &headers,
        Bytes::new(),
    )
    .await
}

/// Ids are put back into a path: anything but a plain id character is refused rather than
/// smuggled into another route.
fn encode_segment(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect()
}

#[utoipa::path(method(get, post, put, delete, patch), path = "/sync/{service}/{path}", tag = "gateway",
    params(("service" = String, Path, description = "a service of the sync stack, e.g. user"),
           ("path" = String, Path, description = "the service's route, slashes included, e.g. users/1")),
    request_body(content = Option<Object>, description = "forwarded as sent"), responses(
    (status = "default", description = "the service's answer, passed through"),
    (status = 404, description = "unknown service", body = ErrorEnvelope),
    (status = 413, description = "the body is larger than MS_MAX_BODY_BYTES", body = ErrorEnvelope), (status = 503, description = "the upstream is unreachable: `detail` names service, stack and address", body = ErrorEnvelope), (status = 504, description = "the upstream did not answer within MS_HTTP_TIMEOUT_MS", body = ErrorEnvelope),
))]
async fn forward_sync(
    State(gw): State<Gateway>,
    Path((service, path)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    pass_through(gw, Mode::Sync, &service, &path, request).await
}

#[utoipa::path(method(get, post, put, delete, patch), path = "/async/{service}/{path}", tag = "gateway",
    params(("service" = String, Path, description = "a service of the async stack, e.g. user"),
           ("path" = String, Path, description = "the service's route, slashes included, e.g. users/1")),
    request_body(content = Option<Object>, description = "forwarded as sent"), responses(
    (status = "default", description = "the service's answer, passed through"),
    (status = 404, description = "unknown service", body = ErrorEnvelope),
    (status = 413, description = "the body is larger than MS_MAX_BODY_BYTES", body = ErrorEnvelope), (status = 503, description = "the upstream is unreachable: `detail` names service, stack and address", body = ErrorEnvelope), (status = 504, description = "the upstream did not answer within MS_HTTP_TIMEOUT_MS", body = ErrorEnvelope),
))]
async fn forward_async(
    State(gw): State<Gateway>,
    Path((service, path)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    pass_through(gw, Mode::Async, &service, &path, request).await
}

async fn pass_through(
    gw: Gateway,
    mode: Mode,
    service: &str,
    path: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let service = Service::from_str(service, true)
        .ok()
        .filter(|s| *s != Service::Gateway)
        .ok_or_else(|| {
            let known: Vec<&str> = Service::ALL
                .iter()
                .filter(|s| **s != Service::Gateway)
                .map(|s| s.name())
                .collect();
            ApiError::not_found(format!(
                "unknown service `{service}` (known: {})",
                known.join(", ")
            ))
        })?;
    let (parts, body) = request.into_parts();
    let target = path_and_query(&format!("/{path}"), parts.uri.query());
    let body = axum::body::to_bytes(body, gw.settings.max_body_bytes)
        .await
        .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"))?;
    gw.forward(service, mode, parts.method, &target, &parts.headers, body)
        .await
}
