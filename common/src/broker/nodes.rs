//! A broker given as several nodes of one cluster: `amqp://user:pass@host1:5672,host2:5672/%2f`
//! (one URL, a comma-separated host list, like PostgreSQL's multi-host URLs) so every place
//! that takes a broker URL takes a cluster without a second setting. A single host is the
//! one-node case.
//!
//! Whoever connects tries the nodes in turn, beginning with a preferred one: after a lost
//! connection the preferred one is the next node, because the lost one is likely down.

use lapin::{Connection, ConnectionProperties};

/// One URL per node, each with the credentials, vhost and query of `url`. A URL without a
/// comma in its host part (or one we cannot split) comes back unchanged, as the only node.
pub fn expand(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return vec![url.to_owned()];
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // The password may hold an `@` only percent-encoded, so the last one ends the userinfo.
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|host| format!("{scheme}://{userinfo}{host}{tail}"))
        .collect();
    if nodes.is_empty() {
        vec![url.to_owned()]
    } else {
        nodes
    }
}

/// The nodes of one broker and which to try first.
#[derive(Clone, Debug)]
pub struct Nodes {
    urls: Vec<String>,
    preferred: usize,
}

impl Nodes {
    pub fn new(url: &str) -> Nodes {
        Nodes {
            urls: expand(url),
            preferred: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.urls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// Every node once, the preferred one first, with its index.
    pub fn in_turn(&self) -> impl Iterator<Item = (usize, &str)> {
        let n = self.urls.len();
        (0..n).map(move |i| {
            let index = (self.preferred + i) % n;
            (index, self.urls[index].as_str())
        })
    }

    /// Remembers `index` as the node to try first.
    pub fn prefer(&mut self, index: usize) {
        self.preferred = index % self.urls.len().max(1);
    }

    /// The node after `index` goes first next time (`index` was just lost).
    pub fn lost(&mut self, index: usize) {
        self.prefer(index + 1);
    }

    /// The node's address without its credentials, for logs.
    pub fn host(&self, index: usize) -> &str {
        let url = self.urls.get(index).map_or("", String::as_str);
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        rest.split(['/', '?']).next().unwrap_or(rest)
    }
}

/// Connects to the first node of `url` that answers (each tried once, in order); the last
/// node's error when none does.
pub async fn connect_any(url: &str, props: ConnectionProperties) -> lapin::Result<Connection> {
    let nodes = expand(url);
    let last = nodes.len().saturating_sub(1);
    for (i, node) in nodes.iter().enumerate() {
        match Connection::connect(node, props.clone()).await {
            Ok(connection) => return Ok(connection),
            Err(e) if i == last => return Err(e),
            Err(_) => {}
        }
    }
    // Unreachable: `expand` never returns an empty list.
    Err(std::io::Error::other("no broker node in the URL").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_list_becomes_one_url_per_node() {
        assert_eq!(
            expand(
                "amqp://ms:p%40ss@rabbitmq:5672,rabbitmq-2:5672, rabbitmq-3:5672/%2f?heartbeat=5"
            ),
            vec![
                "amqp://ms:p%40ss@rabbitmq:5672/%2f?heartbeat=5",
                "amqp://ms:p%40ss@rabbitmq-2:5672/%2f?heartbeat=5",
                "amqp://ms:p%40ss@rabbitmq-3:5672/%2f?heartbeat=5",
            ]
        );
        assert_eq!(
            expand("http://127.0.0.1:15672,127.0.0.1:15682"),
            vec!["http://127.0.0.1:15672", "http://127.0.0.1:15682"]
        );
        assert_eq!(expand("amqp://h/%2f"), vec!["amqp://h/%2f"]);
        assert_eq!(expand("not a url"), vec!["not a url"]);
    }

    #[test]
    fn after_a_loss_the_next_node_goes_first() {
        let mut nodes = Nodes::new("amqp://u:p@a:1,b:2,c:3/%2f");
        let order = |n: &Nodes| n.in_turn().map(|(i, _)| i).collect::<Vec<_>>();
        assert_eq!(order(&nodes), [0, 1, 2]);
        nodes.lost(0);
        assert_eq!(order(&nodes), [1, 2, 0]);
        nodes.lost(2);
        assert_eq!(order(&nodes), [0, 1, 2]);
        assert_eq!(nodes.host(1), "b:2");
    }
}
