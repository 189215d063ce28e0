//! The RabbitMQ layer: one supervised connection per process, publish-with-confirm, consumers.
//!
//! - `topology`: every exchange and queue name, declared in one place (classic or quorum).
//! - `nodes`: a broker URL naming several cluster nodes, and the order to try them in.
//! - this file: [`Broker`], which keeps a connection alive (reconnecting with backoff when the
//!   broker goes away, to the next node of a cluster) and publishes with publisher confirms.
//! - `consume`: the one consumer loop (manual acks, bounded retries, dead-lettering), which
//!   follows the `consumer_concurrency` knob by re-subscribing and can store in batches.

pub mod consume;
pub mod nodes;
pub mod topology;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::correlation;

/// Header counting how often a message was retried (the peers read it but never wrote it).
pub const RETRY_HEADER: &str = "x-retry-count";
/// Header on dead-lettered messages: why the last attempt failed.
pub const FAILURE_HEADER: &str = "x-last-error";

const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
const LIVENESS_POLL: Duration = Duration::from_millis(200);
/// One attempt covers the handshake AND declaring the whole topology (some 60 queues). On a
/// loaded 2-core host that took longer than 5 s, and a shorter limit then starved the
/// service forever by abandoning every attempt; a down broker fails fast (refused) anyway.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The AMQP heartbeat we ask for, in seconds (the lower of ours and the broker's wins).
/// lapin gives up on a silent broker after two intervals (checked every half interval), so
/// 5 s means a partitioned service sees the connection lost within 10 to 12.5 s, its `/ready`
/// turning 503 within ~15 s; lapin's default of 60 s would take two minutes. A URL that sets
/// `heartbeat=` itself keeps its value.
const HEARTBEAT_S: u16 = 5;
/// The largest AMQP frame we accept (the lower of ours and the broker's wins). lapin keeps a
/// read and a write buffer of 32 frames per connection, zero-filled at once: at RabbitMQ's
/// 128 KiB that was 8 MiB of every service's idle memory (measured with heaptrack: two
/// 4 MiB buffers). Our messages are JSON of a few hundred bytes; a larger one is split into
/// frames, so 16 KiB costs nothing but those megabytes (1 MiB per connection now).
const FRAME_MAX: u32 = 16 * 1024;

/// Why a message was not accepted by the broker. Every variant means "nothing was stored".
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("not connected to the broker")]
    NotConnected,
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("no queue is bound for the message")]
    Unroutable,
    #[error("the broker did not confirm within {0:?}")]
    Timeout(Duration),
    #[error("AMQP error: {0}")]
    Amqp(#[from] lapin::Error),
}

/// A live connection and its confirm-mode publishing channel.
#[derive(Clone)]
pub struct Link {
    pub connection: Arc<Connection>,
    /// In confirm mode: every business event waits for the broker's confirm.
    publisher: Channel,
    /// Not in confirm mode, for what nobody waits on (telemetry). On a confirm channel lapin
    /// keeps each dropped, not yet confirmed `PublisherConfirm` until `wait_for_confirms`,
    /// which nothing calls: one completion event per delivery grew analytics by ~400 B a
    /// click (35 MiB over 88,000 clicks, measured), and the memory never came back.
    unconfirmed: Channel,
}

impl Link {
    fn alive(&self) -> bool {
        self.connection.status().connected() && self.publisher.status().connected()
    }
}

/// A message to publish. `event_id` becomes the AMQP `message_id`, the idempotency key
/// (absent only when dead-lettering a message that arrived without one).
pub struct Outgoing<'a> {
    pub exchange: &'a str,
    pub routing_key: Cow<'a, str>,
    pub body: Vec<u8>,
    pub event_id: Option<String>,
    pub correlation_id: Option<String>,
    pub headers: FieldTable,
    /// Per-message TTL; used to park a message in a `.retry` queue.
    pub expiration: Option<Duration>,
    pub persistent: bool,
}

impl<'a> Outgoing<'a> {
    /// A persistent JSON event carrying the current correlation id.
    pub fn event(
        exchange: &'a str,
        routing_key: &'a str,
        event_id: String,
        body: &impl serde::Serialize,
    ) -> Self {
        Outgoing::stored_event(
            exchange,
            routing_key,
            event_id,
            // Serialising our own plain structs cannot fail.
            serde_json::to_vec(body).unwrap_or_default(),
            correlation::current(),
        )
    }

    /// As [`Outgoing::event`], for an event serialised earlier with the correlation id of
    /// the request that made it (a transactional outbox's entry): every re-publish carries
    /// the same message id, body and correlation id.
    pub fn stored_event(
        exchange: &'a str,
        routing_key: &'a str,
        event_id: String,
        body: Vec<u8>,
        correlation_id: Option<String>,
    ) -> Self {
        Outgoing {
            exchange,
            routing_key: Cow::Borrowed(routing_key),
            body,
            event_id: Some(event_id),
            correlation_id,
            headers: FieldTable::default(),
            expiration: None,
            persistent: true,
        }
    }

