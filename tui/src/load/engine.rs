//! The sender of an open-model run.
//!
//! A scheduler task sleeps until each request's intended time and spawns it; every request
//! is timed from that intended time (or from its send, when the timer alone made it late),
//! so when the service (or this host) stalls, the requests that should have gone out
//! meanwhile carry the stall in their latency instead of silently not being sent. In-flight
//! requests are bounded (by the catalogue's cap, else [`DEFAULT_MAX_IN_FLIGHT`]); waiting for
//! a free slot counts as latency for the same reason.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Mode;
use common::scenario::{self, RequestSpec, ScenarioId};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Outcome, Schedule, Stats, Summary};

pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// What to send, where, how fast and for how long.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub scenario: ScenarioId,
    pub mode: Mode,
    /// `http://host:port` of the service the scenario's request goes to in this mode.
    pub base_url: String,
    /// Requests per second; capped at the scenario's `max_rate` unless `uncapped`.
    pub rate: f64,
    pub uncapped: bool,
    /// `None` runs until stopped.
    pub duration: Option<Duration>,
    pub timeout: Duration,
}

impl LoadSpec {
    /// The catalogue's target for `scenario` in `mode` on `host` (the stack's port map).
    pub fn for_stack(scenario: ScenarioId, mode: Mode, host: &str) -> Self {
        let entry = scenario::get(scenario);
        LoadSpec {
            scenario,
            mode,
            base_url: format!("http://{host}:{}", entry.request(mode).port(mode)),
            rate: entry.default_rate,
            uncapped: false,
            duration: None,
            timeout: Duration::from_secs(30),
        }
    }

    pub fn effective_rate(&self, rate: f64) -> f64 {
        if self.uncapped {
            rate
        } else {
            rate.min(scenario::get(self.scenario).max_rate)
        }
    }
}

/// One answered request, for consumers that match completion events by correlation id.
#[derive(Clone, Debug)]
pub struct Sample {
    pub scenario: ScenarioId,
    pub mode: Mode,
    pub correlation_id: String,
    pub outcome: Outcome,
    pub latency: Duration,
    /// Wall-clock intended send time, comparable with completion events' `at`.
    pub intended_at: chrono::DateTime<chrono::Utc>,
    /// A 2xx whose body says its effect failed (see [`is_degraded`]).
    pub degraded: bool,
}

/// A running load; dropping it does not stop it — call [`LoadHandle::stop`].
pub struct LoadHandle {
    rate: watch::Sender<f64>,
    cancel: CancellationToken,
    stats: Arc<Mutex<Stats>>,
    /// Answers since the last [`LoadHandle::take_window`], for "latency now" views.
    window: Arc<Mutex<(Stats, Instant)>>,
    started: Instant,
    /// Ends when every request has been answered, with that instant.
    task: JoinHandle<Instant>,
    spec: LoadSpec,
}

impl LoadHandle {
    /// Changes the target rate (capped as at start); takes effect from the next request.
    pub fn set_rate(&self, rate: f64) {
        self.rate.send_replace(self.spec.effective_rate(rate));
    }

    pub fn target_rate(&self) -> f64 {
        *self.rate.borrow()
    }

    pub fn spec(&self) -> &LoadSpec {
        &self.spec
    }

    /// Percentiles and counters so far; achieved rate over the time since the start.
    pub fn summary(&self) -> Summary {
        let stats = self.stats.lock().map(|s| s.clone()).unwrap_or_default();
        stats.summary(self.started.elapsed())
    }

    /// Percentiles of the answers since the previous call (or the start), and starts a new
    /// window: what a sparkline of recent latency plots.
    pub fn take_window(&self) -> Summary {
        let (stats, took) = self.take_window_stats();
        stats.summary(took)
    }

