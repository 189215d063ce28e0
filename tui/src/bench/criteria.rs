//! When a step of a ladder holds, and when a ladder stops: pure, so the rules are tested on
//! their own.
//!
//! A step holds when its ack p99 is under the scenario's bound, unexpected answers are under
//! 1 %, it achieved at least 95 % of its target, and — where the flow completes later — the
//! completion keeps up: the queues' backlog did not grow over the step, the accepted
//! requests completed within the drain, and their done p99 is under the completion bound.
//! A ladder stops at its first step that does not hold; its sustainable rate is the highest
//! step that did.

use std::time::Duration;

use common::Mode;
use common::scenario::ScenarioId;

use super::result::{Criterion, Step, StepFigures};
use crate::load::stats::format_latency;

/// Unexpected answers of all sent, at most.
pub const MAX_ERRORS: f64 = 0.01;
/// Answers per second, at least this share of the target.
pub const MIN_ACHIEVED: f64 = 0.95;
/// Accepted requests not completed by the end of the drain, at most this share.
pub const MAX_NOT_COMPLETED: f64 = 0.01;

/// What a scenario's flow waits for by design (the catalogue's default delays): the ack path
/// of each mode and the whole flow.
struct Intrinsic {
    sync_ack: Duration,
    done: Duration,
}

fn intrinsic(scenario: ScenarioId) -> Intrinsic {
    let ms = Duration::from_millis;
    match scenario {
        // The welcome e-mail (email_delay_ms).
        ScenarioId::S1 => Intrinsic {
            sync_ack: ms(500),
            done: ms(500),
        },
        // The payment (payment_delay_ms).
        ScenarioId::S2 => Intrinsic {
            sync_ack: ms(2000),
            done: ms(2000),
        },
        // Search + cache + analytics in a row in sync; at once in async.
        ScenarioId::S3 => Intrinsic {
            sync_ack: ms(200),
            done: ms(100),
        },
        // Ten seconds of hashing (report_cpu_ms).
        ScenarioId::S4 => Intrinsic {
            sync_ack: ms(10_000),
            done: ms(10_000),
        },
        // Reserve, pay (saga_payment_delay_ms), compensate.
        ScenarioId::S5 => Intrinsic {
            sync_ack: ms(500),
            done: ms(500),
        },
        // A row insert.
        ScenarioId::S6 => Intrinsic {
            sync_ack: ms(0),
            done: ms(0),
        },
        // Payment then e-mail (checkout_payment_delay_ms + checkout_email_delay_ms).
        ScenarioId::S7 => Intrinsic {
            sync_ack: ms(3000),
            done: ms(3000),
        },
        // A stock check over HTTP in both modes, then the notification.
        ScenarioId::S8 => Intrinsic {
            sync_ack: ms(0),
            done: ms(0),
        },
    }
}

/// What a host adds to every p99: the 2-core machine this was built on runs the broker, the
/// database, twenty services (debug-built in CI) and the load generator at once; async acks
/// there measured 40–130 ms at p99 at the default rates.
const HOST_MARGIN: Duration = Duration::from_millis(200);

/// The bound on ack p99: what the mode's answer waits for by design, half as much again, and
/// [`HOST_MARGIN`].
pub fn ack_bound(scenario: ScenarioId, mode: Mode) -> Duration {
    let waits = match mode {
        Mode::Sync => intrinsic(scenario).sync_ack,
        // S8 checks stock over HTTP in async mode too; everything else answers at once.
        Mode::Async => Duration::ZERO,
    };
    waits + waits / 2 + HOST_MARGIN
}

/// What a scenario's sync answer waits for by design: with a rate, how many requests a sync
/// service holds at once (Little's law).
pub fn sync_wait(scenario: ScenarioId) -> Duration {
    intrinsic(scenario).sync_ack
}

/// How much the ready messages may grow over a step and still count as keeping up: a second
/// of arrivals may be in the queue at any moment.
fn backlog_slack(target_rate: f64) -> u64 {
    (target_rate.ceil() as u64).max(5)
}

