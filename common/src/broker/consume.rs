//! The one consumer loop every async service uses.
//!
//! Manual acks after the handler succeeded; failures are retried, then dead-lettered, and a
//! message is acked only once it took effect or its parked copy is confirmed, so nothing is
//! ever dropped (`settle`). Handlers must be idempotent by event id
//! (`crate::db::claim_event`): the broker delivers at least once.
//!
//! - this file: [`spawn`], the loop that (re)subscribes, follows the concurrency knob and hands
//!   each delivery (or batch) to a task of its own.
//! - `concurrency`: the `consumer_concurrency` knob as a consumer sees it, its [`Limit`]s, and
//!   the [`Registry`] the admin API shows.
//! - `settle`: one delivery through its handler, then ack, retry, DLQ or requeue.
//! - `batch`: batch mode, stored with one commit and acked with one multiple-ack, in order.
//!
//! **Changing the knob without a restart.** `basic.qos` binds only consumers started after
//! it, so a new prefetch needs a new subscription: the loop opens a new channel and consumer
//! with the new prefetch first (the queue is never without a consumer), then cancels the old
//! one, handles what the broker had already sent it, lets all of it finish and ack, and only
//! then closes the old channel. No delivery is lost; at worst (a crash meanwhile) one is
//! redelivered, which the handlers' idempotency absorbs.

mod batch;
mod concurrency;
mod settle;

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use batch::{BatchHandler, Batching, batch_handler};
pub use concurrency::{Concurrency, Limit, Registry};

use super::{Broker, Link};
use crate::config::{Settings, Tunables};

/// One delivery, as a handler sees it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub queue: &'static str,
    /// The idempotency key (AMQP `message_id`).
    pub event_id: String,
    pub correlation_id: String,
    /// 0 on the first delivery, n on the n-th retry.
    pub attempt: u32,
    pub body: Vec<u8>,
}

impl Incoming {
    pub fn json<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| anyhow!("malformed {} message: {e}", self.queue))
    }

    /// Records that this event had already been handled (a redelivery or a duplicate).
    pub fn note_duplicate(&self) {
        tracing::info!(queue = self.queue, event_id = %self.event_id, "duplicate event skipped");
        metrics::counter!("messages_duplicate_total", "queue" => self.queue).increment(1);
    }
}

pub type Handler = Arc<dyn Fn(Incoming) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Wraps an async fn as a [`Handler`].
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Incoming) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    Arc::new(move |incoming| Box::pin(f(incoming)))
}

/// How a consumer behaves; from the service settings and its live knobs.
#[derive(Clone, Debug)]
pub struct ConsumerOptions {
    /// Unacked deliveries at once (the prefetch), which is also how many are handled
    /// concurrently: `consumer_concurrency`, followed live, within its [`Limit`].
    pub concurrency: Concurrency,
    pub max_retries: u32,
    pub retry_delay: Duration,
    /// Fault injection: pause between a committed effect and its ack.
    pub ack_delay: Duration,
    /// Batch mode (see `batch`); `None`: one delivery at a time per task.
    pub batch: Option<Batching>,
}

impl ConsumerOptions {
    pub fn new(settings: &Settings, knobs: &Tunables) -> Self {
        ConsumerOptions {
            concurrency: Concurrency::new(knobs, Limit::Knob),
            max_retries: settings.max_retries,
            retry_delay: Duration::from_millis(settings.retry_delay_ms),
            ack_delay: Duration::from_millis(settings.fault_ack_delay_ms),
            batch: None,
        }
    }

    /// Workers that must do one job at a time (S4's CPU-bound reports), whatever the knob.
    pub fn one_at_a_time(self) -> Self {
        self.limited(Limit::Fixed(1))
    }

    pub fn limited(self, limit: Limit) -> Self {
        ConsumerOptions {
            concurrency: self.concurrency.with_limit(limit),
            ..self
        }
    }

    pub fn batched(self, batching: Batching) -> Self {
        ConsumerOptions {
            batch: Some(batching),
            ..self
        }
    }
}

