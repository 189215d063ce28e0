//! Harness of the end-to-end tests against the running Docker stack (`ms-tui up`).
//!
//! `scripts/test.sh` brings the stack up and exports `MS_STACK_ROOT` (the repository, whose
//! `compose/.env` holds the admin token and the broker's credentials). Without it, or with
//! the stack not healthy, every test FAILS with the reason: these tests never skip.
//!
//! Tests that stop a container hold a [`Stopped`] guard: when the test ends, passes or
//! panics, the container is started again.
#![allow(dead_code)] // compiled only with stack-tests; not every helper is used by every test

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::Docker;
use common::Mode;
use common::scenario::Service;
use lapin::ConnectionProperties;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use ms_tui::docker::status::{self as containers, ContainerStatus};
use ms_tui::docker::{Action, Project, actions};
use ms_tui::stack::env::StackEnv;
use ms_tui::stack::{Layout, StackOptions};
use serde_json::Value;

/// How long a test waits for the stack to be healthy before it starts (a previous test may
/// just have restarted RabbitMQ, whose boot takes up to a minute on 2 cores).
const HEALTHY_WITHIN: Duration = Duration::from_secs(180);

/// The running stack, as the tests reach it.
pub struct Stack {
    pub env: StackEnv,
    pub docker: Docker,
    pub http: reqwest::Client,
    /// The compose file's services, replica services included: what [`Stack::expected`]
    /// counts from.
    pub services: Vec<String>,
}

impl Stack {
    /// The stack named by `MS_STACK_ROOT`, once all its containers are healthy.
    pub async fn healthy() -> Stack {
        let root = std::env::var("MS_STACK_ROOT").unwrap_or_else(|_| {
            panic!(
                "MS_STACK_ROOT is not set: run the tests with `bash scripts/test.sh`, which \
                 brings the Docker stack up (ms-tui up) and exports it"
            )
        });
        let layout = Layout::discover(Some(&PathBuf::from(&root)))
            .unwrap_or_else(|err| panic!("MS_STACK_ROOT={root}: {err:#}"));
        let env = layout
            .env()
            .unwrap_or_else(|err| panic!("the stack's .env: {err:#}"));
        let docker = ms_tui::docker::connect()
            .await
            .unwrap_or_else(|err| panic!("Docker: {:#}", anyhow::Error::new(err)));
        let services = ms_tui::stack::services(&options())
            .await
            .unwrap_or_else(|err| panic!("the compose file's services: {err:#}"));
        let stack = Stack {
            env,
            docker,
            services,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_else(|err| panic!("http client: {err}")),
        };
        stack.wait_healthy(HEALTHY_WITHIN).await;
        stack
    }

    /// How many containers the current layout expects of the stack listed as `list`: the
    /// compose file's services (replica services aside) and the replicas scaled out (`ms_tui::stack::scale::expected_count`).
    pub fn expected(&self, list: &[ContainerStatus]) -> usize {
        ms_tui::stack::scale::expected_count(&self.services, list)
    }

