//! `compose/.env`: the stack's settings and secrets, written once from `compose/.env.example`
//! with random secrets, then read by compose, the control room and the tests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Placeholder in `.env.example` that must never reach a running stack.
const PLACEHOLDER: &str = "change-me";

/// `MS_INFRA_IMAGES` values: where RabbitMQ and PostgreSQL images come from.
pub const OFFICIAL_IMAGES: &str = "docker.io/library";
pub const OFFLINE_IMAGES: &str = "ms-tui-offline";

/// The broker cluster's nodes (compose/broker-cluster.yml): compose service (= host name),
/// AMQP and management ports on 127.0.0.1. The first is the single node's `rabbitmq`.
pub const CLUSTER_NODES: [(&str, u16, u16); 3] = [
    ("rabbitmq", 5672, 15672),
    ("rabbitmq-2", 5682, 15682),
    ("rabbitmq-3", 5683, 15683),
];

/// The variables every stack needs; a `.env` without one of them is refused.
const REQUIRED: [&str; 5] = [
    "RABBITMQ_USER",
    "RABBITMQ_PASSWORD",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "MS_ADMIN_TOKEN",
];

/// The parsed `compose/.env`, with accessors for what the tools need from it.
#[derive(Clone, Debug)]
pub struct StackEnv {
    /// Where it was read from.
    pub path: PathBuf,
    vars: BTreeMap<String, String>,
}

impl StackEnv {
    /// Reads `path`; fails when a required variable is missing or still a placeholder.
    pub fn load(path: &Path) -> anyhow::Result<StackEnv> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("reading {} (run `ms-tui up` to create it)", path.display())
        })?;
        let env = StackEnv {
            path: path.to_owned(),
            vars: parse(&text),
        };
        for key in REQUIRED {
            match env.vars.get(key).map(String::as_str) {
                None | Some("") => bail!("{} lacks {key}", path.display()),
                Some(value) if value.contains(PLACEHOLDER) => {
                    bail!(
                        "{key} in {} is still `{PLACEHOLDER}`: choose a value",
                        path.display()
                    )
                }
                Some(_) => {}
            }
        }
        Ok(env)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// All variables, for a compose child process.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn required(&self, key: &str) -> &str {
        // `load` checked every REQUIRED key.
        self.get(key).unwrap_or_default()
    }

    /// Bearer token of the services' `/admin` API.
    pub fn admin_token(&self) -> &str {
        self.required("MS_ADMIN_TOKEN")
    }

    pub fn rabbitmq_user(&self) -> &str {
        self.required("RABBITMQ_USER")
    }

    pub fn rabbitmq_password(&self) -> &str {
        self.required("RABBITMQ_PASSWORD")
    }

    pub fn postgres_user(&self) -> &str {
        self.required("POSTGRES_USER")
    }

    pub fn postgres_password(&self) -> &str {
        self.required("POSTGRES_PASSWORD")
    }

    /// `MS_BROKER_CLUSTER=true`: RabbitMQ runs as [`CLUSTER_NODES`] (`up --broker-cluster`).
    pub fn broker_cluster(&self) -> bool {
        self.get("MS_BROKER_CLUSTER") == Some("true")
    }

    /// The broker's nodes as published on the host: one, or the cluster's three.
    fn broker_nodes(&self) -> &'static [(&'static str, u16, u16)] {
        if self.broker_cluster() {
            &CLUSTER_NODES
        } else {
            &CLUSTER_NODES[..1]
        }
    }

    /// The broker as published on the host (127.0.0.1:5672; a cluster's nodes as a host list,
    /// see `common::broker::nodes`).
    pub fn amqp_url(&self) -> String {
        let hosts: Vec<String> = self
            .broker_nodes()
            .iter()
            .map(|(_, amqp, _)| format!("127.0.0.1:{amqp}"))
            .collect();
        format!(
            "amqp://{}:{}@{}/%2f",
            self.rabbitmq_user(),
            self.rabbitmq_password(),
            hosts.join(",")
        )
    }

    /// The management plugin(s) as published on the host, in the same form.
    pub fn mgmt_url(&self) -> String {
        let hosts: Vec<String> = self
            .broker_nodes()
            .iter()
            .map(|(_, _, mgmt)| format!("127.0.0.1:{mgmt}"))
            .collect();
        format!("http://{}", hosts.join(","))
    }

    /// The database of one mode (`ms_sync` / `ms_async`) as published on the host.
    pub fn database_url(&self, database: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:5432/{database}",
            self.postgres_user(),
            self.postgres_password()
        )
    }

    /// `MS_INFRA_IMAGES`: the prefix of the RabbitMQ and PostgreSQL images.
    pub fn infra_images(&self) -> &str {
        self.get("MS_INFRA_IMAGES").unwrap_or(OFFICIAL_IMAGES)
    }

    pub fn offline(&self) -> bool {
        self.infra_images() == OFFLINE_IMAGES
    }

    /// Tag of the one service image.
    pub fn service_image(&self) -> &str {
        self.get("MS_SERVICE_IMAGE")
            .unwrap_or("ms-tui/service:latest")
    }

    /// `MS_MONITORING=true`: the monitoring profile runs (`up --monitoring`).
    pub fn monitoring(&self) -> bool {
        self.get("MS_MONITORING") == Some("true")
    }

    /// The monitoring profile's Prometheus and postgres-exporter images on this path.
    pub fn monitoring_image_refs(&self) -> [String; 2] {
        monitoring_images(self.infra_images())
    }

    /// The RabbitMQ and PostgreSQL images compose will run (same tags on both paths).
    pub fn infra_image_refs(&self) -> [String; 2] {
        let prefix = self.infra_images();
        [
            format!("{prefix}/rabbitmq:3-management"),
            format!("{prefix}/postgres:15"),
        ]
    }
}

