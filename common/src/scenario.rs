//! The scenario catalogue S1–S8 (docs/contract.md, Scenarios), as data shared by the
//! services, their tests and the control room, so that all three agree on what each scenario
//! sends, expects and counts as done.
//!
//! Over 450 lines on purpose: the file is the catalogue itself, eight scenarios' rows of data
//! side by side with the few types that describe them; split, a reader comparing two scenarios
//! would have to hold several files open.

use serde::{Deserialize, Serialize};

use crate::config::Mode;

/// A scenario's id; serialised as `s1`…`s8` (the completion events' routing keys use it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScenarioId {
    S1,
    S2,
    S3,
    S4,
    S5,
    S6,
    S7,
    S8,
}

impl ScenarioId {
    pub const ALL: [ScenarioId; 8] = [
        Self::S1,
        Self::S2,
        Self::S3,
        Self::S4,
        Self::S5,
        Self::S6,
        Self::S7,
        Self::S8,
    ];

    pub fn as_str(self) -> &'static str {
        ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"][self.index()]
    }

    /// Position in [`ScenarioId::ALL`] (and in [`CATALOGUE`]).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Accepts `s1`, `S1` or `1`.
    pub fn parse(text: &str) -> Option<ScenarioId> {
        let digits = text.trim().trim_start_matches(['s', 'S']);
        let n: usize = digits.parse().ok()?;
        Self::ALL.get(n.checked_sub(1)?).copied()
    }
}

impl std::fmt::Display for ScenarioId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S{}", self.index() + 1)
    }
}

/// The services of the stack (docs/contract.md, Port map) and their published ports.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    User,
    Payment,
    Product,
    Report,
    Order,
    Analytics,
    Email,
    Search,
    Cache,
    Inventory,
    Gateway,
}

impl Service {
    pub const ALL: [Service; 11] = [
        Self::User,
        Self::Payment,
        Self::Product,
        Self::Report,
        Self::Order,
        Self::Analytics,
        Self::Email,
        Self::Search,
        Self::Cache,
        Self::Inventory,
        Self::Gateway,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Payment => "payment",
            Self::Product => "product",
            Self::Report => "report",
            Self::Order => "order",
            Self::Analytics => "analytics",
            Self::Email => "email",
            Self::Search => "search",
            Self::Cache => "cache",
            Self::Inventory => "inventory",
            Self::Gateway => "gateway",
        }
    }

    /// Host port: 8001–8010 for sync, +100 for async; the gateway is one instance on 9000.
    pub fn port(self, mode: Mode) -> u16 {
        let base = match self {
            Self::Gateway => return 9000,
            other => 8001 + other as u16,
        };
        match mode {
            Mode::Sync => base,
            Mode::Async => base + 100,
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Completion step names (docs/contract.md, Completion events), shared by publishers and the control room.
pub mod steps {
    pub const WELCOME_EMAIL_SENT: &str = "welcome_email_sent";
    pub const PAYMENT_COMPLETED: &str = "payment_completed";
    pub const REINDEXED: &str = "reindexed";
    pub const CACHE_INVALIDATED: &str = "cache_invalidated";
    pub const UPDATE_LOGGED: &str = "update_logged";
    pub const JOB_COMPLETED: &str = "job_completed";
    pub const SAGA_FINISHED: &str = "saga_finished";
    pub const CLICK_STORED: &str = "click_stored";
    pub const ORDER_CONFIRMED: &str = "order_confirmed";
    pub const NOTIFICATION_STORED: &str = "notification_stored";
}

/// One completion event that a flow waits for: `service` published `step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub service: Service,
    pub step: &'static str,
}

/// The request a scenario fires in one mode.
///
/// Templates (path and body) may hold `{{unique}}` (a token unique per request, for the
/// peers' unique keys such as e-mails), `{{n}}` (a number 1–1000) and `{{id3}}` (1, 2 or 3:
/// one of the seeded products).
#[derive(Clone, Copy, Debug)]
pub struct RequestSpec {
    pub method: &'static str,
    pub service: Service,
    pub path: &'static str,
    pub body: Option<&'static str>,
    /// Answers that mean "the scenario did what it should" (the sync saga's 400 included).
    pub expected: &'static [u16],
}

impl RequestSpec {
    pub fn port(&self, mode: Mode) -> u16 {
        self.service.port(mode)
    }

    pub fn is_expected(&self, status: u16) -> bool {
        self.expected.contains(&status)
    }
}

/// A scenario of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub id: ScenarioId,
    pub title: &'static str,
    /// What a watcher should take away, in one line.
    pub lesson: &'static str,
    pub sync: RequestSpec,
    pub asynchronous: RequestSpec,
    /// When the flow is done (docs/contract.md, Completion events), in words.
    pub done_rule: &'static str,
    /// The completion events that together mark the flow done.
    pub done_when: &'static [Step],
    /// The queues worth watching while it runs.
    pub queues: &'static [&'static str],
    /// Load rates in requests per second, per mode.
    pub default_rate: f64,
    pub max_rate: f64,
    /// Requests in flight at once per mode, where the work is CPU-bound.
    pub max_in_flight: Option<u32>,
}

