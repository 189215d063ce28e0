//! The experiments' effect rows against the real schemas: a throw-away database of the test
//! PostgreSQL (scripts/test-infra.sh), migrated by the services' own migrations, filled the way
//! the services fill it, then read back by `Effects` — per scenario one request done once,
//! one done twice, one never, and one whose row is not in its done state yet.

use std::time::Duration;

use chrono::Utc;
use common::Mode;
use common::scenario::ScenarioId;
use ms_tui::experiment::accounting::{self, Answer};
use ms_tui::experiment::effects::{DbUrls, Effects};
use ms_tui::load::Outcome;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use testkit::World;

static EMAIL: Migrator = sqlx::migrate!("../services/migrations/email");
static PAYMENT: Migrator = sqlx::migrate!("../services/migrations/payment");
static ORDER: Migrator = sqlx::migrate!("../services/migrations/order");
static INVENTORY: Migrator = sqlx::migrate!("../services/migrations/inventory");
static ANALYTICS: Migrator = sqlx::migrate!("../services/migrations/analytics");

/// The schemas of one mode's database, each migrated as its service migrates it at start.
struct Schemas {
    email: PgPool,
    payment: PgPool,
    order: PgPool,
    inventory: PgPool,
    analytics: PgPool,
}

impl Schemas {
    async fn migrate(world: &World) -> Schemas {
        let connect = |schema: &'static str, migrator: &'static Migrator| {
            let url = world.database_url.clone();
            async move {
                common::db::connect(&url, schema, 2, migrator)
                    .await
                    .unwrap_or_else(|e| panic!("migrating {schema}: {e:#}"))
            }
        };
        Schemas {
            email: connect("email_service", &EMAIL).await,
            payment: connect("payment_service", &PAYMENT).await,
            order: connect("order_service", &ORDER).await,
            inventory: connect("inventory_service", &INVENTORY).await,
            analytics: connect("analytics_service", &ANALYTICS).await,
        }
    }
}

/// `load-<run8>-<seq>`, as the load engine names its requests.
fn ids(run: &str) -> [String; 4] {
    std::array::from_fn(|seq| format!("load-{run}-{seq}"))
}

fn unique(id: &str) -> &str {
    id.strip_prefix("load-").unwrap()
}

async fn welcome_email(db: &PgPool, id: &str, kind: &str) {
    sqlx::query(
        "INSERT INTO emails (recipient, kind, subject, user_id, event_id, correlation_id)
         VALUES ($1, $2, 'Welcome!', 1, NULL, $3)",
    )
    .bind(format!("user-{}@example.com", unique(id)))
    .bind(kind)
    .bind(id)
    .execute(db)
    .await
    .unwrap();
}

async fn payment(db: &PgPool, id: &str, status: &str) {
    let completed = status == "completed";
    sqlx::query(
        "INSERT INTO payments (payment_id, order_id, amount, currency, status, transaction_id, completed_at)
         VALUES ($1, $2, 42.5, 'USD', $3, NULL, CASE WHEN $4 THEN now() END)",
    )
    .bind(format!("pay_{}", uuid::Uuid::new_v4().simple()))
    .bind(format!("ord-{}", unique(id)))
    .bind(status)
    .bind(completed)
    .execute(db)
    .await
    .unwrap();
}

