//! Which services this build serves, and the per-service hooks the runner needs.

use common::ApiError;
use common::Mode;
use common::scenario::Service;
use futures_util::future::BoxFuture;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::context::Ctx;
use crate::{email, inventory, order, payment, user};

/// One service's parts: schema migrations, routes per mode, async consumers, reset.
pub struct Definition {
    pub migrator: &'static Migrator,
    pub routes: fn(Mode) -> axum::Router<Ctx>,
    /// Starts the consumers of async mode.
    pub consumers: fn(&Ctx) -> Vec<tokio::task::JoinHandle<()>>,
    pub reset: for<'a> fn(&'a PgPool) -> BoxFuture<'a, sqlx::Result<()>>,
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
    Ok(())
}
