//! Thresholds: `ack_p99 < 20ms`, `lost == 0`, `error_rate < 1%`, judged against one mode's
//! figures.

use super::result::{ModeResult, ThresholdResult};

/// A parsed threshold on one mode (or `all`).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// `sync`, `async`, a variant's name or `all`.
    pub key: String,
    pub metric: Metric,
    pub op: Op,
    /// In the metric's unit (ms, s, %, count).
    pub value: f64,
    /// As written, for the report.
    pub expr: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Ack(Quantile),
    Done(Quantile),
    ErrorRate,
    AchievedRate,
    Accepted,
    Completed,
    Lost,
    Duplicated,
    Degraded,
    Refused,
    Backlog,
    Recovery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantile {
    P50,
    P95,
    P99,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Millis,
    Seconds,
    Percent,
    Count,
}

impl Metric {
    fn parse(word: &str) -> Option<Metric> {
        let quantile = |q: &str| match q {
            "p50" => Some(Quantile::P50),
            "p95" => Some(Quantile::P95),
            "p99" => Some(Quantile::P99),
            "max" => Some(Quantile::Max),
            _ => None,
        };
        if let Some(q) = word.strip_prefix("ack_") {
            return quantile(q).map(Metric::Ack);
        }
        if let Some(q) = word.strip_prefix("done_") {
            return quantile(q).map(Metric::Done);
        }
        Some(match word {
            "error_rate" => Metric::ErrorRate,
            "achieved_rate" => Metric::AchievedRate,
            "accepted" => Metric::Accepted,
            "completed" => Metric::Completed,
            "lost" => Metric::Lost,
            "duplicated" => Metric::Duplicated,
            "degraded" => Metric::Degraded,
            "refused" => Metric::Refused,
            "backlog" => Metric::Backlog,
            "recovery" => Metric::Recovery,
            _ => return None,
        })
    }

    fn unit(self) -> Unit {
        match self {
            Metric::Ack(_) | Metric::Done(_) => Unit::Millis,
            Metric::Recovery => Unit::Seconds,
            Metric::ErrorRate | Metric::AchievedRate => Unit::Percent,
            _ => Unit::Count,
        }
    }

    /// The measured value in the metric's unit; `None` when it was not measured.
    pub fn measure(self, mode: &ModeResult) -> Option<f64> {
        let pick = |l: &super::result::Latency, q: Quantile| match q {
            Quantile::P50 => l.p50_ms,
            Quantile::P95 => l.p95_ms,
            Quantile::P99 => l.p99_ms,
            Quantile::Max => l.max_ms,
        };
        Some(match self {
            Metric::Ack(q) => {
                if mode.sent == 0 {
                    return None;
                }
                pick(&mode.ack, q)
            }
            Metric::Done(q) => pick(mode.done.as_ref()?, q),
            Metric::ErrorRate => mode.error_rate * 100.0,
            Metric::AchievedRate => {
                if mode.target_rate <= 0.0 {
                    return None;
                }
                mode.achieved_rate / mode.target_rate * 100.0
            }
            Metric::Accepted => mode.accepted as f64,
            Metric::Completed => mode.completed as f64,
            Metric::Lost => mode.lost as f64,
            Metric::Duplicated => mode.duplicated as f64,
            Metric::Degraded => mode.degraded as f64,
            Metric::Refused => mode.refused.values().sum::<u64>() as f64,
            Metric::Backlog => mode.backlog_at_end as f64,
            Metric::Recovery => mode.recovery_s?,
        })
    }
}

impl Op {
    fn holds(self, measured: f64, bound: f64) -> bool {
        match self {
            Op::Lt => measured < bound,
            Op::Le => measured <= bound,
            Op::Gt => measured > bound,
            Op::Ge => measured >= bound,
            Op::Eq => (measured - bound).abs() < 1e-9,
        }
    }
}

const METRICS: &str = "ack_p50/p95/p99/max, done_p50/p95/p99/max, error_rate, achieved_rate, \
                       accepted, completed, lost, duplicated, degraded, refused, backlog, recovery";

impl Threshold {
    /// `ack_p99 < 20ms`; `key` is the mode it is for.
    pub fn parse(key: &str, expr: &str) -> Result<Threshold, String> {
        let words: Vec<&str> = expr.split_whitespace().collect();
        let [metric, op, value] = words[..] else {
            return Err(format!(
                "threshold `{expr}`: write `<metric> <op> <value>`, e.g. `ack_p99 < 20ms`"
            ));
        };
        let metric = Metric::parse(metric)
            .ok_or_else(|| format!("threshold `{expr}`: `{metric}` is not one of {METRICS}"))?;
        let op = match op {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "==" => Op::Eq,
            other => {
                return Err(format!(
                    "threshold `{expr}`: `{other}` is not one of <, <=, >, >=, =="
                ));
            }
        };
        let value =
            parse_value(value, metric.unit()).map_err(|m| format!("threshold `{expr}`: {m}"))?;
        Ok(Threshold {
            key: key.to_owned(),
            metric,
            op,
            value,
            expr: expr.to_owned(),
        })
    }