    /// [`take_window`](Self::take_window)'s answers themselves and the window's length, for
    /// a caller that merges windows into longer ones (the timeline's seconds).
    pub fn take_window_stats(&self) -> (Stats, std::time::Duration) {
        let Ok(mut window) = self.window.lock() else {
            return (Stats::new(), std::time::Duration::ZERO);
        };
        let (stats, since) = std::mem::replace(&mut *window, (Stats::new(), Instant::now()));
        (stats, since.elapsed())
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops sending; requests in flight still finish and are counted.
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// Waits for the scheduler and every request it started, then reports. The achieved rate
    /// is over the run itself, up to the last answer: not up to whenever the caller came to
    /// collect it (a headless run looked once a second, which cost up to 5 % at 20 s).
    pub async fn finish(self) -> Summary {
        let ended = self.task.await.unwrap_or_else(|_| Instant::now());
        let stats = self.stats.lock().map(|s| s.clone()).unwrap_or_default();
        stats.summary(ended.saturating_duration_since(self.started))
    }
}

/// Starts a run. `samples` (optional) receives every answer; when it is full, samples are
/// dropped rather than slowing the sender (the statistics never drop anything).
pub fn start(
    spec: LoadSpec,
    client: reqwest::Client,
    samples: Option<mpsc::Sender<Sample>>,
) -> LoadHandle {
    let rate = spec.effective_rate(spec.rate);
    let (rate_tx, rate_rx) = watch::channel(rate);
    let cancel = CancellationToken::new();
    let stats = Arc::new(Mutex::new(Stats::new()));
    let started = Instant::now();
    let window = Arc::new(Mutex::new((Stats::new(), started)));
    let run = Run {
        requests: Requests::new(
            client,
            spec.scenario,
            spec.mode,
            &spec.base_url,
            spec.timeout,
        ),
        spec: spec.clone(),
        samples,
        stats: stats.clone(),
        window: window.clone(),
    };
    let task = tokio::spawn(run.schedule(started, rate_rx, cancel.clone()));
    LoadHandle {
        rate: rate_tx,
        cancel,
        stats,
        window,
        started,
        task,
        spec,
    }
}

/// Sends the scenario's request once (the `Enter` key) through the same path as a run —
/// same bodies, correlation ids and classification — and reports its one answer.
pub async fn fire_once(
    mut spec: LoadSpec,
    client: reqwest::Client,
    samples: Option<mpsc::Sender<Sample>>,
) -> Summary {
    // Request 0 is due at the start; request 1 would be due after the run ended.
    spec.rate = 1.0;
    spec.uncapped = true;
    spec.duration = Some(std::time::Duration::from_nanos(1));
    start(spec, client, samples).finish().await
}

struct Run {
    spec: LoadSpec,
    requests: Requests,
    samples: Option<mpsc::Sender<Sample>>,
    stats: Arc<Mutex<Stats>>,
    window: Arc<Mutex<(Stats, Instant)>>,
}

/// How a run's requests are built and sent, shared by the open engine and the closed model
/// ([`super::closed`]) so that both send the same paths, bodies and correlation ids and read
/// the answers the same way: their numbers then differ only by the load model.
pub(super) struct Requests {
    client: reqwest::Client,
    request: &'static RequestSpec,
    base_url: String,
    /// `base_url` parsed once: parsing the whole URL again for each request (IDNA on the
    /// host included) was 2 % of the engine's CPU at 3,000 req/s.
    base: Option<reqwest::Url>,
    timeout: Duration,
    /// Makes correlation ids (`load-<run>-<seq>`) and unique fields unique across runs.
    run_id: String,
}

/// What came back for one request: the status (`None`: no HTTP answer) and whether an
/// accepted answer's body says its effect failed.
pub(super) struct Answer {
    pub status: Option<u16>,
    pub degraded: bool,
}

impl Requests {
    pub(super) fn new(
        client: reqwest::Client,
        scenario: ScenarioId,
        mode: Mode,
        base_url: &str,
        timeout: Duration,
    ) -> Self {
        Requests {
            client,
            request: scenario::get(scenario).request(mode),
            base_url: base_url.to_owned(),
            base: reqwest::Url::parse(base_url).ok(),
            timeout,
            run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        }
    }

    /// The catalogue's request for this scenario and mode.
    pub(super) fn spec(&self) -> &'static RequestSpec {
        self.request
    }

