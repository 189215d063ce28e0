//! `/docs` and `/openapi.json` of every service of both stacks and of the gateway, on the
//! running Docker stack: the Swagger UI page, every script and stylesheet it references
//! served by the service itself (the stack reaches nothing beyond 127.0.0.1, so a page that
//! loaded from a CDN would stay blank), its initializer pointing at `/openapi.json`, and that
//! spec parsing as OpenAPI 3.1.

use common::Mode;
use common::scenario::Service;

use crate::stack_support::Stack;

/// The `src="…"` and `href="…"` values of an HTML page.
fn references(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attribute| {
            html.split(attribute)
                .skip(1)
                .filter_map(|rest| rest.split('"').next())
                .map(str::to_owned)
        })
        .collect()
}

/// Fetches `url`: status, content type, body.
async fn fetch(stack: &Stack, url: &str) -> (u16, String, String) {
    let response = stack
        .http
        .get(url)
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET {url}: {err}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        content_type,
        response.text().await.unwrap_or_default(),
    )
}

/// Everything `/docs` needs, checked on one base URL; the problems found.
async fn check_docs(stack: &Stack, base: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let docs = format!("{base}/docs/");
    let (status, content_type, page) = fetch(stack, &docs).await;
    if status != 200 || !content_type.starts_with("text/html") || !page.contains("swagger-ui") {
        return vec![format!("{docs}: {status} {content_type}: {page:.200}")];
    }
    let assets: Vec<String> = references(&page)
        .into_iter()
        .filter(|r| r.ends_with(".js") || r.ends_with(".css"))
        .collect();
    if !assets.iter().any(|a| a.ends_with("swagger-ui-bundle.js")) {
        problems.push(format!("{docs}: no swagger-ui-bundle.js among {assets:?}"));
    }
    for asset in &assets {
        if asset.contains("://") || asset.starts_with("//") {
            problems.push(format!("{docs}: {asset} is not the service's own"));
            continue;
        }
        let url = format!("{docs}{}", asset.trim_start_matches("./"));
        let (status, content_type, body) = fetch(stack, &url).await;
        let kind = if asset.ends_with(".js") {
            "javascript"
        } else {
            "css"
        };
        if status != 200 || !content_type.contains(kind) || body.is_empty() {
            problems.push(format!(
                "{url}: {status} {content_type}, {} bytes",
                body.len()
            ));
        }
        if asset.ends_with("swagger-initializer.js") && !body.contains("\"/openapi.json\"") {
            problems.push(format!(
                "{url} does not point at /openapi.json: {body:.400}"
            ));
        }
    }
    if !assets.iter().any(|a| a.ends_with("swagger-initializer.js")) {
        problems.push(format!(
            "{docs}: no swagger-initializer.js among {assets:?}"
        ));
    }
    let spec_url = format!("{base}/openapi.json");
    let (status, _, spec) = fetch(stack, &spec_url).await;
    match serde_json::from_str::<serde_json::Value>(&spec) {
        Ok(spec) if status == 200 => {
            let version = spec["openapi"].as_str().unwrap_or_default();
            let paths = spec["paths"].as_object().map_or(0, |p| p.len());
            if !version.starts_with("3.1") || paths < 4 {
                problems.push(format!("{spec_url}: openapi {version:?}, {paths} paths"));
            }
        }
        other => problems.push(format!("{spec_url}: {status}, {:?}", other.err())),
    }
    problems
}

/// The tests; `scripts/test.sh` runs this module only once the stack is up.
mod on_the_running_stack {
    use super::*;

    #[tokio::test]
    async fn every_service_and_the_gateway_serve_an_offline_swagger_ui_of_their_openapi_3_1_spec() {
        let stack = Stack::healthy().await;
        let mut bases: Vec<String> = Service::ALL
            .into_iter()
            .filter(|s| *s != Service::Gateway)
            .flat_map(|s| Mode::ALL.into_iter().map(move |m| (s, m)))
            .map(|(s, m)| stack.base(s, m))
            .collect();
        bases.push("http://127.0.0.1:9000".to_owned());
        let count = bases.len();
        let mut problems = Vec::new();
        for base in &bases {
            problems.extend(check_docs(&stack, base).await);
        }
        assert!(
            problems.is_empty(),
            "/docs of {count} services:\n{}",
            problems.join("\n")
        );
        println!("/docs and /openapi.json served by all {count} services");
    }
}
