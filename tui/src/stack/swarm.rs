//! Docker Swarm: the stack file for `docker stack deploy`, generated from the compose file's
//! resolved form (`docker-compose config`), and the edge container's port map.
//!
//! Why the file is rewritten rather than deployed as is:
//! - swarm ignores `build`, `restart`, `scale` and `depends_on` (and refuses the conditions),
//!   so they go; start order comes from the services' own retries and healthchecks.
//! - the ingress routing mesh and service VIPs need IPVS, which this host's kernel lacks, so
//!   every service gets `endpoint_mode: dnsrr`: `<service>` resolves to its tasks' IPs.
//! - `mode: host` published ports bind 0.0.0.0, so the stack publishes none; the edge
//!   container ([`EdgePort`], `ms-service edge`) publishes the usual 127.0.0.1 map and
//!   forwards to the services.
//! - consumer replicas are `deploy.replicas` of the main service, not `*-replica` entries.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde_norway::{Mapping, Value};

use super::PROJECT;

/// The stack's overlay network: attachable, so the plain edge container can join it.
pub const NETWORK: &str = "ms";

/// The compose entries that only exist to scale consumers under compose.
const REPLICA_SUFFIX: &str = "-replica";

/// Keys of a resolved compose service that a swarm stack either ignores or refuses.
const DROPPED_KEYS: [&str; 6] = [
    "build",
    "depends_on",
    "restart",
    "scale",
    "ports",
    "container_name",
];

/// One port of the usual map: the edge container listens on `host_ip:published` and
/// forwards each connection to `service:target` on the overlay network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgePort {
    pub host_ip: String,
    pub published: u16,
    pub service: String,
    pub target: u16,
}

/// What the generator produces: the stack file and the edge's ports.
#[derive(Clone, Debug)]
pub struct SwarmPlan {
    pub stack_yaml: String,
    pub edge: Vec<EdgePort>,
}

/// Which services to deploy and how many consumers each async consumer service runs.
#[derive(Clone, Debug, Default)]
pub struct SwarmOptions {
    /// Compose service names to keep (e.g. `rabbitmq`, `email-async`); empty = all.
    pub only: Vec<String>,
    /// Replicas of every service that consumes (has a `-replica` entry); 0 is taken as 1.
    pub consumer_replicas: usize,
}

/// The overlay network's full name once deployed (`docker stack` prefixes the namespace).
pub fn network_name() -> String {
    format!("{PROJECT}_{NETWORK}")
}

/// The stack file for `docker stack deploy` from `docker-compose config`'s output.
pub fn stack_file(resolved: &str, options: &SwarmOptions) -> anyhow::Result<SwarmPlan> {
    let root: Value =
        serde_norway::from_str(resolved).context("parsing `docker-compose config` output")?;
    let services = root
        .get("services")
        .and_then(Value::as_mapping)
        .context("the resolved compose file has no `services` mapping")?;
    let names: Vec<&str> = services.keys().filter_map(Value::as_str).collect();
    for wanted in &options.only {
        if !names.contains(&wanted.as_str()) {
            bail!(
                "no service `{wanted}` in the compose file (known: {})",
                names.join(", ")
            );
        }
    }
    let consumers: Vec<&str> = names
        .iter()
        .filter_map(|name| name.strip_suffix(REPLICA_SUFFIX))
        .collect();

    let mut out_services = Mapping::new();
    let mut edge = Vec::new();
    for (name, service) in services {
        let Some(name) = name.as_str() else {
            continue;
        };
        if name.ends_with(REPLICA_SUFFIX)
            || !(options.only.is_empty() || options.only.iter().any(|o| o == name))
        {
            continue;
        }
        let service = service
            .as_mapping()
            .with_context(|| format!("service `{name}` is not a mapping"))?;
        edge.extend(edge_ports(name, service)?);
        let replicas = if consumers.contains(&name) {
            options.consumer_replicas.max(1)
        } else {
            1
        };
        out_services.insert(
            name.into(),
            Value::Mapping(swarm_service(service, replicas)),
        );
    }

    let mut network = Mapping::new();
    network.insert("driver".into(), "overlay".into());
    network.insert("attachable".into(), true.into());
    let mut networks = Mapping::new();
    networks.insert(NETWORK.into(), Value::Mapping(network));

    let mut out = Mapping::new();
    out.insert("version".into(), "3.8".into());
    out.insert("services".into(), Value::Mapping(out_services));
    out.insert("networks".into(), Value::Mapping(networks));
    if let Some(volumes) = root.get("volumes") {
        out.insert("volumes".into(), volumes.clone());
    }
    let stack_yaml = serde_norway::to_string(&Value::Mapping(out)).context("writing the stack")?;
    Ok(SwarmPlan { stack_yaml, edge })
}

