use std::collections::BTreeMap;

use super::*;
use crate::experiment::chart::mode_colours;
use crate::experiment::result::{
    Invariant, Latency, LossCount, ModeResult, RunResult, SecondRow, ThresholdResult,
};
use plotters::style::RGBColor;

fn row(t: usize, sync: bool) -> SecondRow {
    let t_f = t as f64;
    // The fault runs from 10 s to 20 s: sync's latency climbs and it refuses, async queues.
    let faulted = (10..20).contains(&t);
    SecondRow {
        t_s: t_f,
        answered: 20,
        accepted: if sync && faulted { 8 } else { 20 },
        errors: if sync && faulted { 12 } else { 0 },
        ack_p50_ms: Some(if sync { 40.0 + t_f } else { 1.2 }),
        ack_p99_ms: Some(if sync && faulted {
            2100.0
        } else if sync {
            90.0
        } else {
            3.5
        }),
        completed: if !sync && faulted { 0 } else { 20 },
        done_p99_ms: if !sync && faulted {
            None
        } else {
            Some(if sync { 95.0 } else { 1800.0 })
        },
        queue_depth: (!sync).then_some(if faulted { (t as u64 - 9) * 20 } else { 0 }),
    }
}

/// Two modes, 30 s of series, a fault and its revert, one failed threshold, two loss sources
/// that disagree: the shapes a report must show.
pub(crate) fn fixture() -> RunResult {
    let sync = ModeResult {
        mode: "sync".into(),
        sent: 600,
        accepted: 480,
        completed: 480,
        degraded: 4,
        refused: BTreeMap::from([("503".into(), 110), ("conn".into(), 10)]),
        loss_source: "rows: emails by correlation id".into(),
        ack: Latency {
            p50_ms: 48.25,
            p95_ms: 640.0,
            p99_ms: 2100.0,
            max_ms: 3020.0,
        },
        done: Some(Latency {
            p50_ms: 50.0,
            p95_ms: 90.0,
            p99_ms: 95.0,
            max_ms: 120.0,
        }),
        achieved_rate: 19.9,
        target_rate: 20.0,
        error_rate: 0.2,
        recovery_s: Some(3.0),
        recovered: Some(true),
        ..Default::default()
    };
    let asynch = ModeResult {
        mode: "async".into(),
        sent: 600,
        accepted: 600,
        completed: 598,
        lost: 2,
        duplicated: 1,
        loss_source: "rows: emails by correlation id".into(),
        loss_by_source: vec![
            LossCount {
                source: "rows".into(),
                detail: "emails.correlation_id".into(),
                completed: 598,
                lost: 2,
                duplicated: 1,
            },
            LossCount {
                source: "telemetry".into(),
                detail: "completion events".into(),
                completed: 595,
                lost: 5,
                duplicated: 1,
            },
        ],
        ack: Latency {
            p50_ms: 1.2,
            p95_ms: 2.8,
            p99_ms: 3.5,
            max_ms: 9.75,
        },
        done: Some(Latency {
            p50_ms: 22.0,
            p95_ms: 9800.0,
            p99_ms: 10400.0,
            max_ms: 10950.0,
        }),
        achieved_rate: 20.0,
        target_rate: 20.0,
        error_rate: 0.0,
        recovery_s: None,
        recovered: Some(false),
        backlog_at_end: 12,
        ..Default::default()
    };
    let series = BTreeMap::from([
        ("sync".to_owned(), (1..=30).map(|t| row(t, true)).collect()),
        (
            "async".to_owned(),
            (1..=30).map(|t| row(t, false)).collect(),
        ),
    ]);
    RunResult {
        experiment: "backlog".into(),
        lesson: "A dead consumer delays work; it does not lose it.".into(),
        scenario: "s1".into(),
        started_at: "2026-12-02T03:15:00Z".into(),
        ended_at: "2026-12-02T03:16:10Z".into(),
        interrupted: false,
        environment: Environment {
            git_sha: "bb321e5".into(),
            build_profile: "debug".into(),
            images: BTreeMap::from([
                ("async/email".into(), "ms-async-email:dev".into()),
                ("sync/api".into(), "ms-sync-api:dev".into()),
            ]),
            knobs: BTreeMap::from([
                ("async/email".into(), serde_json::json!({"delay_ms": 0})),
                ("sync/api".into(), serde_json::json!({"workers": 8})),
            ]),
            host_load: 0.73,
            timer_floor_ms: 0.061,
            ms_tui_version: "0.1.0".into(),
            cpus: 2,
        },
        verdict: Verdict::Fail,
        modes: BTreeMap::from([("sync".into(), sync), ("async".into(), asynch)]),
        order: vec!["sync".into(), "async".into()],
        thresholds: vec![
            ThresholdResult {
                mode: "async".into(),
                expr: "ack_p99 < 20ms".into(),
                value: Some(3.5),
                unit: "ms".into(),
                pass: true,
            },
            ThresholdResult {
                mode: "async".into(),
                expr: "lost == 0".into(),
                value: Some(2.0),
                unit: String::new(),
                pass: false,
            },
            ThresholdResult {
                mode: "sync".into(),
                expr: "error_rate < 25%".into(),
                value: Some(20.0),
                unit: "%".into(),
                pass: true,
            },
        ],
        invariants: vec![Invariant {
            name: "every accepted signup has one e-mail".into(),
            mode: "async".into(),
            pass: false,
            detail: "2 signups without | an e-mail".into(),
        }],
        events: vec![
            Event {
                t_s: -1.0,
                kind: "phase".into(),
                target: String::new(),
                detail: "reset".into(),
            },
            Event {
                t_s: 10.0,
                kind: "fault".into(),
                target: "async/email".into(),
                detail: "kill".into(),
            },
            Event {
                t_s: 20.04,
                kind: "revert".into(),
                target: "async/email".into(),
                detail: "start".into(),
            },
        ],
        series,
    }
}

