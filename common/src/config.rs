//! Settings read from the environment (each one also a `--flag`), and the run-time knobs.
//!
//! Every setting is a clap argument with an `env` name so that `ms-service --help` documents
//! all of them in one place. Knobs (delays, failure rate, worker limit, consumer concurrency)
//! start from the environment and can then be changed at run time through the admin API
//! (docs/contract.md, Admin API).

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::ApiError;

/// The communication style a service instance runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Request/response over HTTP: the caller waits for every hop.
    Sync,
    /// Events over RabbitMQ: answer once the broker confirmed, work happens later.
    Async,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Sync, Mode::Async];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Async => "async",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an async service announces a row it stored (docs/contract.md, Publish modes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum PublishMode {
    /// Commit the row, publish its event and answer 2xx once the broker confirmed it; 503
    /// and the row withdrawn when the confirm does not come.
    #[default]
    Confirm,
    /// Commit the row and an outbox entry in one transaction and answer 2xx after that
    /// commit; the service's relay publishes the entry (with confirms) when the broker takes it.
    Outbox,
}

impl TryFrom<String> for PublishMode {
    type Error = String;

    // Spelled out so that a wrong value's 422 names the knob (serde's own message does not).
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "confirm" => Ok(PublishMode::Confirm),
            "outbox" => Ok(PublishMode::Outbox),
            _ => Err(format!(
                "publish_mode must be `confirm` or `outbox`, got {value:?}"
            )),
        }
    }
}

/// Which delay defaults apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DelayProfile {
    /// The same delay per hop in both modes, so the comparison is fair.
    Contract,
    /// The peers' exact, mode-dependent delays (their sync fan-out steps had none).
    Peer,
}

/// Process-wide settings of one `ms-service` instance.
#[derive(clap::Args, Clone, Debug)]
pub struct Settings {
    /// Communication style of this instance.
    #[arg(long, env = "MODE", value_enum, default_value_t = Mode::Sync)]
    pub mode: Mode,
    /// TCP port of the HTTP API.
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
    /// Address to bind the HTTP API to.
    #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// RabbitMQ URL. Async services need it for every business event; sync services only
    /// publish completion events on it (and keep working without it). A cluster is one URL
    /// with its nodes as a host list (`amqp://u:p@rabbitmq:5672,rabbitmq-2:5672/%2f`): the
    /// service connects to the first that answers and fails over to the next.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub amqp_url: String,
    /// How the durable queues are declared: `classic` (one node) or `quorum` (a cluster).
    /// Every service of one broker must agree: the broker refuses a mismatch.
    #[arg(long, env = "QUEUE_TYPE", value_enum, default_value_t = crate::broker::topology::QueueType::Classic)]
    pub queue_type: crate::broker::topology::QueueType,
    /// PostgreSQL URL including the user and the database (one database per mode, e.g.
    /// `ms_sync`); the database is created when missing, the service's schema always.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://ms:ms@127.0.0.1:5432/ms_sync",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Connections in this service's pool (small pools, ≤ 5: a handful of services share one PostgreSQL).
    #[arg(long, env = "DB_POOL_MAX", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub db_pool_max: u32,
    /// Bearer token for `/admin/*`. Without it the admin API answers 401 to everyone.
    #[arg(long, env = "MS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Failed deliveries are retried this many times, then dead-lettered to `<queue>.dlq`.
    #[arg(long, env = "MAX_RETRIES", default_value_t = 3)]
    pub max_retries: u32,
    /// Wait before the first retry; attempt n waits n times this.
    #[arg(long, env = "RETRY_DELAY_MS", default_value_t = 1000)]
    pub retry_delay_ms: u64,
    /// Fault injection: hold each ack this long after the effect was committed, to show that
    /// a consumer killed in that window gets a redelivery without a second effect.
    #[arg(long, env = "FAULT_ACK_DELAY_MS", default_value_t = 0)]
    pub fault_ack_delay_ms: u64,
    /// Timeout of every downstream HTTP call; past it the caller answers 504.
    #[arg(long, env = "HTTP_TIMEOUT_MS", default_value_t = 10_000)]
    pub http_timeout_ms: u64,
    /// Largest request body accepted; larger ones get 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// Which delay defaults apply when a delay is not set explicitly.
    #[arg(long, env = "DELAY_PROFILE", value_enum, default_value_t = DelayProfile::Contract)]
    pub delay_profile: DelayProfile,
    #[command(flatten)]
    pub peers: Peers,
    #[command(flatten)]
    pub async_peers: AsyncPeers,
    #[command(flatten)]
    pub knobs: KnobArgs,
}

