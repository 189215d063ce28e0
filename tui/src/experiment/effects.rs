//! The business rows each flow leaves, read from PostgreSQL and matched to the requests of a
//! run: the ground truth behind "lost" and "duplicated" (a completion event is best effort,
//! the row is the work itself). Each mode has its own database (`ms_sync`, `ms_async`) and
//! every service its own schema in it (`email_service`, …); the sync and async services write
//! the same tables, so one query serves both modes.
//!
//! | scenario | rows matched | done state | key (from the request) |
//! |---|---|---|---|
//! | S1 register | `email_service.emails` | `kind = 'welcome'` (a row is a mail sent); at `sent_at` | `correlation_id`: user forwards the header to email's `/send_welcome_email` (sync), the consumer runs in the message's id (async) |
//! | S2 payment | `payment_service.payments` | `kind = 'payment'`, `status = 'completed'`; at `completed_at` | `order_id = 'ord-<unique>'`: the body's own field, stored in both modes |
//! | S3 fan-out | — | telemetry only: three consumers in three schemas, one `handled_updates` row each; no one row says the flow is done | |
//! | S4 CPU job | — | telemetry only: sync mode computes in the request and stores no job | |
//! | S5 saga | `order_service.orders` | `kind = 'saga'` and terminal as the catalogue's done rule says: `completed`, or `failed` with none of its stock still `reserved` in `inventory_service.reservations` (async sets `failed` on the payment failure, before inventory released the stock); at `updated_at` | `correlation_id` (migration order/0002) |
//! | S6 clicks | `analytics_service.clicks` | any row (a row is a stored click); at `stored_at` | `page = '/p/<unique>'`: the body's page, stored in both modes |
//! | S7 checkout | `order_service.orders` | `kind = 'checkout'`, `status = 'confirmed'`; at the `order_history` row of that status (a late payment event still bumps `updated_at`) | `correlation_id` (migration order/0002) |
//! | S8 stock order | `email_service.notifications` | `type = 'order_confirmation'`; at `timestamp` | `correlation_id`: order forwards the header to email's `/notifications` (sync), the consumer runs in the message's id (async) |
//!
//! `<unique>` is the load engine's `{{unique}}`, the correlation id without its `load-`.
//!
//! S8's durable effect is the notification, not the order row: the order is inserted already
//! `confirmed`, and in sync mode it stands even when its confirmation was never delivered
//! (the answer is then degraded), so only the notification tells a done flow from a half one;
//! it is also what S8's completion event announces (`notification_stored`).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use common::Mode;
use common::scenario::ScenarioId;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::accounting::{RowEffect, RowEffects};

/// A PostgreSQL server URL (`postgres://user:pass@host:port`) to read the modes' databases
/// from instead of the stack's own; each mode's database name is appended.
pub const DATABASE_URL_ENV: &str = "MS_TUI_DATABASE_URL";

/// Correlation ids per query: one round trip per chunk, a bounded array parameter.
pub const CHUNK: usize = 5000;

/// How long to wait for a connection: a stack without PostgreSQL fails the read quickly.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The database of each mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbUrls {
    pub sync: String,
    pub asynchronous: String,
}

impl DbUrls {
    /// [`DATABASE_URL_ENV`] when set; else the stack's PostgreSQL on 127.0.0.1:5432 with the
    /// account of `compose/.env`.
    pub fn discover(stack: &crate::stack::StackOptions) -> anyhow::Result<DbUrls> {
        if let Ok(server) = std::env::var(DATABASE_URL_ENV) {
            return Ok(DbUrls::on_server(&server));
        }
        let env = crate::stack::Layout::discover(stack.root.as_deref())
            .and_then(|layout| layout.env())
            .with_context(|| format!("no database to read effects from: set {DATABASE_URL_ENV}"))?;
        Ok(DbUrls {
            sync: env.database_url(database(Mode::Sync)),
            asynchronous: env.database_url(database(Mode::Async)),
        })
    }

    /// Both modes' databases on `server` (`postgres://user:pass@host:port`).
    pub fn on_server(server: &str) -> DbUrls {
        let server = server.trim_end_matches('/');
        DbUrls {
            sync: format!("{server}/{}", database(Mode::Sync)),
            asynchronous: format!("{server}/{}", database(Mode::Async)),
        }
    }

