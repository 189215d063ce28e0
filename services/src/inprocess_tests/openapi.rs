//! The spec against the routers, per service and mode: every path × method of
//! `/openapi.json` is served (no route-missing 404, no 405) and answers a status the spec
//! documents for it; the routes the original projects' READMEs list are all in the spec; and
//! every `/admin/*` route refuses a caller without the token with 401 before it reads the
//! body (never 415 or 422).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::Mode;
use common::scenario::Service;
use futures_util::future::join_all;
use serde_json::Value;

use crate::testing::{
    ADMIN_TOKEN, Answer, assert_envelope, bearer, empty, offline_router, send, settings, with_token,
};
use crate::{gateway, registry};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// The services with a definition, each in both modes, and the gateway (one router).
fn every_router() -> Vec<(String, axum::Router)> {
    let mut routers: Vec<(String, axum::Router)> = Service::ALL
        .into_iter()
        .filter(|s| registry::definition(*s).is_some())
        .flat_map(|s| Mode::ALL.into_iter().map(move |m| (s, m)))
        .map(|(s, m)| (format!("{s} ({m})"), offline_router(s, m)))
        .collect();
    routers.push(("gateway".to_owned(), gateway::app(settings(Mode::Sync))));
    routers
}

async fn spec_of(router: &axum::Router) -> Value {
    let answer = send(router.clone(), empty("GET", "/openapi.json")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}

/// `(METHOD, path template)` of every operation in `spec`.
fn operations(spec: &Value) -> Vec<(String, String)> {
    let paths = spec["paths"].as_object().expect("the spec has paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .into_iter()
                .filter(|m| item.get(*m).is_some())
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

/// A concrete path for a template: every `{param}` becomes `1` (a valid id everywhere).
fn placeholder(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "1"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The fallback's 404 (no route) and the handlers' (no such entity) both carry the envelope;
/// only the fallback's says exactly "Not Found".
fn route_missing(answer: &Answer) -> bool {
    answer.status == StatusCode::METHOD_NOT_ALLOWED
        || (answer.status == StatusCode::NOT_FOUND && answer.body["detail"] == "Not Found")
}

fn documented(spec: &Value, method: &str, path: &str, status: StatusCode) -> bool {
    let responses = &spec["paths"][path][method.to_lowercase()]["responses"];
    let class = format!("{}XX", status.as_u16() / 100);
    [status.as_str(), class.as_str(), "default"]
        .iter()
        .any(|key| responses.get(*key).is_some())
}

#[tokio::test]
async fn every_spec_is_openapi_3_1_naming_its_service() {
    for (name, router) in every_router() {
        let spec = spec_of(&router).await;
        let version = spec["openapi"].as_str().unwrap_or_default();
        assert!(version.starts_with("3.1"), "{name}: openapi {version:?}");
        let service = name.split(' ').next().unwrap_or_default();
        let title = spec["info"]["title"].as_str().unwrap_or_default();
        assert!(title.contains(service), "{name}: title {title:?}");
        assert!(
            spec["components"]["schemas"]["ErrorEnvelope"].is_object(),
            "{name}: the error envelope is a named schema"
        );
    }
}

#[tokio::test]
async fn every_path_and_method_of_every_spec_is_served_and_answers_a_documented_status() {
    for (name, router) in every_router() {
        let spec = spec_of(&router).await;
        let operations = operations(&spec);
        assert!(operations.len() >= 4, "{name}: only {operations:?}");
        let calls = operations.iter().map(|(method, template)| {
            let router = router.clone();
            async move {
                let uri = placeholder(template);
                // An empty JSON object: no handler's validation accepts it all, so nothing is
                // created; what matters is who answers.
                let request = Request::builder()
                    .method(method.as_str())
                    .uri(&uri)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(if method == "GET" || method == "DELETE" {
                        ""
                    } else {
                        "{}"
                    }))
                    .expect("a valid request");
                (method, template, send(router, bearer(request)).await)
            }
        });
        for (method, template, answer) in join_all(calls).await {
            assert!(
                !route_missing(&answer),
                "{name}: {method} {template} is in the spec but not routed: {} {}",
                answer.status,
                answer.text
            );
            assert!(
                documented(&spec, method, template, answer.status),
                "{name}: {method} {template} answered {} which its spec does not list: {}",
                answer.status,
                answer.text
            );
        }
    }
}

/// The routes the original projects' READMEs and code documented (docs/contract.md, "The
/// original projects"), written out by hand so that the spec cannot lose one unnoticed.
const SEED_ROUTES: &[(&str, &[&str])] = &[
    ("user", &["POST /register", "GET /users", "GET /users/{}"]),
    (
        "email",
        &[
            "POST /send_welcome_email",
            "GET /notifications",
            "POST /notifications/test",
            "GET /notifications/stats",
            "GET /notifications/type/{}",
            "DELETE /notifications/{}",
        ],
    ),
    (
        "payment",
        &[
            "POST /process_payment",
            "POST /process_payment_fail",
            "POST /pay",
        ],
    ),
    (
        "product",
        &[
            "GET /products",
            "POST /products",
            "GET /products/{}",
            "PUT /products/{}",
        ],
    ),
    ("search", &["POST /reindex"]),
    ("cache", &["POST /invalidate_cache"]),
    ("analytics", &["POST /log_update", "POST /track_click"]),
    ("report", &["POST /generate_report", "GET /jobs/{}"]),
    (
        "order",
        &[
            "POST /create_order",
            "GET /orders",
            "GET /orders/{}",
            "POST /checkout",
            "POST /orders",
            "GET /orders/{}/status",
            "GET /orders/user/{}",
        ],
    ),
    (
        "inventory",
        &[
            "POST /reserve_stock",
            "POST /compensate_stock",
            "GET /inventory",
            "GET /inventory/{}",
            "GET /products",
            "GET /products/{}",
            "GET /products/{}/stock",
            "PUT /products/{}/stock",
            "GET /products/category/{}",
        ],
    ),
    (
        "gateway",
        &[
            "GET /",
            "POST /api/checkout",
            "GET /api/orders/{}",
            "GET /api/orders/{}/status",
        ],
    ),
];

/// `GET /users/{id}` → `GET /users/{}`: parameter names are ours to choose.
fn shape(method: &str, template: &str) -> String {
    let path: Vec<&str> = template
        .split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect();
    format!("{method} {}", path.join("/"))
}

#[tokio::test]
async fn the_seed_readmes_routes_are_all_in_the_spec_of_their_service() {
    let routers = every_router();
    assert_eq!(
        SEED_ROUTES.len(),
        routers
            .iter()
            .filter(|(n, _)| !n.ends_with("(async)"))
            .count(),
        "one list per service"
    );
    for (name, router) in &routers {
        let service = name.split(' ').next().unwrap_or_default();
        let (_, routes) = SEED_ROUTES
            .iter()
            .find(|(s, _)| *s == service)
            .unwrap_or_else(|| panic!("no seed routes for {service}"));
        let spec = spec_of(router).await;
        let served: Vec<String> = operations(&spec).iter().map(|(m, p)| shape(m, p)).collect();
        let common = ["GET /health", "GET /metrics"];
        for route in routes.iter().chain(common.iter()) {
            assert!(
                served.iter().any(|s| s == route),
                "{name}: {route} missing from the spec ({served:?})"
            );
        }
    }
}

#[tokio::test]
async fn each_mode_documents_its_own_handlers_answers() {
    let cases = [
        (Service::User, "/register", "post", "201", "202"),
        (Service::Payment, "/process_payment", "post", "200", "202"),
        (Service::Report, "/generate_report", "post", "200", "202"),
        (Service::Order, "/create_order", "post", "200", "202"),
    ];
    for (service, path, method, sync_status, async_status) in cases {
        let sync = spec_of(&offline_router(service, Mode::Sync)).await;
        let asynchronous = spec_of(&offline_router(service, Mode::Async)).await;
        let responses = |spec: &Value| spec["paths"][path][method]["responses"].clone();
        assert!(
            responses(&sync).get(sync_status).is_some(),
            "{service} sync"
        );
        assert!(
            responses(&sync).get(async_status).is_none(),
            "{service} sync"
        );
        assert!(
            responses(&asynchronous).get(async_status).is_some(),
            "{service} async"
        );
        assert!(
            responses(&asynchronous).get(sync_status).is_none(),
            "{service} async"
        );
    }
}

#[tokio::test]
async fn every_admin_route_refuses_a_caller_without_the_token_before_reading_the_body() {
    let service = Service::Product;
    let spec = spec_of(&offline_router(service, Mode::Sync)).await;
    let admin: Vec<(String, String)> = operations(&spec)
        .into_iter()
        .filter(|(_, p)| p.starts_with("/admin/"))
        .collect();
    assert_eq!(admin.len(), 6, "{admin:?}");
    for mode in Mode::ALL {
        let router = offline_router(service, mode);
        for (method, path) in &admin {
            let malformed = || {
                Request::builder()
                    .method(method.as_str())
                    .uri(path)
                    .header(header::CONTENT_TYPE, "text/plain")
                    .body(Body::from("{ not json"))
                    .expect("a valid request")
            };
            for token in [None, Some("Bearer wrong"), Some(ADMIN_TOKEN)] {
                let request = match token {
                    None => malformed(),
                    Some(value) => with_token(malformed(), value),
                };
                let answer = send(router.clone(), request).await;
                assert_envelope(&answer, StatusCode::UNAUTHORIZED);
            }
            // With the token the same body is judged: reads are served, bodies refused.
            let answer = send(router.clone(), bearer(malformed())).await;
            assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
        // A method or path the admin API does not have tells a stranger nothing either
        // (the fuzz run found TRACE /admin/config answering 405 without the token).
        for (method, path) in [
            ("TRACE", "/admin/config"),
            ("PATCH", "/admin/reset"),
            ("GET", "/admin/nope"),
        ] {
            let answer = send(router.clone(), empty(method, path)).await;
            assert_envelope(&answer, StatusCode::UNAUTHORIZED);
            let answer = send(router.clone(), bearer(empty(method, path))).await;
            assert_ne!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with the token"
            );
        }
        let spec = spec_of(&router).await;
        for (method, path) in &admin {
            let op = &spec["paths"][path.as_str()][method.to_lowercase()];
            assert!(op["responses"].get("401").is_some(), "{method} {path}");
            assert_eq!(op["security"][0]["admin_token"], Value::Array(vec![]));
        }
    }
}

#[tokio::test]
async fn docs_serve_the_swagger_ui_pointing_at_the_spec() {
    for (name, router) in every_router() {
        let page = send(router.clone(), empty("GET", "/docs/")).await;
        assert_eq!(page.status, StatusCode::OK, "{name}: {}", page.text);
        assert!(page.text.contains("swagger-ui"), "{name}: {}", page.text);
        let init = send(router.clone(), empty("GET", "/docs/swagger-initializer.js")).await;
        assert_eq!(init.status, StatusCode::OK, "{name}");
        assert!(init.text.contains("/openapi.json"), "{name}: {}", init.text);
        let bundle = send(router.clone(), empty("GET", "/docs/swagger-ui-bundle.js")).await;
        assert_eq!(bundle.status, StatusCode::OK, "{name}");
        assert!(
            bundle.text.len() > 100_000,
            "{name}: the bundle is served whole"
        );
    }
}