    fn properties(&self) -> BasicProperties {
        let mut props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(if self.persistent { 2 } else { 1 })
            .with_headers(self.headers.clone());
        if let Some(id) = &self.event_id {
            props = props.with_message_id(id.as_str().into());
        }
        if let Some(id) = &self.correlation_id {
            props = props.with_correlation_id(id.as_str().into());
        }
        if let Some(ttl) = self.expiration {
            props = props.with_expiration(ttl.as_millis().to_string().as_str().into());
        }
        props
    }

    /// The queue (or exchange) this message goes to, for metric labels.
    pub fn destination(&self) -> &str {
        if self.exchange.is_empty() {
            &self.routing_key
        } else {
            self.exchange
        }
    }
}

/// Handle to the process's broker connection; cheap to clone.
#[derive(Clone)]
pub struct Broker {
    link: watch::Receiver<Option<Link>>,
}

impl Broker {
    /// Starts the supervisor that connects to a node of `url` ([`nodes`]), declares the
    /// topology with `queue_type`, and reconnects forever (with capped backoff, trying the
    /// next node first) until `shutdown`.
    pub fn start(
        url: String,
        queue_type: topology::QueueType,
        client_name: String,
        shutdown: CancellationToken,
    ) -> Broker {
        let (tx, rx) = watch::channel(None);
        let target = Target {
            nodes: nodes::Nodes::new(&url),
            queue_type,
            client_name,
        };
        tokio::spawn(supervise(target, tx, shutdown));
        Broker { link: rx }
    }

    /// A handle that never connects, for tests that run a service without a broker:
    /// `is_connected` is false and every publish fails with [`PublishError::NotConnected`],
    /// as they do while a real broker is down. No supervisor runs, so consumers started on it
    /// see the link end at once and stop.
    pub fn disconnected() -> Broker {
        let (_never_sent, rx) = watch::channel(None);
        Broker { link: rx }
    }

    pub fn is_connected(&self) -> bool {
        self.link.borrow().as_ref().is_some_and(Link::alive)
    }

    /// Changes whenever a connection is made or lost; consumers follow it.
    pub fn watch(&self) -> watch::Receiver<Option<Link>> {
        self.link.clone()
    }

    /// The current connection if it is alive; publishing on a dead one would only time out.
    fn live_link(&self) -> Result<Link, PublishError> {
        self.link
            .borrow()
            .clone()
            .filter(Link::alive)
            .ok_or(PublishError::NotConnected)
    }

    /// Publishes and waits for the broker's confirm: `Ok` means the broker has the message.
    pub async fn publish(&self, msg: Outgoing<'_>) -> Result<(), PublishError> {
        self.publish_within(msg, CONFIRM_TIMEOUT).await
    }

    /// Publishes one business event ([`Outgoing::event`]: persistent JSON, `event_id` as the
    /// message id, the current correlation id) and waits for the confirm. Every service
    /// publishes its events through here.
    pub async fn publish_event(
        &self,
        exchange: &str,
        routing_key: &str,
        event_id: &str,
        body: &impl serde::Serialize,
    ) -> Result<(), PublishError> {
        let msg = Outgoing::event(exchange, routing_key, event_id.to_owned(), body);
        self.publish(msg).await
    }

    /// As [`Broker::publish`], with its own confirm timeout. A timeout does not prove the
    /// message was lost (the confirm may come late), so callers that can wait longer should.
    pub async fn publish_within(
        &self,
        msg: Outgoing<'_>,
        limit: Duration,
    ) -> Result<(), PublishError> {
        let link = self.live_link()?;
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let confirm = async {
            let pending = link
                .publisher
                .basic_publish(
                    msg.exchange.into(),
                    msg.routing_key.as_ref().into(),
                    options,
                    &msg.body,
                    msg.properties(),
                )
                .await?;
            Ok::<_, PublishError>(pending.await?)
        };
        let outcome = tokio::time::timeout(limit, confirm)
            .await
            .map_err(|_| PublishError::Timeout(limit))??;
        match outcome {
            Confirmation::Ack(None) => {
                metrics::counter!("messages_published_total", "queue" => msg.destination().to_owned()).increment(1);
                Ok(())
            }
            // A mandatory message that reached no queue comes back with its ack.
            Confirmation::Ack(Some(_)) => Err(PublishError::Unroutable),
            Confirmation::Nack(_) | Confirmation::NotRequested => Err(PublishError::Nacked),
        }
    }