/// A resolved compose service as a swarm service: the keys swarm refuses dropped, on the
/// overlay network, DNS round robin, restarted whatever ended it (a killed task is replaced).
fn swarm_service(service: &Mapping, replicas: usize) -> Mapping {
    let mut out: Mapping = service
        .iter()
        .filter(|(key, _)| !key.as_str().is_some_and(|k| DROPPED_KEYS.contains(&k)))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    out.insert("networks".into(), Value::Sequence(vec![NETWORK.into()]));
    let mut restart = Mapping::new();
    restart.insert("condition".into(), "any".into());
    restart.insert("delay".into(), "1s".into());
    let mut deploy = Mapping::new();
    deploy.insert("mode".into(), "replicated".into());
    deploy.insert("replicas".into(), (replicas as u64).into());
    deploy.insert("endpoint_mode".into(), "dnsrr".into());
    deploy.insert("restart_policy".into(), Value::Mapping(restart));
    out.insert("deploy".into(), Value::Mapping(deploy));
    out
}

/// The service's published ports as the edge forwards them. `docker-compose config` writes
/// short syntax (`127.0.0.1:8001:8000/tcp`); v2 writes the long form (`target`, `published`,
/// `host_ip`): both are read.
fn edge_ports(name: &str, service: &Mapping) -> anyhow::Result<Vec<EdgePort>> {
    let Some(ports) = service.get("ports").and_then(Value::as_sequence) else {
        return Ok(Vec::new());
    };
    ports
        .iter()
        .map(|port| {
            edge_port(name, port).with_context(|| format!("service `{name}`: port {port:?}"))
        })
        .collect()
}

fn edge_port(name: &str, port: &Value) -> anyhow::Result<EdgePort> {
    let (host_ip, published, target) = match port {
        Value::String(short) => {
            let short = short.split('/').next().unwrap_or(short);
            let parts: Vec<&str> = short.split(':').collect();
            match parts.as_slice() {
                [ip, published, target] => ((*ip).to_owned(), *published, *target),
                [published, target] => ("127.0.0.1".to_owned(), *published, *target),
                _ => bail!("expected [ip:]published:target"),
            }
        }
        Value::Mapping(long) => {
            let text = |key: &str| -> Option<String> {
                long.get(key).map(|v| match v {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.clone(),
                    _ => String::new(),
                })
            };
            let published = text("published").context("no `published`")?;
            let target = text("target").context("no `target`")?;
            let ip = text("host_ip").unwrap_or_else(|| "127.0.0.1".to_owned());
            return Ok(EdgePort {
                host_ip: ip,
                published: published.parse().context("`published` is not a port")?,
                service: name.to_owned(),
                target: target.parse().context("`target` is not a port")?,
            });
        }
        _ => bail!("neither a string nor a mapping"),
    };
    Ok(EdgePort {
        host_ip,
        published: published
            .parse()
            .context("published port is not a number")?,
        service: name.to_owned(),
        target: target.parse().context("target port is not a number")?,
    })
}

