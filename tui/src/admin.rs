//! Run-time knobs (docs/contract.md, Admin API): the payment failure rate, the e-mail delay, the sync
//! worker limit and the consumer concurrency, changed from the control room through every
//! service's `PUT /admin/config` with the stack's admin token.
//!
//! [`Knobs`] is what the user asked for (shown in the status line); the admin worker sends
//! the change to each service of the modes concerned and reports how many took it, and, for
//! the consumer concurrency, where a service runs with another value than asked (S4's report
//! worker stays at 1).

use std::collections::BTreeMap;
use std::time::Duration;

use common::Mode;
use common::scenario::{ScenarioId, Service};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::outbox::Outbox;

/// The values `f`, `d` and `w` cycle through; the first is the stack's default.
pub const FAILURE_RATES: [f64; 3] = [1.0, 0.3, 0.0];
pub const EMAIL_DELAYS_MS: [u64; 3] = [500, 100, 2000];
pub const SYNC_LIMITS: [u32; 3] = [0, 10, 40];
/// `c`: deliveries an async service's consumers handle at once (the default, 16, keeps S1's
/// backlog lesson; 128 drains it; 1 shows one-at-a-time).
pub const CONCURRENCIES: [u32; 3] = [16, 128, 1];

/// The `PUT /admin/config` field of each knob the keys turn.
pub const FAILURE_RATE_FIELD: &str = "payment_failure_rate";
pub const EMAIL_DELAY_FIELD: &str = "email_delay_ms";
pub const SYNC_LIMIT_FIELD: &str = "sync_max_inflight";
pub const CONCURRENCY_FIELD: &str = "consumer_concurrency";

/// The stack's default of a knob field the keys turn (the first of its steps); `None` for a
/// field they never send.
pub fn default_of(field: &str) -> Option<serde_json::Value> {
    Some(match field {
        FAILURE_RATE_FIELD => json!(FAILURE_RATES[0]),
        EMAIL_DELAY_FIELD => json!(EMAIL_DELAYS_MS[0]),
        SYNC_LIMIT_FIELD => json!(SYNC_LIMITS[0]),
        CONCURRENCY_FIELD => json!(CONCURRENCIES[0]),
        _ => return None,
    })
}

/// Environment variable that overrides the admin token of `compose/.env`.
pub const TOKEN_ENV: &str = "MS_ADMIN_TOKEN";

/// A knob the keys change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knob {
    /// `f`: S5's payment failure rate (payment, both modes).
    FailureRate,
    /// `d`: the e-mail delay of S1 (email, both modes: the comparison stays fair).
    EmailDelay,
    /// `w`: requests in flight per sync service (0 = unlimited); async has no such limit.
    SyncLimit,
    /// `c`: consumer concurrency of the async services that consume the selected scenario's
    /// queues (sync mode has no consumers).
    Concurrency,
}

/// The knob values as last asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    pub failure_rate: f64,
    pub email_delay_ms: u64,
    pub sync_limit: u32,
    /// Consumer concurrency asked of each async service; absent means the default.
    pub concurrency: BTreeMap<Service, u32>,
    /// What a service reported running with instead of what was asked (the report worker
    /// takes one CPU-bound job at a time whatever it is told): the status line says this,
    /// not the wish.
    pub effective: BTreeMap<Service, u32>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            failure_rate: FAILURE_RATES[0],
            email_delay_ms: EMAIL_DELAYS_MS[0],
            sync_limit: SYNC_LIMITS[0],
            concurrency: BTreeMap::new(),
            effective: BTreeMap::new(),
        }
    }
}

/// One change to send: the partial config and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct KnobChange {
    /// What the status line calls it, e.g. `payment failure rate 0.3`.
    pub label: String,
    pub patch: serde_json::Value,
    pub services: Vec<(Service, Mode)>,
    /// Replica containers of those services (no published port): reached by `docker exec
    /// … ms-service admin` instead ([`crate::docker::exec`]).
    pub replicas: Vec<crate::docker::Target>,
    /// The queues whose consumers a concurrency change is about (the scenario's): what a
    /// service's answer is read for ([`effective_concurrency`]). Empty for the other knobs.
    pub queues: &'static [&'static str],
    /// Set when the change puts back what a restart undid: the admin worker then logs what
    /// it re-applied (or why it could not).
    pub reapply: bool,
}