    /// Request number `seq` of the run, and its correlation id.
    pub(super) fn build(&self, seq: u64) -> (reqwest::RequestBuilder, String) {
        let request = self.request;
        let unique = format!("{}-{seq}", self.run_id);
        let correlation_id = format!("load-{unique}");
        let path = scenario::render(request.path, &unique, seq);
        let method =
            reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let builder = match &self.base {
            Some(base) => self.client.request(method, with_path(base, &path)),
            // Not a URL: reqwest reports it, and each request counts as a transport failure.
            None => self
                .client
                .request(method, format!("{}{path}", self.base_url)),
        };
        let mut builder = builder
            .timeout(self.timeout)
            .header("x-correlation-id", &correlation_id);
        if let Some(body) = request.body {
            builder = builder
                .header("content-type", "application/json")
                .body(scenario::render(body, &unique, seq));
        }
        (builder, correlation_id)
    }

    /// Sends a built request and waits for its whole answer.
    pub(super) async fn exchange(builder: reqwest::RequestBuilder) -> Answer {
        match builder.send().await {
            // The body is read so the time covers the whole answer, as oha's does.
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap_or_default();
                Answer {
                    status: Some(status),
                    degraded: (200..300).contains(&status) && is_degraded(&body),
                }
            }
            Err(_) => Answer {
                status: None,
                degraded: false,
            },
        }
    }
}

impl Run {
    async fn schedule(
        self,
        started: Instant,
        mut rate: watch::Receiver<f64>,
        cancel: CancellationToken,
    ) -> Instant {
        let limit = scenario::get(self.spec.scenario)
            .max_in_flight
            .map_or(DEFAULT_MAX_IN_FLIGHT, |n| n as usize);
        let slots = Arc::new(Semaphore::new(limit));
        let end = self.spec.duration.map(|d| started + d);
        let mut timetable = Schedule::new(started, *rate.borrow());
        let run = Arc::new(self);
        let mut seq = 0u64;
        loop {
            let due = timetable.due(seq);
            if end.is_some_and(|end| due >= end) {
                break;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                changed = rate.changed() => {
                    if changed.is_err() { break; }
                    let new_rate = *rate.borrow_and_update();
                    timetable.set_rate(seq, new_rate, Instant::now());
                    continue;
                }
                _ = tokio::time::sleep_until(due) => {}
            }
            let permit = tokio::select! {
                _ = cancel.cancelled() => break,
                p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            };
            let start = timed_from(due, Instant::now());
            let run = run.clone();
            tokio::spawn(async move {
                run.fire(seq, start).await;
                drop(permit);
            });
            seq += 1;
        }
        // Every started request finishes and is counted before the run reports.
        let _ = slots.acquire_many(limit as u32).await;
        Instant::now()
    }

    /// `start` is where the request's latency starts ([`timed_from`]).
    async fn fire(&self, seq: u64, start: Instant) {
        let (builder, correlation_id) = self.requests.build(seq);
        let intended_at = chrono::Utc::now()
            - chrono::Duration::from_std(Instant::now().saturating_duration_since(start))
                .unwrap_or_default();
        let Answer { status, degraded } = Requests::exchange(builder).await;
        let latency = Instant::now().saturating_duration_since(start);
        let outcome = Outcome::classify(self.requests.spec(), status);
        if let Ok(mut stats) = self.stats.lock() {
            stats.record(outcome, latency);
        }
        if let Ok(mut window) = self.window.lock() {
            window.0.record(outcome, latency);
        }
        if let Some(samples) = &self.samples {
            let _ = samples.try_send(Sample {
                scenario: self.spec.scenario,
                mode: self.spec.mode,
                correlation_id,
                outcome,
                latency,
                intended_at,
                degraded,
            });
        }
    }
}