/// Services of the stack file by name, for checks against the resolved compose file.
pub fn services_of(yaml: &str) -> anyhow::Result<BTreeMap<String, Value>> {
    let root: Value = serde_norway::from_str(yaml).context("parsing YAML")?;
    let services = root
        .get("services")
        .and_then(Value::as_mapping)
        .context("no `services` mapping")?;
    Ok(services
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESOLVED: &str = r#"
services:
  email-async:
    command: [email]
    depends_on:
      rabbitmq:
        condition: service_healthy
    environment:
      AMQP_URL: amqp://ms:pw@rabbitmq:5672/%2f
    healthcheck:
      interval: 5s
      test: [CMD, /ms-service, healthcheck]
    image: ms-tui/service:latest
    labels:
      ms-tui.mode: async
      ms-tui.service: email
    ports:
    - 127.0.0.1:8105:8000/tcp
    restart: on-failure
  email-async-replica:
    command: [email]
    image: ms-tui/service:latest
    scale: 0
  rabbitmq:
    build: {context: .}
    image: ms-tui-offline/rabbitmq:3-management
    ports:
    - 127.0.0.1:5672:5672/tcp
    - published: 15672
      target: 15672
      host_ip: 127.0.0.1
    restart: unless-stopped
    volumes:
    - rabbitmq-data:/var/lib/rabbitmq:rw
version: '3.9'
volumes:
  rabbitmq-data: {}
"#;

    fn plan(options: &SwarmOptions) -> (BTreeMap<String, Value>, Vec<EdgePort>) {
        let plan = stack_file(RESOLVED, options).expect("generates");
        (services_of(&plan.stack_yaml).expect("parses"), plan.edge)
    }

    #[test]
    fn drops_what_swarm_refuses_and_keeps_the_rest() {
        let (services, _) = plan(&SwarmOptions::default());
        let email = &services["email-async"];
        for dropped in ["depends_on", "restart", "ports", "build", "scale"] {
            assert!(email.get(dropped).is_none(), "{dropped} kept");
        }
        assert_eq!(email["healthcheck"]["interval"], Value::from("5s"));
        assert_eq!(email["labels"]["ms-tui.service"], Value::from("email"));
        assert_eq!(
            email["environment"]["AMQP_URL"],
            Value::from("amqp://ms:pw@rabbitmq:5672/%2f")
        );
        assert_eq!(email["deploy"]["endpoint_mode"], Value::from("dnsrr"));
        assert!(services["rabbitmq"].get("build").is_none());
        assert!(services["rabbitmq"].get("volumes").is_some());
    }

    #[test]
    fn replica_entries_become_deploy_replicas_of_consumers_only() {
        let options = SwarmOptions {
            only: Vec::new(),
            consumer_replicas: 3,
        };
        let (services, _) = plan(&options);
        assert!(!services.contains_key("email-async-replica"));
        assert_eq!(
            services["email-async"]["deploy"]["replicas"],
            Value::from(3)
        );
        assert_eq!(services["rabbitmq"]["deploy"]["replicas"], Value::from(1));
    }

    #[test]
    fn the_edge_takes_the_port_map_in_both_syntaxes() {
        let (_, edge) = plan(&SwarmOptions::default());
        let ports: Vec<(&str, u16, &str, u16)> = edge
            .iter()
            .map(|p| {
                (
                    p.host_ip.as_str(),
                    p.published,
                    p.service.as_str(),
                    p.target,
                )
            })
            .collect();
        assert_eq!(
            ports,
            [
                ("127.0.0.1", 8105, "email-async", 8000),
                ("127.0.0.1", 5672, "rabbitmq", 5672),
                ("127.0.0.1", 15672, "rabbitmq", 15672),
            ]
        );
    }

    #[test]
    fn a_selection_keeps_only_the_named_services() {
        let options = SwarmOptions {
            only: vec!["rabbitmq".to_owned()],
            consumer_replicas: 1,
        };
        let (services, edge) = plan(&options);
        assert_eq!(services.keys().collect::<Vec<_>>(), ["rabbitmq"]);
        assert!(edge.iter().all(|p| p.service == "rabbitmq"));
    }

    #[test]
    fn an_unknown_service_is_a_clear_error() {
        let options = SwarmOptions {
            only: vec!["nope".to_owned()],
            consumer_replicas: 1,
        };
        let err = stack_file(RESOLVED, &options).expect_err("refused");
        assert!(err.to_string().contains("no service `nope`"), "{err}");
    }

    /// The real compose file through `docker-compose config`: the stack holds the same
    /// services (minus the `-replica` entries), images, environment and healthchecks as
    /// compose's own resolution, and the edge forwards exactly compose's port map.
    #[tokio::test]
    async fn the_stack_matches_what_compose_resolves() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        let layout = crate::stack::Layout::discover(Some(root)).expect("layout");
        let compose = crate::stack::compose::Compose::detect()
            .await
            .expect("docker-compose is installed");
        let resolved = compose
            .output(
                &layout,
                &["config"],
                &crate::stack::compose::PLACEHOLDER_ENV,
            )
            .await
            .expect("config resolves");
        let from_compose = services_of(&resolved).expect("compose output parses");
        let plan = stack_file(&resolved, &SwarmOptions::default()).expect("generates");
        let stack = services_of(&plan.stack_yaml).expect("stack parses");

        let expected: Vec<&String> = from_compose
            .keys()
            .filter(|name| !name.ends_with(REPLICA_SUFFIX))
            .collect();
        assert_eq!(stack.keys().collect::<Vec<_>>(), expected);
        assert!(expected.len() >= 23, "{expected:?}");
        for (name, service) in &stack {
            let original = &from_compose[name];
            for key in ["image", "environment", "healthcheck", "labels", "command"] {
                assert_eq!(service.get(key), original.get(key), "{name}: {key}");
            }
            assert!(
                service.get("ports").is_none(),
                "{name} publishes a port itself"
            );
        }
        let published: Vec<String> = from_compose
            .values()
            .filter_map(|s| s.get("ports").and_then(Value::as_sequence))
            .flatten()
            .filter_map(Value::as_str)
            .map(|p| p.split('/').next().unwrap_or(p).to_owned())
            .collect();
        let mut edge: Vec<String> = plan
            .edge
            .iter()
            .map(|p| format!("{}:{}:{}", p.host_ip, p.published, p.target))
            .collect();
        let mut published_sorted = published.clone();
        published_sorted.sort();
        edge.sort();
        assert_eq!(edge, published_sorted);
        assert!(plan.edge.iter().all(|p| p.host_ip == "127.0.0.1"));
    }

    #[test]
    fn bad_ports_are_errors_not_panics() {
        let bad = "services:\n  a:\n    image: x\n    ports: ['1:2:3:4']\n";
        assert!(stack_file(bad, &SwarmOptions::default()).is_err());
        assert!(stack_file("not: [yaml", &SwarmOptions::default()).is_err());
    }
}
