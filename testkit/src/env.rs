//! The settings of the test infrastructure, as `scripts/test-infra.sh env` exports them.

/// The value of `name`; a test that needs it cannot run without it, so it fails with how to
/// get it rather than skip.
pub fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests with `bash scripts/test.sh`, which starts RabbitMQ \
             and PostgreSQL (or eval \"$(bash scripts/test-infra.sh env)\" with them running)"
        )
    })
}

/// The shared broker and database.
#[derive(Clone)]
pub struct Infra {
    /// `amqp://user:pass@host:port`, without a vhost: each world appends its own.
    pub(crate) amqp_base: String,
    /// The management API's base URL (`http://host:port`).
    pub(crate) api: String,
    pub(crate) user: String,
    pub(crate) pass: String,
    /// `postgres://user:pass@host:port`, without a database: each world appends its own.
    pub(crate) database_base: String,
    /// The full `MS_TEST_DATABASE_URL` (its `postgres` database): where a world's database
    /// is dropped from.
    pub(crate) admin_database_url: String,
}

impl Infra {
    pub fn from_env() -> Infra {
        let amqp = required("MS_TEST_AMQP_URL");
        let db = required("MS_TEST_DATABASE_URL");
        Infra {
            amqp_base: without_last_segment(&amqp),
            api: required("MS_TEST_RABBIT_API"),
            user: required("MS_TEST_RABBIT_USER"),
            pass: required("MS_TEST_RABBIT_PASS"),
            database_base: without_last_segment(&db),
            admin_database_url: db,
        }
    }
}

/// `scheme://host/path` without its `/path`: the vhost of an AMQP URL, the database of a
/// PostgreSQL one.
fn without_last_segment(url: &str) -> String {
    url.rsplit_once('/')
        .map_or_else(|| url.to_owned(), |(base, _)| base.to_owned())
}
