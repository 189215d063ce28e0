//! Which services this build serves, and the per-service hooks the runner needs.

use common::ApiError;
use common::Mode;
use common::scenario::Service;
use futures_util::future::BoxFuture;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::context::Ctx;
use crate::{analytics, email, fanout, inventory, order, payment, product, report, user};

/// One service's parts: schema migrations, routes per mode, async consumers, reset.
pub struct Definition {
    pub migrator: &'static Migrator,
    pub routes: fn(Mode) -> utoipa_axum::router::OpenApiRouter<Ctx>,
    /// Starts the consumers of async mode.
    pub consumers: fn(&Ctx) -> Vec<tokio::task::JoinHandle<()>>,
    pub reset: for<'a> fn(&'a PgPool) -> BoxFuture<'a, sqlx::Result<()>>,
}

/// Search and cache are nothing but their S3 step. A macro, because the fn pointers of a
/// `Definition` cannot capture which step they serve.
macro_rules! fan_out_step {
    ($step:path) => {
        Definition {
            migrator: &fanout::MIGRATOR,
            routes: |_| fanout::routes(&$step),
            consumers: |ctx| vec![fanout::consumer(&$step, ctx)],
            reset: |db| Box::pin(fanout::reset(db)),
        }
    };
}

pub fn definition(service: Service) -> Option<Definition> {
    match service {
        Service::User => Some(Definition {
            migrator: &user::MIGRATOR,
            routes: user::routes,
            consumers: |_| Vec::new(),
            reset: |db| Box::pin(user::reset(db)),
        }),
        Service::Email => Some(Definition {
            migrator: &email::MIGRATOR,
            routes: email::routes,
            consumers: email::consumers,
            reset: |db| Box::pin(email::reset(db)),
        }),
        Service::Payment => Some(Definition {
            migrator: &payment::MIGRATOR,
            routes: payment::routes,
            consumers: payment::consumers,
            reset: |db| Box::pin(payment::reset(db)),
        }),
        Service::Product => Some(Definition {
            migrator: &product::MIGRATOR,
            routes: product::routes,
            consumers: |_| Vec::new(),
            reset: |db| Box::pin(product::reset(db)),
        }),
        Service::Search => Some(fan_out_step!(fanout::SEARCH)),
        Service::Cache => Some(fan_out_step!(fanout::CACHE)),
        Service::Analytics => Some(Definition {
            migrator: &analytics::MIGRATOR,
            routes: analytics::routes,
            consumers: analytics::consumers,
            reset: |db| Box::pin(analytics::reset(db)),
        }),
        Service::Report => Some(Definition {
            migrator: &report::MIGRATOR,
            routes: report::routes,
            consumers: report::consumers,
            reset: |db| Box::pin(report::reset(db)),
        }),
        Service::Order => Some(Definition {
            migrator: &order::MIGRATOR,
            routes: order::routes,
            consumers: order::consumers,
            reset: |db| Box::pin(order::reset(db)),
        }),
        Service::Inventory => Some(Definition {
            migrator: &inventory::MIGRATOR,
            routes: inventory::routes,
            consumers: inventory::consumers,
            reset: |db| Box::pin(inventory::reset(db)),
        }),
        // The gateway owns no data and runs apart (`gateway::run`), see `served`.
        _ => None,
    }
}

/// Whether this build runs `service` (the gateway has no `Definition`: no data, no broker).
pub fn served(service: Service) -> bool {
    service == Service::Gateway || definition(service).is_some()
}

/// The services this build runs, for error messages.
pub fn available() -> Vec<&'static str> {
    Service::ALL
        .into_iter()
        .filter(|s| served(*s))
        .map(Service::name)
        .collect()
}

/// Schema of a service in its mode's database (`user` is reserved in SQL, hence the suffix).
pub fn schema(service: Service) -> String {
    format!("{}_service", service.name())
}

pub async fn reset(service: Service, db: &PgPool) -> Result<(), ApiError> {
    let definition = definition(service).ok_or_else(|| ApiError::not_found("no data to reset"))?;
    (definition.reset)(db).await?;
    if crate::outbox::applies_to(service) {
        crate::outbox::reset(db).await?;
    }
    Ok(())
}
