//! What a `PUT /admin/faults` body may say, and the one check that turns it into a
//! [`FaultSpec`] or a message naming the first field that is wrong.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The largest delay of any kind: a minute is already far past every client's timeout.
pub const MAX_DELAY_MS: u64 = 60_000;
/// The longest a fault may live: an hour, so a forgotten one still ends the same day.
pub const MAX_TTL_S: u64 = 3_600;
/// What an injected error answers when the body names no status.
pub const DEFAULT_ERROR_STATUS: u64 = 503;

/// One service's whole fault. Every dose is optional (absent = zero), the TTL is not: a fault
/// without an end is exactly what the TTL exists to prevent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Added before a matching business handler runs (inside the sync worker limit).
    #[serde(default)]
    pub latency_ms: u64,
    /// A uniform extra delay in `0..=jitter_ms` on top of `latency_ms`.
    #[serde(default)]
    pub jitter_ms: u64,
    /// The share of matching requests answered with `error_status` instead of the handler.
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default = "default_error_status")]
    pub error_status: u64,
    /// Slept before each consumed message is handled (every queue; `route_prefix` is about
    /// HTTP paths only).
    #[serde(default)]
    pub consumer_delay_ms: u64,
    /// Only business paths starting with this are faulted; all of them when `None`.
    #[serde(default)]
    pub route_prefix: Option<String>,
    /// Seconds from the PUT until the service clears the fault by itself.
    pub ttl_s: u64,
}

fn default_error_status() -> u64 {
    DEFAULT_ERROR_STATUS
}

impl FaultSpec {
    /// Reads a request body: unknown fields, wrong types, values out of range and a missing
    /// `ttl_s` are refused with a message that begins with the field's name.
    pub fn parse(body: Value) -> Result<FaultSpec, String> {
        if !body.is_object() {
            return Err("expected a JSON object of fault fields".to_owned());
        }
        let spec: FaultSpec = serde_path_to_error::deserialize(body).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner().to_string();
            // Errors about the object itself (an unknown or a missing field) carry the
            // field's name in serde's own words; put it first, as for every other error.
            match field_named_in(&inner) {
                Some(field) if path == "." => format!("{field}: {inner}"),
                _ if path == "." => inner,
                _ => format!("{path}: {inner}"),
            }
        })?;
        spec.validate()?;
        Ok(spec)
    }

    fn validate(&self) -> Result<(), String> {
        for (field, value) in [
            ("latency_ms", self.latency_ms),
            ("jitter_ms", self.jitter_ms),
            ("consumer_delay_ms", self.consumer_delay_ms),
        ] {
            if value > MAX_DELAY_MS {
                return Err(format!("{field}: must be at most {MAX_DELAY_MS}"));
            }
        }
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "error_rate: must be within 0.0..=1.0, got {}",
                self.error_rate
            ));
        }
        if !(500..=599).contains(&self.error_status) {
            return Err(format!(
                "error_status: must be within 500..=599, got {}",
                self.error_status
            ));
        }
        if let Some(prefix) = &self.route_prefix
            && !prefix.starts_with('/')
        {
            return Err(format!(
                "route_prefix: must start with \"/\", got {prefix:?}"
            ));
        }
        if self.ttl_s == 0 {
            return Err("ttl_s: must be at least 1".to_owned());
        }
        if self.ttl_s > MAX_TTL_S {
            return Err(format!("ttl_s: must be at most {MAX_TTL_S}"));
        }
        Ok(())
    }

    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_s)
    }

    /// Whether requests to `path` are faulted.
    pub fn covers(&self, path: &str) -> bool {
        self.route_prefix
            .as_deref()
            .is_none_or(|prefix| path.starts_with(prefix))
    }

    /// The delay of one request: `latency_ms` plus a fresh uniform draw of the jitter.
    pub fn request_delay(&self) -> Duration {
        Duration::from_millis(self.latency_ms + crate::chance::up_to(self.jitter_ms))
    }

    pub fn consumer_delay(&self) -> Duration {
        Duration::from_millis(self.consumer_delay_ms)
    }

    /// One line for the log: only the doses it carries.
    pub fn summary(&self) -> String {
        let mut doses = Vec::new();
        if self.latency_ms > 0 || self.jitter_ms > 0 {
            doses.push(format!(
                "latency {} ms + 0..={} ms",
                self.latency_ms, self.jitter_ms
            ));
        }
        if self.error_rate > 0.0 {
            doses.push(format!(
                "errors {} % as {}",
                self.error_rate * 100.0,
                self.error_status
            ));
        }
        if self.consumer_delay_ms > 0 {
            doses.push(format!("consumer delay {} ms", self.consumer_delay_ms));
        }
        if doses.is_empty() {
            doses.push("no dose".to_owned());
        }
        let scope = self
            .route_prefix
            .as_deref()
            .unwrap_or("every business route");
        format!("{} on {scope} for {} s", doses.join(", "), self.ttl_s)
    }
}

