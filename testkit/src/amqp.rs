//! A world's broker as a test sees it: its own AMQP connections for queue depths and raw
//! publishes, and the feed of completion events the services emit on `ms.telemetry`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::world::World;

impl World {
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