impl Scenario {
    pub fn request(&self, mode: Mode) -> &RequestSpec {
        match mode {
            Mode::Sync => &self.sync,
            Mode::Async => &self.asynchronous,
        }
    }

    /// The async services that consume this scenario's queues, in catalogue order: where its
    /// consumer knobs apply.
    pub fn consumers(&self) -> Vec<Service> {
        Service::ALL
            .into_iter()
            .filter(|s| self.queues.iter().any(|q| q::consumer_of(q) == Some(*s)))
            .collect()
    }
}

/// Fills a template's placeholders for request number `seq` (see [`RequestSpec`]).
pub fn render(template: &str, unique: &str, seq: u64) -> String {
    template
        .replace("{{unique}}", unique)
        .replace("{{n}}", &(seq % 1000 + 1).to_string())
        .replace("{{id3}}", &(seq % 3 + 1).to_string())
}

use crate::broker::topology as q;
use steps::*;

const fn post(
    service: Service,
    path: &'static str,
    body: &'static str,
    expected: &'static [u16],
) -> RequestSpec {
    RequestSpec {
        method: "POST",
        service,
        path,
        body: Some(body),
        expected,
    }
}

pub const CATALOGUE: [Scenario; 8] = [
    Scenario {
        id: ScenarioId::S1,
        title: "fire-and-forget",
        lesson: "Sync registration waits for the e-mail; async answers at once and the e-mail follows.",
        sync: post(
            Service::User,
            "/register",
            r#"{"email":"user-{{unique}}@example.com"}"#,
            &[201],
        ),
        asynchronous: post(
            Service::User,
            "/register",
            r#"{"email":"user-{{unique}}@example.com"}"#,
            &[202],
        ),
        done_rule: "the welcome e-mail is sent",
        done_when: &[Step {
            service: Service::Email,
            step: WELCOME_EMAIL_SENT,
        }],
        queues: &[q::USER_REGISTERED],
        default_rate: 20.0,
        max_rate: 500.0,
        max_in_flight: None,
    },
    Scenario {
        id: ScenarioId::S2,
        title: "slow dependency",
        lesson: "A 2 s payment holds every sync caller; async hands out a payment id and a status to poll.",
        sync: post(
            Service::Payment,
            "/process_payment",
            r#"{"amount":42.5,"order_id":"ord-{{unique}}"}"#,
            &[200],
        ),
        asynchronous: post(
            Service::Payment,
            "/process_payment",
            r#"{"amount":42.5,"order_id":"ord-{{unique}}"}"#,
            &[202],
        ),
        done_rule: "the payment is completed",
        done_when: &[Step {
            service: Service::Payment,
            step: PAYMENT_COMPLETED,
        }],
        queues: &[q::PAYMENT_INITIATED, q::PAYMENT_COMPLETED],
        default_rate: 20.0,
        max_rate: 500.0,
        max_in_flight: None,
    },
    Scenario {
        id: ScenarioId::S3,
        title: "fan-out",
        lesson: "Sync pays for search + cache + analytics in sequence; async publishes once, three consumers work in parallel.",
        sync: RequestSpec {
            method: "PUT",
            service: Service::Product,
            path: "/products/{{id3}}",
            body: Some(r#"{"stock":{{n}}}"#),
            expected: &[200],
        },
        asynchronous: RequestSpec {
            method: "PUT",
            service: Service::Product,
            path: "/products/{{id3}}",
            body: Some(r#"{"stock":{{n}}}"#),
            expected: &[200],
        },
        done_rule: "search, cache and analytics all finished",
        done_when: &[
            Step {
                service: Service::Search,
                step: REINDEXED,
            },
            Step {
                service: Service::Cache,
                step: CACHE_INVALIDATED,
            },
            Step {
                service: Service::Analytics,
                step: UPDATE_LOGGED,
            },
        ],
        queues: &[
            q::SEARCH_PRODUCT_UPDATES,
            q::CACHE_PRODUCT_UPDATES,
            q::ANALYTICS_PRODUCT_UPDATES,
        ],
        default_rate: 10.0,
        max_rate: 300.0,
        max_in_flight: None,
    },
    Scenario {
        id: ScenarioId::S4,
        title: "CPU job",
        lesson: "10 s of hashing inside a request blocks the caller; async queues the job and reports progress.",
        sync: post(
            Service::Report,
            "/generate_report",
            r#"{"report_type":"monthly"}"#,
            &[200],
        ),
        asynchronous: post(
            Service::Report,
            "/generate_report",
            r#"{"report_type":"monthly"}"#,
            &[202],
        ),
        done_rule: "the job is completed",
        done_when: &[Step {
            service: Service::Report,
            step: JOB_COMPLETED,
        }],
        queues: &[q::REPORT_JOB],
        default_rate: 0.1,
        max_rate: 1.0,
        max_in_flight: Some(1),
    },
    Scenario {
        id: ScenarioId::S5,
        title: "saga",
        lesson: "Reserve, pay, compensate: sync answers 400 after compensating; async ends `failed` with stock restored.",
        sync: post(
            Service::Order,
            "/create_order",
            r#"{"product_id":1,"quantity":1}"#,
            &[400, 200],
        ),
        asynchronous: post(
            Service::Order,
            "/create_order",
            r#"{"product_id":1,"quantity":1}"#,
            &[202],
        ),
        done_rule: "the order is terminal and its stock released (or the payment succeeded)",
        done_when: &[Step {
            service: Service::Order,
            step: SAGA_FINISHED,
        }],
        queues: &[
            q::ORDER_CREATED,
            q::STOCK_RESERVED,
            q::INVENTORY_PAYMENT_FAILED,
            q::ORDER_PAYMENT_FAILED,
            q::STOCK_RELEASED,
        ],
        default_rate: 10.0,
        max_rate: 200.0,
        max_in_flight: None,
    },
    Scenario {
        id: ScenarioId::S6,
        title: "ingestion",
        lesson: "For tiny work sync is as fast; async decouples ingestion from storage and absorbs bursts.",
        sync: post(
            Service::Analytics,
            "/track_click",
            r#"{"user_id":{{n}},"page":"/p/{{unique}}"}"#,
            &[200],
        ),
        asynchronous: post(
            Service::Analytics,
            "/track_click",
            r#"{"user_id":{{n}},"page":"/p/{{unique}}"}"#,
            &[200],
        ),
        done_rule: "the click is stored by the consumer",
        done_when: &[Step {
            service: Service::Analytics,
            step: CLICK_STORED,
        }],
        queues: &[q::CLICK_TRACKED],
        default_rate: 100.0,
        max_rate: 5000.0,
        max_in_flight: None,
    },
    Scenario {
        id: ScenarioId::S7,
        title: "checkout pipeline",
        lesson: "Sync checkout blocks through payment (1 s) and e-mail (2 s); async answers at once, the order moves pending → paid → confirmed.",
        sync: post(
            Service::Order,
            "/checkout",
            r#"{"user_id":{{n}},"user_email":"buyer-{{unique}}@example.com","items":[{"product_id":2,"quantity":1,"price":"29.99"}]}"#,
            &[200],
        ),
        asynchronous: post(
            Service::Order,
            "/checkout",
            r#"{"user_id":{{n}},"user_email":"buyer-{{unique}}@example.com","items":[{"product_id":2,"quantity":1,"price":"29.99"}]}"#,
            &[202],
        ),
        done_rule: "the order is `confirmed` (its e-mail sent)",
        done_when: &[Step {
            service: Service::Order,
            step: ORDER_CONFIRMED,
        }],
        queues: &[q::PAYMENT_SERVICE, q::EMAIL_SERVICE, q::ORDER_UPDATES],
        default_rate: 5.0,
        max_rate: 200.0,
        max_in_flight: None,
    },
    Scenario {
        id: ScenarioId::S8,
        title: "stock & alerts",
        lesson: "Stock is checked over HTTP in both modes; confirmations and low-stock alerts go through the broker and survive a down consumer.",
        sync: post(
            Service::Order,
            "/orders",
            r#"{"user_id":"user-{{unique}}","items":[{"product_id":"prod002","quantity":1}]}"#,
            &[200],
        ),
        asynchronous: post(
            Service::Order,
            "/orders",
            r#"{"user_id":"user-{{unique}}","items":[{"product_id":"prod002","quantity":1}]}"#,
            &[200],
        ),
        done_rule: "the confirmation notification is stored",
        done_when: &[Step {
            service: Service::Email,
            step: NOTIFICATION_STORED,
        }],
        queues: &[q::NOTIFICATIONS],
        default_rate: 10.0,
        max_rate: 200.0,
        max_in_flight: None,
    },
];

pub fn get(id: ScenarioId) -> &'static Scenario {
    &CATALOGUE[id.index()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_complete_and_in_order() {
        for (i, s) in CATALOGUE.iter().enumerate() {
            assert_eq!(s.id.index(), i);
            assert!(!s.done_when.is_empty() && !s.queues.is_empty() && !s.lesson.is_empty());
            assert!(s.default_rate > 0.0 && s.default_rate <= s.max_rate);
            for mode in Mode::ALL {
                let r = s.request(mode);
                assert!(!r.expected.is_empty());
                if let Some(body) = r.body {
                    let rendered = render(body, "u1", 41);
                    assert!(
                        serde_json::from_str::<serde_json::Value>(&rendered).is_ok(),
                        "{} body: {rendered}",
                        s.id
                    );
                }
            }
        }
        assert_eq!(get(ScenarioId::S4).max_in_flight, Some(1));
    }

    #[test]
    fn consumers_are_the_services_behind_the_queues() {
        use Service::*;
        let of = |id| get(id).consumers();
        assert_eq!(of(ScenarioId::S1), [Email]);
        assert_eq!(of(ScenarioId::S3), [Analytics, Search, Cache]);
        assert_eq!(of(ScenarioId::S4), [Report]);
        assert_eq!(of(ScenarioId::S5), [Payment, Order, Inventory]);
        assert_eq!(of(ScenarioId::S7), [Payment, Order, Email]);
        assert_eq!(of(ScenarioId::S8), [Email]);
        assert!(CATALOGUE.iter().all(|s| !s.consumers().is_empty()));
    }

    #[test]
    fn sync_saga_answer_400_is_expected() {
        assert!(get(ScenarioId::S5).sync.is_expected(400));
        assert!(!get(ScenarioId::S5).asynchronous.is_expected(400));
    }

    #[test]
    fn ports_follow_the_map() {
        assert_eq!(Service::User.port(Mode::Sync), 8001);
        assert_eq!(Service::Inventory.port(Mode::Async), 8110);
        assert_eq!(Service::Gateway.port(Mode::Async), 9000);
    }

    #[test]
    fn ids_parse_leniently() {
        assert_eq!(ScenarioId::parse("s3"), Some(ScenarioId::S3));
        assert_eq!(ScenarioId::parse("S8"), Some(ScenarioId::S8));
        assert_eq!(ScenarioId::parse("1"), Some(ScenarioId::S1));
        assert_eq!(ScenarioId::parse("s9"), None);
        assert_eq!(ScenarioId::parse("0"), None);
        assert_eq!(ScenarioId::S2.to_string(), "S2");
    }

    #[test]
    fn templates_make_unique_bodies() {
        let body = get(ScenarioId::S1).sync.body.unwrap_or_default();
        assert_ne!(render(body, "a", 1), render(body, "b", 2));
        assert_eq!(render("/products/{{id3}}", "", 5), "/products/3");
    }
}
