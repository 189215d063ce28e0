//! The queue pane's broker worker against a real RabbitMQ (scripts/test-infra.sh): depths by
//! passive declare, a missing queue that does not break the probe, consumers appearing, and
//! unacked counts from the management API.

use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use ms_tui::app::msg::Msg;
use ms_tui::broker::{self, BrokerMsg, BrokerSettings, QueueSample};
use testkit::required;
use tokio::sync::mpsc;

/// Waits up to `within` for a probe of `name` that satisfies `ok`.
async fn until(
    inbox: &mut mpsc::Receiver<Msg>,
    name: &str,
    within: Duration,
    ok: impl Fn(&QueueSample) -> bool,
) -> QueueSample {
    let deadline = tokio::time::Instant::now() + within;
    let mut last = None;
    loop {
        let msg = tokio::time::timeout_at(deadline, inbox.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("no probe of {name} as expected within {within:?}; last: {last:?}")
            })
            .expect("the broker worker stopped");
        match msg {
            Msg::Broker(BrokerMsg::Queues(samples)) => {
                if let Some(s) = samples.into_iter().find(|s| s.name == name) {
                    if ok(&s) {
                        return s;
                    }
                    last = Some(s);
                }
            }
            Msg::Broker(BrokerMsg::Down { error }) => panic!("broker reported down: {error}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn depths_consumers_missing_queues_and_unacked() {
    let amqp = required("MS_TEST_AMQP_URL");
    let settings = BrokerSettings::new(&amqp, &required("MS_TEST_RABBIT_API"));
    let queue = format!("ms-tui-probe-{}", uuid::Uuid::new_v4().simple());
    let missing = format!("{queue}-never-declared");

    let conn = Connection::connect(&amqp, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    ch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    for i in 0..5 {
        ch.basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions::default(),
            format!("m{i}").as_bytes(),
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }

    let (to_app, mut inbox) = mpsc::channel(64);
    let (watch, worker) = broker::spawn(settings, to_app);
    watch.send_replace(vec![missing.clone(), queue.clone()]);

    // The missing queue comes first: its 404 closes the probe's channel, and the next
    // queue must still be probed on a fresh one.
    let s = until(&mut inbox, &queue, Duration::from_secs(15), |s| {
        s.ready == 5
    })
    .await;
    assert_eq!((s.consumers, s.dead, s.missing), (0, 0, false));
    let gone = until(&mut inbox, &missing, Duration::from_secs(5), |_| true).await;
    assert!(gone.missing);

    // A consumer that takes everything and acks nothing: ready 0, one consumer, 5 unacked.
    let consumer_ch = conn.create_channel().await.unwrap();
    consumer_ch
        .basic_qos(10, BasicQosOptions::default())
        .await
        .unwrap();
    let _consumer = consumer_ch
        .basic_consume(
            queue.as_str().into(),
            "probe-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    until(&mut inbox, &queue, Duration::from_secs(15), |s| {
        s.ready == 0 && s.consumers == 1
    })
    .await;
    // The management plugin refreshes its figures every few seconds.
    until(&mut inbox, &queue, Duration::from_secs(30), |s| {
        s.unacked == Some(5)
    })
    .await;

    worker.abort();
    let _ = ch
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = conn.close(200, "done".into()).await;
}

#[tokio::test]
async fn an_unreachable_broker_is_reported_not_fatal() {
    // A port nothing listens on.
    let settings = BrokerSettings::new("amqp://guest:guest@127.0.0.1:9/%2f", "http://127.0.0.1:9");
    let (to_app, mut inbox) = mpsc::channel(8);
    let (watch, worker) = broker::spawn(settings, to_app);
    watch.send_replace(vec!["user_registered_queue".into()]);
    let msg = tokio::time::timeout(Duration::from_secs(10), inbox.recv())
        .await
        .expect("no report within 10 s")
        .expect("worker gone");
    match msg {
        Msg::Broker(BrokerMsg::Down { error }) => assert!(error.contains("unreachable"), "{error}"),
        other => panic!("expected Down, got {other:?}"),
    }
    assert!(!worker.is_finished(), "the worker must keep trying");
    worker.abort();
}
