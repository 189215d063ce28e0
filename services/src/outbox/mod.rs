//! The transactional outbox of `publish_mode = outbox` (docs/contract.md, Publish modes):
//! handlers commit their row and an entry in one transaction (`crate::publication`), and a
//! relay task publishes the entries with confirms.
//!
//! - `store.rs`: the `outbox` table's statements (enqueue, claim, mark sent, count, prune).
//! - `relay.rs`: the task that publishes pending entries, retrying with backoff.
//! - this file: which services have an outbox, its migration, its reset and the wake-up
//!   handlers give the relay.

pub mod relay;
pub mod store;

use std::sync::Arc;

use common::scenario::Service;
use sqlx::PgPool;
use tokio::sync::Notify;

/// The services that store a row and then announce it: the ones `publish_mode` applies to.
/// Every other service publishes nothing after a commit of its own (its consumers ack after
/// their effect, and redelivery covers a crash), so it needs no outbox.
pub fn applies_to(service: Service) -> bool {
    matches!(
        service,
        Service::User | Service::Payment | Service::Order | Service::Report
    )
}

/// Creates the `outbox` table where it is missing. Its own ledger, because the service's
/// `_sqlx_migrations` refuses applied versions its migrator does not list, and the one
/// outbox migration is shared by four services whose own migrations differ.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    let mut migrator = sqlx::migrate!("migrations/outbox");
    migrator.dangerous_set_table_name("_sqlx_outbox_migrations");
    migrator.run(pool).await?;
    Ok(())
}

/// Empties the outbox with the service's data (`POST /admin/reset`): a pending entry about a
/// row the reset removed must not be published afterwards.
pub async fn reset(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::query("TRUNCATE outbox RESTART IDENTITY")
        .execute(pool)
        .await
        .map(|_| ())
}

/// Handlers ring this after committing an entry, so the relay publishes at once instead of
/// at its next poll. Cheap to clone.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn ring(&self) {
        // `notify_one` keeps one permit when the relay is busy: it looks again when done.
        self.0.notify_one();
    }

    pub async fn rung(&self) {
        self.0.notified().await;
    }
}

pub fn register_metrics() {
    metrics::describe_gauge!(
        "outbox_pending",
        "Outbox entries not yet published (the whole service's, all replicas)"
    );
    metrics::describe_counter!(
        "outbox_enqueued_total",
        "Events this process stored in the outbox (publish_mode = outbox)"
    );
    metrics::describe_counter!(
        "outbox_published_total",
        "Outbox entries this process's relay published and the broker confirmed"
    );
}
