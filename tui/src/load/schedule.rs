//! Intended send times of an open-model run: request `n` is due at `start + n / rate`,
//! whatever happened to the requests before it.

use std::time::Duration;

use tokio::time::Instant;

/// A fixed-rate timetable. The rate can change mid-run; the timetable then continues from the
/// current slot at the new spacing, so no burst is sent to "catch up" the old rate.
#[derive(Clone, Debug)]
pub struct Schedule {
    origin: Instant,
    origin_seq: u64,
    rate: f64,
}

impl Schedule {
    /// Rates are clamped to at least 0.01 req/s so the spacing stays finite.
    pub fn new(start: Instant, rate: f64) -> Self {
        Schedule {
            origin: start,
            origin_seq: 0,
            rate: clamp(rate),
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// When request `seq` (counted from 0 over the whole run) is due.
    pub fn due(&self, seq: u64) -> Instant {
        let slots = seq.saturating_sub(self.origin_seq) as f64;
        self.origin + Duration::from_secs_f64(slots / self.rate)
    }

    /// Changes the rate from request `next_seq` on, which is due now or at its old time,
    /// whichever is later.
    pub fn set_rate(&mut self, next_seq: u64, rate: f64, now: Instant) {
        self.origin = self.due(next_seq).max(now);
        self.origin_seq = next_seq;
        self.rate = clamp(rate);
    }
}

fn clamp(rate: f64) -> f64 {
    if rate.is_finite() {
        rate.max(0.01)
    } else {
        0.01
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The timetable is pure: it reads no clock, `now` is an argument. So the tests give it
    // the instants they mean instead of pausing and advancing a runtime's clock (which would
    // need tokio's `test-util` feature for the whole dependency graph).

    #[test]
    fn requests_are_due_at_even_spacing() {
        let start = Instant::now();
        let s = Schedule::new(start, 200.0);
        assert_eq!(s.due(0), start);
        assert_eq!(s.due(1), start + Duration::from_millis(5));
        assert_eq!(s.due(200), start + Duration::from_secs(1));
    }

    #[test]
    fn a_rate_change_continues_without_a_burst() {
        let start = Instant::now();
        let mut s = Schedule::new(start, 10.0);
        // At t = 1 s, ten requests were due (0..=9 sent); the 11th (seq 10) was due at 1 s.
        let now = start + Duration::from_secs(1);
        s.set_rate(10, 100.0, now);
        assert_eq!(s.due(10), start + Duration::from_secs(1));
        assert_eq!(s.due(11), start + Duration::from_millis(1010));
        assert_eq!(s.rate(), 100.0);
    }

    #[test]
    fn a_late_rate_change_starts_from_now_not_from_the_past() {
        let start = Instant::now();
        let mut s = Schedule::new(start, 1.0);
        let now = start + Duration::from_secs(10);
        // Only seq 0..=2 were sent: the engine fell behind; the new rate starts now.
        s.set_rate(3, 2.0, now);
        assert_eq!(s.due(3), start + Duration::from_secs(10));
        assert_eq!(s.due(5), start + Duration::from_secs(11));
    }

    #[test]
    fn nonsense_rates_are_clamped() {
        let s = Schedule::new(Instant::now(), f64::NAN);
        assert_eq!(s.rate(), 0.01);
        assert_eq!(Schedule::new(Instant::now(), -5.0).rate(), 0.01);
    }
}
