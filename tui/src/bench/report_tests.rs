use std::collections::BTreeMap;

use super::*;
use crate::bench::result::{Criterion, ScenarioClosed, Usage};
use crate::experiment::result::{Environment, Latency};

fn latency(p50: f64, p99: f64) -> Latency {
    Latency {
        p50_ms: p50,
        p95_ms: (p50 + p99) / 2.0,
        p99_ms: p99,
        max_ms: p99 * 1.5,
    }
}

fn usage(pairs: &[(&str, f64, f64)]) -> BTreeMap<String, Usage> {
    pairs
        .iter()
        .map(|(key, cpu_cores, mem_mib)| {
            let u = Usage {
                cpu_cores: *cpu_cores,
                mem_mib: *mem_mib,
            };
            (key.to_string(), u)
        })
        .collect()
}

/// A step at `rate`: ack p99 grows with the rate; `done` for async; a failed step says why.
fn step(mode: &str, rate: f64, pass: bool) -> Step {
    let asynchronous = mode == "async";
    let ack_p99 = if asynchronous { 2.0 } else { 40.0 } * (1.0 + rate / 100.0);
    let figures = StepFigures {
        sent: (rate * 30.0) as u64,
        achieved_rate: if pass { rate * 0.99 } else { rate * 0.81 },
        error_rate: if pass { 0.0 } else { 0.004 },
        ack: latency(ack_p99 / 3.0, ack_p99),
        done: asynchronous.then(|| latency(300.0, 450.0 + rate)),
        not_completed: 0,
        backlog_start: asynchronous.then_some(0),
        backlog_end: asynchronous.then_some(if pass { 0 } else { 1200 }),
        cpu_s_per_1000: Some(if asynchronous { 0.85 } else { 0.42 }),
        infra_cpu_s_per_1000: Some(if asynchronous { 0.31 } else { 0.07 }),
        usage: usage(&[
            (&format!("{mode}/email"), 0.2, 48.5),
            (&format!("{mode}/payment"), 0.6, 61.25),
            ("infra/rabbitmq", 0.4, 140.0),
        ]),
    };
    let achieved = Criterion {
        name: "achieved".into(),
        detail: format!(
            "{:.0} % {} 95 %",
            figures.achieved_rate / rate * 100.0,
            if pass { "≥" } else { "<" }
        ),
        value: Some(figures.achieved_rate / rate),
        bound: 0.95,
        pass,
    };
    Step {
        target_rate: rate,
        rounds: vec![figures.clone()],
        figures,
        criteria: vec![achieved],
        pass,
    }
}

fn ladder(key: &str, mode: &str, rates: &[(f64, bool)]) -> Ladder {
    let steps: Vec<Step> = rates.iter().map(|(r, p)| step(mode, *r, *p)).collect();
    let sustainable_rate = steps
        .iter()
        .take_while(|s| s.pass)
        .last()
        .map(|s| s.target_rate);
    let stop_reason = match steps.iter().find(|s| !s.pass) {
        Some(s) => format!("at {:.0}/s: {}", s.target_rate, s.criteria[0].detail),
        None => "top of the ladder (cap 500/s)".into(),
    };
    let knobs = if key == "sync-limit-40" {
        BTreeMap::from([(
            "sync/*".to_string(),
            serde_json::json!({"max_in_flight": 40}),
        )])
    } else {
        BTreeMap::new()
    };
    Ladder {
        key: key.into(),
        mode: mode.into(),
        knobs,
        ack_bound_ms: if mode == "async" { 50.0 } else { 1500.0 },
        steps,
        stop_reason,
        sustainable_rate,
    }
}

fn closed(p95_ms: f64) -> ScenarioClosed {
    ScenarioClosed {
        requests: 1200,
        p95_ms,
        errors_400_as_error: 12,
        throughput: 40.0,
        ..Default::default()
    }
}

