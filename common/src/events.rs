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