/// Whether the queues hold more at the end of a step than its start allows: the consumers did
/// not keep up.
pub fn backlog_grew(target_rate: f64, start: u64, end: u64) -> bool {
    end > start + backlog_slack(target_rate)
}

/// The bound on done p99: twice the flow's own time and a second (a consumer works through
/// what the step delivered while it arrives).
pub fn done_bound(scenario: ScenarioId) -> Duration {
    intrinsic(scenario).done * 2 + Duration::from_secs(1)
}

/// The criteria of one round's figures.
pub fn judge(
    figures: &StepFigures,
    target_rate: f64,
    ack_bound: Duration,
    done_bound: Option<Duration>,
) -> Vec<Criterion> {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let show = |v: f64| format_latency(Duration::from_secs_f64(v.max(0.0) / 1000.0));
    let mut criteria = vec![
        Criterion {
            name: "ack_p99".into(),
            detail: format!(
                "{}, must be < {}",
                show(figures.ack.p99_ms),
                show(ms(ack_bound))
            ),
            value: Some(figures.ack.p99_ms),
            bound: ms(ack_bound),
            pass: figures.sent > 0 && figures.ack.p99_ms < ms(ack_bound),
        },
        Criterion {
            name: "errors".into(),
            detail: format!(
                "{:.2} %, must be < {:.0} %",
                figures.error_rate * 100.0,
                MAX_ERRORS * 100.0
            ),
            value: Some(figures.error_rate * 100.0),
            bound: MAX_ERRORS * 100.0,
            pass: figures.error_rate < MAX_ERRORS,
        },
    ];
    let achieved = if target_rate > 0.0 {
        figures.achieved_rate / target_rate
    } else {
        0.0
    };
    criteria.push(Criterion {
        name: "achieved".into(),
        detail: format!(
            "{:.1} % of {target_rate}/s, must be ≥ {:.0} %",
            achieved * 100.0,
            MIN_ACHIEVED * 100.0
        ),
        value: Some(achieved * 100.0),
        bound: MIN_ACHIEVED * 100.0,
        pass: achieved >= MIN_ACHIEVED,
    });
    let Some(done_bound) = done_bound else {
        return criteria;
    };
    if let (Some(start), Some(end)) = (figures.backlog_start, figures.backlog_end) {
        let slack = backlog_slack(target_rate);
        criteria.push(Criterion {
            name: "backlog".into(),
            detail: format!("{start} → {end} ready, may grow by {slack} at most"),
            value: Some(end as f64 - start as f64),
            bound: slack as f64,
            pass: !backlog_grew(target_rate, start, end),
        });
    }
    let accepted = figures.sent as f64 * (1.0 - figures.error_rate);
    let open = if accepted > 0.0 {
        figures.not_completed as f64 / accepted
    } else {
        0.0
    };
    criteria.push(Criterion {
        name: "completed".into(),
        detail: format!(
            "{} not completed ({:.1} %), must be ≤ {:.0} %",
            figures.not_completed,
            open * 100.0,
            MAX_NOT_COMPLETED * 100.0
        ),
        value: Some(open * 100.0),
        bound: MAX_NOT_COMPLETED * 100.0,
        pass: open <= MAX_NOT_COMPLETED,
    });
    let done_p99 = figures.done.map(|d| d.p99_ms);
    criteria.push(Criterion {
        name: "done_p99".into(),
        detail: match done_p99 {
            Some(v) => format!("{}, must be < {}", show(v), show(ms(done_bound))),
            None => "nothing completed".into(),
        },
        value: done_p99,
        bound: ms(done_bound),
        pass: done_p99.is_some_and(|v| v < ms(done_bound)),
    });
    criteria
}

/// Why the ladder stops after `step`, if it does: its first failed criterion.
pub fn stop_reason(step: &Step) -> Option<String> {
    step.criteria
        .iter()
        .find(|c| !c.pass)
        .map(|c| format!("at {}/s: {} ({})", step.target_rate, c.name, c.detail))
}