impl Settings {
    pub fn http_timeout(&self) -> Duration {
        Duration::from_millis(self.http_timeout_ms)
    }

    /// The knobs this instance starts with: explicit settings, else the profile's defaults.
    pub fn initial_knobs(&self) -> Knobs {
        self.knobs.resolve(self.delay_profile, self.mode)
    }
}

/// Base URLs of the other services (sync mode calls them over HTTP; the gateway forwards).
#[derive(clap::Args, Clone, Debug)]
pub struct Peers {
    #[arg(long, env = "USER_SERVICE_URL", default_value = "http://user:8000")]
    pub user_url: String,
    #[arg(
        long,
        env = "PAYMENT_SERVICE_URL",
        default_value = "http://payment:8000"
    )]
    pub payment_url: String,
    #[arg(
        long,
        env = "PRODUCT_SERVICE_URL",
        default_value = "http://product:8000"
    )]
    pub product_url: String,
    #[arg(long, env = "REPORT_SERVICE_URL", default_value = "http://report:8000")]
    pub report_url: String,
    #[arg(long, env = "ORDER_SERVICE_URL", default_value = "http://order:8000")]
    pub order_url: String,
    #[arg(
        long,
        env = "ANALYTICS_SERVICE_URL",
        default_value = "http://analytics:8000"
    )]
    pub analytics_url: String,
    #[arg(long, env = "EMAIL_SERVICE_URL", default_value = "http://email:8000")]
    pub email_url: String,
    #[arg(long, env = "SEARCH_SERVICE_URL", default_value = "http://search:8000")]
    pub search_url: String,
    #[arg(long, env = "CACHE_SERVICE_URL", default_value = "http://cache:8000")]
    pub cache_url: String,
    #[arg(
        long,
        env = "INVENTORY_SERVICE_URL",
        default_value = "http://inventory:8000"
    )]
    pub inventory_url: String,
}

/// Base URLs of the async stack's services, for the gateway (which reaches both stacks:
/// `Peers` is the sync stack, these the async one; `/api/*` goes to the async order service).
#[derive(clap::Args, Clone, Debug)]
pub struct AsyncPeers {
    #[arg(
        long,
        env = "ASYNC_USER_SERVICE_URL",
        default_value = "http://user-async:8000"
    )]
    pub async_user_url: String,
    #[arg(
        long,
        env = "ASYNC_PAYMENT_SERVICE_URL",
        default_value = "http://payment-async:8000"
    )]
    pub async_payment_url: String,
    #[arg(
        long,
        env = "ASYNC_PRODUCT_SERVICE_URL",
        default_value = "http://product-async:8000"
    )]
    pub async_product_url: String,
    #[arg(
        long,
        env = "ASYNC_REPORT_SERVICE_URL",
        default_value = "http://report-async:8000"
    )]
    pub async_report_url: String,
    #[arg(
        long,
        env = "ASYNC_ORDER_SERVICE_URL",
        default_value = "http://order-async:8000"
    )]
    pub async_order_url: String,
    #[arg(
        long,
        env = "ASYNC_ANALYTICS_SERVICE_URL",
        default_value = "http://analytics-async:8000"
    )]
    pub async_analytics_url: String,
    #[arg(
        long,
        env = "ASYNC_EMAIL_SERVICE_URL",
        default_value = "http://email-async:8000"
    )]
    pub async_email_url: String,
    #[arg(
        long,
        env = "ASYNC_SEARCH_SERVICE_URL",
        default_value = "http://search-async:8000"
    )]
    pub async_search_url: String,
    #[arg(
        long,
        env = "ASYNC_CACHE_SERVICE_URL",
        default_value = "http://cache-async:8000"
    )]
    pub async_cache_url: String,
    #[arg(
        long,
        env = "ASYNC_INVENTORY_SERVICE_URL",
        default_value = "http://inventory-async:8000"
    )]
    pub async_inventory_url: String,
}