/// Whether an accepted answer says its effect failed: sync S1's `welcome_email_sent: false`,
/// a non-empty `warnings` list (S3's fan-out, S7/S8's notifications). Only bodies that
/// mention either are parsed, so the common answer costs a substring search.
pub fn is_degraded(body: &[u8]) -> bool {
    let mentions = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    if !mentions(b"\"warnings\"") && !mentions(b"\"welcome_email_sent\"") {
        return false;
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    value["welcome_email_sent"] == serde_json::Value::Bool(false)
        || value["warnings"].as_array().is_some_and(|w| !w.is_empty())
}

/// `base` with `path_and_query` appended to its path, as `format!("{base}{path}")` would give,
/// without parsing the scheme and host again.
fn with_path(base: &reqwest::Url, path_and_query: &str) -> reqwest::Url {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let mut url = base.clone();
    url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
    url.set_query(query);
    url
}

/// Below this, a request's lateness is the timer's, not the service's: tokio's timer wheel
/// woke the scheduler 1.3–1.7 ms late at the median on the 2-core build machine. Timed from
/// its intended time, every request carried that lateness, and p50s at 100–1000 req/s read
/// ~2 ms above oha's. A clock thread that slept precisely fixed that but doubled the
/// engine's system CPU at 3,000 req/s, which on a small machine the service pays for.
const TIMER_SLACK: Duration = Duration::from_millis(2);

/// Where a request's latency starts: its intended time, unless it went out within
/// [`TIMER_SLACK`] of it — then when it actually went out. A stall of the host or a wait for
/// a free slot longer than that still counts in full (coordinated omission stays corrected).
fn timed_from(due: Instant, sent: Instant) -> Instant {
    if sent.saturating_duration_since(due) < TIMER_SLACK {
        sent.max(due)
    } else {
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot against a port nothing listens on: exactly one request, a transport failure.
    #[tokio::test]
    async fn fire_once_sends_exactly_one_request() {
        let mut spec = LoadSpec::for_stack(ScenarioId::S1, Mode::Async, "127.0.0.1");
        spec.base_url = "http://127.0.0.1:9".into();
        spec.timeout = Duration::from_secs(2);
        let summary = fire_once(spec, reqwest::Client::new(), None).await;
        assert_eq!(summary.count, 1);
        assert_eq!(summary.by_label.get("conn"), Some(&1));
    }

    #[test]
    fn a_request_is_timed_from_its_send_only_when_the_timer_alone_made_it_late() {
        let due = Instant::now();
        let timer_late = due + Duration::from_micros(1500);
        assert_eq!(timed_from(due, timer_late), timer_late);
        let stalled = due + Duration::from_millis(40);
        assert_eq!(timed_from(due, stalled), due);
        // Early (a rate change moved the slot): never before its intended time.
        assert_eq!(
            timed_from(due + Duration::from_millis(1), due),
            due + Duration::from_millis(1)
        );
    }

    #[test]
    fn an_answer_is_degraded_only_when_its_body_says_the_effect_failed() {
        assert!(is_degraded(
            br#"{"welcome_email_sent":false,"warnings":["email down"]}"#
        ));
        assert!(is_degraded(
            br#"{"status":"updated","warnings":["cache: 503"]}"#
        ));
        assert!(!is_degraded(
            br#"{"welcome_email_sent":true,"warnings":[]}"#
        ));
        assert!(!is_degraded(br#"{"id":1}"#));
        assert!(!is_degraded(b"not json \"warnings\""));
    }

    #[test]
    fn request_urls_keep_the_base_path_and_carry_the_query() {
        let url = |base: &str, path: &str| {
            with_path(&reqwest::Url::parse(base).unwrap(), path).to_string()
        };
        assert_eq!(
            url("http://127.0.0.1:8106", "/track_click"),
            "http://127.0.0.1:8106/track_click"
        );
        assert_eq!(
            url("http://localhost:9000/api/", "/search?q=e2e-1"),
            "http://localhost:9000/api/search?q=e2e-1"
        );
    }

    #[test]
    fn rates_are_capped_by_the_catalogue_unless_uncapped() {
        let mut spec = LoadSpec::for_stack(ScenarioId::S4, Mode::Async, "127.0.0.1");
        let cap = scenario::get(ScenarioId::S4).max_rate;
        assert_eq!(spec.effective_rate(cap * 10.0), cap);
        spec.uncapped = true;
        assert_eq!(spec.effective_rate(cap * 10.0), cap * 10.0);
        assert_eq!(spec.base_url, "http://127.0.0.1:8104");
    }
}
