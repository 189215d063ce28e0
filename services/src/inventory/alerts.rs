//! S8's stock alerts: a low-stock or out-of-stock notification for every line a change left
//! at ten units or fewer ([`rules::stock_alert`](super::rules::stock_alert)), sent to the
//! notification service.

use chrono::Utc;
use common::events::{Notification, new_event_id};
use common::{Mode, correlation};

use super::rules::stock_alert;
use super::stock::Line;
use crate::context::Ctx;
use crate::email;

/// Who receives stock alerts (seed 001).
const ALERT_RECIPIENT: &str = "admin@company.com";

/// Sends seed 001's low-stock / out-of-stock alerts for the lines that dropped to ≤ 10.
/// Sync mode posts them to the notification service after the fact (a slow or absent
/// notifier must not hold the order); async mode publishes them durably before answering.
pub(super) async fn alert_if_low(ctx: &Ctx, lines: &[Line]) {
    for line in lines {
        let Some(alert) = stock_alert(&line.name, line.available) else {
            continue;
        };
        let kind = alert.kind;
        let alert = Notification {
            event_id: new_event_id(),
            kind: kind.to_owned(),
            recipient: ALERT_RECIPIENT.to_owned(),
            message: alert.message,
            order_id: None,
            user_id: None,
            total_amount: None,
            product_id: Some(line.sku.clone()),
            product_name: Some(line.name.clone()),
            current_stock: Some(i64::from(line.available)),
            timestamp: Utc::now(),
        };
        match ctx.mode() {
            Mode::Async => {
                if let Err(err) = email::deliver_notification(ctx, &alert).await {
                    tracing::warn!(error = ?err.detail, kind, "stock alert not delivered");
                }
            }
            Mode::Sync => {
                let ctx = ctx.clone();
                let id = correlation::current().unwrap_or_else(correlation::new_id);
                tokio::spawn(correlation::scope(id, async move {
                    if let Err(err) = email::deliver_notification(&ctx, &alert).await {
                        tracing::warn!(error = ?err.detail, "stock alert not delivered");
                    }
                }));
            }
        }
    }
}
