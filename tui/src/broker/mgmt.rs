//! Unacked counts and message rates from RabbitMQ's management API (`/api/queues`), the
//! figures AMQP does not give. Best effort: when the plugin is off or slow, the pane shows
//! `—` for them and the AMQP depths still flow. On a cluster any node answers for all queues:
//! the reader asks the one that answered last, and the others in turn when it does not.
//!
//! With a node of a quorum-queue cluster down, RabbitMQ 3.10's list (`/api/queues/%2F`)
//! takes 5–10 s on every survivor for as long as the node stays down, while one queue's
//! `/api/queues/%2F/<name>` answers in ~15 ms (measured here). So when the list does not
//! answer in time the reader asks for the pane's queues one by one, and keeps doing so for
//! [`PER_QUEUE_FOR`] before it tries the list again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::watch;

use common::broker::nodes::Nodes;

use super::BrokerSettings;

/// How often the figures are fetched; the plugin refreshes its own every 5 s by default.
pub const FETCH_EVERY: Duration = Duration::from_secs(2);

/// How long the reader asks queue by queue after the list failed, before trying it again.
pub const PER_QUEUE_FOR: Duration = Duration::from_secs(30);

/// The columns the pane reads, for the list and for one queue alike.
const COLUMNS: &str = "columns=name,messages_unacknowledged,message_stats.publish_details,message_stats.deliver_get_details";

/// One queue's management figures.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MgmtQueue {
    pub unacked: u64,
    /// Messages per second published to / delivered from the queue.
    pub publish_rate: Option<f64>,
    pub deliver_rate: Option<f64>,
}

#[derive(Deserialize)]
struct Row {
    name: String,
    #[serde(default)]
    messages_unacknowledged: u64,
    #[serde(default)]
    message_stats: Option<Stats>,
}

#[derive(Deserialize)]
struct Stats {
    publish_details: Option<Rate>,
    deliver_get_details: Option<Rate>,
}

#[derive(Deserialize)]
struct Rate {
    rate: f64,
}

/// Parses `/api/queues` (any subset of its columns) into figures by queue name.
pub fn parse(body: &[u8]) -> serde_json::Result<HashMap<String, MgmtQueue>> {
    let rows: Vec<Row> = serde_json::from_slice(body)?;
    Ok(rows.into_iter().map(Row::figures).collect())
}

impl Row {
    fn figures(self) -> (String, MgmtQueue) {
        let stats = self.message_stats.as_ref();
        let figures = MgmtQueue {
            unacked: self.messages_unacknowledged,
            publish_rate: stats
                .and_then(|s| s.publish_details.as_ref())
                .map(|r| r.rate),
            deliver_rate: stats
                .and_then(|s| s.deliver_get_details.as_ref())
                .map(|r| r.rate),
        };
        (self.name, figures)
    }
}

/// Where the reader stands: which node answers, and whether the list is to be skipped.
#[derive(Debug)]
struct Reader {
    nodes: Nodes,
    per_queue_until: Option<Instant>,
}

impl Reader {
    fn new(settings: &BrokerSettings) -> Reader {
        Reader {
            nodes: Nodes::new(&settings.mgmt_url),
            per_queue_until: None,
        }
    }

    /// Whether the list is worth asking for at `now`.
    fn list_first(&self, now: Instant) -> bool {
        self.per_queue_until.is_none_or(|until| now >= until)
    }

    /// The list failed at `now`: queue by queue for a while.
    fn list_failed(&mut self, now: Instant) {
        self.per_queue_until = Some(now + PER_QUEUE_FOR);
    }
}

/// The figures of the default vhost's queues from the first node of `settings.mgmt_url`
/// that answers (every node of a cluster reports every queue): the whole list, or, when the
/// list does not answer, `wanted` one by one.
pub async fn fetch(
    http: &reqwest::Client,
    settings: &BrokerSettings,
    wanted: &[String],
) -> anyhow::Result<HashMap<String, MgmtQueue>> {
    let mut reader = Reader::new(settings);
    fetch_from(http, settings, &mut reader, wanted).await
}