#[test]
fn the_report_reads_as_a_newcomer_needs() {
    insta::assert_snapshot!(markdown(&fixture()));
}

#[test]
fn an_interrupted_run_says_so_loudly() {
    let mut r = fixture();
    r.interrupted = true;
    let md = markdown(&r);
    assert!(md.contains("INTERRUPTED — partial figures"), "{md}");
    assert!(!markdown(&fixture()).contains("INTERRUPTED"));
}

#[test]
fn the_report_formats_numbers_for_people() {
    let md = markdown(&fixture());
    for needle in [
        "| ack p50 | 48.2 ms | 1.20 ms |",
        "| ack p99 | 2.10 s | 3.50 ms |",
        "| error rate | 20.0 % | 0.0 % |",
        "| refused | 503×110 conn×10 | — |",
        "| recovery | 3.0 s | not recovered |",
        "| 10.0 | fault | async/email | kill |",
        "| 20.0 | revert |",
        "❌ FAIL",
        "**The sources disagree**",
        "rows (used)",
        "2 signups without \\| an e-mail",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
}

#[test]
fn the_timeline_names_the_modes_and_the_events() {
    let svg = timeline_svg(&fixture()).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    for needle in [
        "fault async/email",
        "revert async/email",
        "sync ack p99",
        "async ack p99",
    ] {
        assert!(svg.contains(needle), "missing {needle:?}");
    }
    assert!(!svg.contains("NaN"));
}

fn assert_draws(r: &RunResult, what: &str) {
    let svg = timeline_svg(r).unwrap_or_else(|e| panic!("{what}: {e:#}"));
    assert!(svg.starts_with("<svg"), "{what}");
    assert!(!svg.contains("NaN"), "{what}");
}

#[test]
fn the_timeline_survives_thin_or_odd_data() {
    let mut empty = fixture();
    empty.series.clear();
    assert_draws(&empty, "empty series");

    let mut nothing = empty.clone();
    nothing.events.clear();
    nothing.modes.clear();
    nothing.order.clear();
    assert_draws(&nothing, "no modes, no events");
    let _ = markdown(&nothing);

    let mut single = fixture();
    for rows in single.series.values_mut() {
        rows.truncate(1);
    }
    assert_draws(&single, "a single row");

    let mut unmeasured = fixture();
    for row in unmeasured.series.values_mut().flatten() {
        row.ack_p50_ms = None;
        row.ack_p99_ms = None;
        row.done_p99_ms = None;
        row.queue_depth = None;
    }
    assert_draws(&unmeasured, "all-None latencies");

    let mut zeros = fixture();
    for row in zeros.series.values_mut().flatten() {
        row.ack_p50_ms = Some(0.0);
        row.ack_p99_ms = Some(0.0);
        row.done_p99_ms = Some(0.0);
    }
    assert_draws(&zeros, "zeros on a log scale");

    let mut missing = fixture();
    missing.series.remove("async");
    missing.order.push("variant-without-series".into());
    assert_draws(&missing, "a mode without series");
}

#[test]
fn variants_get_their_own_colours_in_their_modes_family() {
    let mut r = fixture();
    let fast = ModeResult {
        mode: "async".into(),
        ..Default::default()
    };
    r.modes.insert("prefetch-50".into(), fast);
    r.order.push("prefetch-50".into());
    let colours = mode_colours(&r);
    let keys: Vec<&str> = colours.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["sync", "async", "prefetch-50"]);
    let mut distinct: Vec<RGBColor> = colours.iter().map(|(_, c)| *c).collect();
    distinct.dedup();
    assert_eq!(distinct.len(), 3);
    assert!(markdown(&r).contains("| prefetch-50 (async) |"));
}

