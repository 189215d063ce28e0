use super::*;
use common::Mode;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-02T03:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

fn answer(id: &str, outcome: Outcome) -> Answer {
    Answer {
        correlation_id: id.into(),
        outcome,
        degraded: false,
        intended_at: t0(),
        latency: Duration::from_millis(5),
    }
}

fn ok(id: &str) -> Answer {
    answer(id, Outcome::Expected(202))
}

fn event(id: &str, scenario: ScenarioId, step: Step, at: DateTime<Utc>) -> CompletionEvent {
    CompletionEvent {
        correlation_id: id.into(),
        scenario,
        mode: Mode::Async,
        service: step.service,
        step: step.step.into(),
        ok: true,
        at,
    }
}

/// The one completion event of a single-step scenario.
fn done(id: &str, scenario: ScenarioId, after_ms: i64) -> CompletionEvent {
    event(
        id,
        scenario,
        scenario::get(scenario).done_when[0],
        t0() + ms(after_ms),
    )
}

fn rows(entries: &[(&str, u32, i64)]) -> RowEffects {
    RowEffects {
        detail: "emails.correlation_id (kind welcome)".into(),
        by_id: entries
            .iter()
            .map(|(id, count, after)| {
                let effect = RowEffect {
                    count: *count,
                    done_at: (*count > 0).then(|| t0() + ms(*after)),
                };
                ((*id).to_owned(), effect)
            })
            .collect(),
    }
}

#[test]
fn rows_twice_is_duplicated_and_never_is_lost() {
    let answers = [ok("load-a-0"), ok("load-a-1"), ok("load-a-2")];
    let effects = rows(&[("load-a-0", 1, 40), ("load-a-1", 2, 70)]);
    let acc = account(ScenarioId::S1, &answers, &[], Some(&effects));
    assert_eq!((acc.completed, acc.lost, acc.duplicated), (2, 1, 1));
    assert_eq!(acc.source, "rows: emails.correlation_id (kind welcome)");
    let latencies: Vec<Duration> = acc.completions.iter().map(|c| c.latency).collect();
    assert_eq!(
        latencies,
        [Duration::from_millis(40), Duration::from_millis(70)]
    );
}

#[test]
fn telemetry_twice_is_duplicated_and_never_is_lost() {
    let answers = [ok("load-b-0"), ok("load-b-1"), ok("load-b-2")];
    let s1 = ScenarioId::S1;
    let events = [
        done("load-b-0", s1, 10),
        done("load-b-1", s1, 20),
        done("load-b-1", s1, 30),
    ];
    let acc = account(s1, &answers, &events, None);
    assert_eq!((acc.completed, acc.lost, acc.duplicated), (2, 1, 1));
    assert_eq!(acc.source, "telemetry: completion events on ms.telemetry");
    assert!(acc.rows.is_none());
    // A duplicate does not move the completion: its first event does.
    assert_eq!(acc.completions[1].latency, Duration::from_millis(20));
}

#[test]
fn an_event_recorded_before_its_answer_still_counts() {
    let s6 = ScenarioId::S6;
    // The slices' order means nothing: the event is first, its answer last.
    let events = [done("load-c-9", s6, 15)];
    let answers = [ok("load-c-1"), ok("load-c-9")];
    let acc = account(s6, &answers, &events, None);
    assert_eq!((acc.completed, acc.lost), (1, 1));
    assert_eq!(acc.completions[0].at, t0() + ms(15));
}

#[test]
fn both_sources_are_kept_when_they_disagree_and_rows_win() {
    let s1 = ScenarioId::S1;
    let answers = [ok("load-d-0"), ok("load-d-1")];
    // The e-mail of d-1 was sent but its completion event was dropped (best effort).
    let events = [done("load-d-0", s1, 10)];
    let effects = rows(&[("load-d-0", 1, 12), ("load-d-1", 1, 14)]);
    let acc = account(s1, &answers, &events, Some(&effects));
    let telemetry = acc.telemetry.clone().unwrap();
    let by_rows = acc.rows.clone().unwrap();
    assert_eq!(
        (
            telemetry.source.as_str(),
            telemetry.completed,
            telemetry.lost
        ),
        ("telemetry", 1, 1)
    );
    assert_eq!(
        (by_rows.source.as_str(), by_rows.completed, by_rows.lost),
        ("rows", 2, 0)
    );
    assert_eq!(telemetry.detail, TELEMETRY_DETAIL);
    assert_eq!(by_rows.detail, "emails.correlation_id (kind welcome)");
    assert_eq!((acc.completed, acc.lost), (2, 0));
    assert!(acc.source.starts_with("rows: "));
    assert_eq!(acc.completions.len(), 2);
}