    /// Waits until every container the layout expects is running and healthy; panics with
    /// the ones that are not.
    pub async fn wait_healthy(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let list = containers::list(&self.docker)
                .await
                .unwrap_or_else(|err| panic!("listing the stack: {err:#}"));
            let expected = self.expected(&list);
            if list.len() == expected && list.iter().all(ContainerStatus::is_ready) {
                return;
            }
            if Instant::now() > deadline {
                let not_ready: Vec<String> = list
                    .iter()
                    .filter(|c| !c.is_ready())
                    .map(ToString::to_string)
                    .collect();
                panic!(
                    "the Docker stack is not up: {} of {expected} containers exist, not ready:\n{}\n\
                     (bring it up with `ms-tui up`, or run `bash scripts/test.sh`)",
                    list.len(),
                    not_ready.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The container of `service` (`payment`, `rabbitmq`, ...) in `mode` (`sync`, `async`,
    /// `infra`).
    pub async fn container(&self, service: &str, mode: &str) -> ContainerStatus {
        containers::find(&self.docker, service, mode)
            .await
            .unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// Every container of the project, as it is now.
    pub async fn containers(&self) -> Vec<ContainerStatus> {
        containers::list(&self.docker)
            .await
            .unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// Stops a container; the guard starts it again when dropped.
    pub async fn stop(&self, service: &str, mode: &str) -> Stopped {
        let container = self.container(service, mode).await;
        actions::stop_within(&self.docker, &Project::default(), &container.id, 10)
            .await
            .unwrap_or_else(|err| panic!("stopping {}: {err}", container.name));
        Stopped {
            container: Some(container),
        }
    }

    /// Base URL of a service of a stack on its published port.
    pub fn base(&self, service: Service, mode: Mode) -> String {
        format!("http://127.0.0.1:{}", service.port(mode))
    }

    /// Base URL through the gateway (`/sync/{service}` or `/async/{service}`).
    pub fn via_gateway(&self, service: Service, mode: Mode) -> String {
        format!("http://127.0.0.1:9000/{mode}/{service}")
    }

    /// Sends a request; the answer's status and JSON body (Null when not JSON).
    pub async fn send(&self, method: &str, url: &str, body: Option<&Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|err| panic!("method {method}: {err}"));
        let mut request = self.http.request(method.clone(), url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let began = Instant::now();
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("{method} {url}: {err}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
            elapsed: began.elapsed(),
        }
    }

    pub async fn get(&self, url: &str) -> Reply {
        self.send("GET", url, None).await
    }

    pub async fn post(&self, url: &str, body: &Value) -> Reply {
        self.send("POST", url, Some(body)).await
    }

    /// `POST /admin/reset` or `PUT /admin/config` on one service, with the stack's token.
    pub async fn admin(&self, method: &str, url: &str, body: Option<&Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|err| panic!("method {method}: {err}"));
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(self.env.admin_token());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("admin {url}: {err}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
            elapsed: Duration::ZERO,
        }
    }

    /// Messages ready in a durable queue, exactly (a passive declare; the management API's
    /// figures lag by seconds).
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        let connection = common::broker::nodes::connect_any(
            &self.env.amqp_url(),
            ConnectionProperties::default(),
        )
        .await
        .unwrap_or_else(|err| panic!("AMQP connect: {err}"));
        let channel = connection
            .create_channel()
            .await
            .unwrap_or_else(|err| panic!("AMQP channel: {err}"));
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap_or_else(|err| panic!("queue {queue}: {err}"));
        let _ = connection.close(200, "bye".into()).await;
        declared.message_count()
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub elapsed: Duration,
}

/// Polls `check` every 200 ms until it gives a value or `within` passes.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("not within {within:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A stopped container: started again when this is dropped (a failing test included).
pub struct Stopped {
    container: Option<ContainerStatus>,
}

impl Stopped {
    /// Starts it again now.
    pub async fn start(mut self) {
        if let Some(container) = self.container.take() {
            start(&container)
                .await
                .unwrap_or_else(|err| panic!("{err}"));
        }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        // Drop cannot await, and may run inside the test's runtime: start it from a thread
        // with a runtime of its own.
        let restarted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| err.to_string())?;
            runtime.block_on(start(&container))
        })
        .join();
        match restarted {
            Ok(Ok(())) => eprintln!("guard: started the stopped container again"),
            Ok(Err(err)) => eprintln!("guard: could NOT start the container again: {err}"),
            Err(_) => eprintln!("guard: the restart thread panicked"),
        }
    }
}

/// Starts a container of the stack on a connection of its own (a guard may run on a runtime
/// of its own); starting a running one is not an error.
async fn start(container: &ContainerStatus) -> Result<(), String> {
    let docker = ms_tui::docker::connect()
        .await
        .map_err(|e| format!("{:#}", anyhow::Error::new(e)))?;
    match actions::perform(&docker, &Project::default(), &container.id, Action::Start).await {
        Err(e) if !e.is_not_modified() => Err(format!("starting {}: {e}", container.name)),
        _ => Ok(()),
    }
}

/// Runs `work` to its end on a runtime of its own, in a thread of its own: what a guard's
/// `Drop` (which cannot await, and runs inside the test's runtime) does to put the stack back.
/// `what` names it when that could not even start.
pub fn run_detached<F, Fut>(what: &str, work: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let ran = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|runtime| runtime.block_on(work()))
    })
    .join();
    if !matches!(ran, Ok(Ok(()))) {
        eprintln!("guard: could not run {what}");
    }
}

/// A unique token for e-mails and references.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Used by `Stack::healthy`: `StackOptions` is how the stack code is configured.
pub fn options() -> StackOptions {
    StackOptions {
        root: std::env::var("MS_STACK_ROOT").ok().map(PathBuf::from),
    }
}