/// `KEY=VALUE` lines as compose reads them: `#` comments and blank lines skipped, one pair of
/// surrounding quotes removed.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| {
            let value = value.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| value.strip_prefix(*q)?.strip_suffix(*q))
                .unwrap_or(value);
            (key.trim().to_owned(), unquoted.to_owned())
        })
        .collect()
}

/// Result of [`ensure`]: what happened to the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvAction {
    Kept,
    Created,
    Updated,
}

/// Makes sure `env_path` exists: created from `example` with a fresh random value for every
/// placeholder. `infra`, when given, is written as `MS_INFRA_IMAGES` (created or changed), so
/// the choice sticks for later runs and for plain compose.
pub fn ensure(env_path: &Path, example: &Path, infra: Option<&str>) -> anyhow::Result<EnvAction> {
    let (text, mut action) = match std::fs::read_to_string(env_path) {
        Ok(text) => (text, EnvAction::Kept),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let template = std::fs::read_to_string(example)
                .with_context(|| format!("reading {}", example.display()))?;
            (fill_placeholders(&template), EnvAction::Created)
        }
        Err(err) => {
            return Err(err).with_context(|| format!("reading {}", env_path.display()));
        }
    };
    let text = match infra {
        Some(value) if parse(&text).get("MS_INFRA_IMAGES").map(String::as_str) != Some(value) => {
            if action == EnvAction::Kept {
                action = EnvAction::Updated;
            }
            set_var(&text, "MS_INFRA_IMAGES", value)
        }
        _ => text,
    };
    if action != EnvAction::Kept {
        write_private(env_path, &text)?;
    }
    Ok(action)
}

/// Writes the broker layout into `env_path`: `MS_BROKER_CLUSTER`, and what the compose files
/// read from it (`MS_AMQP_HOSTS`, the nodes the services try; `MS_QUEUE_TYPE`) plus an Erlang
/// cookie for the cluster when the file has none. True when the file changed.
pub fn set_broker_cluster(env_path: &Path, cluster: bool) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(env_path)
        .with_context(|| format!("reading {}", env_path.display()))?;
    let vars = parse(&text);
    let hosts: Vec<String> = if cluster {
        CLUSTER_NODES
            .iter()
            .map(|(host, _, _)| format!("{host}:5672"))
            .collect()
    } else {
        vec![format!("{}:5672", CLUSTER_NODES[0].0)]
    };
    let mut wanted = vec![
        ("MS_BROKER_CLUSTER", cluster.to_string()),
        ("MS_AMQP_HOSTS", hosts.join(",")),
        (
            "MS_QUEUE_TYPE",
            if cluster { "quorum" } else { "classic" }.to_owned(),
        ),
    ];
    if cluster
        && vars
            .get("RABBITMQ_ERLANG_COOKIE")
            .is_none_or(|c| c.is_empty())
    {
        wanted.push(("RABBITMQ_ERLANG_COOKIE", secret()));
    }
    write_wanted(env_path, &text, &vars, &wanted)
}

/// Prometheus and postgres-exporter for an `MS_INFRA_IMAGES` value. Their official images
/// live outside `docker.io/library`, so the offline tags keep the official repository's last
/// path part and tag (compose/images/build.sh monitoring builds them from Debian's packages
/// of these versions).
pub fn monitoring_images(infra_images: &str) -> [String; 2] {
    const PROMETHEUS: &str = "prometheus:v2.42.0";
    const EXPORTER: &str = "postgres-exporter:v0.11.1";
    if infra_images == OFFLINE_IMAGES {
        [
            format!("{OFFLINE_IMAGES}/{PROMETHEUS}"),
            format!("{OFFLINE_IMAGES}/{EXPORTER}"),
        ]
    } else {
        [
            format!("docker.io/prom/{PROMETHEUS}"),
            format!("quay.io/prometheuscommunity/{EXPORTER}"),
        ]
    }
}

