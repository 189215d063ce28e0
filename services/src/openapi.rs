//! The OpenAPI 3.1 spec of a service and its Swagger UI.
//!
//! Routes are declared once, with `utoipa_axum::routes!` over handlers annotated with
//! `#[utoipa::path]`: the same declaration builds the router and the spec, so a route cannot
//! be served undocumented or documented unserved. Each handler names the answers its own code
//! gives (201, 202, 400, 404, 409, …); [`complete`] adds those the shared layers give to every
//! route of a kind (422 from the extractors, 503 from the database or the worker limit, 401
//! from the admin token), so no handler has to repeat them.
//!
//! `/docs` is Swagger UI, its assets compiled into the binary (`utoipa-swagger-ui`'s `vendored`
//! feature): the page works with nothing but the service reachable.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};
use utoipa::openapi::{InfoBuilder, content::ContentBuilder};
use utoipa::{PartialSchema, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use common::error::ErrorEnvelope;

/// Where the spec is served (and what the Swagger UI page loads).
pub const SPEC_PATH: &str = "/openapi.json";
/// Where Swagger UI is served.
pub const DOCS_PATH: &str = "/docs";

/// The security scheme of `/admin/*` (`Authorization: Bearer $MS_ADMIN_TOKEN`).
pub const ADMIN_SCHEME: &str = "admin_token";

/// What a route is, for the answers [`complete`] adds to it.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    /// `/health`, `/ready`, `/metrics`: no body, no database, never faulted.
    Probe,
    /// `/admin/*`: behind the token.
    Admin,
    /// Everything else: the database, the sync worker limit and injected faults apply.
    Business,
}

/// The spec's header: which service, which mode.
pub fn document(title: &str, description: String) -> OpenApi {
    let mut api = OpenApi::new(
        InfoBuilder::new()
            .title(title)
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(description))
            .build(),
        utoipa::openapi::Paths::new(),
    );
    let mut components = ComponentsBuilder::new()
        .schema(ErrorEnvelope::name(), ErrorEnvelope::schema())
        .build();
    components.add_security_scheme(
        ADMIN_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("the service's MS_ADMIN_TOKEN"))
                .build(),
        ),
    );
    api.components = Some(components);
    api
}

/// Adds to every operation whose path `kind_of` classifies the error answers of the layers
/// in front of its handler, unless the handler documented that status itself.
pub fn complete(api: &mut OpenApi, kind_of: impl Fn(&str) -> Kind) {
    for (path, item) in api.paths.paths.iter_mut() {
        let kind = kind_of(path);
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            add_layer_errors(operation, kind);
        }
    }
}

fn add_layer_errors(operation: &mut Operation, kind: Kind) {
    let has_body = operation.request_body.is_some();
    // An optional body is read raw (`generate_report`), so its content type is not judged.
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|b| b.required == Some(utoipa::openapi::Required::True));
    let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error(description));
    };
    if has_body {
        add(
            "422",
            "the body is not valid JSON of this schema (FastAPI's list)",
        );
    }
    // A raw body's limit is axum's own, in plain text: those handlers document their 413.
    if json_body {
        add("413", "the body is larger than MS_MAX_BODY_BYTES");
        add("415", "the body is not `content-type: application/json`");
    }
    if has_params {
        add("422", "a path or query parameter of the wrong type");
    }
    match kind {
        Kind::Probe => {}
        Kind::Admin => add("401", "no or a wrong `Authorization: Bearer` token"),
        Kind::Business => {
            add(
                "503",
                "the database or a peer is unavailable, or the sync worker limit is full",
            );
            add("5XX", "an error injected by `/admin/faults`");
        }
    }
    add("500", "an internal error (see the service log)");
}

/// An error answer: the envelope, as JSON.
pub fn error(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(ErrorEnvelope::name())))
                    .build(),
            )
            .build(),
    )
}

/// `/openapi.json` and `/docs` over `api`.
pub fn serve<S: Clone + Send + Sync + 'static>(api: OpenApi) -> axum::Router<S> {
    SwaggerUi::new(DOCS_PATH).url(SPEC_PATH, api).into()
}
