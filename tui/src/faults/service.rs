//! Service faults through each service's `PUT | GET | DELETE /admin/faults`, with the stack's
//! admin token ([`AdminSettings`]). The service holds the fault and clears it by itself at its
//! TTL, so nothing here has to outlive ms-tui.
//!
//! A service has one fault slot: a PUT replaces the whole fault, and one slot may carry
//! several doses at once (latency and errors), which the list shows as one fault each.
//!
//! A replica (`async/email#2`) has no published port: its slot is reached with
//! `ms-service admin` inside the container ([`crate::docker::exec`]), the same calls.

use std::time::Duration;

use anyhow::{Context, bail};
use common::Mode;
use common::scenario::Service;
use serde::Deserialize;
use serde_json::{Value, json};

use super::platform::Platform;
use super::{FaultKind, FaultTarget};
use crate::admin::{AdminSettings, TOKEN_ENV};
use crate::docker::Project;

/// A service that does not answer by then is treated as unreadable (a paused one never does).
const TIMEOUT: Duration = Duration::from_secs(2);

/// The fault a service reports (`"fault"` of its answer); absent fields are zero.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RemoteFault {
    pub latency_ms: u64,
    pub jitter_ms: u64,
    pub error_rate: f64,
    pub error_status: u16,
    pub consumer_delay_ms: u64,
    pub route_prefix: Option<String>,
    pub ttl_s: u64,
    pub expires_in_s: f64,
}

impl RemoteFault {
    /// Each dose it carries as a [`FaultKind`].
    pub fn kinds(&self) -> Vec<FaultKind> {
        let mut kinds = Vec::new();
        if self.latency_ms > 0 || self.jitter_ms > 0 {
            kinds.push(FaultKind::Latency {
                ms: self.latency_ms,
                jitter_ms: self.jitter_ms,
            });
        }
        if self.error_rate > 0.0 {
            kinds.push(FaultKind::Errors {
                rate: self.error_rate,
                status: if self.error_status == 0 {
                    503
                } else {
                    self.error_status
                },
            });
        }
        if self.consumer_delay_ms > 0 {
            kinds.push(FaultKind::SlowConsumer {
                ms: self.consumer_delay_ms,
            });
        }
        kinds
    }
}

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    fault: Option<RemoteFault>,
}

/// The body of the PUT for one dose (a PUT replaces the whole fault: the rest is zero).
pub fn body(kind: &FaultKind, route_prefix: Option<&str>, ttl: Duration) -> anyhow::Result<Value> {
    let mut body = match kind {
        FaultKind::Latency { ms, jitter_ms } => json!({ "latency_ms": ms, "jitter_ms": jitter_ms }),
        FaultKind::Errors { rate, status } => json!({ "error_rate": rate, "error_status": status }),
        FaultKind::SlowConsumer { ms } => json!({ "consumer_delay_ms": ms }),
        other => bail!("{} is a platform fault, not a service's", other.word()),
    };
    body["ttl_s"] = json!(ttl.as_secs().max(1));
    if let Some(prefix) = route_prefix {
        body["route_prefix"] = json!(prefix);
    }
    Ok(body)
}

/// The service and mode of a target that has an admin API (every service but the gateway).
pub fn service_of(target: &FaultTarget) -> anyhow::Result<(Service, Mode)> {
    let mode = match target.group.as_str() {
        "sync" => Mode::Sync,
        "async" => Mode::Async,
        _ => bail!(
            "{} has no admin API: only the services take service faults",
            target.label()
        ),
    };
    let service = Service::ALL
        .into_iter()
        .find(|s| s.name() == target.base_service() && *s != Service::Gateway)
        .with_context(|| format!("{} has no admin API", target.label()))?;
    Ok((service, mode))
}

/// Every target with an admin API on a published port: the ten services in both modes
/// (replicas are found on the platform).
pub fn targets() -> Vec<FaultTarget> {
    Mode::ALL
        .iter()
        .flat_map(|mode| {
            Service::ALL
                .into_iter()
                .filter(|s| *s != Service::Gateway)
                .map(|s| FaultTarget::service(s.name(), *mode))
        })
        .collect()
}

/// The services' admin API, for faults.
#[derive(Clone)]
pub struct ServiceFaults {
    http: reqwest::Client,
    settings: AdminSettings,
    /// Whose replicas are reached by exec.
    project: Project,
}

impl ServiceFaults {
    pub fn new(settings: AdminSettings) -> ServiceFaults {
        ServiceFaults {
            http: common::http::client(TIMEOUT),
            settings,
            project: Project::default(),
        }
    }

    /// The replicas reached are `project`'s (the stack's by default).
    pub fn for_project(mut self, project: Project) -> ServiceFaults {
        self.project = project;
        self
    }

    fn url(&self, target: &FaultTarget) -> anyhow::Result<String> {
        let (service, mode) = service_of(target)?;
        Ok(format!(
            "http://{}:{}/admin/faults",
            self.settings.host,
            service.port(mode)
        ))
    }