/// Knobs as given at start (unset = the delay profile decides).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct KnobArgs {
    /// S1: welcome e-mail send time [default: 500].
    #[arg(long, env = "EMAIL_DELAY_MS")]
    pub email_delay_ms: Option<u64>,
    /// S2: `/process_payment` time [default: 2000].
    #[arg(long, env = "PAYMENT_DELAY_MS")]
    pub payment_delay_ms: Option<u64>,
    /// Seed 000: `/pay` time behind `/checkout` [default: 3000].
    #[arg(long, env = "SHOWDOWN_PAYMENT_DELAY_MS")]
    pub showdown_payment_delay_ms: Option<u64>,
    /// S3: search reindex step [default: 100; peer profile, sync: 0].
    #[arg(long, env = "SEARCH_DELAY_MS")]
    pub search_delay_ms: Option<u64>,
    /// S3: cache invalidation step [default: 50; peer profile, sync: 0].
    #[arg(long, env = "CACHE_DELAY_MS")]
    pub cache_delay_ms: Option<u64>,
    /// S3: analytics log step [default: 50; peer profile, sync: 0].
    #[arg(long, env = "ANALYTICS_DELAY_MS")]
    pub analytics_delay_ms: Option<u64>,
    /// S4: wall time of SHA-256 work per report [default: 10000].
    #[arg(long, env = "REPORT_CPU_MS")]
    pub report_cpu_ms: Option<u64>,
    /// S5: payment step of the saga [default: 500].
    #[arg(long, env = "SAGA_PAYMENT_DELAY_MS")]
    pub saga_payment_delay_ms: Option<u64>,
    /// S5: probability in 0..=1 that the saga's payment fails [default: 1.0, as the peers].
    #[arg(long, env = "PAYMENT_FAILURE_RATE")]
    pub payment_failure_rate: Option<f64>,
    /// S7: payment step of the checkout pipeline [default: 1000].
    #[arg(long, env = "CHECKOUT_PAYMENT_DELAY_MS")]
    pub checkout_payment_delay_ms: Option<u64>,
    /// S7: confirmation e-mail step [default: 2000].
    #[arg(long, env = "CHECKOUT_EMAIL_DELAY_MS")]
    pub checkout_email_delay_ms: Option<u64>,
    /// Sync services: requests in flight at once, the rest wait; 0 = no limit; 40 mimics a
    /// typical thread pool [default: 0].
    #[arg(long, env = "SYNC_MAX_INFLIGHT")]
    pub sync_max_inflight: Option<u32>,
    /// Async services that store a row and announce it (user, payment, order, report): 2xx
    /// after the broker's confirm, or after the commit of row and outbox entry [default: confirm].
    #[arg(long, env = "PUBLISH_MODE", value_enum)]
    pub publish_mode: Option<PublishMode>,
    /// Async consumers: deliveries each one holds unacknowledged and handles at once, 1–1024;
    /// a run-time knob, applied by re-subscribing [default: 16].
    #[arg(long, env = "CONSUMER_CONCURRENCY", value_parser = consumer_concurrency_range())]
    pub consumer_concurrency: Option<u16>,
    /// The former name of CONSUMER_CONCURRENCY, still read; CONSUMER_CONCURRENCY wins when
    /// both are set.
    #[arg(long, env = "CONSUMER_PREFETCH", value_parser = consumer_concurrency_range())]
    pub consumer_prefetch: Option<u16>,
}

/// The range of `consumer_concurrency`, for the command line and the admin API alike.
pub const CONSUMER_CONCURRENCY_RANGE: std::ops::RangeInclusive<u16> = 1..=1024;

fn consumer_concurrency_range() -> clap::builder::RangedI64ValueParser<u16> {
    clap::value_parser!(u16).range(
        i64::from(*CONSUMER_CONCURRENCY_RANGE.start())
            ..=i64::from(*CONSUMER_CONCURRENCY_RANGE.end()),
    )
}