fn next<T: PartialEq + Copy>(steps: &[T], now: T) -> T {
    let i = steps.iter().position(|s| *s == now).map_or(0, |i| i + 1);
    steps[i % steps.len()]
}

impl Knobs {
    /// Steps `knob` to its next value; returns the change to send. `scenario` (the selected
    /// one) says whose consumers [`Knob::Concurrency`] reaches; the other knobs ignore it.
    pub fn cycle(&mut self, knob: Knob, scenario: ScenarioId) -> KnobChange {
        match knob {
            Knob::FailureRate => {
                self.failure_rate = next(&FAILURE_RATES, self.failure_rate);
                KnobChange {
                    label: format!("payment failure rate {}", self.failure_rate),
                    patch: json!({ FAILURE_RATE_FIELD: self.failure_rate }),
                    services: Mode::ALL.iter().map(|m| (Service::Payment, *m)).collect(),
                    replicas: Vec::new(),
                    queues: &[],
                    reapply: false,
                }
            }
            Knob::EmailDelay => {
                self.email_delay_ms = next(&EMAIL_DELAYS_MS, self.email_delay_ms);
                KnobChange {
                    label: format!("e-mail delay {} ms", self.email_delay_ms),
                    patch: json!({ EMAIL_DELAY_FIELD: self.email_delay_ms }),
                    services: Mode::ALL.iter().map(|m| (Service::Email, *m)).collect(),
                    replicas: Vec::new(),
                    queues: &[],
                    reapply: false,
                }
            }
            Knob::SyncLimit => {
                self.sync_limit = next(&SYNC_LIMITS, self.sync_limit);
                KnobChange {
                    label: format!("sync worker limit {}", self.sync_limit),
                    patch: json!({ SYNC_LIMIT_FIELD: self.sync_limit }),
                    services: Service::ALL
                        .iter()
                        .filter(|s| **s != Service::Gateway)
                        .map(|s| (*s, Mode::Sync))
                        .collect(),
                    replicas: Vec::new(),
                    queues: &[],
                    reapply: false,
                }
            }
            Knob::Concurrency => self.cycle_concurrency(scenario),
        }
    }

    /// All the scenario's consumers take the step after the first one's value, so a scenario
    /// whose services were set apart (S3 after S6) comes back in line.
    fn cycle_concurrency(&mut self, scenario: ScenarioId) -> KnobChange {
        let services = common::scenario::get(scenario).consumers();
        let now = services
            .first()
            .and_then(|s| self.concurrency.get(s))
            .copied()
            .unwrap_or(CONCURRENCIES[0]);
        let value = next(&CONCURRENCIES, now);
        for service in &services {
            self.effective.remove(service);
            if value == CONCURRENCIES[0] {
                self.concurrency.remove(service);
            } else {
                self.concurrency.insert(*service, value);
            }
        }
        let names: Vec<&str> = services.iter().map(|s| s.name()).collect();
        KnobChange {
            label: format!(
                "consumer concurrency {value} on {scenario} ({})",
                names.join(", ")
            ),
            patch: json!({ CONCURRENCY_FIELD: value }),
            services: services.into_iter().map(|s| (s, Mode::Async)).collect(),
            replicas: Vec::new(),
            queues: common::scenario::get(scenario).queues,
            reapply: false,
        }
    }

    /// Takes what the services reported running with (see [`KnobOutcome::effective`]).
    pub fn on_effective(&mut self, effective: &[(Service, u32)]) {
        for (service, value) in effective {
            self.effective.insert(*service, *value);
        }
    }

    /// The status line's words for them.
    pub fn describe(&self) -> String {
        let limit = if self.sync_limit == 0 {
            "off".to_owned()
        } else {
            self.sync_limit.to_string()
        };
        let mut words = format!(
            "fail {} · e-mail {} ms · sync limit {limit}",
            self.failure_rate, self.email_delay_ms
        );
        if !self.concurrency.is_empty() {
            let each: Vec<String> = self
                .concurrency
                .iter()
                .map(|(service, asked)| match self.effective.get(service) {
                    Some(runs) if runs != asked => format!("{service} {runs} (asked {asked})"),
                    _ => format!("{service} {asked}"),
                })
                .collect();
            words.push_str(&format!(" · consumers {}", each.join(", ")));
        }
        words
    }
}

