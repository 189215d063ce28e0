//! The closed model of the load engine: the academic study's way of loading a service, kept
//! to reproduce its numbers beside ours (`ms-tui bench --profile peer`).
//!
//! A fixed number of virtual users each loop: send the scenario's request, wait for the whole
//! answer, record it, send the next — until the duration ends (a request in flight then still
//! finishes and counts). Requests are built exactly as the open engine builds them (same
//! paths, bodies and `load-<run>-<seq>` correlation ids, [`super::engine`]'s `Requests`).
//!
//! Latency here is the **service time**, from send to answer, with no correction for the
//! time a request was meant to go out — on purpose, because that is what the study measured.
//! It is also why the model flatters a slow service: N users waiting t seconds each send only
//! N / t requests per second, so a stall lowers the load instead of showing as queueing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Mode;
use common::scenario::{self, ScenarioId};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::engine::Requests;
use super::{LoadSpec, Outcome, Stats};

/// Who loads what, with how many users, for how long.
#[derive(Clone, Debug)]
pub struct ClosedSpec {
    pub scenario: ScenarioId,
    pub mode: Mode,
    /// `http://host:port` of the service the scenario's request goes to in this mode.
    pub base_url: String,
    /// Users sending at once; capped by the catalogue's `max_in_flight` (see
    /// [`ClosedSpec::effective_users`]).
    pub virtual_users: u32,
    /// How long users start new requests.
    pub duration: Duration,
    pub timeout: Duration,
}

impl ClosedSpec {
    /// The catalogue's target for `scenario` in `mode` on `host`, as [`LoadSpec::for_stack`].
    pub fn for_stack(
        scenario: ScenarioId,
        mode: Mode,
        host: &str,
        virtual_users: u32,
        duration: Duration,
    ) -> Self {
        let open = LoadSpec::for_stack(scenario, mode, host);
        ClosedSpec {
            scenario,
            mode,
            base_url: open.base_url,
            virtual_users,
            duration,
            timeout: open.timeout,
        }
    }

    /// The users actually run: the catalogue's in-flight cap holds here too, as in the open
    /// engine, so ten users do not start ten 10-s CPU jobs at once on a small host.
    pub fn effective_users(&self) -> u32 {
        match scenario::get(self.scenario).max_in_flight {
            Some(cap) => self.virtual_users.min(cap),
            None => self.virtual_users,
        }
    }
}

/// What a closed run measured, counted both ways.
#[derive(Clone, Debug)]
pub struct ClosedSummary {
    /// Our way: the catalogue's expected statuses are success (the sync saga's 400 is one).
    /// Its histogram (µs) pools across runs with [`Stats::merge`].
    pub stats: Stats,
    /// Answers per status (`200`, `400`), `conn` for no answer.
    pub by_status: BTreeMap<String, u64>,
    /// Their way: every answer outside 2xx is an error, the saga's intended 400 included, and
    /// so is a request with no answer at all.
    pub non_2xx: u64,
    /// From the start to the last answer.
    pub elapsed: Duration,
    /// Users that ran ([`ClosedSpec::effective_users`]).
    pub virtual_users: u32,
}

impl ClosedSummary {
    pub fn new(stats: Stats, elapsed: Duration, virtual_users: u32) -> Self {
        let by_status = stats.summary(elapsed).by_label;
        ClosedSummary {
            non_2xx: non_2xx(&by_status),
            by_status,
            stats,
            elapsed,
            virtual_users,
        }
    }

    /// Answers per second over the run.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.stats.count() as f64 / secs
        } else {
            0.0
        }
    }
}

/// Answers that are not 2xx, plus requests without an answer (`conn`), from a tally by label.
pub fn non_2xx(by_status: &BTreeMap<String, u64>) -> u64 {
    by_status
        .iter()
        .filter(|(label, _)| {
            !label
                .parse::<u16>()
                .is_ok_and(|status| (200..300).contains(&status))
        })
        .map(|(_, n)| n)
        .sum()
}

/// Runs the users until `spec.duration` ends or `stop` is cancelled, then waits for the
/// requests in flight and reports.
pub async fn run(
    spec: ClosedSpec,
    client: reqwest::Client,
    stop: CancellationToken,
) -> ClosedSummary {
    let users = spec.effective_users();
    let shared = Arc::new(Shared {
        requests: Requests::new(
            client,
            spec.scenario,
            spec.mode,
            &spec.base_url,
            spec.timeout,
        ),
        seq: AtomicU64::new(0),
        stats: Mutex::new(Stats::new()),
    });
    let started = Instant::now();
    let end = started + spec.duration;
    let tasks: Vec<_> = (0..users)
        .map(|_| tokio::spawn(user(shared.clone(), end, stop.clone())))
        .collect();
    for task in tasks {
        // A user that panicked has recorded what it answered; the others still count.
        let _ = task.await;
    }
    let elapsed = started.elapsed();
    let stats = shared.stats.lock().map(|s| s.clone()).unwrap_or_default();
    ClosedSummary::new(stats, elapsed, users)
}

