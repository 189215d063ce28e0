//! Every exchange and queue of the stack, named as the peers named them, declared in one place.
//!
//! Each business queue `q` gets two companions: `q.retry` (messages wait there for their
//! per-message TTL, then dead-letter back into `q`) and `q.dlq` (where a message lands after
//! its bounded retries). The peers had neither: their failing messages looped forever.
//!
//! [`QueueType`]: all three are classic queues on a single node and quorum queues on a
//! broker cluster (replicated, so they survive a node). The arguments stay the same on both:
//! the retry queue's per-message TTL and dead-lettering work on quorum queues since RabbitMQ
//! 3.10 (dead-lettering at most once on both, as classic always was); our own retry count
//! and DLQ bound the redeliveries, so no `x-delivery-limit` is set.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use crate::scenario::Service;

/// The default exchange: routing key = queue name.
pub const DEFAULT_EXCHANGE: &str = "";

// Exchanges.
/// S3: one `ProductUpdated`, three consumers (peer 002).
pub const PRODUCT_UPDATES: &str = "product_updates";
/// S5: the saga's failure broadcast (peer 002).
pub const PAYMENT_FAILED: &str = "payment_failed";
/// S7: peer 004's topic exchange.
pub const ECOMMERCE_EVENTS: &str = "ecommerce_events";
/// Completion events for the control room (docs/contract.md, Completion events); non-durable, losing one is harmless.
pub const TELEMETRY: &str = "ms.telemetry";

// Queues (peer 002 unless noted).
pub const USER_REGISTERED: &str = "user_registered_queue";
pub const PAYMENT_INITIATED: &str = "payment_initiated_queue";
pub const PAYMENT_COMPLETED: &str = "payment_completed_queue";
pub const SEARCH_PRODUCT_UPDATES: &str = "search_product_updates_queue";
pub const CACHE_PRODUCT_UPDATES: &str = "cache_product_updates_queue";
pub const ANALYTICS_PRODUCT_UPDATES: &str = "analytics_product_updates_queue";
/// Peer 002's code name (its README said `report_jobs_queue`).
pub const REPORT_JOB: &str = "report_job_queue";
pub const ORDER_CREATED: &str = "order_created_queue";
pub const STOCK_RESERVED: &str = "stock_reserved_queue";
pub const INVENTORY_PAYMENT_FAILED: &str = "inventory_payment_failed_queue";
pub const ORDER_PAYMENT_FAILED: &str = "order_payment_failed_queue";
pub const STOCK_RELEASED: &str = "stock_released_queue";
pub const CLICK_TRACKED: &str = "click_tracked_queue";
/// Seed 000's queue for `/checkout` orders.
pub const SHOWDOWN_ORDER_CREATED: &str = "order.created";
/// Seed 000's payment results.
pub const SHOWDOWN_PAYMENT_COMPLETED: &str = "payment.completed";
/// Peer 004: `order.order.created` → payment.
pub const PAYMENT_SERVICE: &str = "payment_service_queue";
/// Peer 004: `payment.payment.processed` → email.
pub const EMAIL_SERVICE: &str = "email_service_queue";
/// Peer 004 declared it and never used it; we use it to move orders to paid → confirmed.
pub const ORDER_UPDATES: &str = "order_updates_queue";
/// Seed 001's notifications (a Redis channel there, which lost messages; durable here).
pub const NOTIFICATIONS: &str = "notifications";

// Peer 004's routing keys.
pub const RK_ORDER_CREATED: &str = "order.order.created";
pub const RK_PAYMENT_PROCESSED: &str = "payment.payment.processed";
pub const RK_EMAIL_SENT: &str = "email.email.sent";

/// S5: the saga's success broadcast (peer 002's payment always failed, so it had none).
pub const PAYMENT_SUCCEEDED: &str = "payment_succeeded";
/// S5: inventory turns the reservation of a paid order into a sale.
pub const INVENTORY_PAYMENT_SUCCEEDED: &str = "inventory_payment_succeeded_queue";
/// S5: the order completes.
pub const ORDER_PAYMENT_SUCCEEDED: &str = "order_payment_succeeded_queue";
/// S5: inventory could not reserve (peer 002 never checked stock); the order fails.
pub const STOCK_REJECTED: &str = "stock_rejected_queue";

