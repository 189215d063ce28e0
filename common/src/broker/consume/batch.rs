//! Batch mode: a consumer whose handler stores many deliveries in one statement and one
//! commit takes what the broker has already sent (up to the prefetch, waiting at most
//! `max_wait` for more) and acks the whole batch after the commit with one multiple-ack.
//!
//! A multiple-ack acks every unacked delivery up to its tag *on that channel*, so batches of
//! one channel are settled in the order they were taken ([`Order`]): a batch acks only once
//! every earlier one is settled, whether by its own multiple-ack or one by one. A batch that
//! fails is handled one delivery at a time by the per-message path (its handler, then retry /
//! DLQ), so a bad message costs its batch-mates nothing but a second try.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use tokio::sync::{Semaphore, oneshot};

use super::settle::{self, Envelope};
use super::{End, InFlight, Incoming, Worker};

/// Handles a batch of deliveries as one: `Ok` means every one of them took effect.
pub type BatchHandler =
    Arc<dyn Fn(Vec<Incoming>) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Wraps an async fn as a [`BatchHandler`].
pub fn batch_handler<F, Fut>(f: F) -> BatchHandler
where
    F: Fn(Vec<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    Arc::new(move |batch| Box::pin(f(batch)))
}

/// How a consumer batches (see the module doc).
#[derive(Clone)]
pub struct Batching {
    pub handler: BatchHandler,
    /// How long a batch waits for more deliveries after its first.
    pub max_wait: Duration,
    /// Batch handlers running at once: each holds one database connection, so the pool's
    /// size, which caps batches instead of deliveries.
    parallel: Arc<Semaphore>,
}

impl Batching {
    pub fn new(handler: BatchHandler, max_wait: Duration, parallel: usize) -> Self {
        Batching {
            handler,
            max_wait,
            parallel: Arc::new(Semaphore::new(parallel.max(1))),
        }
    }
}

impl std::fmt::Debug for Batching {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batching")
            .field("max_wait", &self.max_wait)
            .field("parallel", &self.parallel.available_permits())
            .finish_non_exhaustive()
    }
}

/// `first`, then whatever else arrives within `max_wait`, up to `max` deliveries; and how the
/// stream ended if it did meanwhile (the batch is still handled).
pub(super) async fn collect(
    deliveries: &mut lapin::Consumer,
    first: Delivery,
    max: usize,
    max_wait: Duration,
) -> (Vec<Delivery>, Option<End>) {
    let mut batch = vec![first];
    let deadline = tokio::time::Instant::now() + max_wait;
    while batch.len() < max {
        match tokio::time::timeout_at(deadline, deliveries.next()).await {
            Ok(Some(Ok(delivery))) => batch.push(delivery),
            Ok(Some(Err(err))) => return (batch, Some(End::Failed(err))),
            Ok(None) => return (batch, Some(End::Closed)),
            Err(_) => break,
        }
    }
    (batch, None)
}

/// The settlement order of the batches of one channel: each batch gets a [`Turn`].
#[derive(Debug, Default)]
pub(super) struct Order {
    last: Option<oneshot::Receiver<()>>,
}

impl Order {
    /// The turn of the next batch taken from this channel.
    pub fn next_turn(&mut self) -> Turn {
        let (done, settled) = oneshot::channel();
        Turn {
            previous: self.last.replace(settled),
            done,
        }
    }
}

/// A batch's place in its channel's [`Order`].
#[derive(Debug)]
pub(super) struct Turn {
    previous: Option<oneshot::Receiver<()>>,
    done: oneshot::Sender<()>,
}

impl Turn {
    /// Waits until every earlier batch of the channel is settled. A batch whose task is gone
    /// (its sender dropped) counts as settled: its deliveries were acked or will be
    /// redelivered with the channel, and nothing of ours will ack them.
    pub async fn previous_settled(&mut self) {
        if let Some(previous) = self.previous.take() {
            let _ = previous.await;
        }
    }

    /// This batch and every earlier one are settled.
    pub fn settled(self) {
        let _ = self.done.send(());
    }
}

/// Handles one batch and settles it in its turn.
pub(super) async fn run(
    worker: Arc<Worker>,
    batching: Batching,
    deliveries: Vec<Delivery>,
    mut turn: Turn,
    _in_flight: InFlight,
) {
    let queue = worker.queue;
    let size = deliveries.len();
    metrics::counter!("messages_consumed_total", "queue" => queue).increment(size as u64);
    metrics::histogram!("consumer_batch_size", "queue" => queue).record(size as f64);
    // Without an event id a delivery cannot be stored idempotently: the per-message path
    // dead-letters it, and its batch-mates go that way too rather than be acked over it.
    let batch: Option<Vec<Incoming>> = deliveries
        .iter()
        .map(|d| Envelope::of(d).incoming(queue, d))
        .collect();
    let outcome = match batch {
        None => Err(anyhow::anyhow!("a delivery of the batch has no message_id")),
        Some(batch) => {
            // Closed never: the semaphore lives as long as the consumer.
            let _permit = batching.parallel.acquire().await;
            settle::caught((batching.handler)(batch)).await
        }
    };
    match outcome {
        Ok(()) => {
            let ack_delay = worker.options.ack_delay;
            if !ack_delay.is_zero() {
                tokio::time::sleep(ack_delay).await;
            }
            turn.previous_settled().await;
            let last = deliveries.iter().max_by_key(|d| d.delivery_tag);
            let acked = match last {
                Some(last) => {
                    let all_up_to_here = BasicAckOptions { multiple: true };
                    last.acker.ack(all_up_to_here).await.map(|_| ())
                }
                None => Ok(()),
            };
            if let Err(err) = acked {
                tracing::warn!(queue, size, error = %err, "could not ack a stored batch; it will be redelivered and found stored");
            }
        }
        Err(err) => {
            tracing::warn!(queue, size, error = %err, "batch failed; handling its deliveries one by one");
            metrics::counter!("consumer_batch_fallbacks_total", "queue" => queue).increment(1);
            let one_by_one = deliveries.into_iter().map(|d| settle::settle(d, &worker));
            futures_util::future::join_all(one_by_one).await;
            turn.previous_settled().await;
        }
    }
    turn.settled();
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Three batches finishing their work in reverse order still settle 1, 2, 3: a later
    /// multiple-ack can never cover an earlier batch that is still being retried.
    #[tokio::test]
    async fn batches_settle_in_the_order_they_were_taken() {
        let mut order = Order::default();
        let settled = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (batch, work_ms) in [(1, 60), (2, 30), (3, 0)] {
            let mut turn = order.next_turn();
            let settled = settled.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(work_ms)).await;
                turn.previous_settled().await;
                settled.lock().unwrap().push(batch);
                turn.settled();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*settled.lock().unwrap(), vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn a_batch_whose_predecessor_vanished_is_not_blocked() {
        let mut order = Order::default();
        let gone = order.next_turn();
        let mut next = order.next_turn();
        drop(gone);
        let waited = tokio::time::timeout(Duration::from_secs(1), next.previous_settled()).await;
        assert!(waited.is_ok());
    }
}