/// The field serde names between backticks in "unknown field `x`, expected …" or
/// "missing field `x`".
fn field_named_in(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refusal(body: Value) -> String {
        FaultSpec::parse(body).expect_err("refused")
    }

    #[test]
    fn only_ttl_is_required_and_the_rest_defaults_to_zero() {
        let spec = FaultSpec::parse(json!({ "ttl_s": 5 })).unwrap();
        assert_eq!(
            spec,
            FaultSpec {
                latency_ms: 0,
                jitter_ms: 0,
                error_rate: 0.0,
                error_status: 503,
                consumer_delay_ms: 0,
                route_prefix: None,
                ttl_s: 5,
            }
        );
    }

    #[test]
    fn every_refusal_begins_with_the_field_it_is_about() {
        for (body, field) in [
            (json!({ "latency_ms": 1 }), "ttl_s: missing field"),
            (
                json!({ "ttl_s": 1, "latency": 1 }),
                "latency: unknown field",
            ),
            (
                json!({ "ttl_s": 1, "latency_ms": "slow" }),
                "latency_ms: invalid type",
            ),
            (
                json!({ "ttl_s": 1, "jitter_ms": -1 }),
                "jitter_ms: invalid value",
            ),
            (
                json!({ "ttl_s": 1, "latency_ms": 60_001 }),
                "latency_ms: must be at most 60000",
            ),
            (
                json!({ "ttl_s": 1, "jitter_ms": 60_001 }),
                "jitter_ms: must be at most 60000",
            ),
            (
                json!({ "ttl_s": 1, "consumer_delay_ms": 70_000 }),
                "consumer_delay_ms: must be",
            ),
            (
                json!({ "ttl_s": 1, "error_rate": 1.5 }),
                "error_rate: must be within",
            ),
            (
                json!({ "ttl_s": 1, "error_rate": -0.1 }),
                "error_rate: must be within",
            ),
            (
                json!({ "ttl_s": 1, "error_status": 404 }),
                "error_status: must be within",
            ),
            (
                json!({ "ttl_s": 1, "error_status": 600 }),
                "error_status: must be within",
            ),
            (
                json!({ "ttl_s": 1, "route_prefix": "users" }),
                "route_prefix: must start",
            ),
            (
                json!({ "ttl_s": 1, "route_prefix": 7 }),
                "route_prefix: invalid type",
            ),
            (json!({ "ttl_s": 0 }), "ttl_s: must be at least 1"),
            (json!({ "ttl_s": 3601 }), "ttl_s: must be at most 3600"),
            (json!({ "ttl_s": 1.5 }), "ttl_s: invalid type"),
        ] {
            let message = refusal(body.clone());
            assert!(message.starts_with(field), "{body}: {message}");
        }
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        assert_eq!(
            refusal(json!([1, 2])),
            "expected a JSON object of fault fields"
        );
    }

    #[test]
    fn the_route_prefix_limits_the_paths() {
        let mut spec = FaultSpec::parse(json!({ "ttl_s": 1 })).unwrap();
        assert!(spec.covers("/register"));
        spec.route_prefix = Some("/users".to_owned());
        assert!(spec.covers("/users/7"));
        assert!(!spec.covers("/register"));
    }

    #[test]
    fn the_request_delay_is_the_latency_plus_at_most_the_jitter() {
        let spec =
            FaultSpec::parse(json!({ "ttl_s": 1, "latency_ms": 100, "jitter_ms": 50 })).unwrap();
        for _ in 0..100 {
            let delay = spec.request_delay();
            assert!(delay >= Duration::from_millis(100) && delay <= Duration::from_millis(150));
        }
    }
}