/// How the durable queues are declared (`QUEUE_TYPE`). A broker refuses a re-declaration
/// with another type, so one broker's volumes hold one type: the cluster has its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum QueueType {
    /// RabbitMQ's default, on one node.
    #[default]
    Classic,
    /// Raft-replicated over the cluster's nodes (`x-queue-type: quorum`).
    Quorum,
}

impl QueueType {
    /// The declaration arguments every durable queue starts from.
    fn arguments(self) -> FieldTable {
        let mut args = FieldTable::default();
        if self == QueueType::Quorum {
            args.insert(
                "x-queue-type".into(),
                AMQPValue::LongString("quorum".into()),
            );
        }
        args
    }
}

struct ExchangeSpec {
    name: &'static str,
    kind: fn() -> ExchangeKind,
    durable: bool,
}

/// A durable business queue and what it is bound to (exchange, routing key).
pub struct QueueSpec {
    pub name: &'static str,
    pub bindings: &'static [(&'static str, &'static str)],
}

const EXCHANGES: &[ExchangeSpec] = &[
    ExchangeSpec {
        name: PRODUCT_UPDATES,
        kind: || ExchangeKind::Fanout,
        durable: true,
    },
    ExchangeSpec {
        name: PAYMENT_FAILED,
        kind: || ExchangeKind::Fanout,
        durable: true,
    },
    ExchangeSpec {
        name: ECOMMERCE_EVENTS,
        kind: || ExchangeKind::Topic,
        durable: true,
    },
    ExchangeSpec {
        name: TELEMETRY,
        kind: || ExchangeKind::Topic,
        durable: false,
    },
    ExchangeSpec {
        name: PAYMENT_SUCCEEDED,
        kind: || ExchangeKind::Fanout,
        durable: true,
    },
];

pub const QUEUES: &[QueueSpec] = &[
    QueueSpec {
        name: USER_REGISTERED,
        bindings: &[],
    },
    QueueSpec {
        name: PAYMENT_INITIATED,
        bindings: &[],
    },
    QueueSpec {
        name: PAYMENT_COMPLETED,
        bindings: &[],
    },
    QueueSpec {
        name: SEARCH_PRODUCT_UPDATES,
        bindings: &[(PRODUCT_UPDATES, "")],
    },
    QueueSpec {
        name: CACHE_PRODUCT_UPDATES,
        bindings: &[(PRODUCT_UPDATES, "")],
    },
    QueueSpec {
        name: ANALYTICS_PRODUCT_UPDATES,
        bindings: &[(PRODUCT_UPDATES, "")],
    },
    QueueSpec {
        name: REPORT_JOB,
        bindings: &[],
    },
    QueueSpec {
        name: ORDER_CREATED,
        bindings: &[],
    },
    QueueSpec {
        name: STOCK_RESERVED,
        bindings: &[],
    },
    QueueSpec {
        name: INVENTORY_PAYMENT_FAILED,
        bindings: &[(PAYMENT_FAILED, "")],
    },
    QueueSpec {
        name: ORDER_PAYMENT_FAILED,
        bindings: &[(PAYMENT_FAILED, "")],
    },
    QueueSpec {
        name: STOCK_RELEASED,
        bindings: &[],
    },
    QueueSpec {
        name: CLICK_TRACKED,
        bindings: &[],
    },
    QueueSpec {
        name: SHOWDOWN_ORDER_CREATED,
        bindings: &[],
    },
    QueueSpec {
        name: SHOWDOWN_PAYMENT_COMPLETED,
        bindings: &[],
    },
    QueueSpec {
        name: PAYMENT_SERVICE,
        bindings: &[(ECOMMERCE_EVENTS, RK_ORDER_CREATED)],
    },
    QueueSpec {
        name: EMAIL_SERVICE,
        bindings: &[(ECOMMERCE_EVENTS, RK_PAYMENT_PROCESSED)],
    },
    QueueSpec {
        name: ORDER_UPDATES,
        bindings: &[
            (ECOMMERCE_EVENTS, RK_PAYMENT_PROCESSED),
            (ECOMMERCE_EVENTS, RK_EMAIL_SENT),
        ],
    },
    QueueSpec {
        name: NOTIFICATIONS,
        bindings: &[],
    },
    QueueSpec {
        name: INVENTORY_PAYMENT_SUCCEEDED,
        bindings: &[(PAYMENT_SUCCEEDED, "")],
    },
    QueueSpec {
        name: ORDER_PAYMENT_SUCCEEDED,
        bindings: &[(PAYMENT_SUCCEEDED, "")],
    },
    QueueSpec {
        name: STOCK_REJECTED,
        bindings: &[],
    },
];

