//! Test harness: real `ms-service` processes against the real RabbitMQ and PostgreSQL that
//! `scripts/test-infra.sh` starts. Each test gets its own RabbitMQ vhost and its own database,
//! so tests run in parallel without seeing each other's messages or rows.
#![allow(dead_code)] // helpers stay when the last test using them goes

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, mpsc};

pub const ADMIN_TOKEN: &str = "test-admin-token";

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `bash scripts/test.sh`, which starts RabbitMQ and PostgreSQL")
    })
}

/// The shared broker and database, as exported by `scripts/test-infra.sh env`.
#[derive(Clone)]
pub struct Infra {
    amqp_base: String,
    api: String,
    user: String,
    pass: String,
    database_base: String,
}

impl Infra {
    pub fn from_env() -> Infra {
        let amqp = required("MS_TEST_AMQP_URL");
        let db = required("MS_TEST_DATABASE_URL");
        Infra {
            amqp_base: amqp
                .rsplit_once('/')
                .map(|(base, _)| base.to_owned())
                .unwrap_or(amqp),
            api: required("MS_TEST_RABBIT_API"),
            user: required("MS_TEST_RABBIT_USER"),
            pass: required("MS_TEST_RABBIT_PASS"),
            database_base: db
                .rsplit_once('/')
                .map(|(base, _)| base.to_owned())
                .unwrap_or(db),
        }
    }
}

/// Every test of this binary shares one broker, and `broker_outage` stops it. The tests run
/// in parallel threads, so each world holds a share of this lock for its whole life and the
/// outage test holds it alone: nothing else runs while the broker is down. (A CI run lost 30
/// tests to "connection refused" when the outage test ran beside them.)
static BROKER: LazyLock<Arc<RwLock<()>>> = LazyLock::new(|| Arc::new(RwLock::new(())));

/// How a world holds the broker; kept only to be released when the last clone goes.
enum BrokerHold {
    Shared(OwnedRwLockReadGuard<()>),
    Alone(OwnedRwLockWriteGuard<()>),
}

/// An isolated world for one test: a vhost and a database name.
#[derive(Clone)]
pub struct World {
    pub infra: Infra,
    pub vhost: String,
    pub amqp_url: String,
    pub database_url: String,
    http: reqwest::Client,
    _cleanup: Arc<VhostCleanup>,
    _broker: Arc<BrokerHold>,
}

/// Deletes the test's vhost (its queues and connections) when the last `World` clone goes,
/// so that runs do not pile up queues the broker keeps collecting statistics for.
struct VhostCleanup {
    url: String,
    credentials: String,
}

impl Drop for VhostCleanup {
    fn drop(&mut self) {
        // Drop cannot be async; curl is part of the test toolbox (`.ci/run` installs it).
        let _ = std::process::Command::new("curl")
            .args([
                "-fs",
                "-o",
                "/dev/null",
                "-X",
                "DELETE",
                "-u",
                &self.credentials,
                &self.url,
            ])
            .status();
    }
}

impl World {
    /// A world for a test that may run beside others.
    pub async fn new(name: &str) -> World {
        let hold = BrokerHold::Shared(BROKER.clone().read_owned().await);
        World::open(name, hold).await
    }

    /// A world for a test that stops the shared broker: it waits until no other test runs.
    pub async fn alone(name: &str) -> World {
        let hold = BrokerHold::Alone(BROKER.clone().write_owned().await);
        World::open(name, hold).await
    }

    async fn open(name: &str, hold: BrokerHold) -> World {
        let infra = Infra::from_env();
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let vhost = format!("t-{name}-{tag}");
        let http = reqwest::Client::new();
        let cleanup = VhostCleanup {
            url: format!("{}/api/vhosts/{vhost}", infra.api),
            credentials: format!("{}:{}", infra.user, infra.pass),
        };
        let world = World {
            _cleanup: Arc::new(cleanup),
            _broker: Arc::new(hold),
            amqp_url: format!("{}/{vhost}", infra.amqp_base),
            database_url: format!("{}/t_{}_{tag}", infra.database_base, name.replace('-', "_")),
            vhost,
            infra,
            http,
        };
        world
            .api_put(&format!("vhosts/{}", world.vhost), json!({}))
            .await;
        let perms = json!({ "configure": ".*", "write": ".*", "read": ".*" });
        world
            .api_put(
                &format!("permissions/{}/{}", world.vhost, world.infra.user),
                perms,
            )
            .await;
        world
    }

