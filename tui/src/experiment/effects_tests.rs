use super::*;

#[test]
fn a_server_url_gets_each_modes_database() {
    let urls = DbUrls::on_server("postgres://u:p@127.0.0.1:5433/");
    assert_eq!(
        urls.get(Mode::Sync),
        "postgres://u:p@127.0.0.1:5433/ms_sync"
    );
    assert_eq!(
        urls.get(Mode::Async),
        "postgres://u:p@127.0.0.1:5433/ms_async"
    );
}

#[test]
fn every_flow_with_business_rows_has_a_source() {
    let with_rows: Vec<ScenarioId> = ScenarioId::ALL
        .into_iter()
        .filter(|s| Effects::source(*s).is_some())
        .collect();
    use ScenarioId::*;
    assert_eq!(with_rows, [S1, S2, S5, S6, S7, S8]);
    assert_eq!(
        Effects::source(S1),
        Some("emails.correlation_id (kind welcome)")
    );
}

#[test]
fn keys_follow_what_the_request_carried() {
    let key = |s| row_query(s).map(|q| (q.key)("load-ab12cd34-7"));
    assert_eq!(
        key(ScenarioId::S1).flatten().as_deref(),
        Some("load-ab12cd34-7")
    );
    assert_eq!(
        key(ScenarioId::S2).flatten().as_deref(),
        Some("ord-ab12cd34-7")
    );
    assert_eq!(
        key(ScenarioId::S6).flatten().as_deref(),
        Some("/p/ab12cd34-7")
    );
    // Not a load request: its page cannot be known.
    assert_eq!(
        row_query(ScenarioId::S6).and_then(|q| (q.key)("curl-1")),
        None
    );
}

#[tokio::test]
async fn a_bad_url_fails_the_read_not_the_constructor() {
    let effects = Effects::new(DbUrls {
        sync: "not a url".into(),
        asynchronous: "postgres://u:p@127.0.0.1:1/ms_async".into(),
    });
    let ids = ["load-x-1".to_owned()];
    let err = effects
        .rows(ScenarioId::S1, Mode::Sync, &ids)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sync database URL"), "{err:#}");
    let err = effects
        .rows(ScenarioId::S3, Mode::Async, &ids)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no business rows"), "{err:#}");
}