/// What every user of a run shares: the request builder, the sequence and the figures.
struct Shared {
    requests: Requests,
    /// Numbers requests across users, so correlation ids and unique fields never repeat.
    seq: AtomicU64,
    stats: Mutex<Stats>,
}

/// One virtual user: send, wait for the answer, record, again, until `end` or `stop`.
async fn user(shared: Arc<Shared>, end: Instant, stop: CancellationToken) {
    while Instant::now() < end && !stop.is_cancelled() {
        let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
        let (builder, _correlation_id) = shared.requests.build(seq);
        let sent = Instant::now();
        let answer = Requests::exchange(builder).await;
        let latency = sent.elapsed();
        let outcome = Outcome::classify(shared.requests.spec(), answer.status);
        if let Ok(mut stats) = shared.stats.lock() {
            stats.record(outcome, latency);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::AtomicUsize;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A keep-alive HTTP/1.1 server on 127.0.0.1:0 that answers every request `202 {}` after
    /// `delay`, and counts the requests it answered.
    async fn slow_server(delay: Duration) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answered = Arc::new(AtomicUsize::new(0));
        let counter = answered.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, delay, counter.clone()));
            }
        });
        (url, answered)
    }

    async fn serve(mut socket: TcpStream, delay: Duration, answered: Arc<AtomicUsize>) {
        let mut buffer = Vec::new();
        loop {
            while request_length(&buffer).is_none() {
                let mut chunk = [0u8; 4096];
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            let length = request_length(&buffer).unwrap();
            buffer.drain(..length);
            tokio::time::sleep(delay).await;
            let answer = b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}";
            if socket.write_all(answer).await.is_err() {
                return;
            }
            answered.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The length of the first complete request (head and body) in `buffer`, if there is one.
    fn request_length(buffer: &[u8]) -> Option<usize> {
        let head_end = buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        let body: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map_or(0, |n| n.trim().parse().unwrap_or(0));
        (buffer.len() >= head_end + body).then_some(head_end + body)
    }

    /// N users × service time t → about N / t requests per second: 4 users, 50 ms, 1 s send
    /// 80 at most (a little less for the client's own time), every one answered and counted.
    #[tokio::test]
    async fn n_users_waiting_t_each_send_n_over_t() {
        let (url, answered) = slow_server(Duration::from_millis(50)).await;
        let mut spec = ClosedSpec::for_stack(
            ScenarioId::S1,
            Mode::Async,
            "127.0.0.1",
            4,
            Duration::from_secs(1),
        );
        spec.base_url = url;
        let summary = run(spec, reqwest::Client::new(), CancellationToken::new()).await;
        let count = summary.stats.count();
        assert!((60..=84).contains(&count), "{count} requests");
        assert_eq!(count, answered.load(Ordering::SeqCst) as u64);
        assert_eq!(summary.non_2xx, 0);
        assert_eq!(summary.by_status.get("202"), Some(&count));
        assert!((55.0..=84.0).contains(&summary.throughput()), "{summary:?}");
        // Service time, not intended time: each request took the server's 50 ms, no more.
        let p50 = summary.stats.quantile(0.5);
        assert!(p50 >= Duration::from_millis(50) && p50 < Duration::from_millis(70));
    }

    #[tokio::test]
    async fn a_stopped_run_sends_nothing() {
        let mut spec = ClosedSpec::for_stack(
            ScenarioId::S6,
            Mode::Sync,
            "127.0.0.1",
            3,
            Duration::from_secs(5),
        );
        spec.base_url = "http://127.0.0.1:9".into();
        let stop = CancellationToken::new();
        stop.cancel();
        let summary = run(spec, reqwest::Client::new(), stop).await;
        assert_eq!(summary.stats.count(), 0);
        assert_eq!(summary.throughput(), 0.0);
    }

    /// The sync saga's 400 is a success ours way and an error theirs.
    #[test]
    fn the_saga_400_is_an_error_only_their_way() {
        let saga = &scenario::get(ScenarioId::S5).sync;
        let mut stats = Stats::new();
        for status in [400, 400, 400, 200] {
            stats.record(
                Outcome::classify(saga, Some(status)),
                Duration::from_millis(5),
            );
        }
        stats.record(Outcome::classify(saga, None), Duration::from_millis(5));
        let summary = ClosedSummary::new(stats, Duration::from_secs(1), 1);
        assert_eq!(summary.stats.summary(summary.elapsed).failed, 1);
        assert_eq!(
            summary.non_2xx, 4,
            "three 400s and the request without an answer"
        );
        assert_eq!(summary.by_status.get("400"), Some(&3));
    }

    #[test]
    fn users_are_capped_by_the_catalogue() {
        let d = Duration::from_secs(1);
        let spec = ClosedSpec::for_stack(ScenarioId::S4, Mode::Sync, "h", 10, d);
        assert_eq!(spec.effective_users(), 1);
        assert_eq!(spec.base_url, "http://h:8004");
        let spec = ClosedSpec::for_stack(ScenarioId::S2, Mode::Async, "h", 10, d);
        assert_eq!(spec.effective_users(), 10);
    }
}
