//! The per-container streams: stats (one sample a second while running) and log follow.
//! Each runs as its own task, sends with [`Outbox::offer`] (never waits on the app) and ends
//! when its stream ends, the engine goes away, or the app quits.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::{LogsOptionsBuilder, StatsOptionsBuilder};
use futures_util::StreamExt;

use super::container::Group;
use super::convert;
use super::logline::{self, LogLine};
use super::msg::DockerMsg;
use crate::outbox::{Offer, Outbox};

/// Lines of history fetched per container when the control room starts.
pub const TAIL_LINES: usize = 200;

/// Lines handed to the app in one message at most (a burst becomes a few messages, not
/// thousands).
const BATCH: usize = 256;

/// Whose logs a stream reads.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub group: Group,
    pub service: String,
}

/// Streams stats samples of a running container until the stream ends.
pub async fn follow_stats(docker: Docker, id: String, out: Outbox<DockerMsg>) {
    let options = StatsOptionsBuilder::default().stream(true).build();
    let mut stream = docker.stats(&id, Some(options));
    while let Some(sample) = stream.next().await {
        let Ok(sample) = sample else {
            break;
        };
        if let Some((cpu_percent, mem_bytes)) = convert::usage(&sample) {
            let msg = DockerMsg::Stats {
                id: id.clone(),
                cpu_percent,
                mem_bytes,
            };
            // A dropped sample is replaced by the next one a second later.
            if out.offer(msg) == Offer::Closed {
                return;
            }
        }
    }
}

/// The last `TAIL_LINES` lines of a container, with their timestamps, without following: the
/// start-up history, merged across containers by time before it is shown.
pub async fn tail(docker: &Docker, source: &Source) -> Vec<(i64, LogLine)> {
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .tail(&TAIL_LINES.to_string())
        .build();
    let mut lines = Vec::new();
    let mut stream = docker.logs(&source.id, Some(options));
    while let Some(Ok(frame)) = stream.next().await {
        split(source, &frame, &mut lines);
    }
    lines
}

/// Follows a container's log from just after `last_seen` (nanoseconds since the epoch of the
/// newest line already shown; 0 = none), until the container stops. `last_seen` is updated as
/// lines pass, so the next follow — after a restart or reconnect — resumes without repeats.
pub async fn follow_logs(
    docker: Docker,
    source: Source,
    last_seen: Arc<AtomicI64>,
    out: Outbox<DockerMsg>,
) {
    let seen = last_seen.load(Ordering::Relaxed);
    let mut options = LogsOptionsBuilder::default()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .timestamps(true);
    options = if seen > 0 {
        // `since` has one-second resolution; the lines of that second already shown are
        // skipped below by their exact timestamp.
        options.since(i32::try_from(seen / 1_000_000_000).unwrap_or(i32::MAX))
    } else {
        options.tail(&TAIL_LINES.to_string())
    };
    let mut stream = docker
        .logs(&source.id, Some(options.build()))
        .ready_chunks(BATCH);
    let mut dropped = 0u64;
    let mut parsed = Vec::new();
    while let Some(frames) = stream.next().await {
        let mut ended = false;
        for frame in frames {
            match frame {
                Ok(frame) => split(&source, &frame, &mut parsed),
                Err(_) => ended = true,
            }
        }
        let mut newest = last_seen.load(Ordering::Relaxed);
        let batch: Vec<LogLine> = parsed
            .drain(..)
            .filter(|(nanos, _)| *nanos == 0 || *nanos > seen)
            .map(|(nanos, line)| {
                newest = newest.max(nanos);
                line
            })
            .collect();
        last_seen.store(newest, Ordering::Relaxed);
        if dropped > 0 {
            match out.offer(DockerMsg::LogsDropped(dropped)) {
                Offer::Sent => dropped = 0,
                Offer::Full => {}
                Offer::Closed => return,
            }
        }
        if !batch.is_empty() {
            let n = batch.len() as u64;
            match out.offer(DockerMsg::Logs(batch)) {
                Offer::Sent => {}
                Offer::Full => dropped += n,
                Offer::Closed => return,
            }
        }
        if ended {
            break;
        }
    }
    if dropped > 0 {
        out.send(DockerMsg::LogsDropped(dropped)).await;
    }
}

/// One frame of the log stream can hold several lines (a TTY container's raw output); each
/// becomes a line with its own timestamp when it has one.
fn split(source: &Source, frame: &LogOutput, into: &mut Vec<(i64, LogLine)>) {
    let (bytes, stderr) = match frame {
        LogOutput::StdErr { message } => (message, true),
        LogOutput::StdOut { message }
        | LogOutput::Console { message }
        | LogOutput::StdIn { message } => (message, false),
    };
    let text = String::from_utf8_lossy(bytes);
    for raw in text.split('\n').filter(|l| !l.trim().is_empty()) {
        into.push(logline::parse(source.group, &source.service, raw, stderr));
    }
}