fn scratch(name: &str) -> PathBuf {
    // Unique per process and test, so parallel test runs never share a folder.
    std::env::temp_dir().join(format!("ms-tui-report-{}-{name}", std::process::id()))
}

#[test]
fn write_leaves_three_whole_files_and_a_json_that_round_trips() {
    let dir = scratch("write").join("nested");
    let _ = std::fs::remove_dir_all(&dir);
    let r = fixture();
    let paths = write(&dir, &r).unwrap();
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["result.json", "report.md", "timeline.svg"]);
    for p in &paths {
        assert!(std::fs::metadata(p).unwrap().len() > 0, "{}", p.display());
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let back: RunResult =
        serde_json::from_str(&std::fs::read_to_string(&paths[0]).unwrap()).unwrap();
    assert_eq!(back, r);
    let _ = std::fs::remove_dir_all(scratch("write"));
}

#[test]
fn write_names_the_folder_it_cannot_create() {
    let blocker = scratch("blocker");
    std::fs::write(&blocker, b"a file where a folder should go").unwrap();
    let dir = blocker.join("run");
    let e = write(&dir, &fixture()).unwrap_err();
    assert!(
        format!("{e:#}").contains(&dir.display().to_string()),
        "{e:#}"
    );
    let _ = std::fs::remove_file(&blocker);
}

#[test]
fn measured_values_read_in_their_units() {
    assert_eq!(fmt_measured(Some(12.34), "ms"), "12.3 ms");
    assert_eq!(fmt_measured(Some(1250.0), "ms"), "1.25 s");
    assert_eq!(fmt_measured(Some(95.22), "%"), "95.2 %");
    assert_eq!(fmt_measured(Some(4.0), "s"), "4.0 s");
    assert_eq!(fmt_measured(Some(3.0), ""), "3");
    assert_eq!(fmt_measured(None, "ms"), "not measured");
    assert_eq!(fmt_ms(-1.0), "—");
    assert_eq!(fmt_ms(f64::NAN), "—");
}
