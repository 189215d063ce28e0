//! One delivery through its handler and settled: acked after the handler succeeded; on
//! failure re-published (with confirm) to `<queue>.retry` with an incremented
//! `x-retry-count`, after `max_retries` to `<queue>.dlq`, and acked only once that copy is
//! confirmed; requeued if neither took it. Nothing is ever dropped.

use std::time::Duration;

use anyhow::anyhow;
use axum::http::StatusCode;
use futures_util::future::BoxFuture;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::AMQPValue;

use super::{Incoming, Worker};
use crate::broker::topology::{DEFAULT_EXCHANGE, dead_letter_queue, retry_queue};
use crate::broker::{FAILURE_HEADER, Outgoing, PublishError, RETRY_HEADER, retry_count};
use crate::correlation;

const PARKING_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// What a delivery says about itself, whether or not it can be handled.
pub(super) struct Envelope {
    pub attempt: u32,
    pub correlation_id: String,
    /// The AMQP `message_id`; without it a delivery cannot be handled idempotently.
    pub event_id: Option<String>,
}

impl Envelope {
    pub fn of(delivery: &Delivery) -> Self {
        let props = &delivery.properties;
        Envelope {
            attempt: retry_count(props),
            correlation_id: props
                .correlation_id()
                .as_ref()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_else(correlation::new_id),
            event_id: props.message_id().as_ref().map(|m| m.as_str().to_owned()),
        }
    }

    /// The handler's view of the delivery; `None` without an event id.
    pub fn incoming(&self, queue: &'static str, delivery: &Delivery) -> Option<Incoming> {
        Some(Incoming {
            queue,
            event_id: self.event_id.clone()?,
            correlation_id: self.correlation_id.clone(),
            attempt: self.attempt,
            body: delivery.data.clone(),
        })
    }
}

/// Runs a handler's future in a task of its own, so that a panic counts as a failed attempt.
pub(super) async fn caught(work: BoxFuture<'static, anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::spawn(work)
        .await
        .unwrap_or_else(|e| Err(anyhow!("handler panicked: {e}")))
}

/// Counts the delivery as consumed, then [`settle`]s it.
pub(super) async fn process(delivery: Delivery, worker: &Worker) {
    metrics::counter!("messages_consumed_total", "queue" => worker.queue).increment(1);
    settle(delivery, worker).await;
}

/// The handler on one delivery, then its ack, retry, dead-lettering or requeue.
pub(super) async fn settle(delivery: Delivery, worker: &Worker) {
    let queue = worker.queue;
    let envelope = Envelope::of(&delivery);
    let outcome = match envelope.incoming(queue, &delivery) {
        None => Err(anyhow!(
            "message without message_id (the event id); cannot be handled idempotently"
        )),
        Some(incoming) => {
            let run = (worker.handler)(incoming);
            caught(Box::pin(correlation::scope(
                envelope.correlation_id.clone(),
                run,
            )))
            .await
        }
    };
    let settled = match outcome {
        Ok(()) => {
            let ack_delay = worker.options.ack_delay;
            if !ack_delay.is_zero() {
                tokio::time::sleep(ack_delay).await;
            }
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .map(|_| ())
        }
        Err(err) => park(&delivery, worker, envelope, &err).await,
    };
    if let Err(err) = settled {
        // The channel is gone; the broker redelivers the message to the next consumer.
        tracing::warn!(queue, error = %err, "could not settle a delivery; it will be redelivered");
    }
}

/// Parks a failed delivery in `.retry` or `.dlq`, acking it once the copy is confirmed.
async fn park(
    delivery: &Delivery,
    worker: &Worker,
    envelope: Envelope,
    err: &anyhow::Error,
) -> lapin::Result<()> {
    let queue = worker.queue;
    let attempt = envelope.attempt;
    let copy = failed_copy(delivery, worker, envelope, err);
    let destination = copy.routing_key.to_string();
    let is_retry = copy.expiration.is_some();
    // The delivery is held meanwhile, so wait long: giving up early on a slow confirm would
    // requeue a message whose parked copy the broker may still store (a double retry).
    match worker
        .broker
        .publish_within(copy, PARKING_CONFIRM_TIMEOUT)
        .await
    {
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
            metrics::counter!("messages_dead_lettered_total", "queue" => queue).increment(1);
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .map(|_| ())
        }
        Err(publish_err) => {
            // Neither retry nor DLQ took it: hand it back to the queue rather than lose it.
            tracing::warn!(queue, error = %publish_err, "could not park a failed message; requeueing");
            tokio::time::sleep(worker.options.retry_delay).await;
            let requeue = BasicNackOptions {
                requeue: true,
                ..Default::default()
            };
            delivery.acker.nack(requeue).await.map(|_| ())
        }
    }
}

/// The copy of a failed message: to `.retry` while attempts remain, else to `.dlq`.
fn failed_copy(
    delivery: &Delivery,
    worker: &Worker,
    envelope: Envelope,
    err: &anyhow::Error,
) -> Outgoing<'static> {
    let Envelope {
        attempt,
        correlation_id,
        event_id,
    } = envelope;
    // An outage is not the message's fault: it is retried without spending an attempt, so a
    // database down for longer than the retry budget parks nothing in the DLQ.
    let transient = is_transient(err);
    // Without an id a retry could not be recognised as a duplicate: no retries, straight to the DLQ.
    let retry = event_id.is_some() && (transient || attempt < worker.options.max_retries);
    let attempts = if transient { attempt } else { attempt + 1 };
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(RETRY_HEADER.into(), AMQPValue::LongUInt(attempts));
    headers.insert(
        FAILURE_HEADER.into(),
        AMQPValue::LongString(format!("{err:#}").into()),
    );
    let target = if retry {
        retry_queue(worker.queue)
    } else {
        dead_letter_queue(worker.queue)
    };
    Outgoing {
        exchange: DEFAULT_EXCHANGE,
        routing_key: target.into(),
        body: delivery.data.clone(),
        event_id,
        correlation_id: Some(correlation_id),
        headers,
        expiration: retry.then(|| worker.options.retry_delay * (attempt + 1)),
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