/// What the admin worker reports for one change.
#[derive(Debug, Clone, PartialEq)]
pub struct KnobOutcome {
    pub label: String,
    pub applied: usize,
    pub of: usize,
    /// The first refusal or failure, for the status line.
    pub error: Option<String>,
    /// For a consumer-concurrency change: the async services that answered with another
    /// effective concurrency than asked, and that value.
    pub effective: Vec<(Service, u32)>,
}

impl KnobOutcome {
    /// The status line's (and the log's) words: how many took it, where it runs otherwise,
    /// the first failure.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{}: applied on {}/{} services",
            self.label, self.applied, self.of
        );
        for (service, value) in &self.effective {
            text.push_str(&format!("; async/{service} runs {value} at once"));
        }
        if let Some(e) = &self.error {
            text.push_str(&format!(" ({e})"));
        }
        text
    }
}

/// Where the services are and the token their admin API wants.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub host: String,
    pub token: Option<String>,
}

impl AdminSettings {
    /// [`TOKEN_ENV`] when set, else the token of `compose/.env`.
    pub fn discover(host: &str, stack: &crate::stack::StackOptions) -> AdminSettings {
        let token = std::env::var(TOKEN_ENV).ok().or_else(|| {
            crate::stack::Layout::discover(stack.root.as_deref())
                .and_then(|layout| layout.env())
                .map(|env| env.admin_token().to_owned())
                .ok()
        });
        AdminSettings {
            host: host.to_owned(),
            token,
        }
    }
}

/// Starts the admin worker: it applies the changes sent on the returned sender, one after
/// another, and reports each [`KnobOutcome`] on `to_app` (any channel whose message wraps it).
pub fn spawn<M: From<KnobOutcome> + Send + 'static>(
    settings: AdminSettings,
    to_app: mpsc::Sender<M>,
) -> (mpsc::Sender<KnobChange>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<KnobChange>(16);
    let to_app = Outbox::new(to_app);
    let task = tokio::spawn(async move {
        let http = common::http::client(Duration::from_secs(3));
        while let Some(change) = rx.recv().await {
            let reapply = change.reapply;
            let outcome = apply(&http, &settings, change).await;
            if reapply {
                log_reapply(&outcome);
            } else if !outcome.effective.is_empty() {
                // What a service runs with instead of what was asked stays on record.
                tracing::info!("{}", outcome.describe());
            }
            if !to_app.send(outcome).await {
                break;
            }
        }
    });
    (tx, task)
}

/// A re-apply after a restart goes to the log (the notice moves on; the log stays): what was
/// put back, or that it was not.
fn log_reapply(outcome: &KnobOutcome) {
    match &outcome.error {
        None => tracing::info!("{}", outcome.label),
        Some(e) => tracing::warn!("{}: NOT re-applied ({e})", outcome.label),
    }
}

/// Sends one change to every service concerned, all at once.
pub async fn apply(
    http: &reqwest::Client,
    settings: &AdminSettings,
    change: KnobChange,
) -> KnobOutcome {
    let of = change.services.len() + change.replicas.len();
    let Some(token) = settings.token.as_deref() else {
        return KnobOutcome {
            label: change.label,
            applied: 0,
            of,
            error: Some(format!(
                "no admin token: set {TOKEN_ENV} or run `ms-tui up` (compose/.env)"
            )),
            effective: Vec::new(),
        };
    };
    let asked = change.patch.get(CONCURRENCY_FIELD).and_then(|v| v.as_u64());
    let queues = change.queues;
    let calls = change.services.iter().map(|(service, mode)| {
        let url = format!(
            "http://{}:{}/admin/config",
            settings.host,
            service.port(*mode)
        );
        let request = http.put(url).bearer_auth(token).json(&change.patch);
        async move {
            match request.send().await {
                Ok(r) if r.status().is_success() => {
                    // The answer is the service's whole configuration after the change.
                    let answer = r.json::<serde_json::Value>().await.unwrap_or_default();
                    Ok(asked
                        .and_then(|_| effective_concurrency(&answer, queues))
                        .filter(|runs| Some(u64::from(*runs)) != asked)
                        .map(|runs| (*service, runs)))
                }
                Ok(r) => Err(format!("{mode}/{service}: {}", r.status())),
                Err(e) => Err(format!(
                    "{mode}/{service}: {}",
                    if e.is_connect() {
                        "not reachable".to_owned()
                    } else {
                        e.to_string()
                    }
                )),
            }
        }
    });
    let mut results = futures_util::future::join_all(calls).await;
    results.extend(apply_to_replicas(&change.replicas, &change.patch).await);
    let applied = results.iter().filter(|r| r.is_ok()).count();
    let effective = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied().flatten())
        .collect();
    KnobOutcome {
        label: change.label,
        applied,
        of,
        error: results.into_iter().find_map(Result::err),
        effective,
    }
}