    async fn api_put(&self, path: &str, body: Value) {
        let url = format!("{}/api/{path}", self.infra.api);
        let response = self
            .http
            .put(url)
            .basic_auth(&self.infra.user, Some(&self.infra.pass))
            .json(&body)
            .send()
            .await
            .expect("RabbitMQ management API reachable");
        assert!(
            response.status().is_success(),
            "PUT {path}: {}",
            response.status()
        );
    }

    /// Applies a RabbitMQ policy to one queue of this vhost and waits until it is in force.
    pub async fn set_queue_policy(&self, queue: &str, definition: Value) {
        let body = json!({ "pattern": format!("^{}$", queue.replace('.', "\\.")), "definition": definition, "apply-to": "queues" });
        self.api_put(&format!("policies/{}/test-limit", self.vhost), body)
            .await;
        let url = format!("{}/api/queues/{}/{queue}", self.infra.api, self.vhost);
        wait_for("policy applied", Duration::from_secs(15), || async {
            let r = self
                .http
                .get(&url)
                .basic_auth(&self.infra.user, Some(&self.infra.pass))
                .send()
                .await
                .ok()?;
            let v: Value = r.json().await.ok()?;
            (v["policy"] == "test-limit").then_some(())
        })
        .await;
    }

    pub async fn amqp(&self) -> Connection {
        Connection::connect(&self.amqp_url, ConnectionProperties::default())
            .await
            .expect("test AMQP connection")
    }

    /// Exact queue depth (passive declare), or None if the queue does not exist yet.
    pub async fn queue_depth(&self, queue: &str) -> Option<u32> {
        let conn = self.amqp().await;
        let channel = conn.create_channel().await.ok()?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let depth = channel
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await
            .ok()
            .map(|q| q.message_count());
        let _ = conn.close(200, "bye".into()).await;
        depth
    }

    /// Publishes a raw message to a queue through the default exchange (with confirm).
    pub async fn publish_raw(&self, queue: &str, body: &[u8], message_id: Option<&str>) {
        let conn = self.amqp().await;
        let channel = conn.create_channel().await.expect("channel");
        channel
            .confirm_select(Default::default())
            .await
            .expect("confirm mode");
        let mut props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        if let Some(id) = message_id {
            props = props.with_message_id(id.into());
        }
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        assert!(confirm.is_ack(), "broker did not ack the test message");
        let _ = conn.close(200, "bye".into()).await;
    }

    /// Subscribes to every completion event on `ms.telemetry` of this vhost.
    pub async fn completions(&self) -> CompletionFeed {
        let conn = self.amqp().await;
        let channel = conn.create_channel().await.expect("channel");
        channel
            .exchange_declare(
                "ms.telemetry".into(),
                lapin::ExchangeKind::Topic,
                Default::default(),
                FieldTable::default(),
            )
            .await
            .expect("telemetry exchange");
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        let queue = channel
            .queue_declare("".into(), exclusive, FieldTable::default())
            .await
            .expect("queue");
        channel
            .queue_bind(
                queue.name().clone(),
                "ms.telemetry".into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        let no_ack = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        let mut consumer = channel
            .basic_consume(
                queue.name().clone(),
                "".into(),
                no_ack,
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let _keep = conn;
            while let Some(Ok(delivery)) = consumer.next().await {
                if let Ok(v) = serde_json::from_slice::<Value>(&delivery.data) {
                    let _ = tx.send(v);
                }
            }
        });
        CompletionFeed {
            rx,
            unmatched: Vec::new(),
        }
    }

    pub fn service(&self, service: &str, mode: &str) -> ServiceBuilder {
        ServiceBuilder {
            world: self.clone(),
            service: service.to_owned(),
            mode: mode.to_owned(),
            env: HashMap::new(),
        }
    }
}

/// The completion events of a world, in arrival order.
pub struct CompletionFeed {
    rx: mpsc::UnboundedReceiver<Value>,
    /// Events received while waiting for another one. Steps that run concurrently finish in
    /// any order, so an event must not be lost because a test asked for its sibling first.
    unmatched: Vec<Value>,
}

