//! Unacked counts and message rates from RabbitMQ's management API (`/api/queues`), the
//! figures AMQP does not give. Best effort: when the plugin is off or slow, the pane shows
//! `—` for them and the AMQP depths still flow. On a cluster any node answers for all queues:
//! the reader asks the one that answered last, and the others in turn when it does not.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;

use common::broker::nodes::Nodes;

use super::BrokerSettings;

/// How often the figures are fetched; the plugin refreshes its own every 5 s by default.
pub const FETCH_EVERY: Duration = Duration::from_secs(2);

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
    Ok(rows
        .into_iter()
        .map(|row| {
            let stats = row.message_stats.as_ref();
            let figures = MgmtQueue {
                unacked: row.messages_unacknowledged,
                publish_rate: stats
                    .and_then(|s| s.publish_details.as_ref())
                    .map(|r| r.rate),
                deliver_rate: stats
                    .and_then(|s| s.deliver_get_details.as_ref())
                    .map(|r| r.rate),
            };
            (row.name, figures)
        })
        .collect())
}

/// Every queue of the default vhost, in one request to the first node of
/// `settings.mgmt_url` that answers (every node of a cluster reports every queue).
pub async fn fetch(
    http: &reqwest::Client,
    settings: &BrokerSettings,
) -> anyhow::Result<HashMap<String, MgmtQueue>> {
    let mut nodes = Nodes::new(&settings.mgmt_url);
    fetch_from(http, settings, &mut nodes).await
}

/// As [`fetch`], beginning with `nodes`' preferred node and remembering the one that answered.
async fn fetch_from(
    http: &reqwest::Client,
    settings: &BrokerSettings,
    nodes: &mut Nodes,
) -> anyhow::Result<HashMap<String, MgmtQueue>> {
    let mut last_error = None;
    let order: Vec<(usize, String)> = nodes.in_turn().map(|(i, u)| (i, u.to_owned())).collect();
    for (index, base) in order {
        match fetch_node(http, settings, &base).await {
            Ok(figures) => {
                nodes.prefer(index);
                return Ok(figures);
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no management URL")))
}

async fn fetch_node(
    http: &reqwest::Client,
    settings: &BrokerSettings,
    base: &str,
) -> anyhow::Result<HashMap<String, MgmtQueue>> {
    let url = format!(
        "{}/api/queues/%2F?columns=name,messages_unacknowledged,message_stats.publish_details,message_stats.deliver_get_details",
        base.trim_end_matches('/')
    );
    let response = http
        .get(url)
        .basic_auth(&settings.user, Some(&settings.password))
        .send()
        .await?
        .error_for_status()?;
    Ok(parse(&response.bytes().await?)?)
}

/// Fetches while anyone watches `figures`; a failure keeps the last figures for one round,
/// then clears them so the pane never shows stale rates as current.
pub async fn run(
    settings: BrokerSettings,
    queues: watch::Receiver<Vec<String>>,
    figures: watch::Sender<HashMap<String, MgmtQueue>>,
) {
    let http = common::http::client(Duration::from_secs(2));
    let mut nodes = Nodes::new(&settings.mgmt_url);
    let mut failures = 0u32;
    while !figures.is_closed() {
        if !queues.borrow().is_empty() {
            match fetch_from(&http, &settings, &mut nodes).await {
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
}