/// Two scenarios, three ladders each; s2's `sync-limit-40` fails its first step (no
/// sustainable rate); the academic view present.
pub(crate) fn fixture() -> BenchReport {
    let s1 = ScenarioBench {
        scenario: "s1".into(),
        title: "Order with payment and e-mail".into(),
        ladders: vec![
            ladder(
                "sync",
                "sync",
                &[(50.0, true), (100.0, true), (200.0, false)],
            ),
            ladder(
                "async",
                "async",
                &[(50.0, true), (100.0, true), (200.0, true), (400.0, true)],
            ),
            ladder("sync-limit-40", "sync", &[(50.0, true), (100.0, false)]),
        ],
        skipped: Vec::new(),
        finding: "async holds 4× the rate; its done p99 is 10× sync's ack p99".into(),
    };
    let s2 = ScenarioBench {
        scenario: "s2".into(),
        title: "Saga | with compensation".into(),
        ladders: vec![
            ladder("sync", "sync", &[(50.0, true), (100.0, false)]),
            ladder("async", "async", &[(50.0, true), (100.0, true)]),
            ladder("sync-limit-40", "sync", &[(50.0, false)]),
        ],
        skipped: Vec::new(),
        finding: "held to 40 in flight, sync cannot serve even 50/s".into(),
    };
    let mode = |p95: f64, errors: f64, s1: f64, s2: f64| AcademicMode {
        pooled_p95_ms: p95,
        error_rate_400_as_error: errors,
        throughput: 80.5,
        per_scenario: BTreeMap::from([("s1".into(), closed(s1)), ("s2".into(), closed(s2))]),
        ..Default::default()
    };
    BenchReport {
        started_at: "2026-12-02T01:00:00Z".into(),
        ended_at: "2026-12-02T01:42:10Z".into(),
        duration_s: 2530.0,
        profile: "peer".into(),
        quick: false,
        rounds: 3,
        step_s: 30.0,
        interrupted: false,
        environment: Environment {
            git_sha: "7e988b4".into(),
            build_profile: "debug".into(),
            images: BTreeMap::from([("async/email".into(), "ms-service:dev".into())]),
            knobs: BTreeMap::new(),
            host_load: 0.42,
            timer_floor_ms: 0.06,
            ms_tui_version: "0.1.0".into(),
            cpus: 2,
        },
        scenarios: vec![s1, s2],
        academic: Some(Academic {
            virtual_users: 50,
            seconds_per_scenario: 60.0,
            modes: BTreeMap::from([
                ("async".into(), mode(35.0, 0.0, 12.0, 48.0)),
                ("sync".into(), mode(820.0, 0.083, 640.0, 1010.0)),
            ]),
            differences: vec![
                "their pooled p95 mixes s1's 12 ms with s2's 48 ms".into(),
                "they count the saga's intended 400 as an error (8.3 %); we do not".into(),
            ],
        }),
    }
}

#[test]
fn the_report_has_a_table_per_scenario_theirs_beside_ours_and_every_step() {
    insta::assert_snapshot!(markdown(&fixture()));
}

#[test]
fn a_ladder_that_held_no_step_shows_none_and_why_it_stopped() {
    let md = markdown(&fixture());
    let row = md
        .lines()
        .find(|l| l.starts_with("| `sync-limit-40` | none |"))
        .unwrap();
    assert!(row.ends_with("| at 50/s: 81 % < 95 % |"), "{row}");
    // Every row of a table has as many cells as its heading.
    let cells = |l: &str| l.matches(" | ").count();
    let heading = md.lines().find(|l| l.starts_with("| ladder |")).unwrap();
    assert_eq!(cells(row), cells(heading), "{row}");
}

#[test]
fn an_interrupted_bench_says_so_and_a_bench_without_academic_has_no_such_section() {
    let mut r = fixture();
    r.interrupted = true;
    r.academic = None;
    let md = markdown(&r);
    assert!(md.contains("INTERRUPTED"));
    assert!(!md.contains("academic"));
    assert!(md.contains("## Appendix: every step"));
}