    fn token(&self) -> anyhow::Result<&str> {
        self.settings.token.as_deref().with_context(|| {
            format!("no admin token: set {TOKEN_ENV} or run `ms-tui up` (compose/.env)")
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        target: &FaultTarget,
        body: Option<Value>,
    ) -> anyhow::Result<Option<RemoteFault>> {
        let answer = if target.replica() > 1 {
            service_of(target)?;
            let docker = crate::docker::connect().await?;
            let platform = Platform::new(docker, self.project.clone());
            let answer = platform
                .admin(target, &method, "/admin/faults", body.as_ref())
                .await?;
            serde_json::from_value::<Answer>(answer.clone()).with_context(|| {
                format!(
                    "{method} /admin/faults on {}: unexpected answer {answer}",
                    target.label()
                )
            })?
        } else {
            self.call_published(method, target, body).await?
        };
        Ok(answer.fault)
    }

    /// The call on the service's published port.
    async fn call_published(
        &self,
        method: reqwest::Method,
        target: &FaultTarget,
        body: Option<Value>,
    ) -> anyhow::Result<Answer> {
        let mut request = self
            .http
            .request(method.clone(), self.url(target)?)
            .bearer_auth(self.token()?);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let what = || format!("{method} /admin/faults on {}", target.label());
        let response = request.send().await.with_context(what)?;
        let status = response.status();
        let text = response.text().await.with_context(what)?;
        if !status.is_success() {
            bail!("{}: {status} {}", what(), text.trim());
        }
        serde_json::from_str(&text).with_context(|| format!("{}: unexpected answer {text}", what()))
    }

    /// Replaces `target`'s fault with this dose; the fault now in force.
    pub async fn put(
        &self,
        target: &FaultTarget,
        kind: &FaultKind,
        route_prefix: Option<&str>,
        ttl: Duration,
    ) -> anyhow::Result<Option<RemoteFault>> {
        let body = body(kind, route_prefix, ttl)?;
        self.call(reqwest::Method::PUT, target, Some(body)).await
    }

    /// `target`'s fault now, `None` when it has none.
    pub async fn get(&self, target: &FaultTarget) -> anyhow::Result<Option<RemoteFault>> {
        self.call(reqwest::Method::GET, target, None).await
    }

    /// Clears `target`'s fault.
    pub async fn delete(&self, target: &FaultTarget) -> anyhow::Result<()> {
        self.call(reqwest::Method::DELETE, target, None)
            .await
            .map(drop)
    }

    /// Every service's fault, asked all at once; a service that does not answer (stopped,
    /// paused, partitioned, or without the fault API) is left out.
    pub async fn all(&self) -> Vec<(FaultTarget, RemoteFault)> {
        self.of(targets()).await
    }

    /// The faults of these targets, asked all at once (left out as in [`ServiceFaults::all`]).
    pub async fn of(&self, targets: Vec<FaultTarget>) -> Vec<(FaultTarget, RemoteFault)> {
        let answers = futures_util::future::join_all(targets.iter().map(|t| self.get(t))).await;
        targets
            .into_iter()
            .zip(answers)
            .filter_map(|(t, a)| Some((t, a.ok()??)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_carries_one_dose_and_the_ttl() {
        let latency = FaultKind::Latency {
            ms: 200,
            jitter_ms: 50,
        };
        assert_eq!(
            body(&latency, Some("/search"), Duration::from_secs(30)).unwrap(),
            json!({"latency_ms": 200, "jitter_ms": 50, "ttl_s": 30, "route_prefix": "/search"})
        );
        let errors = FaultKind::Errors {
            rate: 0.5,
            status: 500,
        };
        assert_eq!(
            body(&errors, None, Duration::from_millis(300)).unwrap(),
            json!({"error_rate": 0.5, "error_status": 500, "ttl_s": 1})
        );
        assert!(body(&FaultKind::Pause, None, Duration::from_secs(1)).is_err());
    }

    #[test]
    fn an_answer_reads_as_one_fault_per_dose() {
        let answer: Answer = serde_json::from_str(
            r#"{"service":"email","mode":"async","fault":{"latency_ms":0,"jitter_ms":0,
            "error_rate":1.0,"error_status":500,"consumer_delay_ms":300,"route_prefix":null,
            "ttl_s":30,"expires_in_s":12}}"#,
        )
        .unwrap();
        let fault = answer.fault.unwrap();
        assert_eq!(
            fault.kinds(),
            [
                FaultKind::Errors {
                    rate: 1.0,
                    status: 500
                },
                FaultKind::SlowConsumer { ms: 300 }
            ]
        );
        assert_eq!(fault.expires_in_s, 12.0);
        let none: Answer =
            serde_json::from_str(r#"{"service":"email","mode":"async","fault":null}"#).unwrap();
        assert!(none.fault.is_none());
    }

    #[test]
    fn only_the_services_have_an_admin_api() {
        assert_eq!(targets().len(), 20);
        assert!(service_of(&FaultTarget::service("email", Mode::Async)).is_ok());
        let gateway = FaultTarget {
            group: "infra".into(),
            service: "gateway".into(),
        };
        assert!(service_of(&gateway).is_err());
        assert!(service_of(&FaultTarget::service("gateway", Mode::Sync)).is_err());
        assert_eq!(
            service_of(&FaultTarget::replica_of("email", 2)).unwrap(),
            (Service::Email, Mode::Async)
        );
    }
}
