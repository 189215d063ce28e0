//! [`Service`]: one `ms-service` child process inside a [`World`], started by a
//! [`ServiceBuilder`], and the [`Reply`] to a request sent to it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::wait::try_wait_for;
use crate::world::World;

/// The admin token every service of a test is started with.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// The `ms-service` binary: `target/<profile>/ms-service`, beside the running test binary's
/// own directory (`…/deps/`). Cargo builds it for the services' tests; the control room's
/// tests need it built already (`cargo test --workspace` or `cargo build -p services`), as
/// one crate's tests cannot ask cargo for another crate's binary.
pub fn ms_service() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps")
        .join("ms-service");
    assert!(
        bin.exists(),
        "{} is missing: `cargo test --workspace` builds it (or cargo build -p services)",
        bin.display()
    );
    bin
}

impl World {
    /// A service of this world, to configure and [`start`](ServiceBuilder::start).
    pub fn service(&self, service: &str, mode: &str) -> ServiceBuilder {
        ServiceBuilder {
            world: self.clone(),
            service: service.to_owned(),
            mode: mode.to_owned(),
            env: HashMap::new(),
        }
    }
}

pub struct ServiceBuilder {
    world: World,
    /// The `ms-service` subcommand: `user`, `payment`, …, `gateway`.
    service: String,
    /// `sync` or `async`.
    mode: String,
    /// Extra variables, set after (so over) the defaults.
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
        let mut command = Command::new(ms_service());
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
            _world: self.world,
        };
        service.wait_ready(Duration::from_secs(60)).await;
        service
    }
}

/// A running `ms-service` child process; killed when dropped.
pub struct Service {
    // Field order is drop order: the process is killed before its world (and so its
    // database) can go.
    child: Child,
    pub base: String,
    /// Its stdout and stderr, in the temporary directory.
    pub log: PathBuf,
    http: reqwest::Client,
    /// Keeps the vhost and the database for as long as the process may use them.
    _world: World,
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

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("base is http://127.0.0.1:<port>")
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

    /// The last 30 lines of its log.
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

/// An HTTP answer: its status, its body (JSON, or the text as a JSON string), the
/// correlation id it carried and how long it took.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub correlation_id: Option<String>,
    pub elapsed: Duration,
}

impl Reply {
    /// Asserts the error envelope every service answers errors with: this status, a
    /// `detail` and the request's `correlation_id`.
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