/// As [`fetch`], beginning with the reader's preferred node and way, and remembering both.
async fn fetch_from(
    http: &reqwest::Client,
    settings: &BrokerSettings,
    reader: &mut Reader,
    wanted: &[String],
) -> anyhow::Result<HashMap<String, MgmtQueue>> {
    let mut last_error = None;
    let order: Vec<(usize, String)> = reader
        .nodes
        .in_turn()
        .map(|(i, u)| (i, u.to_owned()))
        .collect();
    for (index, base) in order {
        let base = base.trim_end_matches('/');
        if reader.list_first(Instant::now()) {
            match fetch_list(http, settings, base).await {
                Ok(figures) => {
                    reader.nodes.prefer(index);
                    return Ok(figures);
                }
                Err(e) => {
                    tracing::debug!("{base}: queue list not answering ({e:#}); queue by queue");
                    reader.list_failed(Instant::now());
                }
            }
        }
        match fetch_each(http, settings, base, wanted).await {
            Ok(figures) => {
                reader.nodes.prefer(index);
                return Ok(figures);
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no management URL")))
}

async fn get(
    http: &reqwest::Client,
    settings: &BrokerSettings,
    url: String,
) -> reqwest::Result<reqwest::Response> {
    http.get(url)
        .basic_auth(&settings.user, Some(&settings.password))
        .send()
        .await
}

async fn fetch_list(
    http: &reqwest::Client,
    settings: &BrokerSettings,
    base: &str,
) -> anyhow::Result<HashMap<String, MgmtQueue>> {
    let response = get(http, settings, format!("{base}/api/queues/%2F?{COLUMNS}"))
        .await?
        .error_for_status()?;
    Ok(parse(&response.bytes().await?)?)
}

/// `wanted`, a request each, all at once; a queue the broker does not have (404) is left out.
async fn fetch_each(
    http: &reqwest::Client,
    settings: &BrokerSettings,
    base: &str,
    wanted: &[String],
) -> anyhow::Result<HashMap<String, MgmtQueue>> {
    let one = |name: &String| {
        let url = format!("{base}/api/queues/%2F/{name}?{COLUMNS}");
        async move {
            let response = get(http, settings, url).await?;
            if response.status() == reqwest::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let row: Row = serde_json::from_slice(&response.error_for_status()?.bytes().await?)?;
            anyhow::Ok(Some(row.figures()))
        }
    };
    let rows = futures_util::future::try_join_all(wanted.iter().map(one)).await?;
    Ok(rows.into_iter().flatten().collect())
}

/// Fetches while anyone watches `figures`; a failure keeps the last figures for one round,
/// then clears them so the pane never shows stale rates as current.
pub async fn run(
    settings: BrokerSettings,
    queues: watch::Receiver<Vec<String>>,
    figures: watch::Sender<HashMap<String, MgmtQueue>>,
) {
    let http = common::http::client(Duration::from_secs(2));
    let mut reader = Reader::new(&settings);
    let mut failures = 0u32;
    while !figures.is_closed() {
        let wanted = queues.borrow().clone();
        if !wanted.is_empty() {
            match fetch_from(&http, &settings, &mut reader, &wanted).await {
                Ok(fresh) => {
                    failures = 0;
                    figures.send_replace(fresh);
                }
                Err(e) => {
                    failures += 1;
                    if failures == 2 {
                        tracing::info!(
                            "management API not answering ({e:#}); unacked and rates hidden"
                        );
                        figures.send_replace(HashMap::new());
                    }
                }
            }
        }
        tokio::time::sleep(FETCH_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_with_and_without_stats() {
        let body = br#"[
            {"name":"user_registered_queue","messages_unacknowledged":3,
             "message_stats":{"publish_details":{"rate":12.5},"deliver_get_details":{"rate":10.0}}},
            {"name":"idle_queue"}
        ]"#;
        let figures = parse(body).unwrap();
        assert_eq!(
            figures["user_registered_queue"],
            MgmtQueue {
                unacked: 3,
                publish_rate: Some(12.5),
                deliver_rate: Some(10.0)
            }
        );
        assert_eq!(figures["idle_queue"], MgmtQueue::default());
        assert!(parse(b"{\"error\":\"not_authorised\"}").is_err());
    }

    #[test]
    fn a_failed_list_is_skipped_for_a_while_then_tried_again() {
        let settings = BrokerSettings::new("amqp://u:p@a:5672,b:5672/%2f", "http://u:p@a:15672");
        let mut reader = Reader::new(&settings);
        let now = Instant::now();
        assert!(reader.list_first(now));
        reader.list_failed(now);
        assert!(!reader.list_first(now + Duration::from_secs(1)));
        assert!(!reader.list_first(now + PER_QUEUE_FOR - Duration::from_millis(1)));
        assert!(reader.list_first(now + PER_QUEUE_FOR));
    }
}
