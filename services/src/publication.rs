//! The one way a handler stores rows and announces them with an event, whatever the
//! service's `publish_mode` (docs/contract.md, Publish modes):
//!
//! ```text
//! let mut publication = ctx.begin_publication().await?;
//! let id = insert_row(publication.db(), …).await?;
//! publication.publish(exchange, routing_key, &event_id, &event, withdraw_row).await?;
//! ```
//!
//! - `confirm` (the default): the rows commit on their own as they are written, then the
//!   event is published and the broker's confirm awaited; without it `withdraw` removes the
//!   rows again and the caller answers 503.
//! - `outbox`: the rows and an outbox entry commit in one transaction, the answer follows
//!   that commit, and the relay (`outbox::relay`) publishes the entry later.

use common::ApiError;
use common::config::PublishMode;
use common::correlation;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgArguments;
use sqlx::{PgConnection, Postgres, Transaction};

use crate::context::Ctx;
use crate::outbox::{self, store};

/// Rows being written whose event is still to come; see the module's doc. Dropped without
/// [`Publication::publish`], an outbox transaction rolls back (a `confirm` write already
/// committed, as any plain statement).
pub struct Publication {
    ctx: Ctx,
    writer: Writer,
}

enum Writer {
    /// Statements commit one by one on a pool connection, released before the confirm wait.
    Confirm(PoolConnection<Postgres>),
    /// Statements and the outbox entry commit together.
    Outbox(Transaction<'static, Postgres>),
}

/// How the event left: what a handler may tell its client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// The broker confirmed it.
    Confirmed,
    /// It is committed in the outbox; the relay publishes it when the broker takes it.
    Queued,
}

impl Published {
    pub fn confirmed(self) -> bool {
        self == Published::Confirmed
    }
}

impl Publication {
    /// The publish mode is read once, here: a knob change never splits one request.
    pub(crate) async fn begin(ctx: &Ctx) -> Result<Publication, ApiError> {
        let outbox =
            ctx.knobs.get().publish_mode == PublishMode::Outbox && outbox::applies_to(ctx.service);
        let writer = if outbox {
            Writer::Outbox(ctx.db.begin().await?)
        } else {
            Writer::Confirm(ctx.db.acquire().await?)
        };
        Ok(Publication {
            ctx: ctx.clone(),
            writer,
        })
    }

    /// Where the handler writes the rows the event announces.
    pub fn db(&mut self) -> &mut PgConnection {
        match &mut self.writer {
            Writer::Confirm(connection) => connection,
            Writer::Outbox(tx) => tx,
        }
    }

    /// Announces the rows written through [`Publication::db`] with one event (`event_id`
    /// becomes its AMQP `message_id`). `withdraw` is the statement that removes those rows:
    /// run in `confirm` mode when the broker does not confirm, so that the 503 leaves nothing
    /// behind that was not accepted; never needed in `outbox` mode.
    ///
    /// Why `confirm` commits first instead of one transaction around the publish: a
    /// transaction holds a pool connection for the whole confirm, which capped async
    /// endpoints at pool size ÷ confirm latency (about 60 req/s with 5 connections on a busy
    /// host). Committing first also means no consumer can receive an event about a row it
    /// cannot see yet. The price is a crash between commit and publish, which leaves the rows
    /// without their event: the gap `outbox` mode closes.
    pub async fn publish(
        self,
        exchange: &str,
        routing_key: &str,
        event_id: &str,
        body: &impl serde::Serialize,
        withdraw: sqlx::query::Query<'_, Postgres, PgArguments>,
    ) -> Result<Published, ApiError> {
        let ctx = self.ctx;
        match self.writer {
            Writer::Confirm(connection) => {
                drop(connection);
                let Err(err) = ctx
                    .broker
                    .publish_event(exchange, routing_key, event_id, body)
                    .await
                else {
                    return Ok(Published::Confirmed);
                };
                if let Err(db_err) = withdraw.execute(&ctx.db).await {
                    tracing::error!(error = %db_err, "rows of an unconfirmed event could not be withdrawn");
                }
                Err(err.into())
            }
            Writer::Outbox(mut tx) => {
                let body = serde_json::to_string(body).map_err(ApiError::internal)?;
                let correlation_id = correlation::current();
                let entry = store::NewEntry {
                    exchange,
                    routing_key,
                    event_id,
                    body: &body,
                    correlation_id: correlation_id.as_deref(),
                };
                store::enqueue(&mut tx, entry).await?;
                tx.commit().await?;
                metrics::counter!("outbox_enqueued_total").increment(1);
                ctx.outbox.ring();
                Ok(Published::Queued)
            }
        }
    }
}
