//! What every handler and consumer of a service instance shares.

use std::sync::Arc;

use common::ApiError;
use common::Mode;
use common::broker::Broker;
use common::broker::consume::{self, Batching, ConsumerOptions, Incoming, Limit};
use common::completion::Completions;
use common::config::{Settings, Tunables};
use common::db;
use common::scenario::Service;
use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;

use crate::faults::{self, Faults};
use crate::limit::InflightLimit;
use crate::outbox;
use crate::publication::Publication;

/// Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct Ctx {
    /// As read at start; immutable.
    pub settings: Arc<Settings>,
    pub service: Service,
    /// This service's schema in its mode's database.
    pub db: PgPool,
    /// Business events (async mode) and completion events (both modes).
    pub broker: Broker,
    pub completions: Completions,
    /// Delays, failure rate and worker limit, changeable at run time.
    pub knobs: Tunables,
    /// The one HTTP client for downstream calls.
    pub http: reqwest::Client,
    /// Sync mode's optional cap on requests in flight.
    pub inflight: InflightLimit,
    /// The fault injected through `/admin/faults`, if any; one per instance.
    pub faults: Faults,
    /// Rung after an outbox entry commits, so the relay publishes it at once.
    pub outbox: outbox::Wake,
    /// The consumers started, for `GET /admin/config` to say what each makes of the knob.
    pub consumers: consume::Registry,
    pub shutdown: CancellationToken,
}

impl Ctx {
    pub fn mode(&self) -> Mode {
        self.settings.mode
    }

    /// Opens the writing of rows that an event will announce, in this service's current
    /// `publish_mode`: the one API of every handler that stores a row and then publishes
    /// (see `publication`).
    pub async fn begin_publication(&self) -> Result<Publication, ApiError> {
        Publication::begin(self).await
    }

    /// Follows the `consumer_concurrency` knob. For handlers that hold no database connection
    /// across their slow part (the e-mail consumers connect only after the send).
    pub fn consumer_options(&self) -> ConsumerOptions {
        ConsumerOptions::new(&self.settings, &self.knobs)
    }

    /// For consumers that need a database connection per delivery: no more deliveries in
    /// hand than the pool has connections, whatever the knob, so that under load they wait on
    /// the broker (which keeps them safe) rather than time out on the pool and burn their
    /// bounded retries.
    pub fn db_consumer_options(&self) -> ConsumerOptions {
        self.consumer_options()
            .limited(Limit::Pool(self.pool_size()))
    }

    /// Batch mode (`consume::batch`): the knob sets the prefetch, the pool caps the batches
    /// stored at once (one connection each), and a batch waits at most `max_wait` to fill.
    pub fn batch_consumer_options<F, Fut>(
        &self,
        max_wait: std::time::Duration,
        store: F,
    ) -> ConsumerOptions
    where
        F: Fn(Ctx, Vec<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let ctx = self.clone();
        let handler = consume::batch_handler(move |batch| {
            let work = store(ctx.clone(), batch);
            let ctx = ctx.clone();
            async move {
                faults::before_consuming(&ctx).await;
                work.await
            }
        });
        let batching = Batching::new(handler, max_wait, usize::from(self.pool_size()));
        self.consumer_options().batched(batching)
    }

    fn pool_size(&self) -> u16 {
        u16::try_from(self.settings.db_pool_max).unwrap_or(u16::MAX)
    }

    /// Starts a consumer of `queue` whose handler gets its own clone of this context. An
    /// injected `consumer_delay_ms` is slept before each delivery is handled.
    pub fn consume<F, Fut>(
        &self,
        queue: &'static str,
        options: ConsumerOptions,
        handle: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: Fn(Ctx, Incoming) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.consumers
            .register(queue, options.concurrency.limit(), options.batch.is_some());
        let ctx = self.clone();
        let handler = consume::handler(move |incoming| {
            // A future does nothing until polled: the handler starts after the delay.
            let work = handle(ctx.clone(), incoming);
            let ctx = ctx.clone();
            async move {
                faults::before_consuming(&ctx).await;
                work.await
            }
        });
        consume::spawn(
            self.broker.clone(),
            queue,
            options,
            handler,
            self.shutdown.clone(),
        )
    }

    /// The opening every idempotent consumer shares: begins the transaction of the effect and
    /// claims the delivery's event id for `consumer` in it, so that claim and effect commit
    /// together. `None` when the event was handled before: the duplicate is noted (log line
    /// and metric) and the caller does nothing more.
    pub async fn claim(
        &self,
        consumer: &str,
        incoming: &Incoming,
    ) -> sqlx::Result<Option<Transaction<'static, Postgres>>> {
        self.begin_effect(consumer, Some(incoming)).await
    }

    /// [`Ctx::claim`] for code that serves both a delivery and an HTTP request (which has no
    /// event id to claim): without a delivery, a plain transaction.
    pub async fn begin_effect(
        &self,
        consumer: &str,
        delivery: Option<&Incoming>,
    ) -> sqlx::Result<Option<Transaction<'static, Postgres>>> {
        let mut tx = self.db.begin().await?;
        if let Some(incoming) = delivery
            && !db::claim_event(&mut tx, consumer, &incoming.event_id).await?
        {
            incoming.note_duplicate();
            return Ok(None);
        }
        Ok(Some(tx))
    }

    /// The cheap pre-check before slow work (a delay, a computation): `true`, with the
    /// duplicate noted, when `consumer` handled this event before. Only [`Ctx::claim`] is the
    /// real guard: two deliveries of one event may both pass here.
    pub async fn handled_before(&self, consumer: &str, incoming: &Incoming) -> sqlx::Result<bool> {
        let handled = db::was_processed(&self.db, consumer, &incoming.event_id).await?;
        if handled {
            incoming.note_duplicate();
        }
        Ok(handled)
    }
}
