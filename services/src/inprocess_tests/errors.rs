//! 404, 405, 413, 415 and 422 on every service that runs on the common app, in both modes
//! (paths are the same in both; the handlers behind them differ). Each request is one that is
//! refused before any database or broker is touched, so the answers are those of a service
//! whose dependencies are all up.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::Mode;
use common::scenario::Service;

use crate::testing::{assert_envelope, empty, json, offline_router, send, settings};

/// What a service's error tests send.
struct Probe {
    service: Service,
    /// A route that reads a body.
    method: &'static str,
    path: &'static str,
    /// A method `path` does not serve.
    wrong_method: &'static str,
    /// Valid JSON that the route's validation refuses.
    invalid: &'static str,
    /// Whether the body is read as `common::extract::Json` (content type required, errors in
    /// the envelope). The report service reads its optional body raw (its clients may send
    /// none, with no content type), so it has no 415, and axum's own 413 text answers an
    /// oversized body.
    typed: bool,
}

const USER: Probe = Probe {
    service: Service::User,
    method: "POST",
    path: "/register",
    wrong_method: "GET",
    invalid: r#"{"email": "not-an-address"}"#,
    typed: true,
};

const EMAIL: Probe = Probe {
    service: Service::Email,
    method: "POST",
    path: "/send_welcome_email",
    wrong_method: "GET",
    invalid: r#"{"user_id": 1}"#,
    typed: true,
};

const PAYMENT: Probe = Probe {
    service: Service::Payment,
    method: "POST",
    path: "/pay",
    wrong_method: "GET",
    invalid: r#"{"order_id": 1, "amount": -5}"#,
    typed: true,
};

const PRODUCT: Probe = Probe {
    service: Service::Product,
    method: "PUT",
    path: "/products/1",
    wrong_method: "DELETE",
    invalid: r#"{"stock": -1}"#,
    typed: true,
};

const SEARCH: Probe = Probe {
    service: Service::Search,
    method: "POST",
    path: "/reindex",
    wrong_method: "GET",
    invalid: r#"{"product_id": "one"}"#,
    typed: true,
};

const CACHE: Probe = Probe {
    service: Service::Cache,
    method: "POST",
    path: "/invalidate_cache",
    wrong_method: "GET",
    invalid: r#"{"product_id": "one"}"#,
    typed: true,
};

const ANALYTICS: Probe = Probe {
    service: Service::Analytics,
    method: "POST",
    path: "/track_click",
    wrong_method: "GET",
    invalid: r#"{"user_id": 1, "page": ""}"#,
    typed: true,
};

const REPORT: Probe = Probe {
    service: Service::Report,
    method: "POST",
    path: "/generate_report",
    wrong_method: "GET",
    invalid: r#"{"report_type": "no spaces allowed"}"#,
    typed: false,
};

const ORDER: Probe = Probe {
    service: Service::Order,
    method: "POST",
    path: "/create_order",
    wrong_method: "GET",
    invalid: r#"{"quantity": 1}"#,
    typed: true,
};

const INVENTORY: Probe = Probe {
    service: Service::Inventory,
    method: "POST",
    path: "/reserve_stock",
    wrong_method: "GET",
    invalid: r#"{"quantity": 1}"#,
    typed: true,
};

/// Every probe, to check that no service lacks one.
const ALL: [&Probe; 10] = [
    &USER, &EMAIL, &PAYMENT, &PRODUCT, &SEARCH, &CACHE, &ANALYTICS, &REPORT, &ORDER, &INVENTORY,
];

async fn not_found(probe: &Probe) {
    for mode in Mode::ALL {
        let router = offline_router(probe.service, mode);
        let answer = send(router, empty("GET", "/no/such/route")).await;
        assert_envelope(&answer, StatusCode::NOT_FOUND);
        assert_eq!(
            answer.body["detail"], "Not Found",
            "{} {mode}",
            probe.service
        );
    }
}

async fn method_not_allowed(probe: &Probe) {
    for mode in Mode::ALL {
        let router = offline_router(probe.service, mode);
        let answer = send(router, empty(probe.wrong_method, probe.path)).await;
        assert_envelope(&answer, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            answer.body["detail"], "Method Not Allowed",
            "{} {mode}",
            probe.service
        );
    }
}

async fn payload_too_large(probe: &Probe) {
    for mode in Mode::ALL {
        let limit = settings(mode).max_body_bytes;
        let body = format!(r#"{{"pad": "{}"}}"#, "x".repeat(limit));
        let router = offline_router(probe.service, mode);
        let answer = send(router, json(probe.method, probe.path, body)).await;
        if probe.typed {
            assert_envelope(&answer, StatusCode::PAYLOAD_TOO_LARGE);
            assert_eq!(answer.body["detail"], "request body too large");
        } else {
            assert_eq!(
                answer.status,
                StatusCode::PAYLOAD_TOO_LARGE,
                "{}",
                answer.text
            );
        }
    }
}

async fn unsupported_media_type(probe: &Probe) {
    for mode in Mode::ALL {
        let request = Request::builder()
            .method(probe.method)
            .uri(probe.path)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(probe.invalid))
            .expect("a valid request");
        let answer = send(offline_router(probe.service, mode), request).await;
        assert_envelope(&answer, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let without = empty(probe.method, probe.path);
        let answer = send(offline_router(probe.service, mode), without).await;
        assert_envelope(&answer, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}

async fn unprocessable(probe: &Probe) {
    for mode in Mode::ALL {
        let context = format!("{} {mode}", probe.service);
        for body in [probe.invalid, r#"{"unclosed": "#] {
            let router = offline_router(probe.service, mode);
            let answer = send(router, json(probe.method, probe.path, body)).await;
            assert_envelope(&answer, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(!answer.body["detail"].is_null(), "{context}: {body}");
        }
    }
}

/// One module per service, one test per status, so a failure names both.
macro_rules! status_tests {
    ($($module:ident: $probe:ident [$($check:ident),+];)+) => {
        $(mod $module {
            $(#[tokio::test]
            async fn $check() {
                super::$check(&super::$probe).await;
            })+
        })+
    };
}

status_tests! {
    user: USER [not_found, method_not_allowed, payload_too_large, unsupported_media_type, unprocessable];
    email: EMAIL [not_found, method_not_allowed, payload_too_large, unsupported_media_type, unprocessable];
    payment: PAYMENT [not_found, method_not_allowed, payload_too_large, unsupported_media_type, unprocessable];
    product: PRODUCT [not_found, method_not_allowed, payload_too_large, unsupported_media_type, unprocessable];
    search: SEARCH [not_found, method_not_allowed, payload_too_large, unsupported_media_type, unprocessable];
    cache: CACHE [not_found, method_not_allowed, payload_too_large, unsupported_media_type, unprocessable];
    analytics: ANALYTICS [not_found, method_not_allowed, payload_too_large, unsupported_media_type, unprocessable];
    report: REPORT [not_found, method_not_allowed, payload_too_large, unprocessable];
    order: ORDER [not_found, method_not_allowed, payload_too_large, unsupported_media_type, unprocessable];
    inventory: INVENTORY [not_found, method_not_allowed, payload_too_large, unsupported_media_type, unprocessable];
}

#[test]
fn every_service_with_a_definition_has_a_probe() {
    let probed: Vec<Service> = ALL.iter().map(|p| p.service).collect();
    for service in Service::ALL {
        let on_the_app = crate::registry::definition(service).is_some();
        assert_eq!(probed.contains(&service), on_the_app, "{service}");
    }
}