/// An order as the order service inserts it (`pending`, with the request's correlation id),
/// then moved to `status` the way its consumers move it.
async fn order(db: &PgPool, kind: &str, id: &str, status: &str) -> i64 {
    let order_id: i64 = sqlx::query_scalar(
        "INSERT INTO orders (order_uuid, kind, product_id, quantity, status, correlation_id)
         VALUES ($1, $2, 1, 1, 'pending', $3) RETURNING id",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(kind)
    .bind(id)
    .fetch_one(db)
    .await
    .unwrap();
    sqlx::query("UPDATE orders SET status = $2, updated_at = now() WHERE id = $1")
        .bind(order_id)
        .bind(status)
        .execute(db)
        .await
        .unwrap();
    order_id
}

async fn reservation(db: &PgPool, order_id: i64, status: &str) {
    sqlx::query(
        "INSERT INTO reservations (order_ref, product_id, quantity, status) VALUES ($1, 1, 2, $2)",
    )
    .bind(order_id.to_string())
    .bind(status)
    .execute(db)
    .await
    .unwrap();
    if status == "reserved" {
        sqlx::query(
            "UPDATE stock SET available = available - 2, reserved = reserved + 2 WHERE product_id = 1",
        )
        .execute(db)
        .await
        .unwrap();
    }
}

async fn click(db: &PgPool, page: &str) {
    sqlx::query(
        "INSERT INTO clicks (user_id, page, session_id, event_id, clicked_at)
         VALUES (7, $1, 's', $2, now())",
    )
    .bind(page)
    .bind(uuid::Uuid::new_v4().to_string())
    .execute(db)
    .await
    .unwrap();
}

async fn notification(db: &PgPool, id: &str, kind: &str) {
    sqlx::query(
        "INSERT INTO notifications (notification_id, type, message, recipient, payload, event_id, correlation_id, timestamp)
         VALUES ($1, $2, 'Order confirmed', $3, '{}'::jsonb, $4, $5, now())",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(kind)
    .bind(format!("user-{}", unique(id)))
    .bind(format!("confirmation-{}", uuid::Uuid::new_v4()))
    .bind(id)
    .execute(db)
    .await
    .unwrap();
}

/// Request 0 done once, 1 twice, 2 never, 3 not in its done state: the first two come back.
async fn check(effects: &Effects, scenario: ScenarioId, ids: &[String; 4]) {
    let rows = effects.rows(scenario, Mode::Sync, ids).await.unwrap();
    assert_eq!(Some(rows.detail.as_str()), Effects::source(scenario));
    let count = |i: usize| rows.by_id.get(&ids[i]).map(|r| r.count);
    assert_eq!(
        [count(0), count(1), count(2), count(3)],
        [Some(1), Some(2), None, None],
        "{scenario}: {rows:?}"
    );
    assert!(rows.by_id.values().all(|r| r.done_at.is_some()));
}

#[tokio::test]
async fn rows_of_every_matched_flow_are_counted_per_request() {
    let world = World::new("effects").await;
    let db = Schemas::migrate(&world).await;
    let effects = Effects::new(DbUrls {
        sync: world.database_url.clone(),
        asynchronous: world.database_url.clone(),
    });
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];

    let s1 = ids(&format!("{run}a"));
    welcome_email(&db.email, &s1[0], "welcome").await;
    welcome_email(&db.email, &s1[1], "welcome").await;
    welcome_email(&db.email, &s1[1], "welcome").await;
    welcome_email(&db.email, &s1[3], "confirmation").await;
    check(&effects, ScenarioId::S1, &s1).await;

    let s2 = ids(&format!("{run}b"));
    payment(&db.payment, &s2[0], "completed").await;
    payment(&db.payment, &s2[1], "completed").await;
    payment(&db.payment, &s2[1], "completed").await;
    payment(&db.payment, &s2[3], "processing").await;
    check(&effects, ScenarioId::S2, &s2).await;

    let s5 = ids(&format!("{run}c"));
    order(&db.order, "saga", &s5[0], "completed").await;
    order(&db.order, "saga", &s5[1], "completed").await;
    let compensated = order(&db.order, "saga", &s5[1], "failed").await;
    reservation(&db.inventory, compensated, "released").await;
    // Payment failed, stock not released yet: async's `failed` before the saga's end.
    let unreleased = order(&db.order, "saga", &s5[3], "failed").await;
    reservation(&db.inventory, unreleased, "reserved").await;
    check(&effects, ScenarioId::S5, &s5).await;

    let s6 = ids(&format!("{run}d"));
    click(&db.analytics, &format!("/p/{}", unique(&s6[0]))).await;
    click(&db.analytics, &format!("/p/{}", unique(&s6[1]))).await;
    click(&db.analytics, &format!("/p/{}", unique(&s6[1]))).await;
    click(&db.analytics, &format!("/elsewhere/{}", unique(&s6[3]))).await;
    check(&effects, ScenarioId::S6, &s6).await;

    let s7 = ids(&format!("{run}e"));
    order(&db.order, "checkout", &s7[0], "confirmed").await;
    order(&db.order, "checkout", &s7[1], "confirmed").await;
    order(&db.order, "checkout", &s7[1], "confirmed").await;
    order(&db.order, "checkout", &s7[3], "paid").await;
    check(&effects, ScenarioId::S7, &s7).await;

    let s8 = ids(&format!("{run}f"));
    notification(&db.email, &s8[0], "order_confirmation").await;
    notification(&db.email, &s8[1], "order_confirmation").await;
    notification(&db.email, &s8[1], "order_confirmation").await;
    notification(&db.email, &s8[3], "low_stock_alert").await;
    check(&effects, ScenarioId::S8, &s8).await;

    // Requests 1 and 3 of S5 left their reservation rows, one still holding 2 units.
    let stock = effects.stock(Mode::Sync).await.unwrap();
    let ids: Vec<i64> = stock.iter().map(|s| s.product_id).collect();
    assert_eq!(ids, [1, 2, 3, 4], "the seeded products");
    let laptop = stock[0];
    assert_eq!((laptop.available, laptop.reserved, laptop.sold), (48, 2, 0));
    assert_eq!((laptop.held_reservations, laptop.held_units), (1, 2));
    assert_eq!((stock[1].available, stock[1].held_reservations), (100, 0));
}

#[tokio::test]
async fn many_ids_are_read_in_chunks_and_accounted() {
    let world = World::new("effects-chunks").await;
    let db = Schemas::migrate(&world).await;
    let effects = Effects::new(DbUrls {
        sync: world.database_url.clone(),
        asynchronous: world.database_url.clone(),
    });
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let ids: Vec<String> = (0..12_000).map(|seq| format!("load-{run}-{seq}")).collect();
    // Rows on both sides of each chunk boundary, one of them twice.
    for seq in [0, 4_999, 5_000, 5_000, 11_999] {
        welcome_email(&db.email, &ids[seq], "welcome").await;
    }
    let rows = effects
        .rows(ScenarioId::S1, Mode::Async, &ids)
        .await
        .unwrap();
    assert_eq!(rows.by_id.len(), 4);

    let intended_at = Utc::now() - chrono::Duration::seconds(1);
    let answers: Vec<Answer> = ids
        .iter()
        .map(|id| Answer {
            correlation_id: id.clone(),
            outcome: Outcome::Expected(202),
            degraded: false,
            intended_at,
            latency: Duration::from_millis(2),
        })
        .collect();
    let acc = accounting::account(ScenarioId::S1, &answers, &[], Some(&rows));
    assert_eq!(
        (acc.accepted, acc.completed, acc.lost, acc.duplicated),
        (12_000, 4, 11_996, 1)
    );
    assert!(acc.source.starts_with("rows: emails.correlation_id"));
    assert_eq!(acc.completions.len(), 4);
}

/// The services of one mode that every flow with rows needs, wired to each other.
struct Stack {
    user: testkit::Service,
    payment: testkit::Service,
    order: testkit::Service,
    analytics: testkit::Service,
    _email: testkit::Service,
    _inventory: testkit::Service,
}

async fn stack(world: &World, mode: Mode) -> Stack {
    let mode = mode.as_str();
    let email = world
        .service("email", mode)
        .env("EMAIL_DELAY_MS", 20)
        .start()
        .await;
    let inventory = world
        .service("inventory", mode)
        .env("EMAIL_SERVICE_URL", &email.base)
        .start()
        .await;
    let payment = world
        .service("payment", mode)
        .env("PAYMENT_DELAY_MS", 20)
        .env("SAGA_PAYMENT_DELAY_MS", 20)
        .env("PAYMENT_FAILURE_RATE", 0)
        .env("EMAIL_SERVICE_URL", &email.base)
        .start()
        .await;
    let order = world
        .service("order", mode)
        .env("INVENTORY_SERVICE_URL", &inventory.base)
        .env("PAYMENT_SERVICE_URL", &payment.base)
        .env("EMAIL_SERVICE_URL", &email.base)
        .start()
        .await;
    let user = world
        .service("user", mode)
        .env("EMAIL_SERVICE_URL", &email.base)
        .start()
        .await;
    let analytics = world.service("analytics", mode).start().await;
    Stack {
        user,
        payment,
        order,
        analytics,
        _email: email,
        _inventory: inventory,
    }
}

impl Stack {
    fn of(&self, service: common::scenario::Service) -> &testkit::Service {
        use common::scenario::Service as S;
        match service {
            S::User => &self.user,
            S::Payment => &self.payment,
            S::Order => &self.order,
            S::Analytics => &self.analytics,
            other => panic!("no {other} in this stack"),
        }
    }
}

/// Sends `scenario`'s catalogue request as the load engine does (rendered templates, a
/// `load-` correlation id), then waits until exactly one done row names it.
async fn leaves_one_row(stack: &Stack, effects: &Effects, scenario: ScenarioId, mode: Mode) {
    let spec = common::scenario::get(scenario).request(mode);
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let (seq, unique) = (1, format!("{run}-1"));
    let id = format!("load-{unique}");
    let body = common::scenario::render(spec.body.unwrap(), &unique, seq);
    let path = common::scenario::render(spec.path, &unique, seq);
    let reply = stack
        .of(spec.service)
        .post_with_id(&path, serde_json::from_str(&body).unwrap(), &id)
        .await;
    assert!(
        spec.is_expected(reply.status) && reply.status < 300,
        "{mode} {scenario}: {reply:?}"
    );
    let ids = [id.clone()];
    let row = testkit::wait_for(
        &format!("{mode} {scenario}'s done row"),
        Duration::from_secs(20),
        || async {
            let rows = effects.rows(scenario, mode, &ids).await.unwrap();
            rows.by_id.get(&id).copied()
        },
    )
    .await;
    assert_eq!(row.count, 1, "{mode} {scenario}");
    assert!(row.done_at.is_some());
}

async fn the_services_leave_the_rows_effects_reads(mode: Mode) {
    let world = World::new(&format!("effects-{mode}")).await;
    let stack = stack(&world, mode).await;
    let effects = Effects::new(DbUrls {
        sync: world.database_url.clone(),
        asynchronous: world.database_url.clone(),
    });
    for scenario in ScenarioId::ALL {
        if Effects::source(scenario).is_some() {
            leaves_one_row(&stack, &effects, scenario, mode).await;
        }
    }
}

#[tokio::test]
async fn sync_services_leave_the_rows_effects_reads() {
    the_services_leave_the_rows_effects_reads(Mode::Sync).await;
}

#[tokio::test]
async fn async_services_leave_the_rows_effects_reads() {
    the_services_leave_the_rows_effects_reads(Mode::Async).await;
}