/// The service whose async instance consumes `queue` (docs/contract.md, Queues and exchanges):
/// what a consumer knob such as `consumer_concurrency` must reach to change how fast it drains.
/// `None` for a name that is not one of [`QUEUES`].
pub fn consumer_of(queue: &str) -> Option<Service> {
    Some(match queue {
        USER_REGISTERED | EMAIL_SERVICE | NOTIFICATIONS => Service::Email,
        PAYMENT_INITIATED
        | PAYMENT_COMPLETED
        | STOCK_RESERVED
        | PAYMENT_SERVICE
        | SHOWDOWN_ORDER_CREATED => Service::Payment,
        SEARCH_PRODUCT_UPDATES => Service::Search,
        CACHE_PRODUCT_UPDATES => Service::Cache,
        ANALYTICS_PRODUCT_UPDATES | CLICK_TRACKED => Service::Analytics,
        REPORT_JOB => Service::Report,
        ORDER_CREATED | INVENTORY_PAYMENT_FAILED | INVENTORY_PAYMENT_SUCCEEDED => {
            Service::Inventory
        }
        ORDER_PAYMENT_FAILED
        | STOCK_RELEASED
        | ORDER_PAYMENT_SUCCEEDED
        | STOCK_REJECTED
        | ORDER_UPDATES
        | SHOWDOWN_PAYMENT_COMPLETED => Service::Order,
        _ => return None,
    })
}

pub fn retry_queue(queue: &str) -> String {
    format!("{queue}.retry")
}

pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dlq")
}

/// Declares everything, the durable queues as `queue_type`; idempotent, so every service
/// runs it on every (re)connect.
pub async fn declare(channel: &Channel, queue_type: QueueType) -> lapin::Result<()> {
    declare_exchanges(channel).await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for queue in QUEUES {
        channel
            .queue_declare(queue.name.into(), durable, queue_type.arguments())
            .await?;
        for (exchange, key) in queue.bindings {
            channel
                .queue_bind(
                    queue.name.into(),
                    (*exchange).into(),
                    (*key).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        let mut back_to_queue = queue_type.arguments();
        back_to_queue.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(DEFAULT_EXCHANGE.into()),
        );
        back_to_queue.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(queue.name.into()),
        );
        channel
            .queue_declare(
                retry_queue(queue.name).as_str().into(),
                durable,
                back_to_queue,
            )
            .await?;
        channel
            .queue_declare(
                dead_letter_queue(queue.name).as_str().into(),
                durable,
                queue_type.arguments(),
            )
            .await?;
    }
    Ok(())
}

/// The exchanges alone: enough to bind a private queue (the control room's telemetry) before
/// any service declared the queues, without knowing their type.
pub async fn declare_exchanges(channel: &Channel) -> lapin::Result<()> {
    for exchange in EXCHANGES {
        let options = ExchangeDeclareOptions {
            durable: exchange.durable,
            ..Default::default()
        };
        channel
            .exchange_declare(
                exchange.name.into(),
                (exchange.kind)(),
                options,
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queue_has_its_consumer() {
        for queue in QUEUES {
            assert!(consumer_of(queue.name).is_some(), "{}", queue.name);
        }
        assert_eq!(consumer_of(USER_REGISTERED), Some(Service::Email));
        assert_eq!(consumer_of(REPORT_JOB), Some(Service::Report));
        assert_eq!(consumer_of("user_registered_queue.dlq"), None);
    }
}
