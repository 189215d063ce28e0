//! Queue depths over AMQP: a passive declare per queue (and its `.dlq`) on a dedicated
//! channel, every [`PROBE_EVERY`]; management figures are merged in as
//! they arrive.
//!
//! A passive declare of a queue that does not exist yet (stack still starting) closes the
//! channel with 404; the queue is reported missing and a fresh channel is opened, the
//! connection stays. A lost connection is retried with back-off, reporting `Down` once.

use std::collections::HashMap;
use std::time::Duration;

use common::broker::topology::dead_letter_queue;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::mgmt::{self, MgmtQueue};
use super::{BrokerMsg, BrokerSettings, PROBE_EVERY, QueueSample};
use crate::outbox::Outbox;

/// What one passive declare found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Found {
        ready: u32,
        consumers: u32,
    },
    /// The broker answered 404: not declared (yet).
    Missing,
}

/// Probes `name` on `channel`; `Ok(Missing)` leaves `channel` closed (404 closes it).
pub async fn passive_depth(channel: &Channel, name: &str) -> lapin::Result<Depth> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    match channel
        .queue_declare(name.into(), passive, FieldTable::default())
        .await
    {
        Ok(queue) => Ok(Depth::Found {
            ready: queue.message_count(),
            consumers: queue.consumer_count(),
        }),
        Err(e) if is_not_found(&e) => Ok(Depth::Missing),
        Err(e) => Err(e),
    }
}

fn is_not_found(error: &lapin::Error) -> bool {
    // lapin reports the channel close as a protocol error carrying the AMQP reply code.
    let text = error.to_string();
    text.contains("NOT_FOUND") || text.contains("404")
}

pub async fn run(
    settings: BrokerSettings,
    mut queues: watch::Receiver<Vec<String>>,
    to_app: Outbox<BrokerMsg>,
) {
    let (figures_tx, figures) = watch::channel(HashMap::new());
    tokio::spawn(mgmt::run(settings.clone(), queues.clone(), figures_tx));
    let mut backoff = Duration::from_millis(500);
    let mut reported_down = false;
    loop {
        match common::broker::nodes::connect_any(
            &settings.amqp_url,
            ConnectionProperties::default().with_connection_name("ms-tui queue probe".into()),
        )
        .await
        {
            Ok(connection) => {
                backoff = Duration::from_millis(500);
                let error =
                    probe_while_connected(&connection, &mut queues, &figures, &to_app).await;
                let _ = connection.close(200, "probe reconnecting".into()).await;
                let Some(error) = error else { return };
                report_down(&to_app, format!("broker connection lost: {error}"));
                reported_down = true;
            }
            Err(e) => {
                if !reported_down {
                    report_down(&to_app, format!("broker unreachable: {e}"));
                    reported_down = true;
                }
            }
        }
        if to_app.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn report_down(to_app: &Outbox<BrokerMsg>, error: String) {
    tracing::warn!("{error}");
    to_app.offer(BrokerMsg::Down { error });
}

/// Probes until the connection fails; returns why.
async fn probe_while_connected(
    connection: &Connection,
    queues: &mut watch::Receiver<Vec<String>>,
    figures: &watch::Receiver<HashMap<String, MgmtQueue>>,
    to_app: &Outbox<BrokerMsg>,
) -> Option<lapin::Error> {
    let mut channel: Option<Channel> = None;
    let mut ticks = tokio::time::interval(PROBE_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        if to_app.is_closed() {
            return None;
        }
        let names = queues.borrow_and_update().clone();
        let mut samples = Vec::with_capacity(names.len());
        for name in &names {
            let main = match probe(connection, &mut channel, name).await {
                Ok(depth) => depth,
                Err(e) => return Some(e),
            };
            let dead = match probe(connection, &mut channel, &dead_letter_queue(name)).await {
                Ok(Depth::Found { ready, .. }) => ready,
                Ok(Depth::Missing) => 0,
                Err(e) => return Some(e),
            };
            samples.push(sample(name, main, dead, figures.borrow().get(name)));
        }
        // A full inbox means the app is behind: skip this probe rather than queue stale ones.
        to_app.offer(BrokerMsg::Queues(samples));
    }
}

/// One passive declare, reopening the dedicated channel when a 404 (or anything) closed it.
async fn probe(
    connection: &Connection,
    channel: &mut Option<Channel>,
    name: &str,
) -> lapin::Result<Depth> {
    let open = match channel.take() {
        Some(c) if c.status().connected() => c,
        _ => connection.create_channel().await?,
    };
    let depth = passive_depth(&open, name).await?;
    if open.status().connected() {
        *channel = Some(open);
    }
    Ok(depth)
}

fn sample(name: &str, depth: Depth, dead: u32, figures: Option<&MgmtQueue>) -> QueueSample {
    let (ready, consumers, missing) = match depth {
        Depth::Found { ready, consumers } => (ready, consumers, false),
        Depth::Missing => (0, 0, true),
    };
    QueueSample {
        name: name.to_owned(),
        ready,
        consumers,
        dead,
        missing,
        unacked: figures.map(|f| f.unacked),
        publish_rate: figures.and_then(|f| f.publish_rate),
        deliver_rate: figures.and_then(|f| f.deliver_rate),
    }
}
