//! Starts one service instance and stops it gracefully.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use common::broker::Broker;
use common::completion::Completions;
use common::config::{Settings, Tunables};
use common::scenario::Service;
use common::{Mode, db, logging, shutdown};

use crate::context::Ctx;
use crate::faults::Faults;
use crate::limit::InflightLimit;
use crate::{app, metrics, registry};

pub async fn run(service: Service, settings: Settings) -> anyhow::Result<()> {
    if service == Service::Gateway {
        return crate::gateway::run(settings).await;
    }
    logging::init();
    let definition = registry::definition(service).with_context(|| {
        format!(
            "service `{service}` is not served by this build yet (available: {})",
            registry::available().join(", ")
        )
    })?;
    metrics::install();
    crate::faults::register_metrics();
    let mode = settings.mode;
    let stop = shutdown::on_signals();
    let broker = Broker::start(
        settings.amqp_url.clone(),
        settings.queue_type,
        format!("ms-service {service} ({mode})"),
        stop.clone(),
    );
    let pool = db::connect_with_retry(
        &settings.database_url,
        &registry::schema(service),
        settings.db_pool_max,
        definition.migrator,
    )
    .await
    .context("connecting to PostgreSQL")?;
    let outbox = crate::outbox::applies_to(service);
    if outbox {
        crate::outbox::migrate(&pool)
            .await
            .context("creating the outbox table")?;
        crate::outbox::register_metrics();
    }
    let knobs = Tunables::new(settings.initial_knobs());
    let inflight = InflightLimit::default();
    inflight.set(knobs.get().sync_max_inflight);
    let ctx = Ctx {
        http: common::http::client(settings.http_timeout()),
        settings: Arc::new(settings),
        service,
        db: pool.clone(),
        completions: Completions::start(broker.clone(), mode, service),
        broker,
        knobs,
        inflight,
        faults: Faults::default(),
        outbox: crate::outbox::Wake::default(),
        consumers: Default::default(),
        shutdown: stop.clone(),
    };
    let mut consumers = match mode {
        Mode::Async => (definition.consumers)(&ctx),
        Mode::Sync => Vec::new(),
    };
    // Only async handlers publish after a commit; the relay drains whatever is pending,
    // whichever publish mode is set now.
    if outbox && mode == Mode::Async {
        consumers.push(crate::outbox::relay::spawn(&ctx));
    }
    let address = (ctx.settings.bind, ctx.settings.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {}:{}", address.0, address.1))?;
    tracing::info!(addr = %listener.local_addr()?, %service, %mode, "listening");
    axum::serve(listener, app::router(ctx, (definition.routes)(mode)))
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .await?;
    // Consumers saw the same token: wait for their in-flight deliveries to finish and ack.
    let drained = futures_util::future::join_all(consumers);
    if tokio::time::timeout(Duration::from_secs(10), drained)
        .await
        .is_err()
    {
        tracing::warn!("consumers still busy after 10 s; their deliveries will be redelivered");
    }
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}
