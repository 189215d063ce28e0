//! The telemetry worker: consumes every completion event on `ms.telemetry` (a private,
//! exclusive queue bound with `#`), feeds them and the load engine's samples to the
//! [`Tracker`], and reports completion latencies to the app task twice a second.

use std::time::Duration;

use common::broker::topology::{self, TELEMETRY};
use common::completion::CompletionEvent;
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, Consumer};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::completion::{Completed, Tracker};
use super::{BrokerMsg, BrokerSettings, CompletionFigures};
use crate::load::Sample;
use crate::outbox::Outbox;

/// How often completion figures go to the app.
pub const COMPLETIONS_EVERY: Duration = Duration::from_millis(500);

pub async fn run(
    settings: BrokerSettings,
    mut samples: mpsc::Receiver<Sample>,
    to_app: Outbox<BrokerMsg>,
) {
    let mut tracker = Tracker::default();
    let started = Instant::now();
    let mut backoff = Duration::from_millis(500);
    while !to_app.is_closed() {
        match subscribe(&settings.amqp_url).await {
            Ok((connection, consumer)) => {
                backoff = Duration::from_millis(500);
                tracing::info!("completion events: subscribed to {TELEMETRY}");
                pump(&mut tracker, consumer, &mut samples, &to_app, started).await;
                let _ = connection.close(200, "telemetry reconnecting".into()).await;
            }
            Err(e) => tracing::debug!("completion events: broker not reachable ({e})"),
        }
        // Samples keep coming while disconnected: track them, so events after the
        // reconnect still match.
        let until = Instant::now() + backoff;
        while let Ok(Some(sample)) = tokio::time::timeout_at(until, samples.recv()).await {
            tracker.on_sample(&sample);
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// A private queue bound to every completion event (the experiment runner's collector uses it
/// too).
pub async fn subscribe(url: &str) -> lapin::Result<(Connection, Consumer)> {
    let props =
        ConnectionProperties::default().with_connection_name("ms-tui completion events".into());
    let connection = common::broker::nodes::connect_any(url, props).await?;
    let channel = connection.create_channel().await?;
    // The services declare the same exchanges; declaring them here too lets the control room
    // subscribe before any service has started (the queues are the services': only they
    // know whether the broker holds classic or quorum ones).
    topology::declare_exchanges(&channel).await?;
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            queue.name().clone(),
            TELEMETRY.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let consumer = channel
        .basic_consume(
            queue.name().clone(),
            "ms-tui".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok((connection, consumer))
}

/// Until the consumer ends (connection lost) or the app is gone.
async fn pump(
    tracker: &mut Tracker,
    mut consumer: Consumer,
    samples: &mut mpsc::Receiver<Sample>,
    to_app: &Outbox<BrokerMsg>,
    started: Instant,
) {
    let mut ticks = tokio::time::interval(COMPLETIONS_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut fresh: Vec<Completed> = Vec::new();
    loop {
        tokio::select! {
            delivery = consumer.next() => match delivery {
                Some(Ok(delivery)) => {
                    match serde_json::from_slice::<CompletionEvent>(&delivery.data) {
                        Ok(event) => fresh.extend(tracker.on_event(&event)),
                        Err(e) => tracing::debug!("completion event not understood: {e}"),
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!("completion events: {e}");
                    return;
                }
                None => return,
            },
            sample = samples.recv() => match sample {
                Some(sample) => fresh.extend(tracker.on_sample(&sample)),
                None => return,
            },
            _ = ticks.tick() => {
                if to_app.is_closed() {
                    return;
                }
                if fresh.is_empty() {
                    continue;
                }
                let figures = figures(tracker, &fresh, started.elapsed());
                fresh.clear();
                // A full inbox: skip; the next report carries the totals.
                to_app.offer(BrokerMsg::Completions(figures));
            }
        }
    }
}

/// Totals for every scenario × mode that completed a flow since the last report.
fn figures(tracker: &Tracker, fresh: &[Completed], elapsed: Duration) -> Vec<CompletionFigures> {
    let mut out: Vec<CompletionFigures> = Vec::new();
    for done in fresh {
        if let Some(f) = out
            .iter_mut()
            .find(|f| f.scenario == done.scenario && f.mode == done.mode)
        {
            f.last = done.latency;
            continue;
        }
        if let Some(total) = tracker.summary(done.scenario, done.mode, elapsed) {
            let mut window: Vec<Duration> = fresh
                .iter()
                .filter(|d| d.scenario == done.scenario && d.mode == done.mode)
                .map(|d| d.latency)
                .collect();
            out.push(CompletionFigures {
                scenario: done.scenario,
                mode: done.mode,
                total,
                last: done.latency,
                window_p99: p99(&mut window),
            });
        }
    }
    out
}

/// The 99th percentile (nearest rank) of a report window's few latencies.
fn p99(latencies: &mut [Duration]) -> Duration {
    latencies.sort_unstable();
    let rank = (latencies.len() as f64 * 0.99).ceil() as usize;
    latencies
        .get(rank.saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_of_a_window_is_its_nearest_rank() {
        let mut hundred: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(p99(&mut hundred), Duration::from_millis(99));
        assert_eq!(
            p99(&mut [Duration::from_millis(7)]),
            Duration::from_millis(7)
        );
        assert_eq!(p99(&mut []), Duration::ZERO);
    }
}
