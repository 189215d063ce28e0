//! Run-time knobs (docs/contract.md, Admin API): the payment failure rate, the e-mail delay and the sync
//! worker limit, changed from the control room through every service's `PUT /admin/config`
//! with the stack's admin token.
//!
//! [`Knobs`] is what the user asked for (shown in the status line); the admin worker sends
//! the change to each service of the modes concerned and reports how many took it.

use std::time::Duration;

use common::Mode;
use common::scenario::Service;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::outbox::Outbox;

/// The values `f`, `d` and `w` cycle through; the first is the stack's default.
pub const FAILURE_RATES: [f64; 3] = [1.0, 0.3, 0.0];
pub const EMAIL_DELAYS_MS: [u64; 3] = [500, 100, 2000];
pub const SYNC_LIMITS: [u32; 3] = [0, 10, 40];

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
}

/// The knob values as last asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knobs {
    pub failure_rate: f64,
    pub email_delay_ms: u64,
    pub sync_limit: u32,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            failure_rate: FAILURE_RATES[0],
            email_delay_ms: EMAIL_DELAYS_MS[0],
            sync_limit: SYNC_LIMITS[0],
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
}

fn next<T: PartialEq + Copy>(steps: &[T], now: T) -> T {
    let i = steps.iter().position(|s| *s == now).map_or(0, |i| i + 1);
    steps[i % steps.len()]
}

impl Knobs {
    /// Steps `knob` to its next value; returns the change to send.
    pub fn cycle(&mut self, knob: Knob) -> KnobChange {
        match knob {
            Knob::FailureRate => {
                self.failure_rate = next(&FAILURE_RATES, self.failure_rate);
                KnobChange {
                    label: format!("payment failure rate {}", self.failure_rate),
                    patch: json!({ "payment_failure_rate": self.failure_rate }),
                    services: Mode::ALL.iter().map(|m| (Service::Payment, *m)).collect(),
                }
            }
            Knob::EmailDelay => {
                self.email_delay_ms = next(&EMAIL_DELAYS_MS, self.email_delay_ms);
                KnobChange {
                    label: format!("e-mail delay {} ms", self.email_delay_ms),
                    patch: json!({ "email_delay_ms": self.email_delay_ms }),
                    services: Mode::ALL.iter().map(|m| (Service::Email, *m)).collect(),
                }
            }
            Knob::SyncLimit => {
                self.sync_limit = next(&SYNC_LIMITS, self.sync_limit);
                KnobChange {
                    label: format!("sync worker limit {}", self.sync_limit),
                    patch: json!({ "sync_max_inflight": self.sync_limit }),
                    services: Service::ALL
                        .iter()
                        .filter(|s| **s != Service::Gateway)
                        .map(|s| (*s, Mode::Sync))
                        .collect(),
                }
            }
        }
    }

    /// The status line's words for them.
    pub fn describe(&self) -> String {
        let limit = if self.sync_limit == 0 {
            "off".to_owned()
        } else {
            self.sync_limit.to_string()
        };
        format!(
            "fail {} · e-mail {} ms · sync limit {limit}",
            self.failure_rate, self.email_delay_ms
        )
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
            let outcome = apply(&http, &settings, change).await;
            if !to_app.send(outcome).await {
                break;
            }
        }
    });
    (tx, task)
}

/// Sends one change to every service concerned, all at once.
pub async fn apply(
    http: &reqwest::Client,
    settings: &AdminSettings,
    change: KnobChange,
) -> KnobOutcome {
    let of = change.services.len();
    let Some(token) = settings.token.as_deref() else {
        return KnobOutcome {
            label: change.label,
            applied: 0,
            of,
            error: Some(format!(
                "no admin token: set {TOKEN_ENV} or run `ms-tui up` (compose/.env)"
            )),
        };
    };
    let calls = change.services.iter().map(|(service, mode)| {
        let url = format!(
            "http://{}:{}/admin/config",
            settings.host,
            service.port(*mode)
        );
        let request = http.put(url).bearer_auth(token).json(&change.patch);
        async move {
            match request.send().await {
                Ok(r) if r.status().is_success() => Ok(()),
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
    let results = futures_util::future::join_all(calls).await;
    let applied = results.iter().filter(|r| r.is_ok()).count();
    KnobOutcome {
        label: change.label,
        applied,
        of,
        error: results.into_iter().find_map(Result::err),
    }
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

    #[test]
    fn knobs_cycle_through_their_steps_and_back() {
        let mut k = Knobs::default();
        let change = k.cycle(Knob::FailureRate);
        assert_eq!(change.patch, json!({"payment_failure_rate": 0.3}));
        assert_eq!(change.services.len(), 2);
        k.cycle(Knob::FailureRate);
        assert_eq!(k.failure_rate, 0.0);
        k.cycle(Knob::FailureRate);
        assert_eq!(k.failure_rate, 1.0);
        let sync = k.cycle(Knob::SyncLimit);
        assert!(sync.services.iter().all(|(_, m)| *m == Mode::Sync));
        assert_eq!(sync.services.len(), 10);
        assert_eq!(k.describe(), "fail 1 · e-mail 500 ms · sync limit 10");
    }

    #[tokio::test]
    async fn without_a_token_nothing_is_sent_and_it_says_why() {
        let settings = AdminSettings {
            host: "127.0.0.1".into(),
            token: None,
        };
        let change = Knobs::default().cycle(Knob::EmailDelay);
        let out = apply(&reqwest::Client::new(), &settings, change).await;
        assert_eq!((out.applied, out.of), (0, 2));
        assert!(out.error.unwrap().contains(TOKEN_ENV));
    }
}
