//! `/api/docs`: Swagger UI over the OpenAPI file, as WAHA serves it. swagger-ui's files come
//! embedded in the `swagger-ui-dist` crate (Apache-2.0, like swagger-ui), so the page works
//! offline: nothing is fetched from elsewhere when it loads.

use axum::Router;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use swagger_ui_dist::{ApiDefinition, OpenApiSource};

/// Where swagger-ui's own files are served.
pub const UI_PREFIX: &str = "/api/docs/ui";

/// Where the page is.
pub const PAGE: &str = "/api/docs";

/// The OpenAPI file the page shows (behind the API key).
pub const SPEC: &str = "/api/docs/openapi.yaml";

const PAGE_HTML: &str = include_str!("docs.html");

/// `/api/docs`: the page. It holds nothing secret; the spec it loads and every request it
/// makes need the key, which the page takes from `#key=` or asks for.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE_HTML,
    )
        .into_response()
}

/// swagger-ui's script, style sheet and their source maps under [`UI_PREFIX`]. The crate's own
/// index page there (which knows nothing of the key) sends the browser to [`PAGE`].
pub fn assets() -> Router {
    swagger_ui_dist::generate_routes(ApiDefinition {
        uri_prefix: UI_PREFIX,
        api_definition: OpenApiSource::Uri(SPEC),
        title: Some("wa serve"),
    })
    .layer(middleware::from_fn(only_files))
}

async fn only_files(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if [".js", ".css", ".map", ".html"]
        .iter()
        .any(|ext| path.ends_with(ext))
    {
        next.run(request).await
    } else {
        Redirect::to(PAGE).into_response()
    }
}