/// What handles the deliveries of one consumer, shared by its successive subscriptions.
struct Worker {
    queue: &'static str,
    broker: Broker,
    /// The per-message path (in batch mode: for the deliveries of a failed batch).
    handler: Handler,
    options: ConsumerOptions,
}

/// How a subscription's delivery stream ended.
enum End {
    Failed(lapin::Error),
    /// The broker cancelled the consumer, or the channel closed.
    Closed,
}

impl End {
    fn into_result(self) -> lapin::Result<()> {
        match self {
            End::Failed(err) => Err(err),
            End::Closed => Ok(()),
        }
    }
}

/// `messages_in_flight{queue}`: deliveries received and not yet settled, for as long as it lives.
struct InFlight {
    queue: &'static str,
    count: f64,
}

impl InFlight {
    fn new(queue: &'static str, count: usize) -> Self {
        let count = f64::from(u32::try_from(count).unwrap_or(u32::MAX));
        metrics::gauge!("messages_in_flight", "queue" => queue).increment(count);
        InFlight { queue, count }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("messages_in_flight", "queue" => self.queue).decrement(self.count);
    }
}

/// How long a retiring subscription may take to receive what the broker sent it before the
/// cancel; past it the channel closes and the broker requeues the rest.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Consumes `queue` until `shutdown`, resubscribing whenever the broker connection returns
/// and whenever the concurrency knob changes what this consumer should hold.
pub fn spawn(
    broker: Broker,
    queue: &'static str,
    options: ConsumerOptions,
    handler: Handler,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let mut concurrency = options.concurrency.clone();
    let worker = Arc::new(Worker {
        queue,
        broker,
        handler,
        options,
    });
    tokio::spawn(async move {
        // The series exist from the start, so a scrape shows 0 rather than nothing.
        metrics::gauge!("messages_in_flight", "queue" => queue).increment(0.0);
        for counter in [
            "messages_consumed_total",
            "messages_retried_total",
            "messages_dead_lettered_total",
            "messages_duplicate_total",
        ] {
            metrics::counter!(counter, "queue" => queue).increment(0);
        }
        let mut links = worker.broker.watch();
        loop {
            let link = tokio::select! {
                _ = shutdown.cancelled() => return,
                l = links.wait_for(|l| l.as_ref().is_some_and(Link::alive)) => match l {
                    Ok(l) => l.clone(),
                    Err(_) => return,
                },
            };
            let Some(link) = link else { continue };
            if let Err(err) = consume_on(&link, &worker, &mut concurrency, &shutdown).await {
                tracing::warn!(queue, error = %err, "consumer interrupted; will resubscribe");
            }
            if shutdown.is_cancelled() {
                return;
            }
            // The supervisor needs a moment to notice a dead connection; don't spin on it.
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(300)) => {}
            }
        }
    })
}

/// What woke the loop up.
enum Step {
    Stop,
    Knob(u16),
    /// Boxed: a delivery is large beside the other steps.
    Next(Box<Option<lapin::Result<Delivery>>>),
}

async fn consume_on(
    link: &Link,
    worker: &Arc<Worker>,
    concurrency: &mut Concurrency,
    shutdown: &CancellationToken,
) -> lapin::Result<()> {
    let queue = worker.queue;
    let mut current = Subscription::open(link, worker, concurrency.effective()).await?;
    tracing::info!(
        queue,
        prefetch = current.prefetch,
        batched = worker.options.batch.is_some(),
        "consuming: {}",
        concurrency.limit().describe(concurrency.knob())
    );
    let retiring = TaskTracker::new();
    let result = loop {
        let step = tokio::select! {
            _ = shutdown.cancelled() => Step::Stop,
            Some(knob) = concurrency.changed() => Step::Knob(knob),
            next = current.deliveries.next() => Step::Next(Box::new(next)),
        };
        match step {
            Step::Stop => break Ok(()),
            Step::Knob(knob) => {
                let wanted = concurrency.effective();
                let why = concurrency.limit().describe(knob);
                if wanted == current.prefetch {
                    tracing::info!(
                        queue,
                        prefetch = wanted,
                        "consumer_concurrency changed; prefetch stays: {why}"
                    );
                    continue;
                }
                // A channel of its own: the old channel's qos would bind the new consumer too.
                let next = match Subscription::open(link, worker, wanted).await {
                    Ok(next) => next,
                    // The connection is likely gone: resubscribing will use the new value.
                    Err(err) => break Err(err),
                };
                let old = std::mem::replace(&mut current, next);
                tracing::info!(
                    queue,
                    from = old.prefetch,
                    to = wanted,
                    "re-subscribed with the new prefetch ({why}); the old consumer finishes what it holds"
                );
                retiring.spawn(old.retire(worker.clone()));
            }
            Step::Next(next) => match *next {
                Some(Ok(delivery)) => {
                    if let Some(end) = current.dispatch(worker, delivery).await {
                        break end.into_result();
                    }
                }
                Some(Err(err)) => break Err(err),
                None => break Ok(()),
            },
        }
    };
    // Let what is in flight finish and ack before the channels go away.
    current.close().await;
    retiring.close();
    retiring.wait().await;
    result
}