/// clap reads one variable per setting, so the old name is a setting of its own and the new
/// one wins here.
fn resolve_alias<T>(new_name: Option<T>, old_name: Option<T>, default: T) -> T {
    new_name.or(old_name).unwrap_or(default)
}

impl KnobArgs {
    fn resolve(&self, profile: DelayProfile, mode: Mode) -> Knobs {
        let d = Knobs::defaults(profile, mode);
        Knobs {
            email_delay_ms: self.email_delay_ms.unwrap_or(d.email_delay_ms),
            payment_delay_ms: self.payment_delay_ms.unwrap_or(d.payment_delay_ms),
            showdown_payment_delay_ms: self
                .showdown_payment_delay_ms
                .unwrap_or(d.showdown_payment_delay_ms),
            search_delay_ms: self.search_delay_ms.unwrap_or(d.search_delay_ms),
            cache_delay_ms: self.cache_delay_ms.unwrap_or(d.cache_delay_ms),
            analytics_delay_ms: self.analytics_delay_ms.unwrap_or(d.analytics_delay_ms),
            report_cpu_ms: self.report_cpu_ms.unwrap_or(d.report_cpu_ms),
            saga_payment_delay_ms: self
                .saga_payment_delay_ms
                .unwrap_or(d.saga_payment_delay_ms),
            payment_failure_rate: self.payment_failure_rate.unwrap_or(d.payment_failure_rate),
            checkout_payment_delay_ms: self
                .checkout_payment_delay_ms
                .unwrap_or(d.checkout_payment_delay_ms),
            checkout_email_delay_ms: self
                .checkout_email_delay_ms
                .unwrap_or(d.checkout_email_delay_ms),
            sync_max_inflight: self.sync_max_inflight.unwrap_or(d.sync_max_inflight),
            publish_mode: self.publish_mode.unwrap_or(d.publish_mode),
            consumer_concurrency: resolve_alias(
                self.consumer_concurrency,
                self.consumer_prefetch,
                d.consumer_concurrency,
            ),
        }
    }
}

/// The run-time knobs (docs/contract.md, Delays), as served by `GET /admin/config`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Knobs {
    pub email_delay_ms: u64,
    pub payment_delay_ms: u64,
    pub showdown_payment_delay_ms: u64,
    pub search_delay_ms: u64,
    pub cache_delay_ms: u64,
    pub analytics_delay_ms: u64,
    pub report_cpu_ms: u64,
    pub saga_payment_delay_ms: u64,
    pub payment_failure_rate: f64,
    pub checkout_payment_delay_ms: u64,
    pub checkout_email_delay_ms: u64,
    pub sync_max_inflight: u32,
    #[serde(default)]
    pub publish_mode: PublishMode,
    /// Deliveries each async consumer holds and handles at once (some consumers cap it: see
    /// `consumers` in `GET /admin/config`).
    pub consumer_concurrency: u16,
}

impl Knobs {
    pub fn defaults(profile: DelayProfile, mode: Mode) -> Knobs {
        // The peers' sync fan-out steps did no work at all; only their async consumers slept.
        let peer_sync = profile == DelayProfile::Peer && mode == Mode::Sync;
        let fan_out = |ms| if peer_sync { 0 } else { ms };
        Knobs {
            email_delay_ms: 500,
            payment_delay_ms: 2000,
            showdown_payment_delay_ms: 3000,
            search_delay_ms: fan_out(100),
            cache_delay_ms: fan_out(50),
            analytics_delay_ms: fan_out(50),
            report_cpu_ms: 10_000,
            saga_payment_delay_ms: 500,
            payment_failure_rate: 1.0,
            checkout_payment_delay_ms: 1000,
            checkout_email_delay_ms: 2000,
            sync_max_inflight: 0,
            publish_mode: PublishMode::Confirm,
            // Low on purpose: the S1 backlog lesson (docs/contract.md, Messaging rules).
            consumer_concurrency: 16,
        }
    }

