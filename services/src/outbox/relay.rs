//! The relay: publishes the outbox's pending entries with publisher confirms and marks them
//! sent, for as long as the service runs. Started with the async consumers of every service
//! the outbox applies to, whatever `publish_mode` is now: entries written before a switch
//! back to `confirm`, or before a crash, still go out.
//!
//! Why it survives what it must:
//! - restarts: entries are rows; the first pass at start claims whatever is pending;
//! - broker outages: a failed pass leaves its entries pending and tries again with a capped
//!   backoff, or as soon as the broker connection comes back;
//! - replicas: entries are claimed `FOR UPDATE SKIP LOCKED` inside the pass's transaction;
//! - a crash after the publish but before the commit of "sent": the entry is published
//!   again with the same event id (at least once; consumers dedupe by that id).

use std::time::{Duration, Instant};

use common::broker::{Outgoing, PublishError};
use futures_util::future::join_all;
use tokio::task::JoinHandle;

use super::store::{self, Entry};
use crate::context::Ctx;

/// Entries per pass: one transaction and one round of confirms (lapin pipelines them on
/// the publishing channel), large enough to drain a backlog at the broker's pace.
const BATCH: i64 = 256;
/// With nothing pending, look again this often even unrung: entries of a replica that died
/// before its relay ran belong to every replica.
const IDLE_POLL: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Sent entries are kept this long (for a look at what went out), then deleted.
const KEEP_SENT: Duration = Duration::from_secs(600);
const PRUNE_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error("not connected to the broker")]
    BrokerDown,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{published} published, then the broker refused one: {error}")]
    Publish {
        published: usize,
        error: PublishError,
    },
}

pub fn spawn(ctx: &Ctx) -> JoinHandle<()> {
    tokio::spawn(run(ctx.clone()))
}

async fn run(ctx: Ctx) {
    let mut link = ctx.broker.watch();
    let mut backoff = FIRST_BACKOFF;
    let mut failing = false;
    let mut pruned = Instant::now();
    while !ctx.shutdown.is_cancelled() {
        refresh_pending(&ctx).await;
        let pass = if ctx.broker.is_connected() {
            pass(&ctx).await
        } else {
            Err(PassError::BrokerDown)
        };
        let wait = match pass {
            Ok(published) => {
                if failing {
                    tracing::info!("outbox relay publishing again");
                    failing = false;
                }
                backoff = FIRST_BACKOFF;
                if published > 0 {
                    continue; // a backlog: the next batch at once
                }
                if pruned.elapsed() >= PRUNE_EVERY {
                    prune(&ctx).await;
                    pruned = Instant::now();
                }
                IDLE_POLL
            }
            Err(err) => {
                if !failing {
                    tracing::warn!(error = %err, "outbox relay cannot publish; its entries stay pending, retrying with backoff");
                    failing = true;
                }
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        // A ring, a (re)connection or the shutdown ends the wait early. A broker handle
        // that never connects has no sender: `changed` then errs and that branch is off.
        tokio::select! {
            () = ctx.shutdown.cancelled() => {}
            () = tokio::time::sleep(wait) => {}
            () = ctx.outbox.rung(), if !failing => {}
            Ok(()) = link.changed() => {}
        }
    }
}

/// One transaction: claim a batch, publish it with confirms, mark what was confirmed sent.
/// Entries that were not confirmed stay pending (the lock goes with the commit).
async fn pass(ctx: &Ctx) -> Result<usize, PassError> {
    let mut tx = ctx.db.begin().await?;
    let entries = store::claim(&mut tx, BATCH).await?;
    if entries.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let outcomes = join_all(
        entries
            .iter()
            .map(|entry| ctx.broker.publish(message(entry))),
    )
    .await;
    let mut sent = Vec::with_capacity(entries.len());
    let mut refused = None;
    for (entry, outcome) in entries.iter().zip(outcomes) {
        match outcome {
            Ok(()) => sent.push(entry.id),
            Err(err) => {
                refused.get_or_insert(err);
            }
        }
    }
    store::mark_sent(&mut tx, &sent).await?;
    tx.commit().await?;
    metrics::counter!("outbox_published_total").increment(sent.len() as u64);
    match refused {
        None => Ok(sent.len()),
        Some(error) => Err(PassError::Publish {
            published: sent.len(),
            error,
        }),
    }
}

fn message(entry: &Entry) -> Outgoing<'_> {
    Outgoing::stored_event(
        &entry.exchange,
        &entry.routing_key,
        entry.event_id.clone(),
        entry.body.clone().into_bytes(),
        entry.correlation_id.clone(),
    )
}

async fn refresh_pending(ctx: &Ctx) {
    match store::pending(&ctx.db).await {
        Ok(count) => metrics::gauge!("outbox_pending").set(count as f64),
        Err(err) => tracing::debug!(error = %err, "outbox pending count unavailable"),
    }
}

async fn prune(ctx: &Ctx) {
    match store::prune(&ctx.db, KEEP_SENT).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(deleted = n, "outbox: old sent entries pruned"),
        Err(err) => tracing::warn!(error = %err, "outbox: pruning sent entries failed"),
    }
}