    /// Publishes without waiting for a confirm; for telemetry, which may be lost.
    pub async fn publish_unconfirmed(&self, msg: Outgoing<'_>) -> Result<(), PublishError> {
        let link = self.live_link()?;
        // Outside confirm mode the confirm is ready at once (`NotRequested`): dropping it
        // leaves nothing behind.
        let _not_requested = link
            .unconfirmed
            .basic_publish(
                msg.exchange.into(),
                msg.routing_key.as_ref().into(),
                BasicPublishOptions::default(),
                &msg.body,
                msg.properties(),
            )
            .await?;
        Ok(())
    }
}

/// Reads the retry count a message carries (0 on its first delivery).
pub fn retry_count(props: &BasicProperties) -> u32 {
    let value = props
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(RETRY_HEADER).cloned());
    match value {
        Some(AMQPValue::LongUInt(n)) => n,
        Some(AMQPValue::LongInt(n)) => u32::try_from(n).unwrap_or(0),
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(n).unwrap_or(0),
        Some(AMQPValue::ShortUInt(n)) => u32::from(n),
        Some(AMQPValue::ShortInt(n)) => u32::try_from(n).unwrap_or(0),
        _ => 0,
    }
}

/// What the supervisor connects to, and as whom.
struct Target {
    nodes: nodes::Nodes,
    queue_type: topology::QueueType,
    client_name: String,
}

async fn supervise(
    mut target: Target,
    link: watch::Sender<Option<Link>>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    let mut reported_down = false;
    loop {
        let attempt = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = connect_first(&target) => r,
        };
        match attempt {
            Ok((index, new_link)) => {
                target.nodes.prefer(index);
                tracing::info!(
                    node = target.nodes.host(index),
                    "connected to the message broker"
                );
                backoff = Duration::from_millis(100);
                reported_down = false;
                link.send_replace(Some(new_link.clone()));
                while new_link.alive() {
                    tokio::select! {
                        _ = shutdown.cancelled() => {
                            let _ = new_link.connection.close(200, "shutting down".into()).await;
                            link.send_replace(None);
                            return;
                        }
                        _ = tokio::time::sleep(LIVENESS_POLL) => {}
                    }
                }
                link.send_replace(None);
                // The lost node is likely down: a cluster's next node goes first, at once.
                target.nodes.lost(index);
                tracing::warn!(
                    node = target.nodes.host(index),
                    "lost the message broker connection; reconnecting"
                );
                // A half-dead connection (channel closed by an error) must not linger.
                let _ = new_link.connection.close(200, "reconnecting".into()).await;
                if target.nodes.len() > 1 {
                    continue;
                }
            }
            Err(err) if !reported_down => {
                tracing::warn!(error = %err, "message broker unreachable; retrying in the background");
                reported_down = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
    link.send_replace(None);
}

/// Why no node took the connection.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("{node}: {source}")]
    Amqp { node: String, source: lapin::Error },
    #[error("{node}: the attempt timed out after {CONNECT_TIMEOUT:?}")]
    Timeout { node: String },
}

/// Each node once, the preferred one first; the index of the one that took the connection,
/// or the last node's error.
async fn connect_first(target: &Target) -> Result<(usize, Link), ConnectError> {
    let mut last = None;
    for (index, url) in target.nodes.in_turn() {
        let node = target.nodes.host(index).to_owned();
        let attempt = tokio::time::timeout(
            CONNECT_TIMEOUT,
            connect(url, target.queue_type, &target.client_name),
        );
        match attempt.await {
            Ok(Ok(link)) => return Ok((index, link)),
            Ok(Err(source)) => last = Some(ConnectError::Amqp { node, source }),
            Err(_) => last = Some(ConnectError::Timeout { node }),
        }
    }
    Err(last.unwrap_or(ConnectError::Timeout {
        node: String::new(),
    }))
}

async fn connect(
    url: &str,
    queue_type: topology::QueueType,
    client_name: &str,
) -> lapin::Result<Link> {
    let props = ConnectionProperties::default().with_connection_name(client_name.into());
    let connection = match url.parse::<AMQPUri>() {
        Ok(mut uri) => {
            uri.query.heartbeat.get_or_insert(HEARTBEAT_S);
            uri.query.frame_max.get_or_insert(FRAME_MAX);
            Connection::connect_uri(uri, props).await?
        }
        // Let lapin refuse the malformed URL in its own words.
        Err(_) => Connection::connect(url, props).await?,
    };
    let setup = connection.create_channel().await?;
    topology::declare(&setup, queue_type).await?;
    let _ = setup.close(200, "topology declared".into()).await;
    let publisher = connection.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let unconfirmed = connection.create_channel().await?;
    Ok(Link {
        connection: Arc::new(connection),
        publisher,
        unconfirmed,
    })
}
