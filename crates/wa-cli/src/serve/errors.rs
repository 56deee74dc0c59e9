//! Every error answer in WAHA's JSON shape, including the ones axum writes itself (malformed
//! JSON, wrong types, a wrong content type, a body over the limit, a wrong method, a bad
//! query string), which are plain text otherwise.

use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::ApiError;

/// Plain-text error bodies are short sentences; a longer one is cut.
const MAX_MESSAGE: usize = 16 * 1024;

/// Rewrites a non-JSON 4xx/5xx answer as `{statusCode, message, error}` with the same status,
/// the text as the message, and the `Allow` header of a 405 kept.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_owned()
    } else {
        text
    };
    let mut json = ApiError::new(status, message).into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        json.headers_mut().insert(header::ALLOW, allow.clone());
    }
    json
}