    pub fn get(&self, mode: Mode) -> &str {
        match mode {
            Mode::Sync => &self.sync,
            Mode::Async => &self.asynchronous,
        }
    }
}

/// The database a mode's services share (docs/contract.md, Data).
pub fn database(mode: Mode) -> &'static str {
    match mode {
        Mode::Sync => "ms_sync",
        Mode::Async => "ms_async",
    }
}

/// One product's units at inventory, and the reservations still holding some.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct StockLevel {
    pub product_id: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
    /// Reservations of this product still `reserved` (neither released nor sold).
    pub held_reservations: i64,
    /// Their units: equal to `reserved` when nothing leaked.
    pub held_units: i64,
}

/// How one scenario's rows are found.
struct RowQuery {
    detail: &'static str,
    /// Returns `(key, count, done_at)` per key among `$1` (a `TEXT[]`) in its done state.
    sql: &'static str,
    /// The key a request's rows carry, from its correlation id.
    key: fn(&str) -> Option<String>,
}

fn same(id: &str) -> Option<String> {
    Some(id.to_owned())
}

/// The load engine's `{{unique}}`: the correlation id without `load-`.
fn unique(id: &str) -> Option<&str> {
    id.strip_prefix("load-")
}

fn row_query(scenario: ScenarioId) -> Option<RowQuery> {
    let query = match scenario {
        ScenarioId::S1 => RowQuery {
            detail: "emails.correlation_id (kind welcome)",
            sql: "SELECT correlation_id, count(*), min(sent_at) FROM email_service.emails
                  WHERE kind = 'welcome' AND correlation_id = ANY($1) GROUP BY correlation_id",
            key: same,
        },
        ScenarioId::S2 => RowQuery {
            detail: "payments.order_id = ord-<unique> (status completed)",
            sql: "SELECT order_id, count(*), min(completed_at) FROM payment_service.payments
                  WHERE kind = 'payment' AND status = 'completed' AND order_id = ANY($1)
                  GROUP BY order_id",
            key: |id| unique(id).map(|u| format!("ord-{u}")),
        },
        ScenarioId::S5 => RowQuery {
            detail: "orders.correlation_id (kind saga; completed, or failed with its stock released)",
            sql: "SELECT o.correlation_id, count(*), min(o.updated_at) FROM order_service.orders o
                  WHERE o.kind = 'saga' AND o.correlation_id = ANY($1)
                    AND (o.status = 'completed'
                         OR (o.status = 'failed' AND NOT EXISTS (
                             SELECT 1 FROM inventory_service.reservations r
                             WHERE r.order_ref = o.id::text AND r.status = 'reserved')))
                  GROUP BY o.correlation_id",
            key: same,
        },
        ScenarioId::S6 => RowQuery {
            detail: "clicks.page = /p/<unique>",
            sql: "SELECT page, count(*), min(stored_at) FROM analytics_service.clicks
                  WHERE page = ANY($1) GROUP BY page",
            key: |id| unique(id).map(|u| format!("/p/{u}")),
        },
        ScenarioId::S7 => RowQuery {
            detail: "orders.correlation_id (kind checkout, status confirmed)",
            sql: "SELECT o.correlation_id, count(DISTINCT o.id), min(h.at)
                  FROM order_service.orders o
                  LEFT JOIN order_service.order_history h
                    ON h.order_id = o.id AND h.status = 'confirmed'
                  WHERE o.kind = 'checkout' AND o.status = 'confirmed'
                    AND o.correlation_id = ANY($1)
                  GROUP BY o.correlation_id",
            key: same,
        },
        ScenarioId::S8 => RowQuery {
            detail: "notifications.correlation_id (type order_confirmation)",
            sql: "SELECT correlation_id, count(*), min(timestamp) FROM email_service.notifications
                  WHERE type = 'order_confirmation' AND correlation_id = ANY($1)
                  GROUP BY correlation_id",
            key: same,
        },
        ScenarioId::S3 | ScenarioId::S4 => return None,
    };
    Some(query)
}

