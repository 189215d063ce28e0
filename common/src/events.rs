//! Business events on the broker: the peers' payload fields plus `event_id`, the idempotency
//! key that is also sent as the AMQP `message_id`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A fresh event id.
pub fn new_event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// S1: a user registered (peer 002's `UserRegistered`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub event_id: String,
    pub user_id: i64,
    pub email: String,
    pub timestamp: DateTime<Utc>,
}

/// S2: a payment was accepted for processing (peer 002's `PaymentInitiated`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentInitiated {
    pub event_id: String,
    pub payment_id: String,
    pub amount: f64,
    pub currency: String,
    pub order_id: Option<String>,
    pub timestamp: DateTime<Utc>,
}

/// S2: the payment worker finished (peer 002's `PaymentCompleted`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentCompleted {
    pub event_id: String,
    pub payment_id: String,
    pub transaction_id: String,
    pub status: String,
    pub timestamp: DateTime<Utc>,
}

/// Order ids as the two stacks send them: numbers (002/003/004) or strings (000, 001).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Ref {
    Number(i64),
    Text(String),
}

impl Ref {
    /// The text form, the key under which the other services record the reference.
    pub fn key(&self) -> String {
        match self {
            Ref::Number(n) => n.to_string(),
            Ref::Text(s) => s.clone(),
        }
    }

    /// The number, whether sent as `7` or `"7"`.
    pub fn as_number(&self) -> Option<i64> {
        match self {
            Ref::Number(n) => Some(*n),
            Ref::Text(s) => s.trim().parse().ok(),
        }
    }
}

impl std::fmt::Display for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

/// S5: an order was placed and waits for its stock (peer 002's `OrderCreated`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    pub event_id: String,
    pub order_id: i64,
    pub product_id: i64,
    pub quantity: i32,
    pub timestamp: DateTime<Utc>,
}

/// S5: inventory holds the order's stock (peer 002's `StockReserved`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StockReserved {
    pub event_id: String,
    pub order_id: i64,
    pub product_id: i64,
    pub quantity: i32,
    pub reserved_at: DateTime<Utc>,
}

/// S5: inventory could not reserve (unknown product or not enough stock). Peer 002 never
/// checked stock, so it had no such event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StockRejected {
    pub event_id: String,
    pub order_id: i64,
    pub product_id: i64,
    pub quantity: i32,
    pub reason: String,
    pub timestamp: DateTime<Utc>,
}

/// S5: the saga's payment failed, broadcast on the `payment_failed` fanout (peer 002).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentFailed {
    pub event_id: String,
    pub payment_id: Option<String>,
    pub order_id: i64,
    pub reason: String,
    pub timestamp: DateTime<Utc>,
}

/// S5: the saga's payment succeeded, broadcast on the `payment_succeeded` fanout (peer 002
/// could not succeed, so it had none): inventory turns the reservation into a sale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentSucceeded {
    pub event_id: String,
    pub payment_id: String,
    pub order_id: i64,
    pub transaction_id: String,
    pub timestamp: DateTime<Utc>,
}

/// S5: the reservation was given back (peer 002's `StockReleased`, now with the real figures).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StockReleased {
    pub event_id: String,
    pub order_id: i64,
    pub product_id: i64,
    pub quantity: i32,
    pub reason: String,
    pub released_at: DateTime<Utc>,
}

/// S7: one line of a checkout (peer 004: the client sends the price, as a decimal string).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckoutItem {
    pub product_id: Ref,
    pub quantity: i32,
    pub price: String,
}

/// S7: peer 004's `OrderCreated` on `ecommerce_events` (`order.order.created`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckoutOrderCreated {
    pub event_type: String,
    pub event_id: String,
    pub timestamp: DateTime<Utc>,
    pub order_id: i64,
    pub user_id: Ref,
    pub user_email: String,
    /// A decimal string, as peer 004 sent it.
    pub total_amount: String,
    pub items: Vec<CheckoutItem>,
}

/// S7: peer 004's `PaymentProcessed` (`payment.payment.processed`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentProcessed {
    pub event_type: String,
    pub event_id: String,
    pub timestamp: DateTime<Utc>,
    pub payment_id: String,
    pub order_id: i64,
    pub user_id: Ref,
    pub user_email: String,
    pub amount: String,
    pub status: String,
    pub transaction_id: String,
}

/// S7: the confirmation e-mail went out (peer 004 declared `email.email.sent`, never sent it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailSent {
    pub event_type: String,
    pub event_id: String,
    pub timestamp: DateTime<Utc>,
    pub order_id: i64,
    pub recipient: String,
    pub subject: String,
    pub template: String,
}

/// Seed 000: an order handed to payment on the `order.created` queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShowdownOrder {
    pub event_id: String,
    /// The client's reference (not unique: seed 000's README reuses "123").
    pub order_id: String,
    /// Our order row, so that the answer finds it again.
    #[serde(default)]
    pub order_ref: Option<i64>,
    pub amount: f64,
    pub timestamp: DateTime<Utc>,
}

/// Seed 000: payment's answer on the `payment.completed` queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShowdownPaid {
    pub event_id: String,
    pub order_id: String,
    #[serde(default)]
    pub order_ref: Option<i64>,
    pub status: String,
    pub timestamp: DateTime<Utc>,
}

/// S8: seed 001's notification messages (`order_confirmation`, `low_stock_alert`,
/// `out_of_stock_alert`), one struct with the union of their fields. Sent on the durable
/// `notifications` queue in async mode (001's Redis pub/sub lost them when nobody listened)
/// and over HTTP to `POST /notifications` in sync mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub recipient: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_amount: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_stock: Option<i64>,
    pub timestamp: DateTime<Utc>,
}

/// Seed 001's notification types.
pub mod notification_kind {
    pub const ORDER_CONFIRMATION: &str = "order_confirmation";
    pub const LOW_STOCK_ALERT: &str = "low_stock_alert";
    pub const OUT_OF_STOCK_ALERT: &str = "out_of_stock_alert";
}

/// S3: a product changed; one event on the `product_updates` fanout reaches search, cache
/// and analytics (peer 002's `ProductUpdated`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProductUpdated {
    pub event_id: String,
    pub product_id: i64,
    pub name: String,
    pub stock: i64,
    pub timestamp: DateTime<Utc>,
}

/// S4: a report job to run (peer 002's `GenerateReportJob`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateReportJob {
    pub event_id: String,
    pub job_id: String,
    pub report_type: String,
    #[serde(default)]
    pub parameters: serde_json::Value,
    pub timestamp: DateTime<Utc>,
}

/// S6: one click to store (peer 002's `ClickTracked`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClickTracked {
    pub event_id: String,
    pub user_id: i64,
    pub page: String,
    pub session_id: String,
    pub timestamp: DateTime<Utc>,
}
