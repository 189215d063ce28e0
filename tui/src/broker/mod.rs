//! The broker worker: queue depths of the selected scenario, for the queue pane.
//!
//! - [`probe`]: ready messages and consumers by AMQP passive declare on a channel of its own,
//!   every [`PROBE_EVERY`] — the number the pane's sparkline follows.
//! - [`mgmt`]: unacked messages and publish / deliver rates from the management API, which
//!   AMQP does not expose (the management plugin refreshes them every few seconds).
//! - [`completion`]: matching completion events to requests by correlation id (pure).
//! - [`telemetry`]: the consumer of `ms.telemetry` that feeds it, and its reports.
//!
//! The worker never touches the state: it sends [`BrokerMsg`]s to the app task and takes the
//! list of queues to watch over a `watch` channel (the selection changes it).

pub mod completion;
pub mod mgmt;
pub mod probe;
pub mod telemetry;

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::outbox::Outbox;

/// How often the depths are probed (the issue asks for at least every 500 ms).
pub const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Where the broker is and how to log in.
#[derive(Clone, Debug)]
pub struct BrokerSettings {
    /// `amqp://user:pass@host:port/%2f`; a cluster lists its nodes as hosts
    /// (`host:5672,host:5682`, see `common::broker::nodes`).
    pub amqp_url: String,
    /// `http://host:15672` of the management plugin; a cluster lists every node's.
    pub mgmt_url: String,
    pub user: String,
    pub password: String,
}

/// One queue as the pane shows it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct QueueSample {
    pub name: String,
    /// Messages waiting for a consumer (passive declare).
    pub ready: u32,
    pub consumers: u32,
    /// The broker does not know the queue (yet): nothing declared it.
    pub missing: bool,
    /// Messages in the dead-letter queue `<name>.dlq`.
    pub dead: u32,
    /// From the management API, when it answered.
    pub unacked: Option<u64>,
    pub publish_rate: Option<f64>,
    pub deliver_rate: Option<f64>,
}

/// What the broker worker reports.
#[derive(Clone, Debug)]
pub enum BrokerMsg {
    /// One probe of every watched queue, in the order asked.
    Queues(Vec<QueueSample>),
    /// The broker cannot be reached; the worker keeps trying.
    Down { error: String },
    /// Completion latencies of the scenarios × modes that completed flows lately.
    Completions(Vec<CompletionFigures>),
}

/// Completion latency of one scenario × mode: all flows so far, the latest one, and the p99
/// of those that completed since the last report (the timeline's per-second figure).
#[derive(Clone, Debug)]
pub struct CompletionFigures {
    pub scenario: common::scenario::ScenarioId,
    pub mode: common::Mode,
    pub total: crate::load::Summary,
    pub last: Duration,
    pub window_p99: Duration,
}

/// Starts the queue probe; it reports on `to_app` (any channel whose message wraps a
/// [`BrokerMsg`]); send the names of the queues to watch on the returned sender.
pub fn spawn<M: From<BrokerMsg> + Send + 'static>(
    settings: BrokerSettings,
    to_app: mpsc::Sender<M>,
) -> (watch::Sender<Vec<String>>, JoinHandle<()>) {
    let (watch_tx, watch_rx) = watch::channel(Vec::new());
    let task = tokio::spawn(probe::run(settings, watch_rx, Outbox::new(to_app)));
    (watch_tx, task)
}

/// Capacity of the samples channel from the load engine; when full, samples are dropped
/// (those requests get no completion latency), the load never waits.
pub const SAMPLES: usize = 8192;

/// Starts the telemetry worker, reporting on `to_app` like [`spawn`]; the load worker sends
/// its samples on the returned sender.
pub fn spawn_telemetry<M: From<BrokerMsg> + Send + 'static>(
    settings: BrokerSettings,
    to_app: mpsc::Sender<M>,
) -> (mpsc::Sender<crate::load::Sample>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(SAMPLES);
    let task = tokio::spawn(telemetry::run(settings, rx, Outbox::new(to_app)));
    (tx, task)
}

/// Environment variables that point the control room at another broker (tests, a remote
/// stack); the default is the stack's own, with the credentials of `compose/.env`.
pub const AMQP_URL_ENV: &str = "MS_TUI_AMQP_URL";
pub const MGMT_URL_ENV: &str = "MS_TUI_MGMT_URL";

impl BrokerSettings {
    /// From `amqp_url` (credentials included) and the management plugin's base URL; the
    /// management API takes the same account.
    pub fn new(amqp_url: &str, mgmt_url: &str) -> BrokerSettings {
        let first_node = common::broker::nodes::expand(amqp_url).remove(0);
        let (user, password) = match reqwest::Url::parse(&first_node) {
            Ok(url) => (
                url.username().to_owned(),
                url.password().unwrap_or_default().to_owned(),
            ),
            Err(_) => (String::new(), String::new()),
        };
        BrokerSettings {
            amqp_url: amqp_url.to_owned(),
            mgmt_url: mgmt_url.trim_end_matches('/').to_owned(),
            user,
            password,
        }
    }

    /// [`AMQP_URL_ENV`] / [`MGMT_URL_ENV`] when set; else the stack's broker on 127.0.0.1
    /// with the account of `compose/.env`; else RabbitMQ's default account.
    pub fn discover(stack: &crate::stack::StackOptions) -> BrokerSettings {
        let mgmt = std::env::var(MGMT_URL_ENV).unwrap_or_else(|_| "http://127.0.0.1:15672".into());
        if let Ok(url) = std::env::var(AMQP_URL_ENV) {
            return BrokerSettings::new(&url, &mgmt);
        }
        let from_stack = crate::stack::Layout::discover(stack.root.as_deref())
            .and_then(|layout| layout.env())
            .map(|env| (env.amqp_url(), env.mgmt_url()));
        match from_stack {
            Ok((url, stack_mgmt)) => {
                let mgmt = std::env::var(MGMT_URL_ENV).unwrap_or(stack_mgmt);
                BrokerSettings::new(&url, &mgmt)
            }
            Err(e) => {
                tracing::info!("no stack credentials ({e:#}); trying RabbitMQ's default account");
                BrokerSettings::new("amqp://guest:guest@127.0.0.1:5672/%2f", &mgmt)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_management_account_comes_from_the_amqp_url() {
        let s = BrokerSettings::new(
            "amqp://ms:s3cret@127.0.0.1:5673/%2f",
            "http://127.0.0.1:15673/",
        );
        assert_eq!((s.user.as_str(), s.password.as_str()), ("ms", "s3cret"));
        assert_eq!(s.mgmt_url, "http://127.0.0.1:15673");
        let cluster = BrokerSettings::new(
            "amqp://ms:s3cret@127.0.0.1:5672,127.0.0.1:5682/%2f",
            "http://127.0.0.1:15672,127.0.0.1:15682",
        );
        assert_eq!(cluster.user, "ms");
        assert_eq!(cluster.password, "s3cret");
    }
}