/// The highest step that held, climbing until the first that did not.
pub fn sustainable(steps: &[Step]) -> Option<f64> {
    steps
        .iter()
        .take_while(|s| s.pass)
        .map(|s| s.target_rate)
        .last()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::result::Latency;

    fn figures(sent: u64, achieved: f64, p99: f64) -> StepFigures {
        StepFigures {
            sent,
            achieved_rate: achieved,
            ack: Latency {
                p99_ms: p99,
                ..Default::default()
            },
            done: Some(Latency {
                p99_ms: 600.0,
                ..Default::default()
            }),
            backlog_start: Some(0),
            backlog_end: Some(3),
            ..Default::default()
        }
    }

    fn step(rate: f64, criteria: Vec<Criterion>) -> Step {
        let pass = criteria.iter().all(|c| c.pass);
        Step {
            target_rate: rate,
            figures: StepFigures::default(),
            rounds: Vec::new(),
            criteria,
            pass,
        }
    }

    #[test]
    fn bounds_follow_the_flow_and_the_mode() {
        let ms = Duration::from_millis;
        assert_eq!(ack_bound(ScenarioId::S1, Mode::Sync), ms(950));
        assert_eq!(ack_bound(ScenarioId::S1, Mode::Async), ms(200));
        assert_eq!(ack_bound(ScenarioId::S2, Mode::Sync), ms(3200));
        assert_eq!(done_bound(ScenarioId::S1), ms(2000));
    }

    #[test]
    fn a_fast_step_that_keeps_up_holds() {
        let f = figures(400, 79.8, 12.0);
        let c = judge(
            &f,
            80.0,
            Duration::from_millis(100),
            Some(Duration::from_secs(2)),
        );
        assert!(c.iter().all(|c| c.pass), "{c:?}");
    }

    #[test]
    fn a_growing_backlog_fails_a_step_even_when_acks_are_fast() {
        let mut f = figures(1600, 320.0, 9.0);
        f.backlog_start = Some(10);
        f.backlog_end = Some(900);
        let c = judge(
            &f,
            320.0,
            Duration::from_millis(100),
            Some(Duration::from_secs(2)),
        );
        let failed: Vec<&str> = c
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(failed, ["backlog"]);
        assert!(c.iter().find(|c| c.name == "ack_p99").unwrap().pass);
    }

    #[test]
    fn slow_acks_errors_and_a_missed_rate_each_fail() {
        let mut f = figures(400, 70.0, 2000.0);
        f.error_rate = 0.05;
        let c = judge(&f, 80.0, Duration::from_millis(850), None);
        let failed: Vec<&str> = c
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(failed, ["ack_p99", "errors", "achieved"]);
        // Sync (no completion bound): no completion criteria at all.
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn completions_that_did_not_arrive_fail_the_step() {
        let mut f = figures(400, 80.0, 10.0);
        f.not_completed = 40;
        f.done = None;
        let c = judge(
            &f,
            80.0,
            Duration::from_millis(100),
            Some(Duration::from_secs(2)),
        );
        let failed: Vec<&str> = c
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(failed, ["completed", "done_p99"]);
    }

    #[test]
    fn the_ladder_stops_at_its_first_failure_and_keeps_the_last_good_rate() {
        let good = || {
            judge(
                &figures(100, 20.0, 5.0),
                20.0,
                Duration::from_millis(100),
                None,
            )
        };
        let bad = judge(
            &figures(100, 10.0, 5.0),
            40.0,
            Duration::from_millis(100),
            None,
        );
        let steps = vec![step(20.0, good()), step(40.0, bad), step(80.0, good())];
        assert_eq!(sustainable(&steps), Some(20.0));
        assert!(stop_reason(&steps[0]).is_none());
        let reason = stop_reason(&steps[1]).unwrap();
        assert!(reason.starts_with("at 40/s: achieved"), "{reason}");
        assert_eq!(sustainable(&steps[1..]), None);
    }
}
