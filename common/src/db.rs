//! PostgreSQL: one database per mode, one schema per service, small pools, migrations at start,
//! and the idempotency ledger every consumer writes its handled event ids to.

use std::time::Duration;

use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

/// Connects to `url` with `schema` as the search path, creating database and schema when
/// missing, then runs `migrations` (whose ledger lives in that schema too, so services
/// sharing a database never see each other's migrations).
pub async fn connect(
    url: &str,
    schema: &str,
    pool_max: u32,
    migrations: &Migrator,
) -> anyhow::Result<PgPool> {
    ensure_database(url).await?;
    let options: PgConnectOptions = url.parse()?;
    let options = options
        .options([("search_path", schema)])
        .application_name(schema);
    let pool = PgPoolOptions::new()
        .max_connections(pool_max)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    create_schema(&pool, schema).await?;
    sqlx::query(LEDGER_DDL).execute(&pool).await?;
    adopt_comment_edits(&pool, migrations).await?;
    migrations.run(&pool).await?;
    Ok(pool)
}

/// SHA-384 checksums (hex) of migration files as they were before edits that touched only
/// their comments. sqlx checksums the whole file and refuses to start on a database whose
/// applied migration no longer matches, so without this a stack volume made before such an
/// edit would stop every service; with it, the ledger adopts the new text of those files.
/// A changed statement must never be listed here: it needs a new migration instead.
const COMMENT_ONLY_EDITS: &[&str] = &[
    // inventory/0001_stock.sql, order/0001_orders.sql, product/0001_products.sql and
    // product/0002_seed.sql before their comments cited docs/contract.md.
    "564995a405fd6584645ae1a9b9f52b0aa63cd7381dfb168d80af0d9db07c12e17913662c639ec80e03cb52f1d862b9ac",
    "fe72bbf63e57424888b27e6de2eefc205f531bb730cbf912a17a4b20e0f78cfad0d2619d80e290d63df3b9a2be6792a4",
    "79e4a8d545d3373467204298a45550de0a50c2ff679b78b630aef9f7b1afd44ca0ee7036b54e4250b7fa53a3699e8fdb",
    "a21a8893ebfb881f2da5295220e45749ec8a77608284566700d9cc20a7c21a34e70ba7074bbc1cbdb706478881b76ff7",
];

/// Rewrites the ledger's checksum of each applied migration whose recorded checksum is one of
/// [`COMMENT_ONLY_EDITS`] to the checksum of the file as it is now.
async fn adopt_comment_edits(pool: &PgPool, migrations: &Migrator) -> anyhow::Result<()> {
    let ledger: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(pool)
        .await?;
    if ledger.is_none() {
        return Ok(());
    }
    let old: Vec<String> = COMMENT_ONLY_EDITS.iter().map(|s| (*s).to_owned()).collect();
    for migration in migrations.iter() {
        let adopted = sqlx::query(
            "UPDATE _sqlx_migrations SET checksum = $1 \
             WHERE version = $2 AND encode(checksum, 'hex') = ANY($3)",
        )
        .bind(migration.checksum.as_ref())
        .bind(migration.version)
        .bind(&old)
        .execute(pool)
        .await?;
        if adopted.rows_affected() > 0 {
            tracing::info!(
                version = migration.version,
                description = %migration.description,
                "migration ledger adopted a comment-only edit of this migration"
            );
        }
    }
    Ok(())
}

/// Whether `err` says the database was unreachable or overloaded rather than that the
/// statement was wrong: the same statement may well succeed later.
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE classes 08 (connection), 53 (insufficient resources), 57P (server shutting
        // down or starting), and the two conflicts a retry resolves: serialization, deadlock.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "40001"
                || code == "40P01"
        }),
        _ => false,
    }
}

/// Connects, retrying while the server is not up yet (containers start in any order).
pub async fn connect_with_retry(
    url: &str,
    schema: &str,
    pool_max: u32,
    migrations: &Migrator,
) -> anyhow::Result<PgPool> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut wait = Duration::from_millis(200);
    loop {
        match connect(url, schema, pool_max, migrations).await {
            Ok(pool) => return Ok(pool),
            Err(err) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %err, "database not ready; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            Err(err) => return Err(err.context("database unreachable for 60 s")),
        }
    }
}

async fn ensure_database(url: &str) -> anyhow::Result<()> {
    if Postgres::database_exists(url).await? {
        return Ok(());
    }
    // Services of one mode start together and race to create it: losing the race is fine.
    match Postgres::create_database(url).await {
        Err(err) if !Postgres::database_exists(url).await? => Err(err.into()),
        _ => Ok(()),
    }
}

async fn create_schema(pool: &PgPool, schema: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !schema.is_empty() && schema.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "invalid schema name {schema:?}"
    );
    // Concurrent `CREATE SCHEMA IF NOT EXISTS` can still collide; serialise it server-side.
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('ms-create-schema'))")
        .execute(&mut *tx)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

const LEDGER_DDL: &str = "CREATE TABLE IF NOT EXISTS processed_events (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id))";

/// Claims `event_id` for `consumer` inside the transaction that performs the effect.
/// `false` means it was handled before: skip the effect. Effect and claim commit together,
/// so a crash before the ack leads to a redelivery that this call turns into a no-op.
pub async fn claim_event(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    consumer: &str,
    event_id: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(event_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A cheap pre-check, so a duplicate does not redo slow work before being skipped.
pub async fn was_processed(pool: &PgPool, consumer: &str, event_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2)",
    )
    .bind(consumer)
    .bind(event_id)
    .fetch_one(pool)
    .await
}

/// Readiness probe.
pub async fn ping(pool: &PgPool) -> bool {
    let probe = sqlx::query("SELECT 1").execute(pool);
    matches!(
        tokio::time::timeout(Duration::from_secs(1), probe).await,
        Ok(Ok(_))
    )
}
