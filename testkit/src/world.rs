//! [`World`]: the private corner of the shared infrastructure that one test works in, a
//! RabbitMQ vhost and a PostgreSQL database of its own, both deleted when the test ends.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use crate::env::Infra;
use crate::wait::wait_for;

/// Every test of a test binary shares one broker, and a test may stop it (`broker_outage`).
/// The tests run in parallel threads, so each world holds a share of this lock for its whole
/// life and a world made by [`World::alone`] holds it alone: nothing else runs while the
/// broker is down. (A CI run lost 30 tests to "connection refused" when the outage test ran
/// beside them.) A static is one per process, that is one per test binary.
static BROKER: LazyLock<Arc<RwLock<()>>> = LazyLock::new(|| Arc::new(RwLock::new(())));

/// How a world holds the broker; kept only to be released when the last clone goes.
#[allow(dead_code)] // the guards are never read: holding them is their whole job
enum BrokerHold {
    Shared(OwnedRwLockReadGuard<()>),
    Alone(OwnedRwLockWriteGuard<()>),
}

/// An isolated world for one test: a vhost and a database name. Clones share it; it is
/// deleted when the last clone goes (every [`Service`](crate::Service) holds one).
#[derive(Clone)]
pub struct World {
    pub infra: Infra,
    pub vhost: String,
    /// The vhost's AMQP URL, what the services of this world connect to.
    pub amqp_url: String,
    /// This world's database; the first service to start creates it.
    pub database_url: String,
    pub(crate) http: reqwest::Client,
    // Field order is drop order: the vhost and the database go before the broker lock is
    // released, so a test waiting for `alone` starts on a clean broker.
    _cleanup: Arc<Cleanup>,
    _broker: Arc<BrokerHold>,
}

/// Deletes the world's vhost (its queues and connections) and its database when the last
/// `World` clone goes: runs must not pile up queues the broker keeps collecting statistics
/// for, nor databases.
struct Cleanup {
    /// The management API's URL of the vhost.
    vhost_url: String,
    /// `user:password` for the management API.
    credentials: String,
    /// Where the database is dropped from (the infrastructure's `postgres` database).
    admin_database_url: String,
    /// The database's name.
    database: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Drop cannot be async, so both go through command-line clients of the test
        // toolbox (scripts/packages.sh lists curl, and postgresql brings psql). Failures are
        // ignored: a leftover costs space, not correctness, and the infrastructure starts
        // empty on its next cold start.
        let _ = std::process::Command::new("curl")
            .args(["-fs", "-o", "/dev/null", "-X", "DELETE", "-u"])
            .args([&self.credentials, &self.vhost_url])
            .status();
        // FORCE: a service killed on drop may not have closed its connections yet.
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database);
        let _ = std::process::Command::new("psql")
            .args(["-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-c", &sql])
            .arg(&self.admin_database_url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl World {
    /// A world for a test that may run beside others.
    pub async fn new(name: &str) -> World {
        let hold = BrokerHold::Shared(BROKER.clone().read_owned().await);
        World::open(name, hold).await
    }

    /// A world for a test that stops the shared broker: it waits until no other test runs.
    pub async fn alone(name: &str) -> World {
        let hold = BrokerHold::Alone(BROKER.clone().write_owned().await);
        World::open(name, hold).await
    }

    async fn open(name: &str, hold: BrokerHold) -> World {
        let infra = Infra::from_env();
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let vhost = format!("t-{name}-{tag}");
        let database = format!("t_{}_{tag}", name.replace('-', "_"));
        let cleanup = Cleanup {
            vhost_url: format!("{}/api/vhosts/{vhost}", infra.api),
            credentials: format!("{}:{}", infra.user, infra.pass),
            admin_database_url: infra.admin_database_url.clone(),
            database: database.clone(),
        };
        let world = World {
            _cleanup: Arc::new(cleanup),
            _broker: Arc::new(hold),
            amqp_url: format!("{}/{vhost}", infra.amqp_base),
            database_url: format!("{}/{database}", infra.database_base),
            vhost,
            infra,
            http: reqwest::Client::new(),
        };
        world
            .api_put(&format!("vhosts/{}", world.vhost), json!({}))
            .await;
        let perms = json!({ "configure": ".*", "write": ".*", "read": ".*" });
        world
            .api_put(
                &format!("permissions/{}/{}", world.vhost, world.infra.user),
                perms,
            )
            .await;
        world
    }

    async fn api_put(&self, path: &str, body: Value) {
        let url = format!("{}/api/{path}", self.infra.api);
        let response = self
            .http
            .put(url)
            .basic_auth(&self.infra.user, Some(&self.infra.pass))
            .json(&body)
            .send()
            .await
            .expect("RabbitMQ management API reachable");
        assert!(
            response.status().is_success(),
            "PUT {path}: {}",
            response.status()
        );
    }

    /// Applies a RabbitMQ policy to one queue of this vhost and waits until it is in force.
    pub async fn set_queue_policy(&self, queue: &str, definition: Value) {
        let body = json!({ "pattern": format!("^{}$", queue.replace('.', "\\.")), "definition": definition, "apply-to": "queues" });
        self.api_put(&format!("policies/{}/test-limit", self.vhost), body)
            .await;
        let url = format!("{}/api/queues/{}/{queue}", self.infra.api, self.vhost);
        wait_for("policy applied", Duration::from_secs(15), || async {
            let r = self
                .http
                .get(&url)
                .basic_auth(&self.infra.user, Some(&self.infra.pass))
                .send()
                .await
                .ok()?;
            let v: Value = r.json().await.ok()?;
            (v["policy"] == "test-limit").then_some(())
        })
        .await;
    }
}