    /// Checks the ranges a demo could get wrong; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        const MAX_DELAY_MS: u64 = 600_000;
        if !(0.0..=1.0).contains(&self.payment_failure_rate) || self.payment_failure_rate.is_nan() {
            return Err(format!(
                "payment_failure_rate must be within 0..=1, got {}",
                self.payment_failure_rate
            ));
        }
        let delays = [
            ("email_delay_ms", self.email_delay_ms),
            ("payment_delay_ms", self.payment_delay_ms),
            ("showdown_payment_delay_ms", self.showdown_payment_delay_ms),
            ("search_delay_ms", self.search_delay_ms),
            ("cache_delay_ms", self.cache_delay_ms),
            ("analytics_delay_ms", self.analytics_delay_ms),
            ("report_cpu_ms", self.report_cpu_ms),
            ("saga_payment_delay_ms", self.saga_payment_delay_ms),
            ("checkout_payment_delay_ms", self.checkout_payment_delay_ms),
            ("checkout_email_delay_ms", self.checkout_email_delay_ms),
        ];
        match delays.iter().find(|(_, v)| *v > MAX_DELAY_MS) {
            Some((name, v)) => Err(format!("{name} must be at most {MAX_DELAY_MS}, got {v}")),
            None if self.sync_max_inflight > 100_000 => Err(format!(
                "sync_max_inflight must be at most 100000, got {}",
                self.sync_max_inflight
            )),
            None if !CONSUMER_CONCURRENCY_RANGE.contains(&self.consumer_concurrency) => {
                Err(format!(
                    "consumer_concurrency must be within {}..={}, got {}",
                    CONSUMER_CONCURRENCY_RANGE.start(),
                    CONSUMER_CONCURRENCY_RANGE.end(),
                    self.consumer_concurrency
                ))
            }
            None => Ok(()),
        }
    }
}

/// The live knobs of one process: read on every request, changed by `PUT /admin/config`.
#[derive(Clone)]
pub struct Tunables(std::sync::Arc<watch::Sender<Knobs>>);

impl Tunables {
    pub fn new(initial: Knobs) -> Self {
        Tunables(std::sync::Arc::new(watch::Sender::new(initial)))
    }

    pub fn get(&self) -> Knobs {
        *self.0.borrow()
    }

    /// Applies a partial update (JSON object of knob fields) atomically, or changes nothing.
    pub fn apply(&self, patch: serde_json::Value) -> Result<Knobs, ApiError> {
        let serde_json::Value::Object(fields) = patch else {
            return Err(ApiError::unprocessable(
                "expected a JSON object of knob fields",
            ));
        };
        let mut merged = serde_json::to_value(self.get()).map_err(ApiError::internal)?;
        for (key, value) in fields {
            match merged.get_mut(&key) {
                Some(slot) => *slot = value,
                None => return Err(ApiError::unprocessable(format!("unknown knob `{key}`"))),
            }
        }
        let next: Knobs = serde_json::from_value(merged)
            .map_err(|e| ApiError::unprocessable(format!("invalid knob value: {e}")))?;
        next.validate().map_err(ApiError::unprocessable)?;
        self.0.send_replace(next);
        Ok(next)
    }