/// Writes the monitoring profile's switch into `env_path`: `MS_MONITORING`, the images
/// compose/monitoring.yml runs (from the file's `MS_INFRA_IMAGES`, so one variable still picks
/// the path), and Grafana's admin password when the profile is on and the file has none.
/// True when the file changed.
pub fn set_monitoring(env_path: &Path, monitoring: bool) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(env_path)
        .with_context(|| format!("reading {}", env_path.display()))?;
    let vars = parse(&text);
    let infra = vars
        .get("MS_INFRA_IMAGES")
        .map_or(OFFICIAL_IMAGES, String::as_str);
    let [prometheus, exporter] = monitoring_images(infra);
    let mut wanted = vec![
        ("MS_MONITORING", monitoring.to_string()),
        ("MS_PROMETHEUS_IMAGE", prometheus),
        ("MS_POSTGRES_EXPORTER_IMAGE", exporter),
    ];
    let password = vars.get("GRAFANA_ADMIN_PASSWORD");
    if monitoring && password.is_none_or(|p| p.is_empty() || p.contains(PLACEHOLDER)) {
        wanted.push(("GRAFANA_ADMIN_PASSWORD", secret()));
    }
    write_wanted(env_path, &text, &vars, &wanted)
}

/// Sets each `wanted` variable the file (`text`, parsed as `vars`) does not already hold;
/// true when the file changed.
fn write_wanted(
    env_path: &Path,
    text: &str,
    vars: &BTreeMap<String, String>,
    wanted: &[(&str, String)],
) -> anyhow::Result<bool> {
    let mut out = text.to_owned();
    for (key, value) in wanted {
        if vars.get(*key) != Some(value) {
            out = set_var(&out, key, value);
        }
    }
    if out == text {
        return Ok(false);
    }
    write_private(env_path, &out)?;
    Ok(true)
}

/// Each placeholder gets its own random value (122 random bits, hex: URL-safe).
fn fill_placeholders(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    for line in template.split_inclusive('\n') {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
        } else {
            out.push_str(&line.replace(PLACEHOLDER, &secret()));
        }
    }
    out
}

