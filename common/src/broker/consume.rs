//! The one consumer loop every async service uses.
//!
//! Manual acks after the handler succeeded; on failure the message is re-published (with
//! confirm) to `<queue>.retry` with an incremented `x-retry-count`, and after `max_retries`
//! to `<queue>.dlq`; only once that copy is confirmed is the original acked, so nothing is
//! ever dropped. Handlers must be idempotent by event id (`crate::db::claim_event`): the
//! broker delivers at least once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use axum::http::StatusCode;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::topology::{DEFAULT_EXCHANGE, dead_letter_queue, retry_queue};
use super::{Broker, FAILURE_HEADER, Link, Outgoing, PublishError, RETRY_HEADER, retry_count};
use crate::config::Settings;
use crate::correlation;

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

const PARKING_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

pub type Handler = Arc<dyn Fn(Incoming) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Wraps an async fn as a [`Handler`].
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Incoming) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    Arc::new(move |incoming| Box::pin(f(incoming)))
}

/// How a consumer behaves; from the service settings, with a per-consumer prefetch.
#[derive(Clone, Copy, Debug)]
pub struct ConsumerOptions {
    /// Unacked deliveries at once, which is also how many are handled concurrently.
    pub prefetch: u16,
    pub max_retries: u32,
    pub retry_delay: Duration,
    /// Fault injection: pause between a committed effect and its ack.
    pub ack_delay: Duration,
}

impl ConsumerOptions {
    pub fn from_settings(settings: &Settings) -> Self {
        ConsumerOptions {
            prefetch: settings.consumer_prefetch,
            max_retries: settings.max_retries,
            retry_delay: Duration::from_millis(settings.retry_delay_ms),
            ack_delay: Duration::from_millis(settings.fault_ack_delay_ms),
        }
    }

    /// Workers that must do one job at a time (S4's CPU-bound reports).
    pub fn one_at_a_time(self) -> Self {
        ConsumerOptions {
            prefetch: 1,
            ..self
        }
    }
}

/// Consumes `queue` until `shutdown`, resubscribing whenever the broker connection returns.
pub fn spawn(
    broker: Broker,
    queue: &'static str,
    options: ConsumerOptions,
    handler: Handler,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut links = broker.watch();
        loop {
            let link = tokio::select! {
                _ = shutdown.cancelled() => return,
                l = links.wait_for(|l| l.as_ref().is_some_and(Link::alive)) => match l {
                    Ok(l) => l.clone(),
                    Err(_) => return,
                },
            };
            let Some(link) = link else { continue };
            if let Err(err) = consume_on(&link, &broker, queue, options, &handler, &shutdown).await
            {
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

async fn consume_on(
    link: &Link,
    broker: &Broker,
    queue: &'static str,
    options: ConsumerOptions,
    handler: &Handler,
    shutdown: &CancellationToken,
) -> lapin::Result<()> {
    let channel = link.connection.create_channel().await?;
    channel
        .basic_qos(options.prefetch, BasicQosOptions::default())
        .await?;
    let mut deliveries = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue, prefetch = options.prefetch, "consuming");
    let in_flight = TaskTracker::new();
    let result = loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            d = deliveries.next() => d,
        };
        match next {
            Some(Ok(delivery)) => {
                let (broker, handler) = (broker.clone(), handler.clone());
                in_flight.spawn(process(delivery, queue, options, handler, broker));
            }
            Some(Err(err)) => break Err(err),
            None => break Ok(()),
        }
    };
    // Let what is in flight finish and ack before the channel goes away.
    in_flight.close();
    in_flight.wait().await;
    let _ = channel.close(200, "consumer stopped".into()).await;
    result
}

