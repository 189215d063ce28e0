//! The queue pane's drain estimate: from the selected scenario's backlog (messages ready, over
//! its queues) and how fast it changed lately, when it will be empty — or that it grows.
//!
//! The net rate is the slope of the ready count over the last few probes, not the broker's
//! publish and deliver rates: those come from the management API's 5-second samples and lag,
//! and the probe's counts are what the pane already shows.

use std::time::Duration;

/// Probes the slope looks back over: 5 s at the probe's 500 ms.
pub const SLOPE_PROBES: usize = 10;

/// A net rate this close to zero (messages per second) counts as steady.
const STEADY: f64 = 0.05;

#[derive(Debug, Clone, PartialEq)]
pub enum Drain {
    /// Nothing waits.
    Empty,
    /// Shrinking at `net_rate` (negative, messages per second): empty in about `eta`.
    Draining {
        backlog: u64,
        net_rate: f64,
        eta: Duration,
    },
    Growing {
        backlog: u64,
        net_rate: f64,
    },
    /// A backlog that neither grows nor shrinks (no consumer, or consumers as fast as the
    /// publishers), or too few probes yet to tell.
    Steady {
        backlog: u64,
    },
}

/// The net rate (messages per second, positive while the backlog grows) over the last
/// [`SLOPE_PROBES`] points of `history`, taken every `every`; `None` with fewer than 2 points.
pub fn net_rate(history: &[u64], every: Duration) -> Option<f64> {
    let recent = &history[history.len().saturating_sub(SLOPE_PROBES)..];
    let (first, last) = (recent.first()?, recent.last()?);
    if recent.len() < 2 || every.is_zero() {
        return None;
    }
    let span = every.as_secs_f64() * (recent.len() - 1) as f64;
    Some((*last as f64 - *first as f64) / span)
}

/// The estimate for a backlog of `backlog` changing at `net_rate`.
pub fn estimate(backlog: u64, net_rate: Option<f64>) -> Drain {
    if backlog == 0 {
        return Drain::Empty;
    }
    match net_rate {
        Some(rate) if rate <= -STEADY => Drain::Draining {
            backlog,
            net_rate: rate,
            eta: Duration::from_secs_f64(backlog as f64 / -rate),
        },
        Some(rate) if rate >= STEADY => Drain::Growing {
            backlog,
            net_rate: rate,
        },
        _ => Drain::Steady { backlog },
    }
}

impl Drain {
    /// `backlog 120 · net −24/s · empty in ~5 s`, `backlog 80 · net +12/s · growing`, `empty`.
    pub fn describe(&self) -> String {
        match self {
            Drain::Empty => "backlog 0 · empty".to_owned(),
            Drain::Draining {
                backlog,
                net_rate,
                eta,
            } => format!(
                "backlog {backlog} · net {} · empty in ~{}",
                signed_rate(*net_rate),
                rough(*eta)
            ),
            Drain::Growing { backlog, net_rate } => {
                format!(
                    "backlog {backlog} · net {} · growing",
                    signed_rate(*net_rate)
                )
            }
            Drain::Steady { backlog } => format!("backlog {backlog} · steady"),
        }
    }
}

/// `−24/s`, `+0.5/s`.
fn signed_rate(rate: f64) -> String {
    let sign = if rate < 0.0 { '−' } else { '+' };
    let abs = rate.abs();
    if abs >= 10.0 {
        format!("{sign}{abs:.0}/s")
    } else {
        format!("{sign}{abs:.1}/s")
    }
}

/// `12 s`, `3 min`, `2 h`: an estimate needs no more figures than that.
fn rough(eta: Duration) -> String {
    let s = eta.as_secs_f64().ceil() as u64;
    match s {
        0..=119 => format!("{} s", s.max(1)),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROBE: Duration = Duration::from_millis(500);

    #[test]
    fn draining_says_when_it_will_be_empty() {
        // 60 → 51 over 9 probes (4.5 s): −2/s; 51 left → ~26 s.
        let history: Vec<u64> = (0..10).map(|i| 60 - i).collect();
        let rate = net_rate(&history, PROBE).unwrap();
        assert!((rate + 2.0).abs() < 1e-9, "{rate}");
        let drain = estimate(51, Some(rate));
        assert!(matches!(drain, Drain::Draining { backlog: 51, .. }));
        assert_eq!(drain.describe(), "backlog 51 · net −2.0/s · empty in ~26 s");
    }

    #[test]
    fn growing_says_so() {
        let history: Vec<u64> = (0..30).map(|i| i * 6).collect();
        let rate = net_rate(&history, PROBE).unwrap();
        assert_eq!(rate, 12.0, "only the last ten probes count");
        assert_eq!(
            estimate(174, Some(rate)).describe(),
            "backlog 174 · net +12/s · growing"
        );
    }

    #[test]
    fn empty_and_steady_and_too_early_to_tell() {
        assert_eq!(estimate(0, Some(-3.0)), Drain::Empty);
        assert_eq!(estimate(0, None).describe(), "backlog 0 · empty");
        assert_eq!(estimate(7, Some(0.0)), Drain::Steady { backlog: 7 });
        assert_eq!(net_rate(&[5], PROBE), None);
        assert_eq!(estimate(7, None).describe(), "backlog 7 · steady");
        assert_eq!(rough(Duration::from_secs(600)), "10 min");
        assert_eq!(rough(Duration::from_millis(200)), "1 s");
    }
}
