//! The statements on the `outbox` table (services/migrations/outbox/0001_outbox.sql).

use std::time::Duration;

use sqlx::{PgConnection, PgPool};

/// One pending entry, as the relay publishes it.
pub struct Entry {
    pub id: i64,
    pub exchange: String,
    pub routing_key: String,
    pub event_id: String,
    pub body: String,
    pub correlation_id: Option<String>,
}

/// What the handler's transaction adds beside its row.
pub struct NewEntry<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub event_id: &'a str,
    pub body: &'a str,
    pub correlation_id: Option<&'a str>,
}

pub async fn enqueue(tx: &mut PgConnection, entry: NewEntry<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO outbox (exchange, routing_key, event_id, body, correlation_id)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(entry.exchange)
    .bind(entry.routing_key)
    .bind(entry.event_id)
    .bind(entry.body)
    .bind(entry.correlation_id)
    .execute(tx)
    .await
    .map(|_| ())
}

/// Locks up to `limit` pending entries, oldest first, for the caller's transaction. SKIP
/// LOCKED: entries another replica's relay holds are left to it, not waited for, so two
/// replicas never publish one entry at once (and neither blocks the other).
pub async fn claim(tx: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Entry>> {
    let rows: Vec<(i64, String, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, exchange, routing_key, event_id, body, correlation_id FROM outbox
         WHERE sent_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, exchange, routing_key, event_id, body, correlation_id)| Entry {
                id,
                exchange,
                routing_key,
                event_id,
                body,
                correlation_id,
            },
        )
        .collect())
}

pub async fn mark_sent(tx: &mut PgConnection, ids: &[i64]) -> sqlx::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("UPDATE outbox SET sent_at = now() WHERE id = ANY($1)")
        .bind(ids)
        .execute(tx)
        .await
        .map(|_| ())
}

pub async fn pending(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(pool)
        .await
}

/// Deletes entries sent longer than `keep` ago: the table holds what may still need
/// publishing and a short history to look at, not every event ever.
pub async fn prune(pool: &PgPool, keep: Duration) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM outbox WHERE sent_at < now() - make_interval(secs => $1)")
        .bind(keep.as_secs_f64())
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
}
