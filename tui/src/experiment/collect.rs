//! What the runner gathers from the broker while a round runs: every completion event on
//! `ms.telemetry` (for the telemetry side of the accounting) and the depth of the scenario's
//! queues (for the backlog), both reconnecting when the broker itself is the fault.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::completion::CompletionEvent;
use futures_util::StreamExt;
use lapin::options::QueuePurgeOptions;
use lapin::{Connection, ConnectionProperties};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::broker::BrokerSettings;
use crate::broker::probe::{Depth, passive_depth};

/// How often the queues are probed.
const DEPTH_EVERY: Duration = Duration::from_millis(500);
/// Waits between reconnects while the broker is away.
const RECONNECT: Duration = Duration::from_millis(500);

/// The running collectors of one round.
pub struct Collector {
    events: Arc<Mutex<Vec<CompletionEvent>>>,
    depth: Arc<Mutex<Option<u64>>>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Collector {
    /// Subscribes before the load starts, so no event of the round is missed (unless the
    /// broker is down: telemetry is best-effort, and the report says so).
    pub async fn start(settings: &BrokerSettings, queues: Vec<String>) -> Collector {
        let events = Arc::new(Mutex::new(Vec::new()));
        let depth = Arc::new(Mutex::new(None));
        let cancel = CancellationToken::new();
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let telemetry = tokio::spawn(telemetry(
            settings.amqp_url.clone(),
            events.clone(),
            cancel.clone(),
            subscribed_tx,
        ));
        // A broker that is down now must not hold the round; the collector keeps trying.
        let _ = tokio::time::timeout(Duration::from_secs(5), subscribed).await;
        let mut tasks = vec![telemetry];
        if !queues.is_empty() {
            tasks.push(tokio::spawn(depths(
                settings.amqp_url.clone(),
                queues,
                depth.clone(),
                cancel.clone(),
            )));
        }
        Collector {
            events,
            depth,
            cancel,
            tasks,
        }
    }

    /// Ready messages summed over the queues at the last probe; `None` before the first or
    /// while the broker is away.
    pub fn depth(&self) -> Option<u64> {
        self.depth.lock().ok().and_then(|d| *d)
    }

    /// The depth once the first probe has answered (at most `within`): a figure taken at a
    /// step's start must not be the "not probed yet" of a collector just started.
    pub async fn first_depth(&self, within: Duration) -> Option<u64> {
        let until = tokio::time::Instant::now() + within;
        loop {
            if let Some(depth) = self.depth() {
                return Some(depth);
            }
            if self.tasks.len() < 2 || tokio::time::Instant::now() >= until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Events so far (a copy).
    pub fn events(&self) -> Vec<CompletionEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    pub fn event_count(&self) -> usize {
        self.events.lock().map_or(0, |e| e.len())
    }

    pub async fn stop(self) -> Vec<CompletionEvent> {
        self.cancel.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

async fn telemetry(
    url: String,
    events: Arc<Mutex<Vec<CompletionEvent>>>,
    cancel: CancellationToken,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let mut subscribed = Some(subscribed);
    while !cancel.is_cancelled() {
        match crate::broker::telemetry::subscribe(&url).await {
            Ok((connection, mut consumer)) => {
                if let Some(tx) = subscribed.take() {
                    let _ = tx.send(());
                }
                loop {
                    let delivery = tokio::select! {
                        _ = cancel.cancelled() => break,
                        d = consumer.next() => d,
                    };
                    match delivery {
                        Some(Ok(delivery)) => {
                            if let Ok(event) =
                                serde_json::from_slice::<CompletionEvent>(&delivery.data)
                                && event.correlation_id.starts_with("load-")
                                && let Ok(mut all) = events.lock()
                            {
                                all.push(event);
                            }
                        }
                        Some(Err(e)) => {
                            tracing::debug!("experiment telemetry: {e}");
                            break;
                        }
                        None => break,
                    }
                }
                let _ = connection.close(200, "experiment done".into()).await;
            }
            Err(e) => tracing::debug!("experiment telemetry: broker not reachable ({e})"),
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(RECONNECT) => {}
        }
    }
}

async fn depths(
    url: String,
    queues: Vec<String>,
    depth: Arc<Mutex<Option<u64>>>,
    cancel: CancellationToken,
) {
    let set = |value: Option<u64>| {
        if let Ok(mut d) = depth.lock() {
            *d = value;
        }
    };
    while !cancel.is_cancelled() {
        if let Ok(connection) = connect(&url, "ms-tui experiment depths").await {
            loop {
                match probe(&connection, &queues).await {
                    Ok(total) => set(Some(total)),
                    Err(_) => break,
                }
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(DEPTH_EVERY) => {}
                }
            }
            let _ = connection.close(200, "experiment done".into()).await;
        }
        set(None);
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(RECONNECT) => {}
        }
    }
}

async fn probe(connection: &Connection, queues: &[String]) -> lapin::Result<u64> {
    let mut total = 0;
    for name in queues {
        // A queue nobody declared yet closes the channel: each probe gets its own.
        let channel = connection.create_channel().await?;
        if let Depth::Found { ready, .. } = passive_depth(&channel, name).await? {
            total += u64::from(ready);
            let _ = channel.close(200, "probed".into()).await;
        }
    }
    Ok(total)
}

async fn connect(url: &str, name: &str) -> anyhow::Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    let connecting = tokio::time::timeout(
        Duration::from_secs(5),
        common::broker::nodes::connect_any(url, props),
    );
    match connecting.await {
        Ok(connection) => Ok(connection?),
        Err(_) => anyhow::bail!("the broker did not answer within 5 s"),
    }
}

/// Empties `queue`; the number of messages it held.
pub async fn purge(settings: &BrokerSettings, queue: &str) -> anyhow::Result<u32> {
    let connection = connect(&settings.amqp_url, "ms-tui experiment purge").await?;
    let channel = connection.create_channel().await?;
    let purged = channel
        .queue_purge(queue.into(), QueuePurgeOptions::default())
        .await?;
    let _ = connection.close(200, "purged".into()).await;
    Ok(purged)
}