async fn process(
    delivery: Delivery,
    queue: &'static str,
    options: ConsumerOptions,
    handler: Handler,
    broker: Broker,
) {
    let props = &delivery.properties;
    let attempt = retry_count(props);
    let correlation_id = props
        .correlation_id()
        .as_ref()
        .map(|c| c.as_str().to_owned())
        .unwrap_or_else(correlation::new_id);
    let event_id = props.message_id().as_ref().map(|m| m.as_str().to_owned());
    metrics::counter!("messages_consumed_total", "queue" => queue).increment(1);

    let outcome = match &event_id {
        None => Err(anyhow!(
            "message without message_id (the event id); cannot be handled idempotently"
        )),
        Some(id) => {
            let incoming = Incoming {
                queue,
                event_id: id.clone(),
                correlation_id: correlation_id.clone(),
                attempt,
                body: delivery.data.clone(),
            };
            // A task of its own, so that a panicking handler counts as a failed attempt.
            let run = correlation::scope(correlation_id.clone(), handler(incoming));
            tokio::spawn(run)
                .await
                .unwrap_or_else(|e| Err(anyhow!("handler panicked: {e}")))
        }
    };

    let settled = match outcome {
        Ok(()) => {
            if !options.ack_delay.is_zero() {
                tokio::time::sleep(options.ack_delay).await;
            }
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .map(|_| ())
        }
        Err(err) => {
            let copy = failed_copy(
                &delivery,
                queue,
                attempt,
                options,
                event_id,
                correlation_id,
                &err,
            );
            let destination = copy.routing_key.to_string();
            let is_retry = copy.expiration.is_some();
            // The delivery is held meanwhile, so wait long: giving up early on a slow confirm would
            // requeue a message whose parked copy the broker may still store (a double retry).
            match broker.publish_within(copy, PARKING_CONFIRM_TIMEOUT).await {
                Ok(()) if is_retry => {
                    tracing::warn!(queue, attempt, error = %err, "handler failed; retry scheduled");
                    metrics::counter!("messages_retried_total", "queue" => queue).increment(1);
                    delivery
                        .acker
                        .ack(BasicAckOptions::default())
                        .await
                        .map(|_| ())
                }
                Ok(()) => {
                    tracing::error!(queue, attempt, error = %err, to = %destination, "handler kept failing; dead-lettered");
                    metrics::counter!("messages_dead_lettered_total", "queue" => queue)
                        .increment(1);
                    delivery
                        .acker
                        .ack(BasicAckOptions::default())
                        .await
                        .map(|_| ())
                }
                Err(publish_err) => {
                    // Neither retry nor DLQ took it: hand it back to the queue rather than lose it.
                    tracing::warn!(queue, error = %publish_err, "could not park a failed message; requeueing");
                    tokio::time::sleep(options.retry_delay).await;
                    let requeue = BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    };
                    delivery.acker.nack(requeue).await.map(|_| ())
                }
            }
        }
    };
    if let Err(err) = settled {
        // The channel is gone; the broker redelivers the message to the next consumer.
        tracing::warn!(queue, error = %err, "could not settle a delivery; it will be redelivered");
    }
}

/// The copy of a failed message: to `.retry` while attempts remain, else to `.dlq`.
fn failed_copy(
    delivery: &Delivery,
    queue: &'static str,
    attempt: u32,
    options: ConsumerOptions,
    event_id: Option<String>,
    correlation_id: String,
    err: &anyhow::Error,
) -> Outgoing<'static> {
    // An outage is not the message's fault: it is retried without spending an attempt, so a
    // database down for longer than the retry budget parks nothing in the DLQ.
    let transient = is_transient(err);
    // Without an id a retry could not be recognised as a duplicate: no retries, straight to the DLQ.
    let retry = event_id.is_some() && (transient || attempt < options.max_retries);
    let attempts = if transient { attempt } else { attempt + 1 };
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(RETRY_HEADER.into(), AMQPValue::LongUInt(attempts));
    headers.insert(
        FAILURE_HEADER.into(),
        AMQPValue::LongString(format!("{err:#}").into()),
    );
    let target = if retry {
        retry_queue(queue)
    } else {
        dead_letter_queue(queue)
    };
    Outgoing {
        exchange: DEFAULT_EXCHANGE,
        routing_key: target.into(),
        body: delivery.data.clone(),
        event_id,
        correlation_id: Some(correlation_id),
        headers,
        expiration: retry.then(|| options.retry_delay * (attempt + 1)),
        persistent: true,
    }
}

/// Whether the failure lies with a dependency (database, broker, a 502/503/504 answer) rather
/// than with the message: the same message may succeed once the dependency is back.
fn is_transient(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        if let Some(db) = cause.downcast_ref::<sqlx::Error>() {
            return crate::db::is_transient(db);
        }
        if let Some(api) = cause.downcast_ref::<crate::ApiError>() {
            return matches!(
                api.status,
                StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            );
        }
        cause.is::<PublishError>() || cause.is::<lapin::Error>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_transient_and_bad_messages_are_not() {
        let pool = anyhow::Error::new(sqlx::Error::PoolTimedOut).context("storing a click");
        assert!(is_transient(&pool));
        let down = anyhow::Error::new(crate::ApiError::unavailable("database unavailable"))
            .context("storing a notification");
        assert!(is_transient(&down));
        assert!(is_transient(&anyhow::Error::new(PublishError::Nacked)));

        let bad_json = serde_json::from_str::<u32>("nope").map_err(anyhow::Error::new);
        assert!(!is_transient(&bad_json.unwrap_err()));
        assert!(!is_transient(&anyhow!(
            "saga payment was claimed but not recorded"
        )));
        let bug = anyhow::Error::new(crate::ApiError::internal("boom"));
        assert!(!is_transient(&bug));
        assert!(!is_transient(&anyhow::Error::new(sqlx::Error::RowNotFound)));
    }
}