    /// Judges the threshold on the mode `key` names (`mode_key`: the mode it is applied to,
    /// itself for a named one, each in turn for `all`).
    pub fn judge(&self, mode_key: &str, mode: &ModeResult) -> ThresholdResult {
        let value = self.metric.measure(mode);
        ThresholdResult {
            mode: mode_key.to_owned(),
            expr: self.expr.clone(),
            value,
            unit: match self.metric.unit() {
                Unit::Millis => "ms",
                Unit::Seconds => "s",
                Unit::Percent => "%",
                Unit::Count => "",
            }
            .to_owned(),
            pass: value.is_some_and(|v| self.op.holds(v, self.value)),
        }
    }

    /// The bound on ack p99 and the error rate (in %) this threshold sets, for recovery.
    pub fn recovery_bound(&self) -> Option<(Metric, f64)> {
        match (self.metric, self.op) {
            (Metric::Ack(Quantile::P99) | Metric::ErrorRate, Op::Lt | Op::Le) => {
                Some((self.metric, self.value))
            }
            _ => None,
        }
    }
}

fn parse_value(text: &str, unit: Unit) -> Result<f64, String> {
    let (number, suffix) =
        crate::units::number_and_unit(text).ok_or_else(|| format!("`{text}` is not a number"))?;
    let scaled = match (unit, suffix) {
        (Unit::Millis, "ms") => number,
        (Unit::Millis, "us" | "µs") => number / 1000.0,
        (Unit::Millis, "s") => number * 1000.0,
        (Unit::Seconds, "s") => number,
        (Unit::Seconds, "ms") => number / 1000.0,
        (Unit::Percent, "%") => number,
        (Unit::Count, "") => number,
        (Unit::Millis | Unit::Seconds, _) => {
            return Err(format!("`{text}`: a duration needs a unit (ms, s, us)"));
        }
        (Unit::Percent, _) => return Err(format!("`{text}`: a rate is a percentage, e.g. 1%")),
        (Unit::Count, _) => return Err(format!("`{text}`: a count has no unit")),
    };
    Ok(scaled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_in_their_units() {
        let t = Threshold::parse("async", "ack_p99 < 20ms").unwrap();
        assert_eq!(
            (t.metric, t.op, t.value),
            (Metric::Ack(Quantile::P99), Op::Lt, 20.0)
        );
        assert_eq!(
            Threshold::parse("sync", "done_p99 < 2s").unwrap().value,
            2000.0
        );
        assert_eq!(
            Threshold::parse("sync", "ack_p99 < 0.001ms").unwrap().value,
            0.001
        );
        assert_eq!(
            Threshold::parse("all", "error_rate < 1%").unwrap().value,
            1.0
        );
        assert_eq!(
            Threshold::parse("all", "recovery < 10s").unwrap().value,
            10.0
        );
        assert_eq!(Threshold::parse("all", "lost == 0").unwrap().op, Op::Eq);
    }

    #[test]
    fn bad_thresholds_say_what_was_expected() {
        for (expr, needle) in [
            ("ack_p99<20ms", "<metric> <op> <value>"),
            ("latency < 20ms", "is not one of"),
            ("ack_p99 ~ 20ms", "<, <=, >, >=, =="),
            ("ack_p99 < 20", "needs a unit"),
            ("error_rate < 0.01", "percentage"),
            ("lost == 0ms", "no unit"),
        ] {
            let e = Threshold::parse("async", expr).unwrap_err();
            assert!(e.contains(needle), "{expr}: {e}");
        }
    }

    #[test]
    fn a_threshold_passes_only_on_a_measured_value_that_holds() {
        let mode = ModeResult {
            sent: 10,
            accepted: 10,
            lost: 2,
            ack: super::super::result::Latency {
                p99_ms: 15.0,
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(
            Threshold::parse("a", "ack_p99 < 20ms")
                .unwrap()
                .judge("a", &mode)
                .pass
        );
        assert!(
            !Threshold::parse("a", "lost == 0")
                .unwrap()
                .judge("a", &mode)
                .pass
        );
        let unmeasured = Threshold::parse("a", "done_p99 < 2s")
            .unwrap()
            .judge("a", &mode);
        assert_eq!((unmeasured.value, unmeasured.pass), (None, false));
        assert!(
            !Threshold::parse("a", "recovery < 10s")
                .unwrap()
                .judge("a", &mode)
                .pass
        );
    }
}