    pub fn subscribe(&self) -> watch::Receiver<Knobs> {
        self.0.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_profile_only_zeroes_the_sync_fan_out() {
        let sync = Knobs::defaults(DelayProfile::Peer, Mode::Sync);
        let asynchronous = Knobs::defaults(DelayProfile::Peer, Mode::Async);
        assert_eq!(
            (
                sync.search_delay_ms,
                sync.cache_delay_ms,
                sync.analytics_delay_ms
            ),
            (0, 0, 0)
        );
        assert_eq!(
            asynchronous,
            Knobs::defaults(DelayProfile::Contract, Mode::Sync)
        );
    }

    #[test]
    fn explicit_settings_beat_the_profile() {
        let args = KnobArgs {
            search_delay_ms: Some(7),
            ..KnobArgs::default()
        };
        assert_eq!(
            args.resolve(DelayProfile::Peer, Mode::Sync).search_delay_ms,
            7
        );
    }

    #[test]
    fn patches_are_validated_and_atomic() {
        let t = Tunables::new(Knobs::defaults(DelayProfile::Contract, Mode::Sync));
        let ok = t.apply(serde_json::json!({"payment_failure_rate": 0.25, "email_delay_ms": 10}));
        assert_eq!(
            ok.map(|k| (k.payment_failure_rate, k.email_delay_ms)).ok(),
            Some((0.25, 10))
        );
        assert!(
            t.apply(serde_json::json!({"payment_failure_rate": 2.0, "email_delay_ms": 1}))
                .is_err()
        );
        assert_eq!(
            t.get().email_delay_ms,
            10,
            "a rejected patch changes nothing"
        );
        assert!(t.apply(serde_json::json!({"nope": 1})).is_err());
        assert!(
            t.apply(serde_json::json!({"email_delay_ms": "slow"}))
                .is_err()
        );
        assert!(t.apply(serde_json::json!([1])).is_err());
    }

    #[test]
    fn publish_mode_is_a_knob_and_a_wrong_value_names_it() {
        let t = Tunables::new(Knobs::defaults(DelayProfile::Contract, Mode::Async));
        assert_eq!(t.get().publish_mode, PublishMode::Confirm, "the default");
        let outbox = t.apply(serde_json::json!({"publish_mode": "outbox"}));
        assert_eq!(
            outbox.ok().map(|k| k.publish_mode),
            Some(PublishMode::Outbox)
        );
        let refused = t.apply(serde_json::json!({"publish_mode": "sometimes"}));
        let detail = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(detail.contains("publish_mode must be"), "{detail}");
        assert_eq!(t.get().publish_mode, PublishMode::Outbox, "unchanged");
        assert!(t.apply(serde_json::json!({"publish_mode": 1})).is_err());
    }

    #[test]
    fn consumer_concurrency_is_a_knob_within_1_to_1024() {
        let t = Tunables::new(Knobs::defaults(DelayProfile::Contract, Mode::Async));
        assert_eq!(t.get().consumer_concurrency, 16);
        for bad in [0, 1025] {
            let refused = t.apply(serde_json::json!({ "consumer_concurrency": bad }));
            let detail = refused
                .err()
                .map(|e| e.detail.to_string())
                .unwrap_or_default();
            assert!(
                detail.contains(&format!(
                    "consumer_concurrency must be within 1..=1024, got {bad}"
                )),
                "{detail}"
            );
        }
        assert!(
            t.apply(serde_json::json!({ "consumer_concurrency": -1 }))
                .is_err()
        );
        let ok = t.apply(serde_json::json!({ "consumer_concurrency": 1024 }));
        assert_eq!(ok.map(|k| k.consumer_concurrency).ok(), Some(1024));
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        knobs: KnobArgs,
    }

    fn concurrency_of(argv: &[&str]) -> Result<u16, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        // Without the env sources, so the test's environment cannot change what it sees.
        let command = Cli::command().mut_args(|arg| arg.env(None));
        let matches =
            command.try_get_matches_from(std::iter::once("test").chain(argv.iter().copied()))?;
        let cli = Cli::from_arg_matches(&matches)?;
        Ok(cli
            .knobs
            .resolve(DelayProfile::Contract, Mode::Async)
            .consumer_concurrency)
    }

    #[test]
    fn the_old_prefetch_name_is_an_alias_and_the_new_name_wins() {
        assert_eq!(concurrency_of(&[]).ok(), Some(16));
        assert_eq!(
            concurrency_of(&["--consumer-prefetch", "50"]).ok(),
            Some(50)
        );
        assert_eq!(
            concurrency_of(&["--consumer-concurrency", "128"]).ok(),
            Some(128)
        );
        assert_eq!(
            concurrency_of(&["--consumer-prefetch", "50", "--consumer-concurrency", "128"]).ok(),
            Some(128)
        );
        assert!(concurrency_of(&["--consumer-concurrency", "0"]).is_err());
        assert!(concurrency_of(&["--consumer-prefetch", "1025"]).is_err());
        assert_eq!(resolve_alias(None, Some(3), 16), 3);
        assert_eq!(resolve_alias(Some(7), Some(3), 16), 7);
    }
}