/// One channel with one consumer on it, and the tasks handling its deliveries: acks must go
/// back on the channel a delivery came from.
struct Subscription {
    channel: Channel,
    deliveries: lapin::Consumer,
    prefetch: u16,
    in_flight: TaskTracker,
    /// Batch mode's settlement order on this channel.
    order: batch::Order,
}

impl Subscription {
    async fn open(link: &Link, worker: &Worker, prefetch: u16) -> lapin::Result<Self> {
        let channel = link.connection.create_channel().await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let deliveries = channel
            .basic_consume(
                worker.queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(Subscription {
            channel,
            deliveries,
            prefetch,
            in_flight: TaskTracker::new(),
            order: batch::Order::default(),
        })
    }

    /// Hands `first` (in batch mode with whatever else has arrived) to a task of its own;
    /// returns how the stream ended if it did while a batch was being taken.
    async fn dispatch(&mut self, worker: &Arc<Worker>, first: Delivery) -> Option<End> {
        let queue = worker.queue;
        let Some(batching) = &worker.options.batch else {
            let in_flight = InFlight::new(queue, 1);
            let worker = worker.clone();
            self.in_flight.spawn(async move {
                settle::process(first, &worker).await;
                drop(in_flight);
            });
            return None;
        };
        let max = usize::from(self.prefetch);
        let (deliveries, end) =
            batch::collect(&mut self.deliveries, first, max, batching.max_wait).await;
        let in_flight = InFlight::new(queue, deliveries.len());
        let turn = self.order.next_turn();
        self.in_flight.spawn(batch::run(
            worker.clone(),
            batching.clone(),
            deliveries,
            turn,
            in_flight,
        ));
        end
    }

    /// Cancels the consumer, handles what the broker had already sent it (the stream ends
    /// after those), waits until all of it is settled, and closes the channel.
    async fn retire(mut self, worker: Arc<Worker>) {
        let queue = worker.queue;
        let tag = self.deliveries.tag();
        match self
            .channel
            .basic_cancel(tag, BasicCancelOptions::default())
            .await
        {
            Ok(()) => {
                let drain = async {
                    while let Some(Ok(delivery)) = self.deliveries.next().await {
                        if self.dispatch(&worker, delivery).await.is_some() {
                            break;
                        }
                    }
                };
                if tokio::time::timeout(DRAIN_LIMIT, drain).await.is_err() {
                    tracing::warn!(
                        queue,
                        "old consumer still receiving after its cancel; closing its channel (the rest is requeued)"
                    );
                }
            }
            Err(err) => {
                tracing::warn!(queue, error = %err, "could not cancel the old consumer; closing its channel (what it held is requeued)");
            }
        }
        let prefetch = self.prefetch;
        self.close().await;
        tracing::info!(queue, prefetch, "old consumer drained and closed");
    }

    /// Waits until every delivery taken is settled, then closes the channel.
    async fn close(self) {
        self.in_flight.close();
        self.in_flight.wait().await;
        let _ = self.channel.close(200, "consumer stopped".into()).await;
    }
}