/// A mode's pool, or why there is none (an unparsable URL fails on first use, not in `new`).
type Pool = Result<PgPool, String>;

/// Reads effects from both modes' databases through small lazy pools: nothing connects until
/// the first read, and a run holds at most two connections per mode from the services' server.
pub struct Effects {
    sync: Pool,
    asynchronous: Pool,
}

impl Effects {
    pub fn new(urls: DbUrls) -> Effects {
        Effects {
            sync: pool(&urls.sync),
            asynchronous: pool(&urls.asynchronous),
        }
    }

    /// What the rows of `scenario` are, in words; `None` where the flow leaves no business
    /// row to count (its completion events are then the only source).
    pub fn source(scenario: ScenarioId) -> Option<&'static str> {
        row_query(scenario).map(|q| q.detail)
    }

    /// The done rows of each of `correlation_ids` (ids without rows are absent from
    /// `by_id`). Fails for a scenario without rows ([`Effects::source`] is `None`).
    pub async fn rows(
        &self,
        scenario: ScenarioId,
        mode: Mode,
        correlation_ids: &[String],
    ) -> anyhow::Result<RowEffects> {
        let query = row_query(scenario)
            .with_context(|| format!("{scenario} leaves no business rows to count"))?;
        let pool = self.pool(mode)?;
        // Key → correlation id, to give each row back to its request.
        let ids: HashMap<String, &str> = correlation_ids
            .iter()
            .filter_map(|id| Some(((query.key)(id)?, id.as_str())))
            .collect();
        let keys: Vec<String> = ids.keys().cloned().collect();
        let mut by_id = HashMap::new();
        for chunk in keys.chunks(CHUNK) {
            for (key, count, done_at) in fetch(pool, query.sql, chunk).await? {
                if let Some(id) = ids.get(&key) {
                    by_id.insert((*id).to_owned(), row_effect(count, done_at));
                }
            }
        }
        Ok(RowEffects {
            detail: query.detail.to_owned(),
            by_id,
        })
    }

    /// Every product's stock at inventory in `mode`, by product id.
    pub async fn stock(&self, mode: Mode) -> anyhow::Result<Vec<StockLevel>> {
        let levels = sqlx::query_as(
            "SELECT s.product_id, s.available::bigint AS available,
                    s.reserved::bigint AS reserved, s.sold::bigint AS sold,
                    count(r.order_ref) AS held_reservations,
                    COALESCE(sum(r.quantity), 0)::bigint AS held_units
             FROM inventory_service.stock s
             LEFT JOIN inventory_service.reservations r
               ON r.product_id = s.product_id AND r.status = 'reserved'
             GROUP BY s.product_id ORDER BY s.product_id",
        )
        .fetch_all(self.pool(mode)?)
        .await
        .with_context(|| format!("reading {}'s stock", database(mode)))?;
        Ok(levels)
    }

    fn pool(&self, mode: Mode) -> anyhow::Result<&PgPool> {
        let pool = match mode {
            Mode::Sync => &self.sync,
            Mode::Async => &self.asynchronous,
        };
        pool.as_ref()
            .map_err(|e| anyhow::anyhow!("the {mode} database URL: {e}"))
    }
}

fn pool(url: &str) -> Pool {
    let options: PgConnectOptions = url.parse().map_err(|e: sqlx::Error| e.to_string())?;
    let options = options.application_name("ms-tui effects");
    Ok(PgPoolOptions::new()
        .max_connections(2)
        .min_connections(0)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_lazy_with(options))
}

async fn fetch(
    pool: &PgPool,
    sql: &'static str,
    keys: &[String],
) -> anyhow::Result<Vec<(String, i64, Option<DateTime<Utc>>)>> {
    sqlx::query_as(sql)
        .bind(keys)
        .fetch_all(pool)
        .await
        .context("reading effect rows")
}

fn row_effect(count: i64, done_at: Option<DateTime<Utc>>) -> RowEffect {
    RowEffect {
        count: u32::try_from(count).unwrap_or(u32::MAX),
        done_at,
    }
}

#[cfg(test)]
#[path = "effects_tests.rs"]
mod tests;