/// Waits up to `limit` for a completion event with this correlation id and step.
pub async fn expect_completion(
    feed: &mut CompletionFeed,
    correlation_id: &str,
    step: &str,
    limit: Duration,
) -> Value {
    let wanted = |e: &Value| e["correlation_id"] == correlation_id && e["step"] == step;
    if let Some(i) = feed.unmatched.iter().position(wanted) {
        return feed.unmatched.remove(i);
    }
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, feed.rx.recv()).await {
            Ok(Some(event)) if wanted(&event) => return event,
            Ok(Some(event)) => feed.unmatched.push(event),
            _ => panic!(
                "no completion event {step} for {correlation_id} within {limit:?}; other events: {:?}",
                feed.unmatched
            ),
        }
    }
}

pub struct ServiceBuilder {
    world: World,
    service: String,
    mode: String,
    env: HashMap<String, String>,
}

impl ServiceBuilder {
    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.insert(key.to_owned(), value.to_string());
        self
    }

    /// Starts the process and waits until `/ready` answers 200.
    pub async fn start(self) -> Service {
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "ms-test-{}-{}-{}-{port}.log",
            self.world.vhost, self.service, self.mode
        ));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ms-service"));
        command
            .arg(&self.service)
            .env_clear()
            .env("MODE", &self.mode)
            .env("PORT", port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("AMQP_URL", &self.world.amqp_url)
            .env("DATABASE_URL", &self.world.database_url)
            .env("MS_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RETRY_DELAY_MS", "200")
            .env("RUST_LOG", "info")
            .envs(&self.env)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        let child = command.spawn().expect("spawn ms-service");
        let service = Service {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            http: reqwest::Client::new(),
        };
        service.wait_ready(Duration::from_secs(60)).await;
        service
    }
}

/// A running `ms-service` child process; killed when dropped.
pub struct Service {
    child: Child,
    pub base: String,
    pub log: PathBuf,
    http: reqwest::Client,
}

/// A failing test shows what each of its services logged: the logs live in temporary files
/// that are gone by the time a CI report is read.
impl Drop for Service {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- log tail of {} ({}) ----\n{}",
                self.base,
                self.log.display(),
                self.log_tail()
            );
        }
    }
}

impl Service {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub async fn wait_ready(&self, limit: Duration) {
        let url = self.url("/ready");
        // Sync services are ready without the broker (they only publish completion events
        // on it, best effort); tests also want those events, so wait for the broker too.
        let ok = try_wait_for(limit, || async {
            let r = self.http.get(&url).send().await.ok()?;
            let ok = r.status().is_success();
            let body: Value = r.json().await.ok()?;
            // The gateway uses no broker and says so.
            (ok && (body["broker"] == "up" || body["broker"] == "not used")).then_some(())
        })
        .await;
        if ok.is_none() {
            panic!(
                "{} not ready within {limit:?}; log:\n{}",
                self.base,
                self.log_tail()
            );
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGKILL: no shutdown, no acks, like a crash.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.http.put(self.url(path)).json(&body)).await
    }

    pub async fn post_with_id(&self, path: &str, body: Value, correlation_id: &str) -> Reply {
        self.send(
            self.http
                .post(self.url(path))
                .header("x-correlation-id", correlation_id)
                .json(&body),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let started = Instant::now();
        let response = request.send().await.expect("service reachable");
        let status = response.status().as_u16();
        let correlation_id = response
            .headers()
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            body,
            correlation_id,
            elapsed: started.elapsed(),
        }
    }

    /// A counter from `/metrics`, summed over the series whose labels contain `labels`.
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .unwrap_or_default();
        text.lines()
            .filter(|l| {
                l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels)
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub correlation_id: Option<String>,
    pub elapsed: Duration,
}

impl Reply {
    /// Asserts the CONTRACT §4 error envelope.
    pub fn assert_error(&self, status: u16) {
        assert_eq!(self.status, status, "{self:?}");
        assert!(
            !self.body["detail"].is_null(),
            "error without detail: {self:?}"
        );
        assert!(
            self.body["correlation_id"].is_string(),
            "error without correlation_id: {self:?}"
        );
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Polls `check` every 100 ms until it yields a value or `limit` passes.
pub async fn try_wait_for<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    try_wait_for(limit, check)
        .await
        .unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}
