//! Test support: any service's router over a context whose database and broker are not
//! connected, and the few helpers the in-process tests share.
//!
//! What "not connected" means here, and why each choice:
//! - The database pool is lazy (`connect_lazy`) and points at a closed local port, with a
//!   short acquire timeout: nothing connects at build time, and a request that does reach the
//!   database gets the same 503 as with PostgreSQL down, within a fraction of a second, never
//!   a hang.
//! - The broker is [`Broker::disconnected`]: every publish fails as with RabbitMQ down.
//! - Settings are clap's defaults with every `env` source removed, so no variable of the
//!   environment (`MODE`, `MS_ADMIN_TOKEN`, `MS_TEST_*`, …) can change what a test sees; every
//!   peer URL is the same closed local port, so a test that calls one fails fast instead of
//!   resolving a Docker host name.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use clap::{CommandFactory, FromArgMatches, Parser};
use common::Mode;
use common::broker::Broker;
use common::completion::Completions;
use common::config::{Settings, Tunables};
use common::scenario::Service;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::context::Ctx;
use crate::faults::Faults;
use crate::limit::InflightLimit;
use crate::{app, registry};

/// The admin token of [`settings`].
pub const ADMIN_TOKEN: &str = "offline-admin-token";

/// Nothing listens on port 1 of the loopback: connections are refused at once.
const NOWHERE: &str = "127.0.0.1:1";

/// How long a request waits for a database connection that will never come.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(200);

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    settings: Settings,
}

/// The default settings of `mode`, read from no environment variable, with the admin API
/// enabled (token [`ADMIN_TOKEN`]) and every URL pointing nowhere.
pub fn settings(mode: Mode) -> Settings {
    let command = Args::command().mut_args(|arg| arg.env(None));
    let mut argv = vec!["offline".to_owned()];
    argv.extend(
        command
            .get_arguments()
            .filter_map(|arg| arg.get_long())
            .filter(|long| long.ends_with("-url") && *long != "amqp-url" && *long != "database-url")
            .map(|long| format!("--{long}=http://{NOWHERE}")),
    );
    let matches = command
        .try_get_matches_from(argv)
        .expect("the offline settings parse");
    let mut settings = Settings::from_arg_matches(&matches).expect("the offline settings match");
    settings.mode = mode;
    settings.admin_token = Some(ADMIN_TOKEN.to_owned());
    settings.amqp_url = format!("amqp://guest:guest@{NOWHERE}/%2f");
    settings.database_url = format!("postgres://ms:ms@{NOWHERE}/ms_offline");
    settings.http_timeout_ms = 1_000;
    settings
}

/// A context over `settings` whose database and broker are not connected. Needs a Tokio
/// runtime (the completion publisher is a task).
pub fn offline_ctx(service: Service, settings: Settings) -> Ctx {
    let db = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy(&settings.database_url)
        .expect("the offline database URL parses");
    let broker = Broker::disconnected();
    let knobs = Tunables::new(settings.initial_knobs());
    let inflight = InflightLimit::default();
    inflight.set(knobs.get().sync_max_inflight);
    Ctx {
        http: common::http::client(settings.http_timeout()),
        completions: Completions::start(broker.clone(), settings.mode, service),
        settings: Arc::new(settings),
        service,
        db,
        broker,
        knobs,
        inflight,
        faults: Faults::default(),
        outbox: crate::outbox::Wake::default(),
        consumers: Default::default(),
        shutdown: CancellationToken::new(),
    }
}

/// The whole HTTP API of `service` in `mode`, exactly as `run` serves it, but offline.
pub fn offline_router(service: Service, mode: Mode) -> Router {
    offline_router_with(service, settings(mode))
}

/// As [`offline_router`], over settings a test adjusted (e.g. no admin token).
pub fn offline_router_with(service: Service, settings: Settings) -> Router {
    let definition = registry::definition(service).expect("a service with a definition");
    let routes = (definition.routes)(settings.mode);
    app::router(offline_ctx(service, settings), routes)
}

/// An answer, its body parsed as JSON (`Value::Null` if it is not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The raw body, for answers that are not JSON.
    pub text: String,
}

/// Sends one request through `router` in-process.
pub async fn send(router: Router, request: Request<Body>) -> Answer {
    let response = router
        .oneshot(request)
        .await
        .expect("routers are infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body reads");
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// A request without a body.
pub fn empty(method: &str, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .expect("a valid request")
}

/// A request with a JSON body and its content type.
pub fn json(method: &str, uri: &str, body: impl Into<String>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.into()))
        .expect("a valid request")
}

/// `request` with `Authorization: <value>`.
pub fn with_token(mut request: Request<Body>, value: &str) -> Request<Body> {
    let value = value.parse().expect("a valid header value");
    request.headers_mut().insert(header::AUTHORIZATION, value);
    request
}

/// `request` with the admin token of [`settings`].
pub fn bearer(request: Request<Body>) -> Request<Body> {
    with_token(request, &format!("Bearer {ADMIN_TOKEN}"))
}

/// Asserts that `answer` is the error envelope: a `detail`, and the request's correlation id,
/// the same as in the `x-correlation-id` header.
pub fn assert_envelope(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "body: {}", answer.text);
    let object = answer
        .body
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {}", answer.text));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["correlation_id", "detail"], "body: {}", answer.text);
    assert!(!object["detail"].is_null(), "body: {}", answer.text);
    let header = answer
        .headers
        .get(common::correlation::HEADER)
        .and_then(|v| v.to_str().ok())
        .expect("every answer carries a correlation id");
    assert_eq!(object["correlation_id"], header, "body: {}", answer.text);
}