#[test]
fn refusals_are_tallied_by_label_and_count_for_nothing_else() {
    let answers = [
        ok("load-e-0"),
        answer("load-e-1", Outcome::Unexpected(503)),
        answer("load-e-2", Outcome::Unexpected(503)),
        answer("load-e-3", Outcome::Transport),
    ];
    let s1 = ScenarioId::S1;
    // A refused request's effect (it happened after all) is not counted as completed.
    let events = [done("load-e-1", s1, 10)];
    let effects = rows(&[("load-e-1", 1, 10)]);
    let acc = account(s1, &answers, &events, Some(&effects));
    assert_eq!(acc.accepted, 1);
    let expected: BTreeMap<String, u64> = [("503".to_owned(), 2), ("conn".to_owned(), 1)].into();
    assert_eq!(acc.refused, expected);
    assert_eq!((acc.completed, acc.lost, acc.duplicated), (0, 1, 0));
    assert_eq!(acc.telemetry.unwrap().completed, 0);
}

#[test]
fn the_sync_sagas_expected_400_is_refused_not_accepted() {
    let s5 = get_s5();
    let refused = Outcome::classify(&s5.sync, Some(400));
    assert!(refused.is_success(), "the catalogue expects it");
    let accepted = Outcome::classify(&s5.sync, Some(200));
    let answers = [answer("load-f-0", refused), answer("load-f-1", accepted)];
    let events = [
        done("load-f-0", ScenarioId::S5, 5),
        done("load-f-1", ScenarioId::S5, 9),
    ];
    let acc = account(ScenarioId::S5, &answers, &events, None);
    assert_eq!(acc.accepted, 1);
    assert_eq!(acc.refused.get("400"), Some(&1));
    assert_eq!((acc.completed, acc.lost), (1, 0));
}

fn get_s5() -> &'static scenario::Scenario {
    scenario::get(ScenarioId::S5)
}

#[test]
fn s3_needs_all_three_steps_and_is_done_at_the_last() {
    let s3 = ScenarioId::S3;
    let steps = scenario::get(s3).done_when;
    assert_eq!(steps.len(), 3);
    let answers = [
        answer("load-g-0", Outcome::Expected(200)),
        answer("load-g-1", Outcome::Expected(200)),
    ];
    let events = [
        event("load-g-0", s3, steps[2], t0() + ms(30)),
        event("load-g-1", s3, steps[0], t0() + ms(10)),
        event("load-g-0", s3, steps[0], t0() + ms(90)),
        event("load-g-1", s3, steps[1], t0() + ms(20)),
        event("load-g-0", s3, steps[1], t0() + ms(50)),
    ];
    let acc = account(s3, &answers, &events, None);
    // g-1 misses its analytics step: lost, though two of three consumers finished.
    assert_eq!((acc.completed, acc.lost, acc.duplicated), (1, 1, 0));
    assert_eq!(acc.completions[0].latency, Duration::from_millis(90));
}

#[test]
fn degraded_answers_are_counted_among_the_accepted() {
    let mut warned = answer("load-h-0", Outcome::Expected(201));
    warned.degraded = true;
    let mut refused = answer("load-h-1", Outcome::Unexpected(503));
    refused.degraded = true;
    let acc = account(ScenarioId::S1, &[warned, refused], &[], None);
    assert_eq!((acc.accepted, acc.degraded), (1, 1));
}

#[test]
fn strangers_and_other_scenarios_are_ignored_and_latency_is_clamped() {
    let s6 = ScenarioId::S6;
    let answers = [ok("load-i-0")];
    // S6's step, but reported for another scenario: not this flow's.
    let other = event(
        "load-i-0",
        ScenarioId::S1,
        scenario::get(s6).done_when[0],
        t0() + ms(5),
    );
    // PostgreSQL's clock a little behind ours: the row predates the intended send.
    let events = [done("curl-1", s6, 5), other, done("load-i-0", s6, -3)];
    let effects = rows(&[("curl-1", 4, 5)]);
    let acc = account(s6, &answers, &events, Some(&effects));
    let telemetry = acc.telemetry.unwrap();
    assert_eq!((telemetry.completed, telemetry.duplicated), (1, 0));
    assert_eq!((acc.completed, acc.lost, acc.duplicated), (0, 1, 0));
    let acc = account(s6, &answers, &events, None);
    assert_eq!(acc.completions[0].latency, Duration::ZERO);
}

#[test]
fn completions_are_in_time_order() {
    let s6 = ScenarioId::S6;
    let answers = [ok("load-j-0"), ok("load-j-1")];
    let events = [done("load-j-0", s6, 80), done("load-j-1", s6, 20)];
    let acc = account(s6, &answers, &events, None);
    let at: Vec<DateTime<Utc>> = acc.completions.iter().map(|c| c.at).collect();
    assert_eq!(at, [t0() + ms(20), t0() + ms(80)]);
}