/// The change inside each replica, through the engine's exec (one at a time: an exec is a
/// process in the container, and a loaded 2-core host takes seconds for a few of them).
async fn apply_to_replicas(
    replicas: &[crate::docker::Target],
    patch: &serde_json::Value,
) -> Vec<Result<Option<(Service, u32)>, String>> {
    if replicas.is_empty() {
        return Vec::new();
    }
    let docker = match crate::docker::connect().await {
        Ok(docker) => docker,
        Err(e) => {
            return replicas
                .iter()
                .map(|r| Err(format!("{}: {e}", r.label)))
                .collect();
        }
    };
    let project = crate::docker::Project::default();
    let mut results = Vec::with_capacity(replicas.len());
    for replica in replicas {
        let answer = crate::docker::exec::admin(
            &docker,
            &project,
            &replica.id,
            &reqwest::Method::PUT,
            "/admin/config",
            Some(patch),
        )
        .await;
        results.push(
            answer
                .map(|_| None)
                .map_err(|e| format!("{}: {e:#}", replica.label)),
        );
    }
    results
}

/// The deliveries a service says it handles at once on `queues` (all its queues when empty),
/// from its `/admin/config` answer: `consumers` lists each consumer's effective concurrency
/// (the knob, capped by the database pool, or fixed, as S4's worker at 1); the lowest of the
/// queues asked about.
pub fn effective_concurrency(answer: &serde_json::Value, queues: &[&str]) -> Option<u32> {
    answer
        .get("consumers")?
        .as_object()?
        .iter()
        .filter(|(queue, _)| queues.is_empty() || queues.contains(&queue.as_str()))
        .filter_map(|(_, consumer)| consumer.get("concurrency")?.as_u64())
        .min()
        .and_then(|v| u32::try_from(v).ok())
}

/// The services of the data plane in `mode` (the gateway has no admin API).
pub fn services_of(mode: Mode) -> Vec<(Service, Mode)> {
    Service::ALL
        .iter()
        .filter(|s| **s != Service::Gateway)
        .map(|s| (*s, mode))
        .collect()
}