fn secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Replaces `key`'s line, or appends one.
fn set_var(text: &str, key: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len() + key.len() + value.len() + 2);
    let mut found = false;
    for line in text.lines() {
        let is_key = line
            .split_once('=')
            .is_some_and(|(k, _)| k.trim() == key && !line.trim_start().starts_with('#'));
        if is_key && !found {
            found = true;
            let _ = writeln!(out, "{key}={value}");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !found {
        let _ = writeln!(out, "{key}={value}");
    }
    out
}

/// Secrets: readable by the owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_compose() {
        let vars = parse("# c\n\nA=1\n B = two \nC=\"quoted\"\nD='x'\nnoequals\n");
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two");
        assert_eq!(vars["C"], "quoted");
        assert_eq!(vars["D"], "x");
        assert_eq!(vars.len(), 4);
    }

    #[test]
    fn placeholders_get_distinct_secrets_and_comments_stay() {
        let out = fill_placeholders("# keep change-me here\nA=change-me\nB=change-me\n");
        assert!(out.starts_with("# keep change-me here\n"));
        let vars = parse(&out);
        assert_eq!(vars["A"].len(), 32);
        assert_ne!(vars["A"], vars["B"]);
    }

    #[test]
    fn set_var_replaces_or_appends() {
        assert_eq!(set_var("A=1\nB=2\n", "B", "3"), "A=1\nB=3\n");
        assert_eq!(set_var("# B=0\nA=1\n", "B", "3"), "# B=0\nA=1\nB=3\n");
    }

    #[test]
    fn ensure_creates_then_keeps_then_updates() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("ms-tui-env-{}", secret()));
        std::fs::create_dir_all(&dir)?;
        let (env, example) = (dir.join(".env"), dir.join(".env.example"));
        std::fs::write(
            &example,
            "MS_INFRA_IMAGES=docker.io/library\nRABBITMQ_USER=ms\nRABBITMQ_PASSWORD=change-me\n\
             POSTGRES_USER=ms\nPOSTGRES_PASSWORD=change-me\nMS_ADMIN_TOKEN=change-me\n",
        )?;
        assert_eq!(ensure(&env, &example, None)?, EnvAction::Created);
        let first = StackEnv::load(&env)?;
        assert!(!first.offline());
        assert_eq!(ensure(&env, &example, None)?, EnvAction::Kept);
        assert_eq!(
            ensure(&env, &example, Some(OFFLINE_IMAGES))?,
            EnvAction::Updated
        );
        let second = StackEnv::load(&env)?;
        assert!(second.offline());
        assert_eq!(first.admin_token(), second.admin_token());
        assert_eq!(
            second.infra_image_refs()[1],
            "ms-tui-offline/postgres:15".to_owned()
        );
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn the_broker_cluster_switch_rewrites_its_variables() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("ms-tui-env-{}", secret()));
        std::fs::write(
            &path,
            "RABBITMQ_USER=ms\nRABBITMQ_PASSWORD=pw\nPOSTGRES_USER=ms\n\
             POSTGRES_PASSWORD=x\nMS_ADMIN_TOKEN=y\n",
        )?;
        assert!(!StackEnv::load(&path)?.broker_cluster());
        assert!(set_broker_cluster(&path, true)?);
        let cluster = StackEnv::load(&path)?;
        assert!(cluster.broker_cluster());
        assert_eq!(cluster.get("MS_QUEUE_TYPE"), Some("quorum"));
        assert_eq!(
            cluster.get("MS_AMQP_HOSTS"),
            Some("rabbitmq:5672,rabbitmq-2:5672,rabbitmq-3:5672")
        );
        assert_eq!(
            cluster.amqp_url(),
            "amqp://ms:pw@127.0.0.1:5672,127.0.0.1:5682,127.0.0.1:5683/%2f"
        );
        assert_eq!(
            cluster.mgmt_url(),
            "http://127.0.0.1:15672,127.0.0.1:15682,127.0.0.1:15683"
        );
        let cookie = cluster.get("RABBITMQ_ERLANG_COOKIE").map(str::to_owned);
        assert!(cookie.as_ref().is_some_and(|c| c.len() == 32));
        assert!(!set_broker_cluster(&path, true)?, "nothing to change");
        assert!(set_broker_cluster(&path, false)?);
        let single = StackEnv::load(&path)?;
        assert!(!single.broker_cluster());
        assert_eq!(single.get("MS_QUEUE_TYPE"), Some("classic"));
        assert_eq!(single.amqp_url(), "amqp://ms:pw@127.0.0.1:5672/%2f");
        // The cookie stays for the next cluster: its volumes were made with it.
        assert_eq!(
            single.get("RABBITMQ_ERLANG_COOKIE").map(str::to_owned),
            cookie
        );
        std::fs::remove_file(&path)?;
        Ok(())
    }

    #[test]
    fn the_monitoring_switch_follows_the_image_path() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("ms-tui-env-{}", secret()));
        std::fs::write(
            &path,
            "MS_INFRA_IMAGES=ms-tui-offline\nRABBITMQ_USER=ms\nRABBITMQ_PASSWORD=pw\n\
             POSTGRES_USER=ms\nPOSTGRES_PASSWORD=x\nMS_ADMIN_TOKEN=y\n\
             GRAFANA_ADMIN_PASSWORD=change-me\n",
        )?;
        assert!(set_monitoring(&path, true)?);
        let on = StackEnv::load(&path)?;
        assert!(on.monitoring());
        assert_eq!(
            on.get("MS_PROMETHEUS_IMAGE"),
            Some("ms-tui-offline/prometheus:v2.42.0")
        );
        let password = on.get("GRAFANA_ADMIN_PASSWORD").map(str::to_owned);
        assert!(password.as_ref().is_some_and(|p| p.len() == 32));
        assert!(!set_monitoring(&path, true)?, "nothing to change");
        assert!(set_monitoring(&path, false)?);
        assert!(!StackEnv::load(&path)?.monitoring());
        // The official path's images are the upstream repositories'.
        ensure(&path, &path, Some(OFFICIAL_IMAGES))?;
        set_monitoring(&path, true)?;
        let official = StackEnv::load(&path)?;
        assert_eq!(
            official.monitoring_image_refs(),
            [
                "docker.io/prom/prometheus:v2.42.0".to_owned(),
                "quay.io/prometheuscommunity/postgres-exporter:v0.11.1".to_owned()
            ]
        );
        assert_eq!(
            official.get("GRAFANA_ADMIN_PASSWORD").map(str::to_owned),
            password,
            "Grafana keeps the password its volume was made with"
        );
        std::fs::remove_file(&path)?;
        Ok(())
    }

    #[test]
    fn refuses_placeholders() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("ms-tui-env-{}", secret()));
        std::fs::write(
            &path,
            "RABBITMQ_USER=ms\nRABBITMQ_PASSWORD=change-me\nPOSTGRES_USER=ms\n\
             POSTGRES_PASSWORD=x\nMS_ADMIN_TOKEN=y\n",
        )?;
        let err = StackEnv::load(&path).err().map(|e| e.to_string());
        std::fs::remove_file(&path)?;
        assert!(err.is_some_and(|e| e.contains("RABBITMQ_PASSWORD")));
        Ok(())
    }
}