#[test]
fn durations_read_in_minutes_and_hours() {
    assert_eq!(fmt_duration(45.0), "45.0 s");
    assert_eq!(fmt_duration(725.0), "12 min 05 s");
    assert_eq!(fmt_duration(3720.0), "1 h 02 min");
    assert_eq!(fmt_duration(f64::NAN), "—");
    assert_eq!(fmt_cpu_s(Some(0.4249)), "0.42 s");
    assert_eq!(fmt_cpu_s(None), "—");
    assert_eq!(fmt_backlog(Some(0), Some(12)), "0 → 12");
    assert_eq!(fmt_backlog(None, None), "—");
}

fn assert_draws(s: &ScenarioBench, what: &str) -> String {
    let svg = latency_svg(s).unwrap_or_else(|e| panic!("{what}: {e:#}"));
    assert!(svg.contains("<svg"), "{what}");
    assert!(!svg.contains("NaN"), "{what}: NaN in the SVG");
    assert!(!svg.contains("inf"), "{what}: an infinity in the SVG");
    svg
}

#[test]
fn the_chart_names_every_ladder() {
    for s in &fixture().scenarios {
        let svg = assert_draws(s, &s.scenario);
        for key in [
            "sync ack p99",
            "async ack p99",
            "async done p99",
            "sync-limit-40",
        ] {
            assert!(svg.contains(key), "{}: {key} missing", s.scenario);
        }
        assert!(svg.contains(&format!("{}: ", s.scenario)), "the title");
    }
}

#[test]
fn the_chart_survives_thin_or_odd_ladders() {
    let base = fixture().scenarios[0].clone();
    let mut one_step = base.clone();
    one_step.ladders = vec![ladder("sync", "sync", &[(50.0, true)])];
    assert_draws(&one_step, "one step");

    let mut no_done = base.clone();
    no_done.ladders = vec![ladder("sync", "sync", &[(50.0, true), (100.0, true)])];
    let svg = assert_draws(&no_done, "no done figures");
    assert!(!svg.contains("done p99"));

    let mut zeros = base.clone();
    for l in &mut zeros.ladders {
        for s in &mut l.steps {
            s.figures.ack = Latency::default();
            s.figures.done = Some(Latency::default());
            s.figures.sent = 0;
        }
    }
    zeros.ladders[0].steps[0].figures.sent = 10;
    assert_draws(&zeros, "zero latencies");

    let mut odd = base.clone();
    odd.ladders[0].steps[0].target_rate = 0.0;
    odd.ladders[0].steps[1].figures.ack.p99_ms = f64::NAN;
    odd.ladders[1].steps[0].figures.done = Some(Latency {
        p99_ms: f64::INFINITY,
        ..Latency::default()
    });
    odd.ladders[1].sustainable_rate = Some(-1.0);
    assert_draws(&odd, "zero rate, NaN, infinity, negative sustainable rate");

    let mut empty = base.clone();
    empty.ladders[0].steps.clear();
    assert_draws(&empty, "a ladder without steps");
    empty.ladders.clear();
    assert_draws(&empty, "no ladders");
    assert!(
        markdown(&BenchReport {
            scenarios: vec![empty],
            ..fixture()
        })
        .contains("No ladder ran.")
    );
}

fn scratch(name: &str) -> PathBuf {
    // Unique per process and test, so parallel test runs never share a folder.
    std::env::temp_dir().join(format!("ms-tui-bench-report-{}-{name}", std::process::id()))
}

#[test]
fn write_leaves_the_record_the_report_and_a_chart_per_scenario() {
    let dir = scratch("write").join("nested");
    let _ = std::fs::remove_dir_all(&dir);
    let r = fixture();
    let paths = write(&dir, &r).unwrap();
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "report.json",
            "report.md",
            "s1-latency.svg",
            "s2-latency.svg"
        ]
    );
    for p in &paths {
        assert!(std::fs::metadata(p).unwrap().len() > 0, "{}", p.display());
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let back: BenchReport =
        serde_json::from_str(&std::fs::read_to_string(&paths[0]).unwrap()).unwrap();
    assert_eq!(back, r);
    let _ = std::fs::remove_dir_all(scratch("write"));
}

#[test]
fn a_chart_s_name_cannot_leave_the_folder() {
    assert_eq!(svg_name("s1"), "s1-latency.svg");
    assert_eq!(svg_name("../x/y"), "___x_y-latency.svg");
}