/// One admin call to one service: `method path` with the token and an optional JSON body;
/// the answer's JSON, or why not.
pub async fn call(
    http: &reqwest::Client,
    settings: &AdminSettings,
    (service, mode): (Service, Mode),
    method: reqwest::Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let Some(token) = settings.token.as_deref() else {
        anyhow::bail!("no admin token: set {TOKEN_ENV} or run `ms-tui up` (compose/.env)");
    };
    let url = format!("http://{}:{}{path}", settings.host, service.port(mode));
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let answer = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{mode}/{service} {path}: {e}"))?;
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("{mode}/{service} {path}: {status} {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S1: ScenarioId = ScenarioId::S1;

    #[test]
    fn knobs_cycle_through_their_steps_and_back() {
        let mut k = Knobs::default();
        let change = k.cycle(Knob::FailureRate, S1);
        assert_eq!(change.patch, json!({"payment_failure_rate": 0.3}));
        assert_eq!(change.services.len(), 2);
        k.cycle(Knob::FailureRate, S1);
        assert_eq!(k.failure_rate, 0.0);
        k.cycle(Knob::FailureRate, S1);
        assert_eq!(k.failure_rate, 1.0);
        let sync = k.cycle(Knob::SyncLimit, S1);
        assert!(sync.services.iter().all(|(_, m)| *m == Mode::Sync));
        assert_eq!(sync.services.len(), 10);
        assert_eq!(k.describe(), "fail 1 · e-mail 500 ms · sync limit 10");
    }

    #[test]
    fn concurrency_cycles_on_the_scenarios_async_consumers() {
        let mut k = Knobs::default();
        let change = k.cycle(Knob::Concurrency, S1);
        assert_eq!(change.patch, json!({"consumer_concurrency": 128}));
        assert_eq!(change.services, [(Service::Email, Mode::Async)]);
        assert_eq!(change.label, "consumer concurrency 128 on S1 (email)");
        let s3 = k.cycle(Knob::Concurrency, ScenarioId::S3);
        assert_eq!(
            s3.services,
            [
                (Service::Analytics, Mode::Async),
                (Service::Search, Mode::Async),
                (Service::Cache, Mode::Async)
            ]
        );
        assert_eq!(s3.patch, json!({"consumer_concurrency": 128}));
        assert_eq!(
            k.cycle(Knob::Concurrency, S1).patch,
            json!({"consumer_concurrency": 1})
        );
        assert_eq!(
            k.describe(),
            "fail 1 · e-mail 500 ms · sync limit off · consumers analytics 128, email 1, \
             search 128, cache 128"
        );
        k.cycle(Knob::Concurrency, S1);
        assert!(
            !k.concurrency.contains_key(&Service::Email),
            "16 is the default"
        );
    }

    #[test]
    fn the_status_says_what_a_service_runs_with_not_what_was_asked() {
        let mut k = Knobs::default();
        let change = k.cycle(Knob::Concurrency, ScenarioId::S4);
        assert_eq!(change.services, [(Service::Report, Mode::Async)]);
        k.on_effective(&[(Service::Report, 1)]);
        assert!(
            k.describe().ends_with("consumers report 1 (asked 128)"),
            "{}",
            k.describe()
        );
        let outcome = KnobOutcome {
            label: change.label,
            applied: 1,
            of: 1,
            error: None,
            effective: vec![(Service::Report, 1)],
        };
        assert_eq!(
            outcome.describe(),
            "consumer concurrency 128 on S4 (report): applied on 1/1 services; \
             async/report runs 1 at once"
        );
    }

    #[test]
    fn the_effective_concurrency_is_read_from_the_config_answer() {
        let answer = json!({"service": "email", "mode": "async",
        "knobs": {"consumer_concurrency": 128},
        "consumers": {
            "user_registered_queue": {"concurrency": 128, "limited_by": "consumer_concurrency"},
            "notifications": {"concurrency": 10, "limited_by": "db_pool"}
        }});
        assert_eq!(
            effective_concurrency(&answer, &["user_registered_queue"]),
            Some(128)
        );
        assert_eq!(effective_concurrency(&answer, &["notifications"]), Some(10));
        assert_eq!(effective_concurrency(&answer, &[]), Some(10));
        assert_eq!(effective_concurrency(&json!({"knobs": {}}), &[]), None);
    }

    #[test]
    fn every_field_the_keys_send_has_its_default() {
        let mut k = Knobs::default();
        for knob in [
            Knob::FailureRate,
            Knob::EmailDelay,
            Knob::SyncLimit,
            Knob::Concurrency,
        ] {
            let change = k.cycle(knob, S1);
            for field in change.patch.as_object().into_iter().flat_map(|o| o.keys()) {
                assert!(default_of(field).is_some(), "{field}");
            }
        }
        assert_eq!(default_of("consumer_concurrency"), Some(json!(16)));
        assert_eq!(default_of("nope"), None);
    }

    #[tokio::test]
    async fn without_a_token_nothing_is_sent_and_it_says_why() {
        let settings = AdminSettings {
            host: "127.0.0.1".into(),
            token: None,
        };
        let change = Knobs::default().cycle(Knob::EmailDelay, S1);
        let out = apply(&reqwest::Client::new(), &settings, change).await;
        assert_eq!((out.applied, out.of), (0, 2));
        assert!(out.error.unwrap().contains(TOKEN_ENV));
    }
}
